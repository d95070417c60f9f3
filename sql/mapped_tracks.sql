-- Mapped tracks: every clean event with its visitor and the idle time since that visitor's
-- previous event, in fractional minutes. `starts_session` marks the events that open a session:
-- a visitor's first event, or one strictly more than the timeout after the previous event,
-- compared in exact microseconds ({{ cfg.timeout_microseconds }} = {{ cfg.timeout_minutes }} minutes).
{% set ts = d.quote('timestamp') %}
{{ d.drop_table(t.stage('mapped_tracks')) }};

CREATE TABLE {{ t.stage('mapped_tracks') }} AS
WITH visited AS (
    SELECT
        events.id AS event_id,
        events.anonymous_id,
        events.user_id,
        COALESCE(events.user_id, aliases.dbt_visitor_id) AS dbt_visitor_id,
        events.{{ ts }},
        events.received_at,
        events.event
    FROM {{ t.stage('events') }} AS events
    LEFT JOIN {{ t.stage('aliases_mapping') }} AS aliases
        ON aliases.alias = events.anonymous_id
),
with_previous AS (
    SELECT
        visited.*,
        LAG({{ ts }}) OVER (PARTITION BY dbt_visitor_id ORDER BY {{ ts }}, event_id) AS previous_timestamp
    FROM visited
),
gaps AS (
    SELECT
        with_previous.*,
        {{ d.epoch_us(ts) }} - {{ d.epoch_us('previous_timestamp') }} AS idle_us
    FROM with_previous
)
SELECT
    event_id,
    anonymous_id,
    dbt_visitor_id,
    {{ ts }},
    event,
    {{ d.to_float('idle_us') }} / 60000000 AS idle_time_minutes,
    user_id,
    received_at,
    (idle_us IS NULL OR idle_us > {{ cfg.timeout_microseconds }}) AS starts_session
FROM gaps;
