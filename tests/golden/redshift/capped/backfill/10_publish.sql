-- Publish, in one transaction of DML only: claim the run state the plan saw (a concurrent or
-- stale run finds it moved and is refused), write the tables, advance the watermarks, log the
-- run. Readers see the previous model or the new one, never a mix; a failure anywhere leaves the
-- previous one.


-- The published tables, created once with their layout (before the transaction: DDL commits on
-- most warehouses). Publish writes them with DML only, so their layout, grants and dependent
-- views stay as the warehouse’s owner set them.

CREATE TABLE IF NOT EXISTS "sessions"."dbt_aliases_mapping" (
    "alias" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "dbt_visitor_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "is_user_id" BOOLEAN,
    "identified_user_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "identified_at" TIMESTAMP,
    "identified_event_id" VARCHAR(65535) COLLATE CASE_SENSITIVE
)
DISTKEY ("alias") COMPOUND SORTKEY ("alias");

CREATE TABLE IF NOT EXISTS "sessions"."dbt_mapped_tracks" (
    "event_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "anonymous_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "dbt_visitor_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "timestamp" TIMESTAMP,
    "event" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "idle_time_minutes" DOUBLE PRECISION,
    "user_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "received_at" TIMESTAMP,
    "starts_session" BOOLEAN,
    "event_table" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "context_campaign_source" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "context_page_referrer" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "revenue" DECIMAL(38, 9)
)
DISTKEY ("dbt_visitor_id") COMPOUND SORTKEY ("dbt_visitor_id", "timestamp");

CREATE TABLE IF NOT EXISTS "sessions"."dbt_session_tracks" (
    "session_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "dbt_visitor_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "session_start_at" TIMESTAMP,
    "session_sequence_number" BIGINT,
    "next_session_start_at" TIMESTAMP
)
DISTKEY ("dbt_visitor_id") COMPOUND SORTKEY ("dbt_visitor_id", "session_start_at");

CREATE TABLE IF NOT EXISTS "sessions"."dbt_track_facts" (
    "anonymous_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "timestamp" TIMESTAMP,
    "event_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "event" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "session_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "dbt_visitor_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "track_sequence_number" BIGINT,
    "event_table" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "context_campaign_source" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "context_page_referrer" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "revenue" DECIMAL(38, 9)
)
DISTKEY ("dbt_visitor_id") COMPOUND SORTKEY ("dbt_visitor_id", "timestamp");

CREATE TABLE IF NOT EXISTS "sessions"."dbt_tracks_flow" (
    "event_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "session_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "track_sequence_number" BIGINT,
    "event" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "dbt_visitor_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "timestamp" TIMESTAMP,
    "event_2" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "event_3" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "event_4" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "event_5" VARCHAR(65535) COLLATE CASE_SENSITIVE
)
DISTKEY ("dbt_visitor_id") COMPOUND SORTKEY ("dbt_visitor_id", "timestamp");

CREATE TABLE IF NOT EXISTS "sessions"."dbt_session_facts" (
    "session_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "dbt_visitor_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "session_start_at" TIMESTAMP,
    "session_end_at" TIMESTAMP,
    "duration_seconds" DOUBLE PRECISION,
    "event_count" BIGINT,
    "first_event" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "last_event" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "conversion_count" BIGINT,
    "converted" BOOLEAN,
    "first_context_campaign_source" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "first_context_page_referrer" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "total_revenue" DECIMAL(38, 9),
    "session_sequence_number" BIGINT
)
DISTKEY ("dbt_visitor_id") COMPOUND SORTKEY ("dbt_visitor_id", "session_start_at");

CREATE TABLE IF NOT EXISTS "sessions"."dbt_user_session_facts" (
    "dbt_visitor_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "first_seen_at" TIMESTAMP,
    "last_seen_at" TIMESTAMP,
    "session_count" BIGINT,
    "event_count" BIGINT,
    "converted_session_count" BIGINT,
    "first_session_id" VARCHAR(65535) COLLATE CASE_SENSITIVE,
    "last_session_id" VARCHAR(65535) COLLATE CASE_SENSITIVE
)
DISTKEY ("dbt_visitor_id") COMPOUND SORTKEY ("dbt_visitor_id");

