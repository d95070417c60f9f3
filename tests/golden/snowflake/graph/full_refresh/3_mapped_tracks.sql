-- Mapped tracks: every clean event with its visitor and the idle time since that visitor’s
-- previous event, in fractional minutes. `starts_session` marks the events that open a session:
-- a visitor’s first event, or one strictly more than the timeout after the previous event,
-- compared in exact microseconds (1800000000 = 30 minutes).

DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS" AS
WITH visited AS (
    SELECT
        events.id AS event_id,
        events.anonymous_id,
        events.user_id,
        aliases.dbt_visitor_id AS dbt_visitor_id,
        events."TIMESTAMP",
        events.received_at,
        events.event,
        events.event_table, events."CONTEXT_CAMPAIGN_SOURCE", events."CONTEXT_PAGE_REFERRER", events."REVENUE",
        CAST(NULL AS TIMESTAMP_NTZ) AS previous_at
    FROM "SESSIONS"."__RS_A330A0BC481B_EVENTS" AS events
    LEFT JOIN "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING" AS aliases
        ON aliases.alias = COALESCE(events.user_id, events.anonymous_id)
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

