-- Mapped tracks: every clean event with its visitor and the idle time since that visitor’s
-- previous event, in fractional minutes. `starts_session` marks the events that open a session:
-- a visitor’s first event, or one strictly more than the timeout after the previous event,
-- compared in exact microseconds (1800000000 = 30 minutes).
-- This run recomputes the scoped events ("SESSIONS"."__RS_A330A0BC481B_REGION"); the first of a visitor’s
-- follows its unchanged published event at affected.previous_at.

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
    (gaps.idle_us IS NULL OR gaps.idle_us > 1800000000) AS starts_session,
    gaps.event_table, gaps."CONTEXT_CAMPAIGN_SOURCE", gaps."CONTEXT_PAGE_REFERRER", gaps."REVENUE"
FROM gaps;

