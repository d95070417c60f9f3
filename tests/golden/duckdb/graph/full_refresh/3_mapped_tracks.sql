SET force_compression = 'auto';  -- published tables: compressed
-- Mapped tracks: every clean event with its visitor and the idle time since that visitor’s
-- previous event, in fractional minutes. `starts_session` marks the events that open a session:
-- a visitor’s first event, or one strictly more than the timeout after the previous event,
-- compared in exact microseconds (1800000000 = 30 minutes).

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_mapped_tracks";

CREATE TABLE "sessions"."__rs_a330a0bc481b_mapped_tracks" AS
WITH visited AS (
    SELECT
        events.id AS event_id,
        events.anonymous_id,
        events.user_id,
        aliases.dbt_visitor_id AS dbt_visitor_id,
        events."timestamp",
        events.received_at,
        events.event,
        events.event_table, events."context_campaign_source", events."context_page_referrer", events."revenue",
        CAST(NULL AS TIMESTAMP) AS previous_at
    FROM "sessions"."__rs_a330a0bc481b_events" AS events
    LEFT JOIN "sessions"."__rs_a330a0bc481b_aliases_mapping" AS aliases
        ON aliases.alias = COALESCE(events.user_id, events.anonymous_id)
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
        epoch_us("timestamp") - epoch_us(previous_timestamp) AS idle_us
    FROM with_previous
)
SELECT
    gaps.event_id,
    gaps.anonymous_id,
    gaps.dbt_visitor_id,
    gaps."timestamp",
    gaps.event,
    CAST(gaps.idle_us AS DOUBLE) / 60000000 AS idle_time_minutes,
    gaps.user_id,
    gaps.received_at,
    (gaps.idle_us IS NULL OR gaps.idle_us > 1800000000) AS starts_session,
    gaps.event_table, gaps."context_campaign_source", gaps."context_page_referrer", gaps."revenue"
FROM gaps;

