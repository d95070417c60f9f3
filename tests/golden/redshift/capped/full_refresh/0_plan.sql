-- Plan: read the source rows of this run once, from every event table of the source as one stream
-- (tracks(event), pages(name), orders='order_completed'), clean them, and fix what the run must recompute.
--   * blank or whitespace-only ids count as NULL;
--   * rows without id, without timestamp, or without any identifier are dropped with a reason;
--   * copies of an id collapse to the copy received first (then by content, for determinism),
--     whichever load brought it: in incremental and backfill runs the published copy competes;
--   * the counts by reason are kept with the run, so nothing is lost without a trace.
-- Mode full_refresh: the whole source.

-- Event tables without a column the session facts read give NULL for it: pages.revenue, orders.context_page_referrer.
DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_events";

-- One read of the source: every row of the run, cleaned and classified, in the table that
-- becomes the run’s events once the dropped rows and the losing copies are deleted from it.
CREATE TABLE "sessions"."__rs_a330a0bc481b_events" AS
WITH cleaned AS (
    SELECT
        COLLATE(id, 'case_sensitive') AS id,
        COLLATE(CASE WHEN BTRIM(anonymous_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || '                 　') = '' THEN NULL ELSE anonymous_id END, 'case_sensitive') AS anonymous_id,
        COLLATE(CASE WHEN BTRIM(user_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || '                 　') = '' THEN NULL ELSE user_id END, 'case_sensitive') AS user_id,
        "event" AS event,
        "timestamp" AS "timestamp",
        "received_at" AS received_at,
        "received_at" AS watermark_value,
        'tracks' AS event_table,
        CASE WHEN BTRIM(CAST("context_campaign_source" AS VARCHAR(65535)), CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || '                 　') = '' THEN NULL ELSE CAST("context_campaign_source" AS VARCHAR(65535)) END AS "context_campaign_source",
        CASE WHEN BTRIM(CAST("context_page_referrer" AS VARCHAR(65535)), CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || '                 　') = '' THEN NULL ELSE CAST("context_page_referrer" AS VARCHAR(65535)) END AS "context_page_referrer",
        CAST("revenue" AS DECIMAL(38, 9)) AS "revenue"
    FROM "rudderstack"."tracks"
    UNION ALL
    SELECT
        COLLATE(id, 'case_sensitive') AS id,
        COLLATE(CASE WHEN BTRIM(anonymous_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || '                 　') = '' THEN NULL ELSE anonymous_id END, 'case_sensitive') AS anonymous_id,
        COLLATE(CASE WHEN BTRIM(user_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || '                 　') = '' THEN NULL ELSE user_id END, 'case_sensitive') AS user_id,
        "name" AS event,
        "timestamp" AS "timestamp",
        "received_at" AS received_at,
        "received_at" AS watermark_value,
        'pages' AS event_table,
        CASE WHEN BTRIM(CAST("context_campaign_source" AS VARCHAR(65535)), CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || '                 　') = '' THEN NULL ELSE CAST("context_campaign_source" AS VARCHAR(65535)) END AS "context_campaign_source",
        CASE WHEN BTRIM(CAST("context_page_referrer" AS VARCHAR(65535)), CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || '                 　') = '' THEN NULL ELSE CAST("context_page_referrer" AS VARCHAR(65535)) END AS "context_page_referrer",
        CAST(NULL AS DECIMAL(38, 9)) AS "revenue"
    FROM "rudderstack"."pages"
    UNION ALL
    SELECT
        COLLATE(id, 'case_sensitive') AS id,
        COLLATE(CASE WHEN BTRIM(anonymous_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || '                 　') = '' THEN NULL ELSE anonymous_id END, 'case_sensitive') AS anonymous_id,
        COLLATE(CASE WHEN BTRIM(user_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || '                 　') = '' THEN NULL ELSE user_id END, 'case_sensitive') AS user_id,
        'order_completed' AS event,
        "timestamp" AS "timestamp",
        "received_at" AS received_at,
        "received_at" AS watermark_value,
        'orders' AS event_table,
        CASE WHEN BTRIM(CAST("context_campaign_source" AS VARCHAR(65535)), CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || '                 　') = '' THEN NULL ELSE CAST("context_campaign_source" AS VARCHAR(65535)) END AS "context_campaign_source",
        CAST(NULL AS VARCHAR(65535) COLLATE CASE_SENSITIVE) AS "context_page_referrer",
        CAST("revenue" AS DECIMAL(38, 9)) AS "revenue"
    FROM "rudderstack"."orders"
)
SELECT
    cleaned.*,
    CASE
        WHEN id IS NULL THEN 'null_id'
        WHEN "timestamp" IS NULL THEN 'null_timestamp'
        WHEN anonymous_id IS NULL AND user_id IS NULL THEN 'no_identifier'
    END AS drop_reason
FROM cleaned;

-- Copies of one id: only the ids with several valid copies are ranked (a hash aggregate finds
-- them; sorting every row by id would cost more than the whole cleaning).
DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_copies";

