-- Mapped tracks: every clean event with its visitor and the idle time since that visitor's
-- previous event, in fractional minutes. `starts_session` marks the events that open a session:
-- a visitor's first event, or one strictly more than the timeout after the previous event,
-- compared in exact microseconds (1800000000 = 30 minutes).
-- This run recomputes the scoped events ("sessions"."__rs_a330a0bc481b_region"); a reopened session's first
-- event keeps its published idle time, since the event before it is unchanged.

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_mapped_tracks";

CREATE TABLE "sessions"."__rs_a330a0bc481b_mapped_tracks" AS
WITH visited AS (
    SELECT event_id, anonymous_id, user_id, dbt_visitor_id, "timestamp", received_at, event, published_idle_time_minutes
    FROM "sessions"."__rs_a330a0bc481b_region"
),
with_previous AS (
    SELECT
        visited.*,
        LAG("timestamp") OVER (PARTITION BY dbt_visitor_id ORDER BY "timestamp", event_id COLLATE "C") AS previous_timestamp
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
    CASE
        WHEN gaps.idle_us IS NULL THEN gaps.published_idle_time_minutes
        ELSE CAST(gaps.idle_us AS DOUBLE PRECISION) / 60000000
    END AS idle_time_minutes,
    gaps.user_id,
    gaps.received_at,
    (gaps.idle_us IS NULL OR gaps.idle_us > 1800000000) AS starts_session
FROM gaps;
