package audit

// MaxBatch is maxBatch, for tests.
const MaxBatch = maxBatch
