-- Visitor facts: one row per visitor over all of its sessions.
-- An affected visitor’s sessions are its recomputed ones (session_facts of this run) and its
-- published ones before the reopen point, which this run keeps.
DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_USER_SESSION_FACTS";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_USER_SESSION_FACTS" AS
WITH visitor_sessions AS (
    SELECT dbt_visitor_id, session_sequence_number, session_start_at, session_end_at, event_count, converted
    FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_FACTS"
    UNION ALL
    SELECT
        published.dbt_visitor_id, published.session_sequence_number, published.session_start_at,
        published.session_end_at, published.event_count, published.converted
    FROM "SESSIONS"."DBT_SESSION_FACTS" AS published
    JOIN "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected ON affected.dbt_visitor_id = published.dbt_visitor_id
    WHERE published.session_start_at < affected.reopen_at
)
SELECT
    dbt_visitor_id,
    MIN(session_start_at) AS first_seen_at,
    MAX(session_end_at) AS last_seen_at,
    CAST(COUNT(*) AS BIGINT) AS session_count,
    CAST(SUM(event_count) AS BIGINT) AS event_count,
    CAST(SUM(CASE WHEN converted THEN 1 ELSE 0 END) AS BIGINT) AS converted_session_count,
    CAST(MIN(session_sequence_number) AS VARCHAR) || ' - ' || dbt_visitor_id AS first_session_id,
    CAST(MAX(session_sequence_number) AS VARCHAR) || ' - ' || dbt_visitor_id AS last_session_id
FROM visitor_sessions
GROUP BY dbt_visitor_id;

