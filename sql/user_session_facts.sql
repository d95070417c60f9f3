-- Visitor facts: one row per visitor over all of its sessions.
{%- if not plan.full %}
-- An affected visitor’s sessions are its recomputed ones (session_facts of this run) and its
-- published ones before the reopen point, which this run keeps.
{%- endif %}
{{ d.drop_table(t.stage('user_session_facts')) }};

CREATE TABLE {{ t.stage('user_session_facts') }} AS
WITH visitor_sessions AS (
    SELECT dbt_visitor_id, session_sequence_number, session_start_at, session_end_at, event_count, converted
    FROM {{ t.stage('session_facts') }}
{%- if not plan.full %}
    UNION ALL
    SELECT
        published.dbt_visitor_id, published.session_sequence_number, published.session_start_at,
        published.session_end_at, published.event_count, published.converted
    FROM {{ t.target('session_facts') }} AS published
    JOIN {{ t.stage('affected') }} AS affected ON affected.dbt_visitor_id = published.dbt_visitor_id
    WHERE published.session_start_at < affected.reopen_at
{%- endif %}
)
SELECT
    dbt_visitor_id,
    MIN(session_start_at) AS first_seen_at,
    MAX(session_end_at) AS last_seen_at,
    CAST(COUNT(*) AS {{ d.bigint_type }}) AS session_count,
    CAST(SUM(event_count) AS {{ d.bigint_type }}) AS event_count,
    CAST(SUM(CASE WHEN converted THEN 1 ELSE 0 END) AS {{ d.bigint_type }}) AS converted_session_count,
    {{ d.session_id('MIN(session_sequence_number)', 'dbt_visitor_id') }} AS first_session_id,
    {{ d.session_id('MAX(session_sequence_number)', 'dbt_visitor_id') }} AS last_session_id
FROM visitor_sessions
GROUP BY dbt_visitor_id;
{{ d.analyze(t.stage('user_session_facts')) if not plan.full }}
