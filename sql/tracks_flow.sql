-- Tracks flow: every event with the {{ cfg.flow_length - 1 }} events that follow it in the same
-- session (event_k is the event k-1 places later; NULL past the session's end).
{% set ts = d.quote('timestamp') %}
{{ d.drop_table(t.stage('tracks_flow')) }};

CREATE TABLE {{ t.stage('tracks_flow') }} AS
SELECT
    event_id,
    session_id,
    track_sequence_number,
    event,
    dbt_visitor_id,
    {{ ts }}
{%- for k in range(2, cfg.flow_length + 1) %},
    LEAD(event, {{ k - 1 }}) OVER (
        PARTITION BY session_id ORDER BY track_sequence_number
    ) AS event_{{ k }}
{%- endfor %}
FROM {{ t.stage('track_facts') }};
