-- Publish, in one transaction of DML only: claim the run state the plan saw (a concurrent or
-- stale run finds it moved and is refused), write the tables, advance the watermarks, log the
-- run. Readers see the previous model or the new one, never a mix; a failure anywhere leaves the
-- previous one.


-- The published tables, created once with their layout (before the transaction: DDL commits on
-- most warehouses). Publish writes them with DML only, so their layout, grants and dependent
-- views stay as the warehouse’s owner set them.

CREATE TABLE IF NOT EXISTS "SESSIONS"."DBT_ALIASES_MAPPING" (
    "ALIAS" VARCHAR,
    "DBT_VISITOR_ID" VARCHAR,
    "IS_USER_ID" BOOLEAN,
    "IDENTIFIED_USER_ID" VARCHAR,
    "IDENTIFIED_AT" TIMESTAMP_NTZ,
    "IDENTIFIED_EVENT_ID" VARCHAR
);

CREATE TABLE IF NOT EXISTS "SESSIONS"."DBT_MAPPED_TRACKS" (
    "EVENT_ID" VARCHAR,
    "ANONYMOUS_ID" VARCHAR,
    "DBT_VISITOR_ID" VARCHAR,
    "TIMESTAMP" TIMESTAMP_NTZ,
    "EVENT" VARCHAR,
    "IDLE_TIME_MINUTES" DOUBLE,
    "USER_ID" VARCHAR,
    "RECEIVED_AT" TIMESTAMP_NTZ,
    "STARTS_SESSION" BOOLEAN,
    "EVENT_TABLE" VARCHAR,
    "CONTEXT_CAMPAIGN_SOURCE" VARCHAR,
    "CONTEXT_PAGE_REFERRER" VARCHAR,
    "REVENUE" DECIMAL(38, 9)
);

CREATE TABLE IF NOT EXISTS "SESSIONS"."DBT_SESSION_TRACKS" (
    "SESSION_ID" VARCHAR,
    "DBT_VISITOR_ID" VARCHAR,
    "SESSION_START_AT" TIMESTAMP_NTZ,
    "SESSION_SEQUENCE_NUMBER" BIGINT,
    "NEXT_SESSION_START_AT" TIMESTAMP_NTZ
);

CREATE TABLE IF NOT EXISTS "SESSIONS"."DBT_TRACK_FACTS" (
    "ANONYMOUS_ID" VARCHAR,
    "TIMESTAMP" TIMESTAMP_NTZ,
    "EVENT_ID" VARCHAR,
    "EVENT" VARCHAR,
    "SESSION_ID" VARCHAR,
    "DBT_VISITOR_ID" VARCHAR,
    "TRACK_SEQUENCE_NUMBER" BIGINT,
    "EVENT_TABLE" VARCHAR,
    "CONTEXT_CAMPAIGN_SOURCE" VARCHAR,
    "CONTEXT_PAGE_REFERRER" VARCHAR,
    "REVENUE" DECIMAL(38, 9)
);

CREATE TABLE IF NOT EXISTS "SESSIONS"."DBT_TRACKS_FLOW" (
    "EVENT_ID" VARCHAR,
    "SESSION_ID" VARCHAR,
    "TRACK_SEQUENCE_NUMBER" BIGINT,
    "EVENT" VARCHAR,
    "DBT_VISITOR_ID" VARCHAR,
    "TIMESTAMP" TIMESTAMP_NTZ,
    "EVENT_2" VARCHAR,
    "EVENT_3" VARCHAR,
    "EVENT_4" VARCHAR,
    "EVENT_5" VARCHAR
);

