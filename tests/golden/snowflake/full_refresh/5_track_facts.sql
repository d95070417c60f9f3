-- Track facts: every event with its session and its place in that session. The session number
-- is the running count of session starts in the visitor's event order (timestamp, id); no range
-- join against session_tracks is needed.

DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS" AS
WITH numbered AS (
    SELECT
        mapped.*, CAST(SUM(CASE WHEN mapped.starts_session THEN 1 ELSE 0 END) OVER (
            PARTITION BY mapped.dbt_visitor_id ORDER BY mapped."TIMESTAMP", mapped.event_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS BIGINT) AS session_sequence_number
    FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS" AS mapped
)
SELECT
    anonymous_id,
    "TIMESTAMP",
    event_id,
    event,
    CAST(session_sequence_number AS VARCHAR) || ' - ' || dbt_visitor_id AS session_id,
    dbt_visitor_id,
    ROW_NUMBER() OVER (
        PARTITION BY dbt_visitor_id, session_sequence_number ORDER BY "TIMESTAMP", event_id
    ) AS track_sequence_number
FROM numbered;
