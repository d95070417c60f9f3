-- Plan: read the source rows of this run once, from every event table of the source as one stream
-- (tracks(event), pages(name), orders='order_completed'), clean them, and fix what the run must recompute.
--   * blank or whitespace-only ids count as NULL;
--   * rows without id, without timestamp, or without any identifier are dropped with a reason;
--   * copies of an id collapse to the copy received first (then by content, for determinism),
--     whichever load brought it: in incremental and backfill runs the published copy competes;
--   * the counts by reason are kept with the run, so nothing is lost without a trace.
-- Mode backfill: visitors with an event in [2026-02-01 00:00:00, 2026-02-02 00:00:00).

-- Event tables without a column the session facts read give NULL for it: pages.revenue, orders.context_page_referrer.
DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_EVENTS";

-- One read of the source: every row of the run, cleaned and classified, in the table that
-- becomes the run’s events once the dropped rows and the losing copies are deleted from it.
CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_EVENTS" AS
WITH cleaned AS (
    SELECT
        id AS id,
        CASE WHEN TRANSLATE(anonymous_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || CHR(133) || CHR(160) || CHR(5760) || CHR(8192) || CHR(8193) || CHR(8194) || CHR(8195) || CHR(8196) || CHR(8197) || CHR(8198) || CHR(8199) || CHR(8200) || CHR(8201) || CHR(8202) || CHR(8232) || CHR(8233) || CHR(8239) || CHR(8287) || CHR(12288), '') = '' THEN NULL ELSE anonymous_id END AS anonymous_id,
        CASE WHEN TRANSLATE(user_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || CHR(133) || CHR(160) || CHR(5760) || CHR(8192) || CHR(8193) || CHR(8194) || CHR(8195) || CHR(8196) || CHR(8197) || CHR(8198) || CHR(8199) || CHR(8200) || CHR(8201) || CHR(8202) || CHR(8232) || CHR(8233) || CHR(8239) || CHR(8287) || CHR(12288), '') = '' THEN NULL ELSE user_id END AS user_id,
        "EVENT" AS event,
        "TIMESTAMP" AS "TIMESTAMP",
        "RECEIVED_AT" AS received_at,
        "RECEIVED_AT" AS watermark_value,
        'tracks' AS event_table,
        CASE WHEN TRANSLATE(CAST("CONTEXT_CAMPAIGN_SOURCE" AS VARCHAR), CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || CHR(133) || CHR(160) || CHR(5760) || CHR(8192) || CHR(8193) || CHR(8194) || CHR(8195) || CHR(8196) || CHR(8197) || CHR(8198) || CHR(8199) || CHR(8200) || CHR(8201) || CHR(8202) || CHR(8232) || CHR(8233) || CHR(8239) || CHR(8287) || CHR(12288), '') = '' THEN NULL ELSE CAST("CONTEXT_CAMPAIGN_SOURCE" AS VARCHAR) END AS "CONTEXT_CAMPAIGN_SOURCE",
        CASE WHEN TRANSLATE(CAST("CONTEXT_PAGE_REFERRER" AS VARCHAR), CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || CHR(133) || CHR(160) || CHR(5760) || CHR(8192) || CHR(8193) || CHR(8194) || CHR(8195) || CHR(8196) || CHR(8197) || CHR(8198) || CHR(8199) || CHR(8200) || CHR(8201) || CHR(8202) || CHR(8232) || CHR(8233) || CHR(8239) || CHR(8287) || CHR(12288), '') = '' THEN NULL ELSE CAST("CONTEXT_PAGE_REFERRER" AS VARCHAR) END AS "CONTEXT_PAGE_REFERRER",
        CAST("REVENUE" AS DECIMAL(38, 9)) AS "REVENUE"
    FROM "RUDDERSTACK"."TRACKS"
    -- every copy of every id with a copy, or a published event, in the window
    WHERE id IN (
        SELECT id FROM "RUDDERSTACK"."TRACKS"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ)
          AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
        UNION
        SELECT id FROM "RUDDERSTACK"."PAGES"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ)
          AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
        UNION
        SELECT id FROM "RUDDERSTACK"."ORDERS"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ)
          AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
        UNION
        SELECT event_id FROM "SESSIONS"."DBT_MAPPED_TRACKS"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ) AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
    )
    UNION ALL
    SELECT
        id AS id,
        CASE WHEN TRANSLATE(anonymous_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || CHR(133) || CHR(160) || CHR(5760) || CHR(8192) || CHR(8193) || CHR(8194) || CHR(8195) || CHR(8196) || CHR(8197) || CHR(8198) || CHR(8199) || CHR(8200) || CHR(8201) || CHR(8202) || CHR(8232) || CHR(8233) || CHR(8239) || CHR(8287) || CHR(12288), '') = '' THEN NULL ELSE anonymous_id END AS anonymous_id,
        CASE WHEN TRANSLATE(user_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || CHR(133) || CHR(160) || CHR(5760) || CHR(8192) || CHR(8193) || CHR(8194) || CHR(8195) || CHR(8196) || CHR(8197) || CHR(8198) || CHR(8199) || CHR(8200) || CHR(8201) || CHR(8202) || CHR(8232) || CHR(8233) || CHR(8239) || CHR(8287) || CHR(12288), '') = '' THEN NULL ELSE user_id END AS user_id,
        "NAME" AS event,
        "TIMESTAMP" AS "TIMESTAMP",
        "RECEIVED_AT" AS received_at,
        "RECEIVED_AT" AS watermark_value,
        'pages' AS event_table,
        CASE WHEN TRANSLATE(CAST("CONTEXT_CAMPAIGN_SOURCE" AS VARCHAR), CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || CHR(133) || CHR(160) || CHR(5760) || CHR(8192) || CHR(8193) || CHR(8194) || CHR(8195) || CHR(8196) || CHR(8197) || CHR(8198) || CHR(8199) || CHR(8200) || CHR(8201) || CHR(8202) || CHR(8232) || CHR(8233) || CHR(8239) || CHR(8287) || CHR(12288), '') = '' THEN NULL ELSE CAST("CONTEXT_CAMPAIGN_SOURCE" AS VARCHAR) END AS "CONTEXT_CAMPAIGN_SOURCE",
        CASE WHEN TRANSLATE(CAST("CONTEXT_PAGE_REFERRER" AS VARCHAR), CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || CHR(133) || CHR(160) || CHR(5760) || CHR(8192) || CHR(8193) || CHR(8194) || CHR(8195) || CHR(8196) || CHR(8197) || CHR(8198) || CHR(8199) || CHR(8200) || CHR(8201) || CHR(8202) || CHR(8232) || CHR(8233) || CHR(8239) || CHR(8287) || CHR(12288), '') = '' THEN NULL ELSE CAST("CONTEXT_PAGE_REFERRER" AS VARCHAR) END AS "CONTEXT_PAGE_REFERRER",
        CAST(NULL AS DECIMAL(38, 9)) AS "REVENUE"
    FROM "RUDDERSTACK"."PAGES"
    -- every copy of every id with a copy, or a published event, in the window
    WHERE id IN (
        SELECT id FROM "RUDDERSTACK"."TRACKS"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ)
          AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
        UNION
        SELECT id FROM "RUDDERSTACK"."PAGES"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ)
          AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
        UNION
        SELECT id FROM "RUDDERSTACK"."ORDERS"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ)
          AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
        UNION
        SELECT event_id FROM "SESSIONS"."DBT_MAPPED_TRACKS"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ) AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
    )
    UNION ALL
    SELECT
        id AS id,
        CASE WHEN TRANSLATE(anonymous_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || CHR(133) || CHR(160) || CHR(5760) || CHR(8192) || CHR(8193) || CHR(8194) || CHR(8195) || CHR(8196) || CHR(8197) || CHR(8198) || CHR(8199) || CHR(8200) || CHR(8201) || CHR(8202) || CHR(8232) || CHR(8233) || CHR(8239) || CHR(8287) || CHR(12288), '') = '' THEN NULL ELSE anonymous_id END AS anonymous_id,
        CASE WHEN TRANSLATE(user_id, CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || CHR(133) || CHR(160) || CHR(5760) || CHR(8192) || CHR(8193) || CHR(8194) || CHR(8195) || CHR(8196) || CHR(8197) || CHR(8198) || CHR(8199) || CHR(8200) || CHR(8201) || CHR(8202) || CHR(8232) || CHR(8233) || CHR(8239) || CHR(8287) || CHR(12288), '') = '' THEN NULL ELSE user_id END AS user_id,
        'order_completed' AS event,
        "TIMESTAMP" AS "TIMESTAMP",
        "RECEIVED_AT" AS received_at,
        "RECEIVED_AT" AS watermark_value,
        'orders' AS event_table,
        CASE WHEN TRANSLATE(CAST("CONTEXT_CAMPAIGN_SOURCE" AS VARCHAR), CHR(32) || CHR(9) || CHR(10) || CHR(11) || CHR(12) || CHR(13) || CHR(133) || CHR(160) || CHR(5760) || CHR(8192) || CHR(8193) || CHR(8194) || CHR(8195) || CHR(8196) || CHR(8197) || CHR(8198) || CHR(8199) || CHR(8200) || CHR(8201) || CHR(8202) || CHR(8232) || CHR(8233) || CHR(8239) || CHR(8287) || CHR(12288), '') = '' THEN NULL ELSE CAST("CONTEXT_CAMPAIGN_SOURCE" AS VARCHAR) END AS "CONTEXT_CAMPAIGN_SOURCE",
        CAST(NULL AS VARCHAR) AS "CONTEXT_PAGE_REFERRER",
        CAST("REVENUE" AS DECIMAL(38, 9)) AS "REVENUE"
    FROM "RUDDERSTACK"."ORDERS"
    -- every copy of every id with a copy, or a published event, in the window
    WHERE id IN (
        SELECT id FROM "RUDDERSTACK"."TRACKS"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ)
          AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
        UNION
        SELECT id FROM "RUDDERSTACK"."PAGES"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ)
          AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
        UNION
        SELECT id FROM "RUDDERSTACK"."ORDERS"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ)
          AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
        UNION
        SELECT event_id FROM "SESSIONS"."DBT_MAPPED_TRACKS"
        WHERE "TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ) AND "TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
    )
)
SELECT
    cleaned.*,
    CASE
        WHEN id IS NULL THEN 'null_id'
        WHEN "TIMESTAMP" IS NULL THEN 'null_timestamp'
        WHEN anonymous_id IS NULL AND user_id IS NULL THEN 'no_identifier'
    END AS drop_reason
