-- Publish, in one transaction: claim the run state the plan saw (a concurrent or stale run finds
-- it moved and is refused), write the five tables, advance the watermark, log the run. Readers
-- see the previous model or the new one, never a mix; a failure anywhere leaves the previous one.


BEGIN TRANSACTION;

UPDATE "SESSIONS"."RUDDER_SESSIONS_STATE" SET
    watermark = (SELECT COALESCE(GREATEST(run.max_watermark, CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP_NTZ)), run.max_watermark, CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP_NTZ)) FROM "SESSIONS"."__RS_A330A0BC481B_RUN" AS run),
    version = version + 1,
    last_run_id = 'scheduled__2026-03-02T03:00:00+00:00',
    last_mode = 'incremental',
    last_window_start = CAST('2026-03-01 00:00:00.000000' AS TIMESTAMP_NTZ),
    last_window_end = CAST(NULL AS TIMESTAMP_NTZ),
    updated_at = CURRENT_TIMESTAMP
WHERE source = 'shop' AND version = 7;

DELETE FROM "SESSIONS"."DBT_ALIASES_MAPPING"
WHERE alias IN (SELECT alias FROM "SESSIONS"."__RS_A330A0BC481B_TOUCHED");

INSERT INTO "SESSIONS"."DBT_ALIASES_MAPPING" ("ALIAS", "DBT_VISITOR_ID", "IS_USER_ID", "IDENTIFIED_USER_ID", "IDENTIFIED_AT", "IDENTIFIED_EVENT_ID")
SELECT "ALIAS", "DBT_VISITOR_ID", "IS_USER_ID", "IDENTIFIED_USER_ID", "IDENTIFIED_AT", "IDENTIFIED_EVENT_ID"
FROM "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING";
-- The recomputed parts of the affected visitors: their events from the reopen point on, and their
-- sessions from the last one starting before it (each table carries the visitor and timestamp).
DELETE FROM "SESSIONS"."DBT_SESSION_TRACKS"
USING "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected
WHERE affected.dbt_visitor_id = "SESSIONS"."DBT_SESSION_TRACKS".dbt_visitor_id
      AND (affected.sessions_from IS NULL OR "SESSIONS"."DBT_SESSION_TRACKS".session_start_at >= affected.sessions_from);

DELETE FROM "SESSIONS"."DBT_MAPPED_TRACKS"
USING "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected
WHERE affected.dbt_visitor_id = "SESSIONS"."DBT_MAPPED_TRACKS".dbt_visitor_id
      AND (affected.reopen_at IS NULL OR "SESSIONS"."DBT_MAPPED_TRACKS"."TIMESTAMP" >= affected.reopen_at);

DELETE FROM "SESSIONS"."DBT_TRACK_FACTS"
USING "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected
WHERE affected.dbt_visitor_id = "SESSIONS"."DBT_TRACK_FACTS".dbt_visitor_id
      AND (affected.reopen_at IS NULL OR "SESSIONS"."DBT_TRACK_FACTS"."TIMESTAMP" >= affected.reopen_at);

DELETE FROM "SESSIONS"."DBT_TRACKS_FLOW"
USING "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected
WHERE affected.dbt_visitor_id = "SESSIONS"."DBT_TRACKS_FLOW".dbt_visitor_id
      AND (affected.reopen_at IS NULL OR "SESSIONS"."DBT_TRACKS_FLOW"."TIMESTAMP" >= affected.reopen_at);

INSERT INTO "SESSIONS"."DBT_MAPPED_TRACKS" ("EVENT_ID", "ANONYMOUS_ID", "DBT_VISITOR_ID", "TIMESTAMP", "EVENT", "IDLE_TIME_MINUTES", "USER_ID", "RECEIVED_AT", "STARTS_SESSION")
SELECT "EVENT_ID", "ANONYMOUS_ID", "DBT_VISITOR_ID", "TIMESTAMP", "EVENT", "IDLE_TIME_MINUTES", "USER_ID", "RECEIVED_AT", "STARTS_SESSION"
FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS";

INSERT INTO "SESSIONS"."DBT_SESSION_TRACKS" ("SESSION_ID", "DBT_VISITOR_ID", "SESSION_START_AT", "SESSION_SEQUENCE_NUMBER", "NEXT_SESSION_START_AT")
SELECT "SESSION_ID", "DBT_VISITOR_ID", "SESSION_START_AT", "SESSION_SEQUENCE_NUMBER", "NEXT_SESSION_START_AT"
FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS";

INSERT INTO "SESSIONS"."DBT_TRACK_FACTS" ("ANONYMOUS_ID", "TIMESTAMP", "EVENT_ID", "EVENT", "SESSION_ID", "DBT_VISITOR_ID", "TRACK_SEQUENCE_NUMBER")
SELECT "ANONYMOUS_ID", "TIMESTAMP", "EVENT_ID", "EVENT", "SESSION_ID", "DBT_VISITOR_ID", "TRACK_SEQUENCE_NUMBER"
FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS";

INSERT INTO "SESSIONS"."DBT_TRACKS_FLOW" ("EVENT_ID", "SESSION_ID", "TRACK_SEQUENCE_NUMBER", "EVENT", "DBT_VISITOR_ID", "TIMESTAMP", "EVENT_2", "EVENT_3", "EVENT_4", "EVENT_5")
SELECT "EVENT_ID", "SESSION_ID", "TRACK_SEQUENCE_NUMBER", "EVENT", "DBT_VISITOR_ID", "TIMESTAMP", "EVENT_2", "EVENT_3", "EVENT_4", "EVENT_5"
FROM "SESSIONS"."__RS_A330A0BC481B_TRACKS_FLOW";


DELETE FROM "SESSIONS"."RUDDER_SESSIONS_RUNS" WHERE run_id = 'scheduled__2026-03-02T03:00:00+00:00';

INSERT INTO "SESSIONS"."RUDDER_SESSIONS_RUNS" (
    run_id, source, mode, requested_mode, window_start, window_end, watermark_before, watermark_after,
    started_at, finished_at, outcome, rows_read, dropped_null_id, dropped_null_timestamp, dropped_no_identifier, dropped_duplicate,
    events_changed, visitors_affected, visitors, sessions, rows_aliases_mapping, rows_mapped_tracks, rows_session_tracks, rows_track_facts, rows_tracks_flow
)
SELECT
    run.run_id,
    'shop',
    run.mode,
    'incremental',
    CAST('2026-03-01 00:00:00.000000' AS TIMESTAMP_NTZ),
    CAST(NULL AS TIMESTAMP_NTZ),
    CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP_NTZ),
    COALESCE(GREATEST(run.max_watermark, CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP_NTZ)), run.max_watermark, CAST('2026-03-01 03:00:00.000000' AS TIMESTAMP_NTZ)),
    run.started_at,
    CURRENT_TIMESTAMP,
    'published',
    run.rows_read,
    run.dropped_null_id,
    run.dropped_null_timestamp,
    run.dropped_no_identifier,
    run.dropped_duplicate,
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_AFFECTED"),
    totals.visitors,
    totals.sessions,
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS"),
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_TRACKS_FLOW")
FROM "SESSIONS"."__RS_A330A0BC481B_RUN" AS run
-- Visitors and sessions of the model as published, in one scan of session_tracks (every visitor
-- has a session: several times fewer rows than its events).
CROSS JOIN (
    SELECT COUNT(DISTINCT dbt_visitor_id) AS visitors, COUNT(*) AS sessions
    FROM "SESSIONS"."DBT_SESSION_TRACKS"
) AS totals;

COMMIT;
