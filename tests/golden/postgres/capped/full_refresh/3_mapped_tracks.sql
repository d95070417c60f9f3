-- Mapped tracks: every clean event with its visitor and the idle time since that visitor’s
-- previous event, in fractional minutes. `starts_session` marks the events that open a session:
-- a visitor’s first event, or one strictly more than the timeout after the previous event,
-- compared in exact microseconds (1800000000 = 30 minutes).
-- Sessions hold at most 2500 events: within a run of events no more than the timeout
-- apart (a gap session), a session starts at its events number 1, 2501, 5001, … in event order.

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_mapped_tracks";

CREATE TABLE "sessions"."__rs_a330a0bc481b_mapped_tracks" AS
WITH visited AS (
    SELECT
        events.id AS event_id,
        events.anonymous_id,
        events.user_id,
        COALESCE(events.user_id, aliases.dbt_visitor_id) AS dbt_visitor_id,
        events."timestamp",
        events.received_at,
        events.event,
        events.event_table, events."context_campaign_source", events."context_page_referrer", events."revenue",
        CAST(NULL AS TIMESTAMP) AS previous_at
    FROM "sessions"."__rs_a330a0bc481b_events" AS events
    LEFT JOIN "sessions"."__rs_a330a0bc481b_aliases_mapping" AS aliases
        ON aliases.alias = events.anonymous_id
),
with_previous AS (
    SELECT
        visited.*,
        COALESCE(
            LAG("timestamp") OVER (PARTITION BY dbt_visitor_id ORDER BY "timestamp", event_id COLLATE "C"),
            previous_at
        ) AS previous_timestamp
    FROM visited
),
gaps AS (
    SELECT
        with_previous.*,
        CAST(EXTRACT(EPOCH FROM "timestamp") * 1000000 AS BIGINT) - CAST(EXTRACT(EPOCH FROM previous_timestamp) * 1000000 AS BIGINT) AS idle_us
    FROM with_previous
),
gap_sessions AS (
    -- The running count of the visitor’s gap sessions (0 before the first recomputed gap start).
    SELECT
        gaps.*,
        SUM(CASE WHEN gaps.idle_us IS NULL OR gaps.idle_us > 1800000000 THEN 1 ELSE 0 END) OVER (
            PARTITION BY dbt_visitor_id ORDER BY "timestamp", event_id COLLATE "C"
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS gap_session
    FROM gaps
),
counted AS (
    -- The event’s number within its gap session, from 1.
    SELECT
        gap_sessions.*,
        ROW_NUMBER() OVER (
            PARTITION BY dbt_visitor_id, gap_session ORDER BY "timestamp", event_id COLLATE "C"
        ) AS gap_event_number
    FROM gap_sessions
)
SELECT
    gaps.event_id,
    gaps.anonymous_id,
    gaps.dbt_visitor_id,
    gaps."timestamp",
    gaps.event,
    CAST(gaps.idle_us AS DOUBLE PRECISION) / 60000000 AS idle_time_minutes,
    gaps.user_id,
    gaps.received_at,
    MOD(gaps.gap_event_number, 2500) = 1 AS starts_session,
    gaps.event_table, gaps."context_campaign_source", gaps."context_page_referrer", gaps."revenue"
FROM counted AS gaps;