CREATE TABLE IF NOT EXISTS "SESSIONS"."DBT_SESSION_FACTS" (
    "SESSION_ID" VARCHAR,
    "DBT_VISITOR_ID" VARCHAR,
    "SESSION_START_AT" TIMESTAMP_NTZ,
    "SESSION_END_AT" TIMESTAMP_NTZ,
    "DURATION_SECONDS" DOUBLE,
    "EVENT_COUNT" BIGINT,
    "FIRST_EVENT" VARCHAR,
    "LAST_EVENT" VARCHAR,
    "CONVERSION_COUNT" BIGINT,
    "CONVERTED" BOOLEAN,
    "FIRST_CONTEXT_CAMPAIGN_SOURCE" VARCHAR,
    "FIRST_CONTEXT_PAGE_REFERRER" VARCHAR,
    "TOTAL_REVENUE" DECIMAL(38, 9),
    "SESSION_SEQUENCE_NUMBER" BIGINT
);

CREATE TABLE IF NOT EXISTS "SESSIONS"."DBT_USER_SESSION_FACTS" (
    "DBT_VISITOR_ID" VARCHAR,
    "FIRST_SEEN_AT" TIMESTAMP_NTZ,
    "LAST_SEEN_AT" TIMESTAMP_NTZ,
    "SESSION_COUNT" BIGINT,
    "EVENT_COUNT" BIGINT,
    "CONVERTED_SESSION_COUNT" BIGINT,
    "FIRST_SESSION_ID" VARCHAR,
    "LAST_SESSION_ID" VARCHAR
);

BEGIN TRANSACTION;
-- The claim: exactly one state row at the planned version, or the run is refused.
UPDATE "SESSIONS"."RUDDER_SESSIONS_STATE" SET
    watermark = (SELECT CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP_NTZ) FROM "SESSIONS"."__RS_A330A0BC481B_RUN" AS run),
    version = version + 1,
    last_run_id = 'scheduled__2026-03-02T03:00:00+00:00',
    last_mode = 'backfill',
    last_window_start = CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ),
    last_window_end = CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ),
    updated_at = SYSDATE(),
    settings = '{"aliases_table": "", "conversion_events": ["order_completed", "signed_up"], "event_tables": [{"event_column": "event", "table": "tracks"}, {"event_column": "name", "table": "pages"}, {"event_name": "order_completed", "table": "orders"}], "flow_length": 5, "identifies_table": "", "identity": "last_touch", "identity_exclude": ["", "null", "undefined", "anonymous", "0"], "max_session_events": 2500, "max_users_per_anonymous_id": 1, "session_first_columns": ["context_campaign_source", "context_page_referrer"], "session_sum_columns": ["revenue"], "source_schema": "rudderstack", "source_table": "tracks", "timeout_minutes": 30, "watermark_column": "received_at"}'
WHERE source = 'shop' AND version = 7;

-- One watermark per event table.
DELETE FROM "SESSIONS"."RUDDER_SESSIONS_WATERMARKS" WHERE source = 'shop';

INSERT INTO "SESSIONS"."RUDDER_SESSIONS_WATERMARKS" (source, event_table, watermark)
SELECT 'shop', 'tracks', CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP_NTZ)
FROM "SESSIONS"."__RS_A330A0BC481B_RUN" AS run
UNION ALL
SELECT 'shop', 'pages', CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP_NTZ)
FROM "SESSIONS"."__RS_A330A0BC481B_RUN" AS run
UNION ALL
SELECT 'shop', 'orders', CAST(NULL AS TIMESTAMP_NTZ)
FROM "SESSIONS"."__RS_A330A0BC481B_RUN" AS run;
DELETE FROM "SESSIONS"."DBT_ALIASES_MAPPING"
WHERE alias IN (SELECT alias FROM "SESSIONS"."__RS_A330A0BC481B_TOUCHED");

INSERT INTO "SESSIONS"."DBT_ALIASES_MAPPING" ("ALIAS", "DBT_VISITOR_ID", "IS_USER_ID", "IDENTIFIED_USER_ID", "IDENTIFIED_AT", "IDENTIFIED_EVENT_ID")
SELECT "ALIAS", "DBT_VISITOR_ID", "IS_USER_ID", "IDENTIFIED_USER_ID", "IDENTIFIED_AT", "IDENTIFIED_EVENT_ID"
FROM "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING";
-- The recomputed parts of the affected visitors: their events from the reopen point on, and their
-- sessions from the last one starting before it (each table carries the visitor and timestamp);
-- the one-row-per-visitor tables, every row of them.
DELETE FROM "SESSIONS"."DBT_MAPPED_TRACKS" AS target
USING "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected
WHERE affected.dbt_visitor_id = target.dbt_visitor_id
      AND (affected.reopen_at IS NULL OR target."TIMESTAMP" >= affected.reopen_at);

