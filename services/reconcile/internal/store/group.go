package store

// Grouping strategies of Match: one business row to the several chain records of its key
// (one-to-many), or several business rows to the one chain record of their key
// (many-to-one), equal when the group's amounts add up within the amount's comparator.
const (
	GroupNone     = ""         // one-to-one
	GroupChain    = "chain"    // one-to-many: the chain records of a key are a group
	GroupBusiness = "business" // many-to-one: the business rows of a key are a group
)

// Grouping says how Match pairs business rows with chain records.
type Grouping struct {
	Group string // GroupNone, GroupChain or GroupBusiness
	// Amount is the index in the fields of the amount, whose sums are compared.
	Amount int
}

// groupSum is the exact sum of a group's amounts as canonical decimal text, NULL when one of
// them is not a number (the group then compares unequal).
const groupSum = `CASE WHEN count(amount) = count(*) THEN trim_scale(sum(amount)) END`

// oneToManySQL matches one business row to the chain records of its key (in $2 the amount's
// position in fields, 1-based):
//
//   - the business row: matched when the records' amounts add up to its own (the amount's
//     comparator decides, tolerance included), mismatched with a diff of both sums, missing
//     on chain when its key has no record, duplicate_in_business when its key is on several
//     business rows; it accounts for no chain record;
//   - each record of a key some business row carries: a result of the business row's outcome,
//     listed after it (the first row of a duplicated key), accounting for itself;
//   - a record of a key no business row carries: missing_in_business.
func oneToManySQL(id int64, amount Field) string {
	bt, ct := BusinessTable(id), ChainTable(id)
	return `
WITH bk AS (SELECT key, count(*) AS n, min(line) AS first FROM ` + bt + ` WHERE error IS NULL GROUP BY key),
cg AS (SELECT key, count(*) AS n, ` + groupSum + ` AS sum FROM ` + ct + ` GROUP BY key),
m AS (
	SELECT b.line, b.key, b.keys, b.amount, b.fields[$2] AS bsum, bk.n AS bn, b.line = bk.first AS bfirst, cg.n AS cn, cg.sum AS csum,
		coalesce((` + amount.SQL("b.fields[$2]", "cg.sum::text") + `), false) AS eq
	FROM ` + bt + ` b JOIN bk USING (key) LEFT JOIN cg USING (key)
	WHERE b.error IS NULL
	OFFSET 0),
o AS (
	SELECT *, CASE WHEN bn > 1 THEN 'duplicate_in_business'
		WHEN cn IS NULL THEN 'missing_on_chain'
		WHEN eq THEN 'matched' ELSE 'mismatched' END AS outcome
	FROM m),
x AS (
	SELECT 0 AS part, line AS o1, 0 AS o2, 0::bigint AS o3, 0 AS o4, outcome, keys AS key, line,
		NULL::text AS transaction_hash, NULL::integer AS log_index, NULL::bigint AS block_number,
		CASE WHEN outcome = 'mismatched' THEN jsonb_build_object(` + quoteLiteral(amount.Name) + `, jsonb_build_object('business', bsum, 'chain', csum::text)) END AS diff,
		NULL::text AS error, true AS business_row, 0 AS chain_records, amount AS business_amount, NULL::numeric AS chain_amount
	FROM o
	UNION ALL
	SELECT 0, o.line, 1, c.block_number, c.log_index, o.outcome, c.keys, o.line, c.transaction_hash, c.log_index, c.block_number,
		NULL, NULL, false, 1, NULL, c.amount
	FROM ` + ct + ` c JOIN o ON o.bfirst AND o.key = c.key
	UNION ALL
	SELECT 0, line, 0, 0, 0, 'malformed', NULL, line, NULL, NULL, NULL, NULL, error, true, 0, NULL, NULL
	FROM ` + bt + ` WHERE error IS NOT NULL
	UNION ALL
	SELECT 1, c.block_number, c.log_index, 0, 0, 'missing_in_business', c.keys, NULL, c.transaction_hash, c.log_index, c.block_number,
		NULL, NULL, false, 1, NULL, c.amount
	FROM ` + ct + ` c WHERE NOT EXISTS (SELECT 1 FROM bk WHERE bk.key = c.key))
` + insertResults
}

// manyToOneSQL matches the business rows of a key to its one chain record (in $2 the
// amount's position in fields, 1-based):
//
//   - each business row of a key: matched when the rows' amounts add up to the record's (the
//     amount's comparator decides, tolerance included), mismatched with a diff of both sums
//     on every row of the group, missing on chain when the key has no record,
//     duplicate_on_chain when it has several; the record is accounted for on the first row;
//   - a record of a key no business row carries: missing_in_business; each record of a key
//     on several records: duplicate_on_chain.
func manyToOneSQL(id int64, amount Field) string {
	bt, ct := BusinessTable(id), ChainTable(id)
	return `
WITH bg AS (SELECT key, min(line) AS first, ` + groupSum + ` AS sum FROM ` + bt + ` WHERE error IS NULL GROUP BY key),
ck AS (SELECT key, count(*) AS n FROM ` + ct + ` GROUP BY key),
m AS (
	SELECT b.line, b.keys, b.amount, bg.sum AS bsum, b.line = bg.first AS bfirst, ck.n AS cn,
		c.transaction_hash, c.log_index, c.block_number, c.fields[$2] AS csum, c.amount AS camount,
		coalesce((` + amount.SQL("bg.sum::text", "c.fields[$2]") + `), false) AS eq
	FROM ` + bt + ` b JOIN bg USING (key) LEFT JOIN ck USING (key) LEFT JOIN ` + ct + ` c ON c.key = b.key AND ck.n = 1
	WHERE b.error IS NULL
	OFFSET 0),
x AS (
	SELECT 0 AS part, line AS o1, 0 AS o2, 0::bigint AS o3, 0 AS o4,
		CASE WHEN cn IS NULL THEN 'missing_on_chain'
			WHEN cn > 1 THEN 'duplicate_on_chain'
			WHEN eq THEN 'matched' ELSE 'mismatched' END AS outcome,
		keys AS key, line, transaction_hash, log_index, block_number,
		CASE WHEN cn = 1 AND NOT eq THEN jsonb_build_object(` + quoteLiteral(amount.Name) + `, jsonb_build_object('business', bsum::text, 'chain', csum)) END AS diff,
		NULL::text AS error, true AS business_row,
		CASE WHEN cn = 1 AND bfirst THEN 1 ELSE 0 END AS chain_records,
		amount AS business_amount, CASE WHEN cn = 1 AND bfirst THEN camount END AS chain_amount
	FROM m
	UNION ALL
	SELECT 0, line, 0, 0, 0, 'malformed', NULL, line, NULL, NULL, NULL, NULL, error, true, 0, NULL, NULL
	FROM ` + bt + ` WHERE error IS NOT NULL
	UNION ALL
	SELECT 1, c.block_number, c.log_index, 0, 0, CASE WHEN ck.n > 1 THEN 'duplicate_on_chain' ELSE 'missing_in_business' END,
		c.keys, NULL, c.transaction_hash, c.log_index, c.block_number, NULL, NULL, false, 1, NULL, c.amount
	FROM ` + ct + ` c JOIN ck USING (key) WHERE ck.n > 1 OR NOT EXISTS (SELECT 1 FROM bg WHERE bg.key = c.key))
` + insertResults
}

// insertResults numbers the results x lists in report order and stores them.
const insertResults = `INSERT INTO reconcile.results (run_id, id, ` + resultColumns + `)
SELECT $1, row_number() OVER (ORDER BY part, o1, o2, o3, o4, transaction_hash), ` + resultColumns + ` FROM x`
