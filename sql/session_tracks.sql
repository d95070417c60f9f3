-- Session tracks: one row per session, numbered from 1 per visitor in time order, with the
-- start of the visitor's next session (NULL for the last one).
{% set ts = d.quote('timestamp') %}
{{ d.drop_table(t.stage('session_tracks')) }};

CREATE TABLE {{ t.stage('session_tracks') }} AS
WITH session_starts AS (
    SELECT
        dbt_visitor_id,
        {{ ts }} AS session_start_at,
        ROW_NUMBER() OVER (PARTITION BY dbt_visitor_id ORDER BY {{ ts }}, event_id) AS session_sequence_number
    FROM {{ t.stage('mapped_tracks') }}
    WHERE starts_session
)
SELECT
    {{ d.session_id('session_sequence_number', 'dbt_visitor_id') }} AS session_id,
    dbt_visitor_id,
    session_start_at,
    session_sequence_number,
    LEAD(session_start_at) OVER (
        PARTITION BY dbt_visitor_id ORDER BY session_sequence_number
    ) AS next_session_start_at
FROM session_starts;