DELETE FROM "SESSIONS"."DBT_SESSION_TRACKS" AS target
USING "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected
WHERE affected.dbt_visitor_id = target.dbt_visitor_id
      AND (affected.sessions_from IS NULL OR target.session_start_at >= affected.sessions_from);

DELETE FROM "SESSIONS"."DBT_TRACK_FACTS" AS target
USING "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected
WHERE affected.dbt_visitor_id = target.dbt_visitor_id
      AND (affected.reopen_at IS NULL OR target."TIMESTAMP" >= affected.reopen_at);

DELETE FROM "SESSIONS"."DBT_TRACKS_FLOW" AS target
USING "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected
WHERE affected.dbt_visitor_id = target.dbt_visitor_id
      AND (affected.reopen_at IS NULL OR target."TIMESTAMP" >= affected.reopen_at);

DELETE FROM "SESSIONS"."DBT_SESSION_FACTS" AS target
USING "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected
WHERE affected.dbt_visitor_id = target.dbt_visitor_id
      AND (affected.reopen_at IS NULL OR target.session_start_at >= affected.reopen_at);

DELETE FROM "SESSIONS"."DBT_USER_SESSION_FACTS"
WHERE dbt_visitor_id IN (SELECT dbt_visitor_id FROM "SESSIONS"."__RS_A330A0BC481B_AFFECTED");

INSERT INTO "SESSIONS"."DBT_MAPPED_TRACKS" ("EVENT_ID", "ANONYMOUS_ID", "DBT_VISITOR_ID", "TIMESTAMP", "EVENT", "IDLE_TIME_MINUTES", "USER_ID", "RECEIVED_AT", "STARTS_SESSION", "EVENT_TABLE", "CONTEXT_CAMPAIGN_SOURCE", "CONTEXT_PAGE_REFERRER", "REVENUE")
SELECT "EVENT_ID", "ANONYMOUS_ID", "DBT_VISITOR_ID", "TIMESTAMP", "EVENT", "IDLE_TIME_MINUTES", "USER_ID", "RECEIVED_AT", "STARTS_SESSION", "EVENT_TABLE", "CONTEXT_CAMPAIGN_SOURCE", "CONTEXT_PAGE_REFERRER", "REVENUE"
FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS";

INSERT INTO "SESSIONS"."DBT_SESSION_TRACKS" ("SESSION_ID", "DBT_VISITOR_ID", "SESSION_START_AT", "SESSION_SEQUENCE_NUMBER", "NEXT_SESSION_START_AT")
SELECT "SESSION_ID", "DBT_VISITOR_ID", "SESSION_START_AT", "SESSION_SEQUENCE_NUMBER", "NEXT_SESSION_START_AT"
FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS";

INSERT INTO "SESSIONS"."DBT_TRACK_FACTS" ("ANONYMOUS_ID", "TIMESTAMP", "EVENT_ID", "EVENT", "SESSION_ID", "DBT_VISITOR_ID", "TRACK_SEQUENCE_NUMBER", "EVENT_TABLE", "CONTEXT_CAMPAIGN_SOURCE", "CONTEXT_PAGE_REFERRER", "REVENUE")
SELECT "ANONYMOUS_ID", "TIMESTAMP", "EVENT_ID", "EVENT", "SESSION_ID", "DBT_VISITOR_ID", "TRACK_SEQUENCE_NUMBER", "EVENT_TABLE", "CONTEXT_CAMPAIGN_SOURCE", "CONTEXT_PAGE_REFERRER", "REVENUE"
FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS";

