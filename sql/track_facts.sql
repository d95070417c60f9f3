-- Track facts: every event with its session and its place in that session. The session number
-- is the running count of session starts in the visitor's event order (timestamp, id); no range
-- join against session_tracks is needed.
{% set ts = d.quote('timestamp') %}
{{ d.drop_table(t.stage('track_facts')) }};

CREATE TABLE {{ t.stage('track_facts') }} AS
WITH numbered AS (
    SELECT
        mapped.*,
        {%- if not plan.full %} affected.sessions_before +{% endif %} CAST(SUM(CASE WHEN mapped.starts_session THEN 1 ELSE 0 END) OVER (
            PARTITION BY mapped.dbt_visitor_id ORDER BY mapped.{{ ts }}, {{ d.text_order('mapped.event_id') }}
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS {{ d.bigint_type }}) AS session_sequence_number
    FROM {{ t.stage('mapped_tracks') }} AS mapped
{%- if not plan.full %}
    JOIN {{ t.stage('affected') }} AS affected ON affected.dbt_visitor_id = mapped.dbt_visitor_id
{%- endif %}
)
SELECT
    anonymous_id,
    {{ ts }},
    event_id,
    event,
    {{ d.session_id('session_sequence_number', 'dbt_visitor_id') }} AS session_id,
    dbt_visitor_id,
    ROW_NUMBER() OVER (
        PARTITION BY dbt_visitor_id, session_sequence_number ORDER BY {{ ts }}, {{ d.text_order('event_id') }}
    ) AS track_sequence_number
FROM numbered;
