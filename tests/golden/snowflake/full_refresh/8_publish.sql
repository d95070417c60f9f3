-- Publish, in one transaction: claim the run state the plan saw (a concurrent or stale run finds
-- it moved and is refused), write the five tables, advance the watermark, log the run. Readers
-- see the previous model or the new one, never a mix; a failure anywhere leaves the previous one.


BEGIN TRANSACTION;

INSERT INTO "SESSIONS"."RUDDER_SESSIONS_STATE" (source, watermark, version, last_run_id, last_mode, last_window_start, last_window_end, updated_at)
SELECT 'shop', run.max_watermark, 1, run.run_id, run.mode,
    CAST(NULL AS TIMESTAMP_NTZ), CAST(NULL AS TIMESTAMP_NTZ), CURRENT_TIMESTAMP
FROM "SESSIONS"."__RS_A330A0BC481B_RUN" AS run;


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
    'full_refresh',
    CAST(NULL AS TIMESTAMP_NTZ),
    CAST(NULL AS TIMESTAMP_NTZ),
    CAST(NULL AS TIMESTAMP_NTZ),
    run.max_watermark,
    run.started_at,
    CURRENT_TIMESTAMP,
    'published',
    run.rows_read,
    run.dropped_null_id,
    run.dropped_null_timestamp,
    run.dropped_no_identifier,
    run.dropped_duplicate,
    (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS"),
    totals.visitors,
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
    FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS"
) AS totals;
-- A full refresh moves its staged tables into place (the staged columns are the published ones).

DROP TABLE IF EXISTS "SESSIONS"."DBT_ALIASES_MAPPING";

ALTER TABLE "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING" RENAME TO "SESSIONS"."DBT_ALIASES_MAPPING";

DROP TABLE IF EXISTS "SESSIONS"."DBT_MAPPED_TRACKS";

ALTER TABLE "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS" RENAME TO "SESSIONS"."DBT_MAPPED_TRACKS";

DROP TABLE IF EXISTS "SESSIONS"."DBT_SESSION_TRACKS";

ALTER TABLE "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS" RENAME TO "SESSIONS"."DBT_SESSION_TRACKS";

DROP TABLE IF EXISTS "SESSIONS"."DBT_TRACK_FACTS";

ALTER TABLE "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS" RENAME TO "SESSIONS"."DBT_TRACK_FACTS";

DROP TABLE IF EXISTS "SESSIONS"."DBT_TRACKS_FLOW";

ALTER TABLE "SESSIONS"."__RS_A330A0BC481B_TRACKS_FLOW" RENAME TO "SESSIONS"."DBT_TRACKS_FLOW";


COMMIT;