FROM cleaned;

-- Copies of one id: only the ids with several valid copies are ranked (a hash aggregate finds
-- them; sorting every row by id would cost more than the whole cleaning).
DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_COPIES";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_COPIES" AS
WITH repeated AS (
    SELECT id FROM "SESSIONS"."__RS_A330A0BC481B_EVENTS" WHERE drop_reason IS NULL GROUP BY id HAVING COUNT(*) > 1
),
ranked AS (
    SELECT
        events.*,
        ROW_NUMBER() OVER (
            PARTITION BY id
            ORDER BY received_at NULLS LAST, "TIMESTAMP", event NULLS LAST,
                     anonymous_id NULLS LAST, user_id NULLS LAST,
                     event_table, "CONTEXT_CAMPAIGN_SOURCE" NULLS LAST, "CONTEXT_PAGE_REFERRER" NULLS LAST, "REVENUE" NULLS LAST
        ) AS copy_rank
    FROM "SESSIONS"."__RS_A330A0BC481B_EVENTS" AS events
    WHERE drop_reason IS NULL AND id IN (SELECT id FROM repeated)
)
SELECT id, anonymous_id, user_id, event, "TIMESTAMP", received_at, watermark_value, event_table, "CONTEXT_CAMPAIGN_SOURCE", "CONTEXT_PAGE_REFERRER", "REVENUE", copy_rank
FROM ranked;

DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_RUN";

-- The counts of the run, and each table’s watermark after it: the greatest value read that is not
-- later than the run’s start. A row stamped in the future (a clock error) is processed and counted
-- as future_watermark, and read again by later runs until its time has passed: it never holds
-- back the rows that arrive after it.

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_RUN" AS
SELECT
    'scheduled__2026-03-02T03:00:00+00:00' AS run_id,
    'backfill' AS mode,
    SYSDATE() AS started_at,
    CAST(COUNT(*) AS BIGINT) AS rows_read,
    CAST(COUNT(*) AS BIGINT) AS rows_new,
    CAST(COALESCE(SUM(CASE WHEN drop_reason = 'null_id' THEN 1 ELSE 0 END), 0) AS BIGINT)
        AS dropped_null_id,
    CAST(COALESCE(SUM(CASE WHEN drop_reason = 'null_timestamp' THEN 1 ELSE 0 END), 0) AS BIGINT)
        AS dropped_null_timestamp,
    CAST(COALESCE(SUM(CASE WHEN drop_reason = 'no_identifier' THEN 1 ELSE 0 END), 0) AS BIGINT)
        AS dropped_no_identifier,
    CAST(NULL AS BIGINT) AS new_valid_rows,
    CAST((SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_COPIES" WHERE copy_rank > 1) AS BIGINT) AS dropped_duplicate,
    MAX(CASE WHEN event_table = 'tracks' AND watermark_value <= SYSDATE() THEN watermark_value END)
        AS max_watermark_1,
    MAX(CASE WHEN event_table = 'pages' AND watermark_value <= SYSDATE() THEN watermark_value END)
        AS max_watermark_2,
    MAX(CASE WHEN event_table = 'orders' AND watermark_value <= SYSDATE() THEN watermark_value END)
        AS max_watermark_3,
    MAX(CASE WHEN watermark_value <= SYSDATE() THEN watermark_value END) AS max_watermark,
    CAST(
        COALESCE(SUM(CASE WHEN watermark_value > SYSDATE() THEN 1 ELSE 0 END), 0)
        AS BIGINT
    ) AS future_watermark,
    CAST(NULL AS BIGINT) AS identity_excluded,
    CAST(NULL AS BIGINT) AS identity_iterations,
    CAST(NULL AS BIGINT) AS identity_hub_ids,
    CAST(NULL AS BIGINT) AS identity_remapped,
    CAST(NULL AS BIGINT) AS identity_merged
FROM "SESSIONS"."__RS_A330A0BC481B_EVENTS";

DELETE FROM "SESSIONS"."__RS_A330A0BC481B_EVENTS"
WHERE drop_reason IS NOT NULL OR id IN (SELECT id FROM "SESSIONS"."__RS_A330A0BC481B_COPIES");

INSERT INTO "SESSIONS"."__RS_A330A0BC481B_EVENTS" (id, anonymous_id, user_id, event, "TIMESTAMP", received_at, watermark_value, event_table, "CONTEXT_CAMPAIGN_SOURCE", "CONTEXT_PAGE_REFERRER", "REVENUE")
SELECT id, anonymous_id, user_id, event, "TIMESTAMP", received_at, watermark_value, event_table, "CONTEXT_CAMPAIGN_SOURCE", "CONTEXT_PAGE_REFERRER", "REVENUE"
FROM "SESSIONS"."__RS_A330A0BC481B_COPIES"
WHERE copy_rank = 1;

DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_COPIES";


-- Changes: the source is the truth for the window’s events (all their copies were read): each
-- replaces its published copy; published events of the window left without a valid copy go.
DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_CHANGES";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_CHANGES" AS
WITH published AS (
    SELECT
        mapped.event_id AS id, mapped.anonymous_id, mapped.user_id, mapped.event,
        mapped."TIMESTAMP", mapped.received_at, mapped.dbt_visitor_id, mapped.event_table, mapped."CONTEXT_CAMPAIGN_SOURCE", mapped."CONTEXT_PAGE_REFERRER", mapped."REVENUE"
    FROM "SESSIONS"."DBT_MAPPED_TRACKS" AS mapped
    WHERE mapped.event_id IN (SELECT id FROM "SESSIONS"."__RS_A330A0BC481B_EVENTS")
),
versions AS (
    SELECT id, anonymous_id, user_id, event, "TIMESTAMP", received_at, event_table, "CONTEXT_CAMPAIGN_SOURCE", "CONTEXT_PAGE_REFERRER", "REVENUE", 1 AS incoming
    FROM "SESSIONS"."__RS_A330A0BC481B_EVENTS"
),
ranked AS (
    SELECT
        versions.*,
        ROW_NUMBER() OVER (
            PARTITION BY id
            ORDER BY received_at NULLS LAST, "TIMESTAMP", event NULLS LAST,
                     anonymous_id NULLS LAST, user_id NULLS LAST,
                     event_table, "CONTEXT_CAMPAIGN_SOURCE" NULLS LAST, "CONTEXT_PAGE_REFERRER" NULLS LAST, "REVENUE" NULLS LAST, incoming
        ) AS copy_rank
    FROM versions
)
SELECT
    winner.id AS event_id,
    TRUE AS present,
    winner.anonymous_id,
    winner.user_id,
    winner.event,
    winner."TIMESTAMP",
    winner.received_at,
    winner.event_table, winner."CONTEXT_CAMPAIGN_SOURCE", winner."CONTEXT_PAGE_REFERRER", winner."REVENUE",
    published.anonymous_id AS old_anonymous_id,
    published.user_id AS old_user_id,
    published."TIMESTAMP" AS old_timestamp,
    published.dbt_visitor_id AS old_visitor_id
FROM ranked AS winner
LEFT JOIN published ON published.id = winner.id
WHERE winner.copy_rank = 1 AND winner.incoming = 1
UNION ALL
SELECT
    mapped.event_id,
    FALSE,
    CAST(NULL AS VARCHAR),
    CAST(NULL AS VARCHAR),
    CAST(NULL AS VARCHAR),
    CAST(NULL AS TIMESTAMP_NTZ),
    CAST(NULL AS TIMESTAMP_NTZ),
    CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS DECIMAL(38, 9)),
    mapped.anonymous_id,
    mapped.user_id,
    mapped."TIMESTAMP",
    mapped.dbt_visitor_id
FROM "SESSIONS"."DBT_MAPPED_TRACKS" AS mapped
WHERE mapped."TIMESTAMP" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ)
  AND mapped."TIMESTAMP" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ)
  AND NOT EXISTS (SELECT 1 FROM "SESSIONS"."__RS_A330A0BC481B_EVENTS" AS events WHERE events.id = mapped.event_id);


-- Identifiers whose mapping may change: every id of a changed event, before and after.
DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_TOUCHED";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_TOUCHED" AS
SELECT anonymous_id AS alias FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES" WHERE anonymous_id IS NOT NULL
UNION
SELECT user_id FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES" WHERE user_id IS NOT NULL
UNION
SELECT old_anonymous_id FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES" WHERE old_anonymous_id IS NOT NULL
UNION
SELECT old_user_id FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES" WHERE old_user_id IS NOT NULL;


