-- Session tracks: one row per session, numbered from 1 per visitor in time order, with the
-- start of the visitor’s next session (NULL for the last one).
{%- if not plan.full %}
-- Reopened visitors continue the numbering after their unchanged sessions (sessions_before); a
-- visitor recomputed from a new session on carries its last published session over, whose next
-- session start changes.
{%- endif %}
{% set ts = d.quote('timestamp') %}
{{ d.drop_table(t.stage('session_tracks')) }};

CREATE TABLE {{ t.stage('session_tracks') }} AS
WITH session_starts AS (
    SELECT
        mapped.dbt_visitor_id,
        mapped.{{ ts }} AS session_start_at,
{%- if plan.full %}
        ROW_NUMBER() OVER (
            PARTITION BY mapped.dbt_visitor_id ORDER BY mapped.{{ ts }}, {{ d.text_order('mapped.event_id') }}
        ) AS session_sequence_number
    FROM {{ t.stage('mapped_tracks') }} AS mapped
    WHERE mapped.starts_session
{%- else %}
        affected.sessions_before + ROW_NUMBER() OVER (
            PARTITION BY mapped.dbt_visitor_id ORDER BY mapped.{{ ts }}, {{ d.text_order('mapped.event_id') }}
        ) AS session_sequence_number
    FROM {{ t.stage('mapped_tracks') }} AS mapped
    JOIN {{ t.stage('affected') }} AS affected ON affected.dbt_visitor_id = mapped.dbt_visitor_id
    WHERE mapped.starts_session
    UNION ALL
    SELECT dbt_visitor_id, sessions_from, sessions_before
    FROM {{ t.stage('affected') }}
    WHERE sessions_from < reopen_at
{%- endif %}
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
{{ d.analyze(t.stage('session_tracks')) if not plan.full }}
