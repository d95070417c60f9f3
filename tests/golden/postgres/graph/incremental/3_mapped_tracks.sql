-- Mapped tracks: every clean event with its visitor and the idle time since that visitor’s
-- previous event, in fractional minutes. `starts_session` marks the events that open a session:
-- a visitor’s first event, or one strictly more than the timeout after the previous event,
-- compared in exact microseconds (1800000000 = 30 minutes).
-- This run recomputes the scoped events ("sessions"."__rs_a330a0bc481b_region"); the first of a visitor’s
-- follows its unchanged published event at affected.previous_at.

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
    (gaps.idle_us IS NULL OR gaps.idle_us > 1800000000) AS starts_session,
    gaps.event_table, gaps."context_campaign_source", gaps."context_page_referrer", gaps."revenue"
FROM gaps;
ANALYZE "sessions"."__rs_a330a0bc481b_mapped_tracks";
