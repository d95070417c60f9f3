-- Session facts: one row per session of the events this run recomputes, from track_facts (its
-- session and place) and mapped_tracks (the event columns the facts read): start, end, duration
-- in fractional seconds, events, first and last event, conversions
-- (none configured), first-touch values (the
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
        facts.track_sequence_number
    FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS" AS facts
),
placed AS (
    SELECT
        session_events.*,
        MAX(track_sequence_number) OVER (PARTITION BY session_id) AS last_number
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
        CAST(SUM(0) AS BIGINT) AS conversion_count
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
    sessions.session_sequence_number
FROM per_session
JOIN "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS" AS sessions ON sessions.session_id = per_session.session_id;

