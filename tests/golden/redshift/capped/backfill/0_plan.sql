-- Plan: read the source rows of this run once, from every event table of the source as one stream
-- (tracks(event), pages(name), orders='order_completed'), clean them, and fix what the run must recompute.
--   * blank or whitespace-only ids count as NULL;
--   * rows without id, without timestamp, or without any identifier are dropped with a reason;
--   * copies of an id collapse to the copy received first (then by content, for determinism),
--     whichever load brought it: in incremental and backfill runs the published copy competes;
--   * the counts by reason are kept with the run, so nothing is lost without a trace.
-- Mode backfill: visitors with an event in [2026-02-01 00:00:00, 2026-02-02 00:00:00).

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
    -- every copy of every id with a copy, or a published event, in the window
    WHERE id IN (
        SELECT id FROM "rudderstack"."tracks"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP)
          AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
        UNION
        SELECT id FROM "rudderstack"."pages"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP)
          AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
        UNION
        SELECT id FROM "rudderstack"."orders"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP)
          AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
        UNION
        SELECT event_id FROM "sessions"."dbt_mapped_tracks"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP) AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
    )
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
    -- every copy of every id with a copy, or a published event, in the window
    WHERE id IN (
        SELECT id FROM "rudderstack"."tracks"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP)
          AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
        UNION
        SELECT id FROM "rudderstack"."pages"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP)
          AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
        UNION
        SELECT id FROM "rudderstack"."orders"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP)
          AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
        UNION
        SELECT event_id FROM "sessions"."dbt_mapped_tracks"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP) AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
    )
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
    -- every copy of every id with a copy, or a published event, in the window
    WHERE id IN (
        SELECT id FROM "rudderstack"."tracks"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP)
          AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
        UNION
        SELECT id FROM "rudderstack"."pages"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP)
          AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
        UNION
        SELECT id FROM "rudderstack"."orders"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP)
          AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
        UNION
        SELECT event_id FROM "sessions"."dbt_mapped_tracks"
        WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP) AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
    )
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
    'backfill' AS mode,
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

DELETE FROM "sessions"."__rs_a330a0bc481b_events"
WHERE drop_reason IS NOT NULL OR id IN (SELECT id FROM "sessions"."__rs_a330a0bc481b_copies");

INSERT INTO "sessions"."__rs_a330a0bc481b_events" (id, anonymous_id, user_id, event, "timestamp", received_at, watermark_value, event_table, "context_campaign_source", "context_page_referrer", "revenue")
SELECT id, anonymous_id, user_id, event, "timestamp", received_at, watermark_value, event_table, "context_campaign_source", "context_page_referrer", "revenue"
FROM "sessions"."__rs_a330a0bc481b_copies"
WHERE copy_rank = 1;

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_copies";


-- Changes: the source is the truth for the window’s events (all their copies were read): each
-- replaces its published copy; published events of the window left without a valid copy go.
DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_changes";

CREATE TABLE "sessions"."__rs_a330a0bc481b_changes" AS
WITH published AS (
    SELECT
        mapped.event_id AS id, mapped.anonymous_id, mapped.user_id, mapped.event,
        mapped."timestamp", mapped.received_at, mapped.dbt_visitor_id, mapped.event_table, mapped."context_campaign_source", mapped."context_page_referrer", mapped."revenue"
    FROM "sessions"."dbt_mapped_tracks" AS mapped
    WHERE mapped.event_id IN (SELECT id FROM "sessions"."__rs_a330a0bc481b_events")
),
versions AS (
    SELECT id, anonymous_id, user_id, event, "timestamp", received_at, event_table, "context_campaign_source", "context_page_referrer", "revenue", 1 AS incoming
    FROM "sessions"."__rs_a330a0bc481b_events"
),
ranked AS (
    SELECT
        versions.*,
        ROW_NUMBER() OVER (
            PARTITION BY id
            ORDER BY received_at NULLS LAST, "timestamp", event NULLS LAST,
                     anonymous_id NULLS LAST, user_id NULLS LAST,
                     event_table, "context_campaign_source" NULLS LAST, "context_page_referrer" NULLS LAST, "revenue" NULLS LAST, incoming
        ) AS copy_rank
    FROM versions
)
SELECT
    winner.id AS event_id,
    TRUE AS present,
    winner.anonymous_id,
    winner.user_id,
    winner.event,
    winner."timestamp",
    winner.received_at,
    winner.event_table, winner."context_campaign_source", winner."context_page_referrer", winner."revenue",
    published.anonymous_id AS old_anonymous_id,
    published.user_id AS old_user_id,
    published."timestamp" AS old_timestamp,
    published.dbt_visitor_id AS old_visitor_id
FROM ranked AS winner
LEFT JOIN published ON published.id = winner.id
WHERE winner.copy_rank = 1 AND winner.incoming = 1
UNION ALL
SELECT
    mapped.event_id,
    FALSE,
    CAST(NULL AS VARCHAR(65535)),
    CAST(NULL AS VARCHAR(65535)),
    CAST(NULL AS VARCHAR(65535)),
    CAST(NULL AS TIMESTAMP),
    CAST(NULL AS TIMESTAMP),
    CAST(NULL AS VARCHAR(65535)), CAST(NULL AS VARCHAR(65535) COLLATE CASE_SENSITIVE), CAST(NULL AS VARCHAR(65535) COLLATE CASE_SENSITIVE), CAST(NULL AS DECIMAL(38, 9)),
    mapped.anonymous_id,
    mapped.user_id,
    mapped."timestamp",
    mapped.dbt_visitor_id
FROM "sessions"."dbt_mapped_tracks" AS mapped
WHERE mapped."timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP)
  AND mapped."timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
  AND NOT EXISTS (SELECT 1 FROM "sessions"."__rs_a330a0bc481b_events" AS events WHERE events.id = mapped.event_id);


-- Identifiers whose mapping may change: every id of a changed event, before and after.
DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_touched";

CREATE TABLE "sessions"."__rs_a330a0bc481b_touched" AS
SELECT anonymous_id AS alias FROM "sessions"."__rs_a330a0bc481b_changes" WHERE anonymous_id IS NOT NULL
UNION
SELECT user_id FROM "sessions"."__rs_a330a0bc481b_changes" WHERE user_id IS NOT NULL
UNION
SELECT old_anonymous_id FROM "sessions"."__rs_a330a0bc481b_changes" WHERE old_anonymous_id IS NOT NULL
UNION
SELECT old_user_id FROM "sessions"."__rs_a330a0bc481b_changes" WHERE old_user_id IS NOT NULL;


