-- Session facts: one row per session of the events this run recomputes, from track_facts (its
-- session, place and the event columns the facts read): start, end, duration
-- in fractional seconds, events, first and last event, conversions
-- ('order_completed', 'signed_up'), first-touch values (the
-- first non-blank one in event order) and totals. One pass of window aggregates per session and
-- one GROUP BY: no sort by time beyond track_facts’ own.
-- A session carried over for its next start keeps its published facts: its events are unchanged.

DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_SESSION_FACTS";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_SESSION_FACTS" AS
WITH session_events AS (
    SELECT
        facts.session_id,
        facts.dbt_visitor_id,
        facts."TIMESTAMP",
        facts.event,
        facts.track_sequence_number, facts."CONTEXT_CAMPAIGN_SOURCE", facts."CONTEXT_PAGE_REFERRER", facts."REVENUE"
    FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS" AS facts
),
placed AS (
    SELECT
        session_events.*,
        MAX(track_sequence_number) OVER (PARTITION BY session_id) AS last_number,
        MIN(CASE WHEN "CONTEXT_CAMPAIGN_SOURCE" IS NOT NULL THEN track_sequence_number END) OVER (PARTITION BY session_id)
            AS first_number_1,
        MIN(CASE WHEN "CONTEXT_PAGE_REFERRER" IS NOT NULL THEN track_sequence_number END) OVER (PARTITION BY session_id)
            AS first_number_2
    FROM session_events
),
per_session AS (
    SELECT
        session_id,
        dbt_visitor_id,
        MIN("TIMESTAMP") AS session_start_at,
        MAX("TIMESTAMP") AS session_end_at,
        CAST(DATE_PART(EPOCH_MICROSECOND, MAX("TIMESTAMP")) - DATE_PART(EPOCH_MICROSECOND, MIN("TIMESTAMP")) AS DOUBLE) / 1000000 AS duration_seconds,
        CAST(COUNT(*) AS BIGINT) AS event_count,
        MAX(CASE WHEN track_sequence_number = 1 THEN event END) AS first_event,
        MAX(CASE WHEN track_sequence_number = last_number THEN event END) AS last_event,
        CAST(SUM(CASE WHEN event IN ('order_completed', 'signed_up') THEN 1 ELSE 0 END) AS BIGINT) AS conversion_count,
        MAX(CASE WHEN track_sequence_number = first_number_1 THEN "CONTEXT_CAMPAIGN_SOURCE" END)
            AS "FIRST_CONTEXT_CAMPAIGN_SOURCE",
        MAX(CASE WHEN track_sequence_number = first_number_2 THEN "CONTEXT_PAGE_REFERRER" END)
            AS "FIRST_CONTEXT_PAGE_REFERRER",
        CAST(SUM("REVENUE") AS DECIMAL(38, 9)) AS "TOTAL_REVENUE"
    FROM placed
    GROUP BY session_id, dbt_visitor_id
)
SELECT
    per_session.session_id,
    per_session.dbt_visitor_id,
    per_session.session_start_at,
    per_session.session_end_at,
    per_session.duration_seconds,
    per_session.event_count,
    per_session.first_event,
    per_session.last_event,
    per_session.conversion_count,
    per_session.conversion_count > 0 AS converted,
    per_session."FIRST_CONTEXT_CAMPAIGN_SOURCE",
    per_session."FIRST_CONTEXT_PAGE_REFERRER",
    per_session."TOTAL_REVENUE",
    sessions.session_sequence_number
FROM per_session
JOIN "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS" AS sessions ON sessions.session_id = per_session.session_id;

