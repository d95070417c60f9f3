-- Visitor facts: one row per visitor over all of its sessions.
DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_user_session_facts";

CREATE TABLE "sessions"."__rs_a330a0bc481b_user_session_facts" AS
WITH visitor_sessions AS (
    SELECT dbt_visitor_id, session_sequence_number, session_start_at, session_end_at, event_count, converted
    FROM "sessions"."__rs_a330a0bc481b_session_facts"
)
SELECT
    dbt_visitor_id,
    MIN(session_start_at) AS first_seen_at,
    MAX(session_end_at) AS last_seen_at,
    CAST(COUNT(*) AS BIGINT) AS session_count,
    CAST(SUM(event_count) AS BIGINT) AS event_count,
    CAST(SUM(CASE WHEN converted THEN 1 ELSE 0 END) AS BIGINT) AS converted_session_count,
    CAST(MIN(session_sequence_number) AS TEXT) || ' - ' || dbt_visitor_id AS first_session_id,
    CAST(MAX(session_sequence_number) AS TEXT) || ' - ' || dbt_visitor_id AS last_session_id
FROM visitor_sessions
GROUP BY dbt_visitor_id;