BEGIN TRANSACTION;
-- The claim: exactly one state row at the planned version, or the run is refused.
UPDATE "sessions"."rudder_sessions_state" SET
    watermark = (SELECT CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP) FROM "sessions"."__rs_a330a0bc481b_run" AS run),
    version = version + 1,
    last_run_id = 'scheduled__2026-03-02T03:00:00+00:00',
    last_mode = 'backfill',
    last_window_start = CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP),
    last_window_end = CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP),
    updated_at = GETDATE(),
    settings = '{"aliases_table": "", "conversion_events": ["order_completed", "signed_up"], "event_tables": [{"event_column": "event", "table": "tracks"}, {"event_column": "name", "table": "pages"}, {"event_name": "order_completed", "table": "orders"}], "flow_length": 5, "identifies_table": "", "identity": "last_touch", "identity_exclude": ["", "null", "undefined", "anonymous", "0"], "max_session_events": 2500, "max_users_per_anonymous_id": 1, "session_first_columns": ["context_campaign_source", "context_page_referrer"], "session_sum_columns": ["revenue"], "source_schema": "rudderstack", "source_table": "tracks", "timeout_minutes": 30, "watermark_column": "received_at"}'
WHERE source = 'shop' AND version = 7;

-- One watermark per event table.
DELETE FROM "sessions"."rudder_sessions_watermarks" WHERE source = 'shop';

INSERT INTO "sessions"."rudder_sessions_watermarks" (source, event_table, watermark)
SELECT 'shop', 'tracks', CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP)
FROM "sessions"."__rs_a330a0bc481b_run" AS run
UNION ALL
SELECT 'shop', 'pages', CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP)
FROM "sessions"."__rs_a330a0bc481b_run" AS run
UNION ALL
SELECT 'shop', 'orders', CAST(NULL AS TIMESTAMP)
FROM "sessions"."__rs_a330a0bc481b_run" AS run;
DELETE FROM "sessions"."dbt_aliases_mapping"
WHERE alias IN (SELECT alias FROM "sessions"."__rs_a330a0bc481b_touched");

INSERT INTO "sessions"."dbt_aliases_mapping" ("alias", "dbt_visitor_id", "is_user_id", "identified_user_id", "identified_at", "identified_event_id")
SELECT "alias", "dbt_visitor_id", "is_user_id", "identified_user_id", "identified_at", "identified_event_id"
FROM "sessions"."__rs_a330a0bc481b_aliases_mapping";
-- The recomputed parts of the affected visitors: their events from the reopen point on, and their
-- sessions from the last one starting before it (each table carries the visitor and timestamp);
-- the one-row-per-visitor tables, every row of them.
DELETE FROM "sessions"."dbt_mapped_tracks"
USING "sessions"."__rs_a330a0bc481b_affected" AS affected
WHERE affected.dbt_visitor_id = "sessions"."dbt_mapped_tracks".dbt_visitor_id
      AND (affected.reopen_at IS NULL OR "sessions"."dbt_mapped_tracks"."timestamp" >= affected.reopen_at);

DELETE FROM "sessions"."dbt_session_tracks"
USING "sessions"."__rs_a330a0bc481b_affected" AS affected
WHERE affected.dbt_visitor_id = "sessions"."dbt_session_tracks".dbt_visitor_id
      AND (affected.sessions_from IS NULL OR "sessions"."dbt_session_tracks".session_start_at >= affected.sessions_from);

DELETE FROM "sessions"."dbt_track_facts"
USING "sessions"."__rs_a330a0bc481b_affected" AS affected
WHERE affected.dbt_visitor_id = "sessions"."dbt_track_facts".dbt_visitor_id
      AND (affected.reopen_at IS NULL OR "sessions"."dbt_track_facts"."timestamp" >= affected.reopen_at);

DELETE FROM "sessions"."dbt_tracks_flow"
USING "sessions"."__rs_a330a0bc481b_affected" AS affected
WHERE affected.dbt_visitor_id = "sessions"."dbt_tracks_flow".dbt_visitor_id
      AND (affected.reopen_at IS NULL OR "sessions"."dbt_tracks_flow"."timestamp" >= affected.reopen_at);

DELETE FROM "sessions"."dbt_session_facts"
USING "sessions"."__rs_a330a0bc481b_affected" AS affected
WHERE affected.dbt_visitor_id = "sessions"."dbt_session_facts".dbt_visitor_id
      AND (affected.reopen_at IS NULL OR "sessions"."dbt_session_facts".session_start_at >= affected.reopen_at);

DELETE FROM "sessions"."dbt_user_session_facts"
WHERE dbt_visitor_id IN (SELECT dbt_visitor_id FROM "sessions"."__rs_a330a0bc481b_affected");

INSERT INTO "sessions"."dbt_mapped_tracks" ("event_id", "anonymous_id", "dbt_visitor_id", "timestamp", "event", "idle_time_minutes", "user_id", "received_at", "starts_session", "event_table", "context_campaign_source", "context_page_referrer", "revenue")
SELECT "event_id", "anonymous_id", "dbt_visitor_id", "timestamp", "event", "idle_time_minutes", "user_id", "received_at", "starts_session", "event_table", "context_campaign_source", "context_page_referrer", "revenue"
FROM "sessions"."__rs_a330a0bc481b_mapped_tracks";

