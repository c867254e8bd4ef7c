-- depends: 0004.pipeline-status-view
-- Phase 2: drop the positions' legacy broker columns, but only when no data goes with them.
-- Each column is dropped if it is still there: the seed guide's own Phase 2 dropped
-- alpaca_order_id and alpaca_status and forgot alpaca_error, so they are read through
-- to_jsonb(row), which holds no key for a column the table no longer has.
--   A position's broker order id must be held by an order; that order keeps the position's
--   legacy status and error in metadata->'legacy_alpaca_status' and 'legacy_alpaca_error'
--   (as 0002 copies them; a database adopted with --baseline never ran 0002).
--   A position with no broker order id must hold no status or error, or, where the broker
--   order id column is gone already, its entry order keeps them.
-- Otherwise raise: the transaction leaves schema and data as they were.

CREATE TEMP TABLE phase2_legacy ON COMMIT DROP AS
SELECT p.position_id,
       r.j ? 'alpaca_order_id' AS has_order_id_column,
       r.j ->> 'alpaca_order_id' AS alpaca_order_id,
       r.j ->> 'alpaca_status' AS alpaca_status,
       r.j ->> 'alpaca_error' AS alpaca_error
FROM positions p
CROSS JOIN LATERAL (SELECT to_jsonb(p) AS j) AS r
WHERE COALESCE(r.j ->> 'alpaca_order_id', r.j ->> 'alpaca_status', r.j ->> 'alpaca_error') IS NOT NULL;

-- Where the broker order id column is gone: the entry order of each position holding a value.
CREATE TEMP TABLE phase2_entry_keepers ON COMMIT DROP AS
SELECT DISTINCT ON (o.position_id) o.position_id, o.order_id
FROM orders o
JOIN phase2_legacy l ON l.position_id = o.position_id AND NOT l.has_order_id_column
WHERE o.order_purpose = 'entry'
ORDER BY o.position_id, o.created_at, o.order_id;

DO $$
DECLARE
    unmatched TEXT;
    unkept TEXT;
    homeless TEXT;
BEGIN
    SELECT string_agg(position_id::text, ', ' ORDER BY position_id) INTO unmatched
    FROM (
        SELECT l.position_id FROM phase2_legacy l
        WHERE l.alpaca_order_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.alpaca_order_id = l.alpaca_order_id)
        ORDER BY l.position_id LIMIT 20
    ) AS lost;
    IF unmatched IS NOT NULL THEN
        RAISE EXCEPTION 'refusing to drop positions.alpaca_order_id: positions % hold broker order ids that no order holds',
            unmatched
            USING HINT = 'insert an order holding each of those alpaca_order_ids (as migrations/0002 does), then migrate again';
    END IF;

    SELECT string_agg(position_id::text, ', ' ORDER BY position_id) INTO unkept
    FROM (
        SELECT l.position_id FROM phase2_legacy l
        WHERE l.has_order_id_column AND l.alpaca_order_id IS NULL
        ORDER BY l.position_id LIMIT 20
    ) AS lost;
    IF unkept IS NOT NULL THEN
        RAISE EXCEPTION 'refusing to drop positions.alpaca_status and alpaca_error: positions % hold a broker status or error but no broker order id, so no order keeps them',
            unkept
            USING HINT = 'keep what matters of them elsewhere (an order''s metadata, a note), set them to NULL, then migrate again';
    END IF;

    SELECT string_agg(position_id::text, ', ' ORDER BY position_id) INTO homeless
    FROM (
        SELECT l.position_id FROM phase2_legacy l
        WHERE NOT l.has_order_id_column
          AND NOT EXISTS (SELECT 1 FROM phase2_entry_keepers k WHERE k.position_id = l.position_id)
        ORDER BY l.position_id LIMIT 20
    ) AS lost;
    IF homeless IS NOT NULL THEN
        RAISE EXCEPTION 'refusing to drop the legacy columns left on positions: positions % hold a broker status or error, and no broker order id or entry order to keep it',
            homeless
            USING HINT = 'keep what matters of them elsewhere (an order''s metadata, a note), set them to NULL, then migrate again';
    END IF;
END
$$;

-- Keep each value in the order that stands for its position: the one holding its broker order
-- id, else its entry order. Only what the order does not say already is written.
UPDATE orders o
SET metadata = COALESCE(o.metadata, '{}'::jsonb) || kept.legacy
FROM (
    SELECT o2.order_id,
           jsonb_strip_nulls(jsonb_build_object('legacy_alpaca_status', l.alpaca_status,
                                                'legacy_alpaca_error', l.alpaca_error)) AS legacy
    FROM phase2_legacy l
    JOIN orders o2 ON o2.alpaca_order_id = l.alpaca_order_id
    UNION ALL
    SELECT k.order_id,
           jsonb_strip_nulls(jsonb_build_object('legacy_alpaca_status', l.alpaca_status,
                                                'legacy_alpaca_error', l.alpaca_error))
    FROM phase2_legacy l
    JOIN phase2_entry_keepers k ON k.position_id = l.position_id
) AS kept
WHERE kept.order_id = o.order_id
  AND kept.legacy <> '{}'::jsonb
  AND NOT COALESCE(o.metadata, '{}'::jsonb) @> kept.legacy;

ALTER TABLE positions DROP COLUMN IF EXISTS alpaca_order_id;
ALTER TABLE positions DROP COLUMN IF EXISTS alpaca_status;
ALTER TABLE positions DROP COLUMN IF EXISTS alpaca_error;
