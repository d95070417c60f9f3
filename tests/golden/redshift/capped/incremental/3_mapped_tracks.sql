-- Mapped tracks: every clean event with its visitor and the idle time since that visitor’s
-- previous event, in fractional minutes. `starts_session` marks the events that open a session:
-- a visitor’s first event, or one strictly more than the timeout after the previous event,
-- compared in exact microseconds (1800000000 = 30 minutes).
-- Sessions hold at most 2500 events: within a run of events no more than the timeout
-- apart (a gap session), a session starts at its events number 1, 2501, 5001, … in event order.
-- This run recomputes the scoped events ("sessions"."__rs_a330a0bc481b_region"); the first of a visitor’s
-- follows its unchanged published event at affected.previous_at.
-- Each visitor’s first recomputed event starts a session (scope reopens a published session at its
-- start, or recomputes from a change that opens one): the count starts there as in a gap session.

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_mapped_tracks";

CREATE TABLE "sessions"."__rs_a330a0bc481b_mapped_tracks" AS
WITH visited AS (
    SELECT
        region.event_id, region.anonymous_id, region.user_id, region.dbt_visitor_id, region."timestamp",
        region.received_at, region.event, region.event_table, region."context_campaign_source", region."context_page_referrer", region."revenue", affected.previous_at
    FROM "sessions"."__rs_a330a0bc481b_region" AS region
    JOIN "sessions"."__rs_a330a0bc481b_affected" AS affected ON affected.dbt_visitor_id = region.dbt_visitor_id
),
with_previous AS (
    SELECT
        visited.*,
        COALESCE(
            LAG("timestamp") OVER (PARTITION BY dbt_visitor_id ORDER BY "timestamp", event_id),
            previous_at
        ) AS previous_timestamp
    FROM visited
),
gaps AS (
    SELECT
        with_previous.*,
        DATEDIFF(microsecond, TIMESTAMP '1970-01-01 00:00:00', "timestamp") - DATEDIFF(microsecond, TIMESTAMP '1970-01-01 00:00:00', previous_timestamp) AS idle_us
    FROM with_previous
),
gap_sessions AS (
    -- The running count of the visitor’s gap sessions (0 before the first recomputed gap start).
    SELECT
        gaps.*,
        SUM(CASE WHEN gaps.idle_us IS NULL OR gaps.idle_us > 1800000000 THEN 1 ELSE 0 END) OVER (
            PARTITION BY dbt_visitor_id ORDER BY "timestamp", event_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS gap_session
    FROM gaps
),
counted AS (
    -- The event’s number within its gap session, from 1.
    SELECT
        gap_sessions.*,
        ROW_NUMBER() OVER (
            PARTITION BY dbt_visitor_id, gap_session ORDER BY "timestamp", event_id
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

