-- Mapped tracks: every clean event with its visitor and the idle time since that visitor's
-- previous event, in fractional minutes. `starts_session` marks the events that open a session:
-- a visitor's first event, or one strictly more than the timeout after the previous event,
-- compared in exact microseconds ({{ cfg.timeout_microseconds }} = {{ cfg.timeout_minutes }} minutes).
{%- if not plan.full %}
-- This run recomputes the scoped events ({{ t.stage('region') }}); a reopened session's first
-- event keeps its published idle time, since the event before it is unchanged.
{%- endif %}
{% set ts = d.quote('timestamp') %}
{{ d.drop_table(t.stage('mapped_tracks')) }};

CREATE TABLE {{ t.stage('mapped_tracks') }} AS
WITH visited AS (
{%- if plan.full %}
    SELECT
        events.id AS event_id,
        events.anonymous_id,
        events.user_id,
        COALESCE(events.user_id, aliases.dbt_visitor_id) AS dbt_visitor_id,
        events.{{ ts }},
        events.received_at,
        events.event,
        CAST(NULL AS {{ d.float_type }}) AS published_idle_time_minutes
    FROM {{ t.stage('events') }} AS events
    LEFT JOIN {{ t.stage('aliases_mapping') }} AS aliases
        ON aliases.alias = events.anonymous_id
{%- else %}
    SELECT event_id, anonymous_id, user_id, dbt_visitor_id, {{ ts }}, received_at, event, published_idle_time_minutes
    FROM {{ t.stage('region') }}
{%- endif %}
),
with_previous AS (
    SELECT
        visited.*,
        LAG({{ ts }}) OVER (PARTITION BY dbt_visitor_id ORDER BY {{ ts }}, {{ d.text_order('event_id') }}) AS previous_timestamp
    FROM visited
),
gaps AS (
    SELECT
        with_previous.*,
        {{ d.epoch_us(ts) }} - {{ d.epoch_us('previous_timestamp') }} AS idle_us
    FROM with_previous
)
SELECT
    gaps.event_id,
    gaps.anonymous_id,
    gaps.dbt_visitor_id,
    gaps.{{ ts }},
    gaps.event,
    CASE
        WHEN gaps.idle_us IS NULL THEN gaps.published_idle_time_minutes
        ELSE {{ d.to_float('gaps.idle_us') }} / 60000000
    END AS idle_time_minutes,
    gaps.user_id,
    gaps.received_at,
    (gaps.idle_us IS NULL OR gaps.idle_us > {{ cfg.timeout_microseconds }}) AS starts_session
FROM gaps;
