-- The highest block below which every block from the start is stored. Several partitions
-- (or instances) store blocks out of order; lists only show blocks up to this height, so a
-- page token past block n never skips a block below n stored later. NULL: none yet.
ALTER TABLE progress ADD COLUMN contiguous_height bigint;
UPDATE progress p SET contiguous_height = (
    SELECT min(s.n) - 1
    FROM generate_series(CASE WHEN p.start_time IS NULL THEN p.start_block ELSE (SELECT min(number) FROM blocks) END,
                         p.exported_height + 1) AS s(n)
    WHERE NOT EXISTS (SELECT FROM blocks b WHERE b.number = s.n))
WHERE p.exported_height IS NOT NULL;
