SET force_compression = 'uncompressed';  -- staged tables dropped after the run: written as they are
-- Session facts: one row per session of the events this run recomputes, from track_facts (its
-- session, place and the event columns the facts read): start, end, duration
-- in fractional seconds, events, first and last event, conversions
-- ('order_completed', 'signed_up'), first-touch values (the
-- first non-blank one in event order) and totals. One pass of window aggregates per session and
-- one GROUP BY: no sort by time beyond track_facts’ own.
-- A session carried over for its next start keeps its published facts: its events are unchanged.

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_session_facts";

CREATE TABLE "sessions"."__rs_a330a0bc481b_session_facts" AS
WITH session_events AS (
    SELECT
        facts.session_id,
        facts.dbt_visitor_id,
        facts."timestamp",
        facts.event,
        facts.track_sequence_number, facts."context_campaign_source", facts."context_page_referrer", facts."revenue"
    FROM "sessions"."__rs_a330a0bc481b_track_facts" AS facts
),
placed AS (
    SELECT
        session_events.*,
        MAX(track_sequence_number) OVER (PARTITION BY session_id) AS last_number,
        MIN(CASE WHEN "context_campaign_source" IS NOT NULL THEN track_sequence_number END) OVER (PARTITION BY session_id)
            AS first_number_1,
        MIN(CASE WHEN "context_page_referrer" IS NOT NULL THEN track_sequence_number END) OVER (PARTITION BY session_id)
            AS first_number_2
    FROM session_events
),
per_session AS (
    SELECT
        session_id,
        dbt_visitor_id,
        MIN("timestamp") AS session_start_at,
        MAX("timestamp") AS session_end_at,
        CAST(epoch_us(MAX("timestamp")) - epoch_us(MIN("timestamp")) AS DOUBLE) / 1000000 AS duration_seconds,
        CAST(COUNT(*) AS BIGINT) AS event_count,
        MAX(CASE WHEN track_sequence_number = 1 THEN event END) AS first_event,
        MAX(CASE WHEN track_sequence_number = last_number THEN event END) AS last_event,
        CAST(SUM(CASE WHEN event IN ('order_completed', 'signed_up') THEN 1 ELSE 0 END) AS BIGINT) AS conversion_count,
        MAX(CASE WHEN track_sequence_number = first_number_1 THEN "context_campaign_source" END)
            AS "first_context_campaign_source",
        MAX(CASE WHEN track_sequence_number = first_number_2 THEN "context_page_referrer" END)
            AS "first_context_page_referrer",
        CAST(SUM("revenue") AS DECIMAL(38, 9)) AS "total_revenue"
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
    per_session."first_context_campaign_source",
    per_session."first_context_page_referrer",
    per_session."total_revenue",
    sessions.session_sequence_number
FROM per_session
JOIN "sessions"."__rs_a330a0bc481b_session_tracks" AS sessions ON sessions.session_id = per_session.session_id;

