-- Mapped tracks: every clean event with its visitor and the idle time since that visitor’s
-- previous event, in fractional minutes. `starts_session` marks the events that open a session:
-- a visitor’s first event, or one strictly more than the timeout after the previous event,
-- compared in exact microseconds (1800000000 = 30 minutes).
-- Sessions hold at most 2500 events: within a run of events no more than the timeout
-- apart (a gap session), a session starts at its events number 1, 2501, 5001, … in event order.
-- This run recomputes the scoped events ("SESSIONS"."__RS_A330A0BC481B_REGION"); the first of a visitor’s
-- follows its unchanged published event at affected.previous_at.
-- Each visitor’s first recomputed event starts a session (scope reopens a published session at its
-- start, or recomputes from a change that opens one): the count starts there as in a gap session.

DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS" AS
WITH visited AS (
    SELECT
        region.event_id, region.anonymous_id, region.user_id, region.dbt_visitor_id, region."TIMESTAMP",
        region.received_at, region.event, region.event_table, region."CONTEXT_CAMPAIGN_SOURCE", region."CONTEXT_PAGE_REFERRER", region."REVENUE", affected.previous_at
    FROM "SESSIONS"."__RS_A330A0BC481B_REGION" AS region
    JOIN "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected ON affected.dbt_visitor_id = region.dbt_visitor_id
),
with_previous AS (
    SELECT
        visited.*,
        COALESCE(
            LAG("TIMESTAMP") OVER (PARTITION BY dbt_visitor_id ORDER BY "TIMESTAMP", event_id),
            previous_at
        ) AS previous_timestamp
    FROM visited
),
gaps AS (
    SELECT
        with_previous.*,
        DATE_PART(EPOCH_MICROSECOND, "TIMESTAMP") - DATE_PART(EPOCH_MICROSECOND, previous_timestamp) AS idle_us
    FROM with_previous
),
gap_sessions AS (
    -- The running count of the visitor’s gap sessions (0 before the first recomputed gap start).
    SELECT
        gaps.*,
        SUM(CASE WHEN gaps.idle_us IS NULL OR gaps.idle_us > 1800000000 THEN 1 ELSE 0 END) OVER (
            PARTITION BY dbt_visitor_id ORDER BY "TIMESTAMP", event_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS gap_session
    FROM gaps
),
counted AS (
    -- The event’s number within its gap session, from 1.
    SELECT
        gap_sessions.*,
        ROW_NUMBER() OVER (
            PARTITION BY dbt_visitor_id, gap_session ORDER BY "TIMESTAMP", event_id
        ) AS gap_event_number
    FROM gap_sessions
)
SELECT
    gaps.event_id,
    gaps.anonymous_id,
    gaps.dbt_visitor_id,
    gaps."TIMESTAMP",
    gaps.event,
    CAST(gaps.idle_us AS DOUBLE) / 60000000 AS idle_time_minutes,
    gaps.user_id,
    gaps.received_at,
    MOD(gaps.gap_event_number, 2500) = 1 AS starts_session,
    gaps.event_table, gaps."CONTEXT_CAMPAIGN_SOURCE", gaps."CONTEXT_PAGE_REFERRER", gaps."REVENUE"
FROM counted AS gaps;

