-- Session facts: one row per session of the events this run recomputes, from track_facts (its
-- session, place and the event columns the facts read): start, end, duration
-- in fractional seconds, events, first and last event, conversions
-- ({% for name in cfg.conversion_events %}{{ d.literal(name) }}{{ ', ' if not loop.last }}{% else %}none configured{% endfor %}), first-touch values (the
-- first non-blank one in event order) and totals. One pass of window aggregates per session and
-- one GROUP BY: no sort by time beyond track_facts’ own.
{%- if not plan.full %}
-- A session carried over for its next start keeps its published facts: its events are unchanged.
{%- endif %}
{% set ts = d.quote('timestamp') %}
{%- from 'macros.sql' import carried with context %}
{%- set conversion -%}
{%- if cfg.conversion_events -%}
CASE WHEN event IN ({% for name in cfg.conversion_events %}{{ d.literal(name) }}{{ ', ' if not loop.last }}{% endfor %}) THEN 1 ELSE 0 END
{%- else -%}
0
{%- endif -%}
{%- endset %}
{{ d.drop_table(t.stage('session_facts')) }};

CREATE TABLE {{ t.stage('session_facts') }} AS
WITH session_events AS (
    SELECT
        facts.session_id,
        facts.dbt_visitor_id,
        facts.{{ ts }},
        facts.event,
        facts.track_sequence_number{{ carried('facts') }}
    FROM {{ t.stage('track_facts') }} AS facts
),
placed AS (
    SELECT
        session_events.*,
        MAX(track_sequence_number) OVER (PARTITION BY session_id) AS last_number
{%- for name in cfg.session_first_columns %},
        MIN(CASE WHEN {{ d.quote(name) }} IS NOT NULL THEN track_sequence_number END) OVER (PARTITION BY session_id)
            AS first_number_{{ loop.index }}
{%- endfor %}
    FROM session_events
),
per_session AS (
    SELECT
        session_id,
        dbt_visitor_id,
        MIN({{ ts }}) AS session_start_at,
        MAX({{ ts }}) AS session_end_at,
        {{ d.to_float(d.epoch_us('MAX(' ~ ts ~ ')') ~ ' - ' ~ d.epoch_us('MIN(' ~ ts ~ ')')) }} / 1000000 AS duration_seconds,
        CAST(COUNT(*) AS {{ d.bigint_type }}) AS event_count,
        MAX(CASE WHEN track_sequence_number = 1 THEN event END) AS first_event,
        MAX(CASE WHEN track_sequence_number = last_number THEN event END) AS last_event,
        CAST(SUM({{ conversion }}) AS {{ d.bigint_type }}) AS conversion_count
{%- for name in cfg.session_first_columns %},
        MAX(CASE WHEN track_sequence_number = first_number_{{ loop.index }} THEN {{ d.quote(name) }} END)
            AS {{ d.quote('first_' ~ name) }}
{%- endfor %}
{%- for name in cfg.session_sum_columns %},
        CAST(SUM({{ d.quote(name) }}) AS {{ d.column_type('numeric') }}) AS {{ d.quote('total_' ~ name) }}
{%- endfor %}
    FROM placed
    GROUP BY session_id, dbt_visitor_id
)
SELECT
    per_session.session_id,
    per_session.dbt_visitor_id,
    per_session.session_start_at,
    per_session.session_end_at,
    per_session.duration_seconds,
    per_session.event_count,
    per_session.first_event,
    per_session.last_event,
    per_session.conversion_count,
    per_session.conversion_count > 0 AS converted,
{%- for name, kind in cfg.shape.facts %}
    per_session.{{ d.quote(name) }},
{%- endfor %}
    sessions.session_sequence_number
FROM per_session
JOIN {{ t.stage('session_tracks') }} AS sessions ON sessions.session_id = per_session.session_id;
{{ d.analyze(t.stage('session_facts')) if not plan.full }}
