-- Track facts: every event with its session and its place in that session. One ordering of each
-- visitor’s events (timestamp, id) gives both numbers: the session is the running count of
-- session starts, the place is the event’s number minus that of its session’s first event.
-- No range join against session_tracks, and no second sort per session.

DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS" AS
WITH numbered AS (
    SELECT
        mapped.*, affected.sessions_before + CAST(SUM(CASE WHEN mapped.starts_session THEN 1 ELSE 0 END) OVER (
            PARTITION BY mapped.dbt_visitor_id ORDER BY mapped."TIMESTAMP", mapped.event_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS BIGINT) AS session_sequence_number,
        ROW_NUMBER() OVER (PARTITION BY mapped.dbt_visitor_id ORDER BY mapped."TIMESTAMP", mapped.event_id) AS visitor_event_number
    FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS" AS mapped
    JOIN "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected ON affected.dbt_visitor_id = mapped.dbt_visitor_id
),
session_firsts AS (
    SELECT dbt_visitor_id, session_sequence_number, visitor_event_number AS first_number
    FROM numbered
    WHERE starts_session
)
SELECT
    numbered.anonymous_id,
    numbered."TIMESTAMP",
    numbered.event_id,
    numbered.event,
    CAST(numbered.session_sequence_number AS VARCHAR) || ' - ' || numbered.dbt_visitor_id AS session_id,
    numbered.dbt_visitor_id,
    numbered.visitor_event_number - session_firsts.first_number + 1 AS track_sequence_number,
    numbered.event_table, numbered."CONTEXT_CAMPAIGN_SOURCE", numbered."CONTEXT_PAGE_REFERRER", numbered."REVENUE"
FROM numbered
JOIN session_firsts
    ON session_firsts.dbt_visitor_id = numbered.dbt_visitor_id
   AND session_firsts.session_sequence_number = numbered.session_sequence_number;

