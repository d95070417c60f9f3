SET force_compression = 'uncompressed';  -- staged tables dropped after the run: written as they are
-- Session tracks: one row per session, numbered from 1 per visitor in time order, with the
-- start of the visitor’s next session (NULL for the last one).
-- Reopened visitors continue the numbering after their unchanged sessions (sessions_before); a
-- visitor recomputed from a new session on carries its last published session over, whose next
-- session start changes.

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_session_tracks";

CREATE TABLE "sessions"."__rs_a330a0bc481b_session_tracks" AS
WITH session_starts AS (
    SELECT
        mapped.dbt_visitor_id,
        mapped."timestamp" AS session_start_at,
        affected.sessions_before + ROW_NUMBER() OVER (
            PARTITION BY mapped.dbt_visitor_id ORDER BY mapped."timestamp", mapped.event_id
        ) AS session_sequence_number
    FROM "sessions"."__rs_a330a0bc481b_mapped_tracks" AS mapped
    JOIN "sessions"."__rs_a330a0bc481b_affected" AS affected ON affected.dbt_visitor_id = mapped.dbt_visitor_id
    WHERE mapped.starts_session
    UNION ALL
    SELECT dbt_visitor_id, sessions_from, sessions_before
    FROM "sessions"."__rs_a330a0bc481b_affected"
    WHERE sessions_from < reopen_at
)
SELECT
    CAST(session_sequence_number AS VARCHAR) || ' - ' || dbt_visitor_id AS session_id,
    dbt_visitor_id,
    session_start_at,
    session_sequence_number,
    LEAD(session_start_at) OVER (
        PARTITION BY dbt_visitor_id ORDER BY session_sequence_number
    ) AS next_session_start_at
FROM session_starts;

