-- Track facts: every event with its session and its place in that session. The session number
-- is the running count of session starts in the visitor's event order (timestamp, id); no range
-- join against session_tracks is needed.

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_track_facts";

CREATE TABLE "sessions"."__rs_a330a0bc481b_track_facts" AS
WITH numbered AS (
    SELECT
        mapped.*, affected.sessions_before + CAST(SUM(CASE WHEN mapped.starts_session THEN 1 ELSE 0 END) OVER (
            PARTITION BY mapped.dbt_visitor_id ORDER BY mapped."timestamp", mapped.event_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS BIGINT) AS session_sequence_number
    FROM "sessions"."__rs_a330a0bc481b_mapped_tracks" AS mapped
    JOIN "sessions"."__rs_a330a0bc481b_affected" AS affected ON affected.dbt_visitor_id = mapped.dbt_visitor_id
)
SELECT
    anonymous_id,
    "timestamp",
    event_id,
    event,
    CAST(session_sequence_number AS VARCHAR) || ' - ' || dbt_visitor_id AS session_id,
    dbt_visitor_id,
    ROW_NUMBER() OVER (
        PARTITION BY dbt_visitor_id, session_sequence_number ORDER BY "timestamp", event_id
    ) AS track_sequence_number
FROM numbered;
