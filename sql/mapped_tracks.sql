-- Mapped tracks: every clean event with its visitor and the idle time since that visitor’s
-- previous event, in fractional minutes. `starts_session` marks the events that open a session:
-- a visitor’s first event, or one strictly more than the timeout after the previous event,
-- compared in exact microseconds ({{ cfg.timeout_microseconds }} = {{ cfg.timeout_minutes }} minutes).
{%- if cfg.max_session_events %}
-- Sessions hold at most {{ cfg.max_session_events }} events: within a run of events no more than the timeout
-- apart (a gap session), a session starts at its events number 1, {{ cfg.max_session_events + 1 }}, {{ 2 * cfg.max_session_events + 1 }}, … in event order.
{%- endif %}
{%- if not plan.full %}
-- This run recomputes the scoped events ({{ t.stage('region') }}); the first of a visitor’s
-- follows its unchanged published event at affected.previous_at.
{%- if cfg.max_session_events %}
-- Each visitor’s first recomputed event starts a session (scope reopens a published session at its
-- start, or recomputes from a change that opens one): the count starts there as in a gap session.
{%- endif %}
{%- endif %}
{% set ts = d.quote('timestamp') %}
{%- from 'macros.sql' import carried, visitor_key, visitor_of with context %}
{{ d.drop_table(t.stage('mapped_tracks')) }};

CREATE TABLE {{ t.stage('mapped_tracks') }} AS
WITH visited AS (
{%- if plan.full %}
    SELECT
        events.id AS event_id,
        events.anonymous_id,
        events.user_id,
        {{ visitor_of('events') }} AS dbt_visitor_id,
        events.{{ ts }},
        events.received_at,
        events.event,
        events.event_table{{ carried('events') }},
        CAST(NULL AS {{ d.timestamp_type }}) AS previous_at
    FROM {{ t.stage('events') }} AS events
    LEFT JOIN {{ t.stage('aliases_mapping') }} AS aliases
        ON aliases.alias = {{ visitor_key('events') }}
{%- else %}
    SELECT
        region.event_id, region.anonymous_id, region.user_id, region.dbt_visitor_id, region.{{ ts }},
        region.received_at, region.event, region.event_table{{ carried('region') }}, affected.previous_at
    FROM {{ t.stage('region') }} AS region
    JOIN {{ t.stage('affected') }} AS affected ON affected.dbt_visitor_id = region.dbt_visitor_id
{%- endif %}
),
with_previous AS (
    SELECT
        visited.*,
        COALESCE(
            LAG({{ ts }}) OVER (PARTITION BY dbt_visitor_id ORDER BY {{ ts }}, {{ d.text_order('event_id') }}),
            previous_at
        ) AS previous_timestamp
    FROM visited
),
gaps AS (
    SELECT
        with_previous.*,
        {{ d.epoch_us(ts) }} - {{ d.epoch_us('previous_timestamp') }} AS idle_us
    FROM with_previous
){%- if cfg.max_session_events %},
gap_sessions AS (
    -- The running count of the visitor’s gap sessions (0 before the first recomputed gap start).
    SELECT
        gaps.*,
        SUM(CASE WHEN gaps.idle_us IS NULL OR gaps.idle_us > {{ cfg.timeout_microseconds }} THEN 1 ELSE 0 END) OVER (
            PARTITION BY dbt_visitor_id ORDER BY {{ ts }}, {{ d.text_order('event_id') }}
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS gap_session
    FROM gaps
),
counted AS (
    -- The event’s number within its gap session, from 1.
    SELECT
        gap_sessions.*,
        ROW_NUMBER() OVER (
            PARTITION BY dbt_visitor_id, gap_session ORDER BY {{ ts }}, {{ d.text_order('event_id') }}
        ) AS gap_event_number
    FROM gap_sessions
)
{%- endif %}
SELECT
    gaps.event_id,
    gaps.anonymous_id,
    gaps.dbt_visitor_id,
    gaps.{{ ts }},
    gaps.event,
    {{ d.to_float('gaps.idle_us') }} / 60000000 AS idle_time_minutes,
    gaps.user_id,
    gaps.received_at,
{%- if cfg.max_session_events %}
    MOD(gaps.gap_event_number, {{ cfg.max_session_events }}) = 1 AS starts_session,
    gaps.event_table{{ carried('gaps') }}
FROM counted AS gaps;
{%- else %}
    (gaps.idle_us IS NULL OR gaps.idle_us > {{ cfg.timeout_microseconds }}) AS starts_session,
    gaps.event_table{{ carried('gaps') }}
FROM gaps;
{%- endif %}
{{ d.analyze(t.stage('mapped_tracks')) if not plan.full }}
