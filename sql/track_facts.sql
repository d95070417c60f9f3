-- Track facts: every event with its session and its place in that session. One ordering of each
-- visitor’s events (timestamp, id) gives both numbers: the session is the running count of
-- session starts, the place is the event’s number minus that of its session’s first event.
-- No range join against session_tracks, and no second sort per session.
{% set ts = d.quote('timestamp') %}
{%- from 'macros.sql' import carried with context %}
{%- set visitor_order -%}
PARTITION BY mapped.dbt_visitor_id ORDER BY mapped.{{ ts }}, {{ d.text_order('mapped.event_id') }}
{%- endset %}
{{ d.drop_table(t.stage('track_facts')) }};

CREATE TABLE {{ t.stage('track_facts') }} AS
WITH numbered AS (
    SELECT
        mapped.*,
        {%- if not plan.full %} affected.sessions_before +{% endif %} CAST(SUM(CASE WHEN mapped.starts_session THEN 1 ELSE 0 END) OVER (
            {{ visitor_order }}
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS {{ d.bigint_type }}) AS session_sequence_number,
        ROW_NUMBER() OVER ({{ visitor_order }}) AS visitor_event_number
    FROM {{ t.stage('mapped_tracks') }} AS mapped
{%- if not plan.full %}
    JOIN {{ t.stage('affected') }} AS affected ON affected.dbt_visitor_id = mapped.dbt_visitor_id
{%- endif %}
),
session_firsts AS (
    SELECT dbt_visitor_id, session_sequence_number, visitor_event_number AS first_number
    FROM numbered
    WHERE starts_session
)
SELECT
    numbered.anonymous_id,
    numbered.{{ ts }},
    numbered.event_id,
    numbered.event,
    {{ d.session_id('numbered.session_sequence_number', 'numbered.dbt_visitor_id') }} AS session_id,
    numbered.dbt_visitor_id,
    numbered.visitor_event_number - session_firsts.first_number + 1 AS track_sequence_number,
    numbered.event_table{{ carried('numbered') }}
FROM numbered
JOIN session_firsts
    ON session_firsts.dbt_visitor_id = numbered.dbt_visitor_id
   AND session_firsts.session_sequence_number = numbered.session_sequence_number;
{{ d.analyze(t.stage('track_facts')) if not plan.full }}