CREATE TABLE "sessions"."__rs_a330a0bc481b_copies" AS
WITH repeated AS (
    SELECT id FROM "sessions"."__rs_a330a0bc481b_events" WHERE drop_reason IS NULL GROUP BY id HAVING COUNT(*) > 1
),
ranked AS (
    SELECT
        events.*,
        ROW_NUMBER() OVER (
            PARTITION BY id
            ORDER BY received_at NULLS LAST, "timestamp", event NULLS LAST,
                     anonymous_id NULLS LAST, user_id NULLS LAST,
                     event_table, "context_campaign_source" NULLS LAST, "context_page_referrer" NULLS LAST, "revenue" NULLS LAST
        ) AS copy_rank
    FROM "sessions"."__rs_a330a0bc481b_events" AS events
    WHERE drop_reason IS NULL AND id IN (SELECT id FROM repeated)
)
SELECT id, anonymous_id, user_id, event, "timestamp", received_at, watermark_value, event_table, "context_campaign_source", "context_page_referrer", "revenue", copy_rank
FROM ranked;

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_run";

-- The counts of the run, and each table’s watermark after it: the greatest value read that is not
-- later than the run’s start. A row stamped in the future (a clock error) is processed and counted
-- as future_watermark, and read again by later runs until its time has passed: it never holds
-- back the rows that arrive after it.

CREATE TABLE "sessions"."__rs_a330a0bc481b_run" AS
SELECT
    'scheduled__2026-03-02T03:00:00+00:00' AS run_id,
    'full_refresh' AS mode,
    GETDATE() AS started_at,
    CAST(COUNT(*) AS BIGINT) AS rows_read,
    CAST(COUNT(*) AS BIGINT) AS rows_new,
    CAST(COALESCE(SUM(CASE WHEN drop_reason = 'null_id' THEN 1 ELSE 0 END), 0) AS BIGINT)
        AS dropped_null_id,
    CAST(COALESCE(SUM(CASE WHEN drop_reason = 'null_timestamp' THEN 1 ELSE 0 END), 0) AS BIGINT)
        AS dropped_null_timestamp,
    CAST(COALESCE(SUM(CASE WHEN drop_reason = 'no_identifier' THEN 1 ELSE 0 END), 0) AS BIGINT)
        AS dropped_no_identifier,
    CAST(NULL AS BIGINT) AS new_valid_rows,
    CAST((SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_copies" WHERE copy_rank > 1) AS BIGINT) AS dropped_duplicate,
    MAX(CASE WHEN event_table = 'tracks' AND watermark_value <= GETDATE() THEN watermark_value END)
        AS max_watermark_1,
    MAX(CASE WHEN event_table = 'pages' AND watermark_value <= GETDATE() THEN watermark_value END)
        AS max_watermark_2,
    MAX(CASE WHEN event_table = 'orders' AND watermark_value <= GETDATE() THEN watermark_value END)
        AS max_watermark_3,
    MAX(CASE WHEN watermark_value <= GETDATE() THEN watermark_value END) AS max_watermark,
    CAST(
        COALESCE(SUM(CASE WHEN watermark_value > GETDATE() THEN 1 ELSE 0 END), 0)
        AS BIGINT
    ) AS future_watermark,
    CAST(NULL AS BIGINT) AS identity_excluded,
    CAST(NULL AS BIGINT) AS identity_iterations,
    CAST(NULL AS BIGINT) AS identity_hub_ids,
    CAST(NULL AS BIGINT) AS identity_remapped,
    CAST(NULL AS BIGINT) AS identity_merged
FROM "sessions"."__rs_a330a0bc481b_events";
DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_reads";

-- The rows the next incremental run reads again (each table’s from its watermark after this run
-- minus the lookback of 3 hours, and every row without a watermark value), by class, for
-- publish to keep: that run counts only copies beyond these.
CREATE TABLE "sessions"."__rs_a330a0bc481b_reads" AS
SELECT event_table, watermark_value, id, drop_reason, CAST(COUNT(*) AS BIGINT) AS row_count
FROM "sessions"."__rs_a330a0bc481b_events"
CROSS JOIN "sessions"."__rs_a330a0bc481b_run" AS run
WHERE watermark_value IS NULL
   OR 
CASE event_table WHEN 'tracks' THEN run.max_watermark_1 WHEN 'pages' THEN run.max_watermark_2 WHEN 'orders' THEN run.max_watermark_3 END IS NULL
   OR DATEDIFF(microsecond, TIMESTAMP '1970-01-01 00:00:00', watermark_value) > DATEDIFF(microsecond, TIMESTAMP '1970-01-01 00:00:00', 
CASE event_table WHEN 'tracks' THEN run.max_watermark_1 WHEN 'pages' THEN run.max_watermark_2 WHEN 'orders' THEN run.max_watermark_3 END) - 10800000000
GROUP BY event_table, watermark_value, id, drop_reason;

DELETE FROM "sessions"."__rs_a330a0bc481b_events"
WHERE drop_reason IS NOT NULL OR id IN (SELECT id FROM "sessions"."__rs_a330a0bc481b_copies");

INSERT INTO "sessions"."__rs_a330a0bc481b_events" (id, anonymous_id, user_id, event, "timestamp", received_at, watermark_value, event_table, "context_campaign_source", "context_page_referrer", "revenue")
SELECT id, anonymous_id, user_id, event, "timestamp", received_at, watermark_value, event_table, "context_campaign_source", "context_page_referrer", "revenue"
FROM "sessions"."__rs_a330a0bc481b_copies"
WHERE copy_rank = 1;

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_copies";


