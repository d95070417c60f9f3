SET force_compression = 'auto';  -- published tables: compressed
-- Track facts: every event with its session and its place in that session. One ordering of each
-- visitor’s events (timestamp, id) gives both numbers: the session is the running count of
-- session starts, the place is the event’s number minus that of its session’s first event.
-- No range join against session_tracks, and no second sort per session.

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_track_facts";

CREATE TABLE "sessions"."__rs_a330a0bc481b_track_facts" AS
WITH numbered AS (
    SELECT
        mapped.*, CAST(SUM(CASE WHEN mapped.starts_session THEN 1 ELSE 0 END) OVER (
            PARTITION BY mapped.dbt_visitor_id ORDER BY mapped."timestamp", mapped.event_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS BIGINT) AS session_sequence_number,
        ROW_NUMBER() OVER (PARTITION BY mapped.dbt_visitor_id ORDER BY mapped."timestamp", mapped.event_id) AS visitor_event_number
    FROM "sessions"."__rs_a330a0bc481b_mapped_tracks" AS mapped
),
session_firsts AS (
    SELECT dbt_visitor_id, session_sequence_number, visitor_event_number AS first_number
    FROM numbered
    WHERE starts_session
)
SELECT
    numbered.anonymous_id,
    numbered."timestamp",
    numbered.event_id,
    numbered.event,
    CAST(numbered.session_sequence_number AS VARCHAR) || ' - ' || numbered.dbt_visitor_id AS session_id,
    numbered.dbt_visitor_id,
    numbered.visitor_event_number - session_firsts.first_number + 1 AS track_sequence_number,
    numbered.event_table, numbered."context_campaign_source", numbered."context_page_referrer", numbered."revenue"
FROM numbered
JOIN session_firsts
    ON session_firsts.dbt_visitor_id = numbered.dbt_visitor_id
   AND session_firsts.session_sequence_number = numbered.session_sequence_number;

