package audit

// MaxBatch is maxBatch, for tests.
const MaxBatch = maxBatch

// WatchLinger returns a channel told when t's writer starts waiting out its linger; call it
// before Run.
func WatchLinger(t *Trail) <-chan struct{} {
	t.lingering = make(chan struct{}, 1)
	return t.lingering
}