INSERT INTO "SESSIONS"."DBT_TRACKS_FLOW" ("EVENT_ID", "SESSION_ID", "TRACK_SEQUENCE_NUMBER", "EVENT", "DBT_VISITOR_ID", "TIMESTAMP", "EVENT_2", "EVENT_3", "EVENT_4", "EVENT_5")
SELECT "EVENT_ID", "SESSION_ID", "TRACK_SEQUENCE_NUMBER", "EVENT", "DBT_VISITOR_ID", "TIMESTAMP", "EVENT_2", "EVENT_3", "EVENT_4", "EVENT_5"
FROM "SESSIONS"."__RS_A330A0BC481B_TRACKS_FLOW";

INSERT INTO "SESSIONS"."DBT_SESSION_FACTS" ("SESSION_ID", "DBT_VISITOR_ID", "SESSION_START_AT", "SESSION_END_AT", "DURATION_SECONDS", "EVENT_COUNT", "FIRST_EVENT", "LAST_EVENT", "CONVERSION_COUNT", "CONVERTED", "FIRST_CONTEXT_CAMPAIGN_SOURCE", "FIRST_CONTEXT_PAGE_REFERRER", "TOTAL_REVENUE", "SESSION_SEQUENCE_NUMBER")
SELECT "SESSION_ID", "DBT_VISITOR_ID", "SESSION_START_AT", "SESSION_END_AT", "DURATION_SECONDS", "EVENT_COUNT", "FIRST_EVENT", "LAST_EVENT", "CONVERSION_COUNT", "CONVERTED", "FIRST_CONTEXT_CAMPAIGN_SOURCE", "FIRST_CONTEXT_PAGE_REFERRER", "TOTAL_REVENUE", "SESSION_SEQUENCE_NUMBER"
FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_FACTS";

INSERT INTO "SESSIONS"."DBT_USER_SESSION_FACTS" ("DBT_VISITOR_ID", "FIRST_SEEN_AT", "LAST_SEEN_AT", "SESSION_COUNT", "EVENT_COUNT", "CONVERTED_SESSION_COUNT", "FIRST_SESSION_ID", "LAST_SESSION_ID")
SELECT "DBT_VISITOR_ID", "FIRST_SEEN_AT", "LAST_SEEN_AT", "SESSION_COUNT", "EVENT_COUNT", "CONVERTED_SESSION_COUNT", "FIRST_SESSION_ID", "LAST_SESSION_ID"
FROM "SESSIONS"."__RS_A330A0BC481B_USER_SESSION_FACTS";


DELETE FROM "SESSIONS"."RUDDER_SESSIONS_RUNS" WHERE run_id = 'scheduled__2026-03-02T03:00:00+00:00';

INSERT INTO "SESSIONS"."RUDDER_SESSIONS_RUNS" (
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
    CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP_NTZ),
    CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP_NTZ),
    CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP_NTZ),
    CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP_NTZ),
    run.started_at,
    SYSDATE(),
    'published',
    run.rows_read,
    run.rows_new,
    run.future_watermark,
    run.dropped_null_id,
    run.dropped_null_timestamp,
    run.dropped_no_identifier,
    run.dropped_duplicate,
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_AFFECTED"),
    totals.visitor_count,
    totals.session_count,
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_TRACKS_FLOW"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_FACTS"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_USER_SESSION_FACTS"),
    7,
    CAST(NULL AS VARCHAR),
    run.identity_excluded,
    run.identity_iterations,
    run.identity_hub_ids,
    run.identity_remapped,
    run.identity_merged
FROM "SESSIONS"."__RS_A330A0BC481B_RUN" AS run
-- Visitors and sessions of the model as published, in one scan of session_tracks (every visitor
-- has a session: several times fewer rows than its events).
CROSS JOIN (
    -- (named unlike any dataset: GoogleSQL would read `sessions`.`t` in this scope as a field of a
    -- column named sessions)
    SELECT COUNT(DISTINCT dbt_visitor_id) AS visitor_count, COUNT(*) AS session_count
    FROM "SESSIONS"."DBT_SESSION_TRACKS"
) AS totals;
COMMIT;