INSERT INTO "sessions"."dbt_session_tracks" ("session_id", "dbt_visitor_id", "session_start_at", "session_sequence_number", "next_session_start_at")
SELECT "session_id", "dbt_visitor_id", "session_start_at", "session_sequence_number", "next_session_start_at"
FROM "sessions"."__rs_a330a0bc481b_session_tracks";

INSERT INTO "sessions"."dbt_track_facts" ("anonymous_id", "timestamp", "event_id", "event", "session_id", "dbt_visitor_id", "track_sequence_number", "event_table", "context_campaign_source", "context_page_referrer", "revenue")
SELECT "anonymous_id", "timestamp", "event_id", "event", "session_id", "dbt_visitor_id", "track_sequence_number", "event_table", "context_campaign_source", "context_page_referrer", "revenue"
FROM "sessions"."__rs_a330a0bc481b_track_facts";

INSERT INTO "sessions"."dbt_tracks_flow" ("event_id", "session_id", "track_sequence_number", "event", "dbt_visitor_id", "timestamp", "event_2", "event_3", "event_4", "event_5")
SELECT "event_id", "session_id", "track_sequence_number", "event", "dbt_visitor_id", "timestamp", "event_2", "event_3", "event_4", "event_5"
FROM "sessions"."__rs_a330a0bc481b_tracks_flow";

INSERT INTO "sessions"."dbt_session_facts" ("session_id", "dbt_visitor_id", "session_start_at", "session_end_at", "duration_seconds", "event_count", "first_event", "last_event", "conversion_count", "converted", "first_context_campaign_source", "first_context_page_referrer", "total_revenue", "session_sequence_number")
SELECT "session_id", "dbt_visitor_id", "session_start_at", "session_end_at", "duration_seconds", "event_count", "first_event", "last_event", "conversion_count", "converted", "first_context_campaign_source", "first_context_page_referrer", "total_revenue", "session_sequence_number"
FROM "sessions"."__rs_a330a0bc481b_session_facts";

INSERT INTO "sessions"."dbt_user_session_facts" ("dbt_visitor_id", "first_seen_at", "last_seen_at", "session_count", "event_count", "converted_session_count", "first_session_id", "last_session_id")
SELECT "dbt_visitor_id", "first_seen_at", "last_seen_at", "session_count", "event_count", "converted_session_count", "first_session_id", "last_session_id"
FROM "sessions"."__rs_a330a0bc481b_user_session_facts";


DELETE FROM "sessions"."rudder_sessions_runs" WHERE run_id = 'scheduled__2026-03-02T03:00:00+00:00';

INSERT INTO "sessions"."rudder_sessions_runs" (
    run_id, source, mode, requested_mode, window_start, window_end, watermark_before, watermark_after,
    started_at, finished_at, outcome, rows_read, rows_new, future_watermark, dropped_null_id, dropped_null_timestamp, dropped_no_identifier, dropped_duplicate,
    events_changed, visitors_affected, visitors, sessions, rows_aliases_mapping, rows_mapped_tracks, rows_session_tracks, rows_track_facts, rows_tracks_flow, rows_session_facts, rows_user_session_facts, state_version, reason,
    identity_excluded, identity_iterations, identity_hub_ids, identity_remapped, identity_merged
)
SELECT
    run.run_id,
    'shop',
    run.mode,
    'backfill',
    CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP),
    CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP),
    CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP),
    CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP),
    run.started_at,
    GETDATE(),
    'published',
    run.rows_read,
    run.rows_new,
    run.future_watermark,
    run.dropped_null_id,
    run.dropped_null_timestamp,
    run.dropped_no_identifier,
    run.dropped_duplicate,
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_changes"),
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_affected"),
    totals.visitor_count,
    totals.session_count,
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_aliases_mapping"),
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_mapped_tracks"),
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_session_tracks"),
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_track_facts"),
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_tracks_flow"),
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_session_facts"),
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_user_session_facts"),
    7,
    CAST(NULL AS VARCHAR(65535)),
    run.identity_excluded,
    run.identity_iterations,
    run.identity_hub_ids,
    run.identity_remapped,
    run.identity_merged
FROM "sessions"."__rs_a330a0bc481b_run" AS run
-- Visitors and sessions of the model as published, in one scan of session_tracks (every visitor
-- has a session: several times fewer rows than its events).
CROSS JOIN (
    -- (named unlike any dataset: GoogleSQL would read `sessions`.`t` in this scope as a field of a
    -- column named sessions)
    SELECT COUNT(DISTINCT dbt_visitor_id) AS visitor_count, COUNT(*) AS session_count
    FROM "sessions"."dbt_session_tracks"
) AS totals;
COMMIT;
