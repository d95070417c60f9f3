-- Publish, in one transaction: claim the run state the plan saw (a concurrent or stale run finds
-- it moved and is refused), write the five tables, advance the watermark, log the run. Readers
-- see the previous model or the new one, never a mix; a failure anywhere leaves the previous one.


BEGIN TRANSACTION;
SET force_compression = 'auto';  -- published tables: compressed

INSERT INTO "sessions"."rudder_sessions_state" (source, watermark, version, last_run_id, last_mode, last_window_start, last_window_end, updated_at)
SELECT 'shop', run.max_watermark, 1, run.run_id, run.mode,
    CAST(NULL AS TIMESTAMP), CAST(NULL AS TIMESTAMP), CURRENT_TIMESTAMP
FROM "sessions"."__rs_a330a0bc481b_run" AS run;


DELETE FROM "sessions"."rudder_sessions_runs" WHERE run_id = 'scheduled__2026-03-02T03:00:00+00:00';

INSERT INTO "sessions"."rudder_sessions_runs" (
    run_id, source, mode, requested_mode, window_start, window_end, watermark_before, watermark_after,
    started_at, finished_at, outcome, rows_read, dropped_null_id, dropped_null_timestamp, dropped_no_identifier, dropped_duplicate,
    events_changed, visitors_affected, visitors, sessions, rows_aliases_mapping, rows_mapped_tracks, rows_session_tracks, rows_track_facts, rows_tracks_flow
)
SELECT
    run.run_id,
    'shop',
    run.mode,
    'full_refresh',
    CAST(NULL AS TIMESTAMP),
    CAST(NULL AS TIMESTAMP),
    CAST(NULL AS TIMESTAMP),
    run.max_watermark,
    run.started_at,
    CURRENT_TIMESTAMP,
    'published',
    run.rows_read,
    run.dropped_null_id,
    run.dropped_null_timestamp,
    run.dropped_no_identifier,
    run.dropped_duplicate,
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_mapped_tracks"),
    totals.visitors,
    totals.visitors,
    totals.sessions,
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_aliases_mapping"),
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_mapped_tracks"),
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_session_tracks"),
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_track_facts"),
    (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_tracks_flow")
FROM "sessions"."__rs_a330a0bc481b_run" AS run
-- Visitors and sessions of the model as published, in one scan of session_tracks (every visitor
-- has a session: several times fewer rows than its events).
CROSS JOIN (
    SELECT COUNT(DISTINCT dbt_visitor_id) AS visitors, COUNT(*) AS sessions
    FROM "sessions"."__rs_a330a0bc481b_session_tracks"
) AS totals;
-- A full refresh moves its staged tables into place (the staged columns are the published ones).

DROP TABLE IF EXISTS "sessions"."dbt_aliases_mapping";

ALTER TABLE "sessions"."__rs_a330a0bc481b_aliases_mapping" RENAME TO "dbt_aliases_mapping";

DROP TABLE IF EXISTS "sessions"."dbt_mapped_tracks";

ALTER TABLE "sessions"."__rs_a330a0bc481b_mapped_tracks" RENAME TO "dbt_mapped_tracks";

DROP TABLE IF EXISTS "sessions"."dbt_session_tracks";

ALTER TABLE "sessions"."__rs_a330a0bc481b_session_tracks" RENAME TO "dbt_session_tracks";

DROP TABLE IF EXISTS "sessions"."dbt_track_facts";

ALTER TABLE "sessions"."__rs_a330a0bc481b_track_facts" RENAME TO "dbt_track_facts";

DROP TABLE IF EXISTS "sessions"."dbt_tracks_flow";

ALTER TABLE "sessions"."__rs_a330a0bc481b_tracks_flow" RENAME TO "dbt_tracks_flow";


COMMIT;
