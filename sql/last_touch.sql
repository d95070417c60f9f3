-- Aliases mapping: one row per distinct identifier, mapped to the visitor it belongs to.
--   * every user_id maps to itself;
--   * an anonymous_id maps to the user_id of its latest identified event, by (timestamp, id);
--   * an anonymous_id never identified maps to itself;
--   * a value seen both as user_id and as anonymous_id follows the user_id rule.
-- Extra columns keep what decided the mapping (is_user_id and the latest identification), so an
-- incremental run updates an identifier from its new events alone.
{%- if not plan.full %}
-- This run recomputes only the identifiers its changed events name ({{ t.stage('touched') }}).
{%- endif %}
{% set ts = d.quote('timestamp') %}
{%- from 'macros.sql' import within, declare_span with context %}
{%- set rescanned_ids %}
    SELECT old_anonymous_id AS alias FROM {{ t.stage('changes') }} WHERE old_anonymous_id IS NOT NULL
    {{ d.union }}
    SELECT old_user_id FROM {{ t.stage('changes') }} WHERE old_user_id IS NOT NULL
{%- endset %}
{%- if d.script_bounds and not plan.full %}
{{ declare_span('rescanned_span') }}

-- The time span of the published events naming a rescanned identifier, read only when a copy
-- was replaced or removed (it names some): the reads of their rows below prune by it.
IF EXISTS (SELECT 1 FROM {{ t.stage('changes') }} WHERE old_anonymous_id IS NOT NULL OR old_user_id IS NOT NULL) THEN
    SET rescanned_span = (
        SELECT AS STRUCT MIN(mapped.{{ ts }}) AS lo, MAX(mapped.{{ ts }}) AS hi
        FROM {{ t.target('mapped_tracks') }} AS mapped
        WHERE mapped.anonymous_id IN ({{ rescanned_ids }}
        )
           OR mapped.user_id IN ({{ rescanned_ids }}
        )
    );
END IF;
{%- endif %}
{{ d.drop_table(t.stage('aliases_mapping')) }};

CREATE TABLE {{ t.stage('aliases_mapping') }} AS
WITH
{%- if plan.full %}
deciding_events AS (
    SELECT id, anonymous_id, user_id, {{ ts }} FROM {{ t.stage('events') }}
),
{%- else %}
-- Identifiers that lost an event (its copy was replaced or removed) are decided again from
-- every other published event naming them; the others from their published row plus new events.
rescanned AS ({{ rescanned_ids }}
),
deciding_events AS (
    SELECT event_id AS id, anonymous_id, user_id, {{ ts }}
    FROM {{ t.stage('changes') }}
    WHERE present
    UNION ALL
    SELECT naming.event_id, naming.anonymous_id, naming.user_id, naming.{{ ts }}
    FROM (
        -- One semi-join per identifier column: each lets the warehouse filter the published
        -- events by the few rescanned identifiers as it reads them (an OR of the two passes
        -- every published event on to be tested).
        SELECT mapped.event_id, mapped.anonymous_id, mapped.user_id, mapped.{{ ts }}
        FROM {{ t.target('mapped_tracks') }} AS mapped
        WHERE mapped.anonymous_id IN (SELECT alias FROM rescanned){{ within('mapped', ts, 'rescanned_span') }}
        {{ d.union }}
        SELECT mapped.event_id, mapped.anonymous_id, mapped.user_id, mapped.{{ ts }}
        FROM {{ t.target('mapped_tracks') }} AS mapped
        WHERE mapped.user_id IN (SELECT alias FROM rescanned){{ within('mapped', ts, 'rescanned_span') }}
    ) AS naming
    WHERE naming.event_id NOT IN (SELECT event_id FROM {{ t.stage('changes') }})
),
published AS (
    SELECT aliases.*
    FROM {{ t.target('aliases_mapping') }} AS aliases
    WHERE aliases.alias IN (SELECT alias FROM {{ t.stage('touched') }})
      AND aliases.alias NOT IN (SELECT alias FROM rescanned)
),
{%- endif %}
user_ids AS (
    SELECT DISTINCT user_id AS alias FROM deciding_events WHERE user_id IS NOT NULL
{%- if not plan.full %}
    {{ d.union }}
    SELECT alias FROM published WHERE is_user_id
{%- endif %}
),
identifications AS (
    SELECT
        alias,
        user_id,
        identified_at,
        identified_event_id,
        ROW_NUMBER() OVER (PARTITION BY alias ORDER BY identified_at DESC, {{ d.text_order('identified_event_id') }} DESC) AS recency
    FROM (
        SELECT anonymous_id AS alias, user_id, {{ ts }} AS identified_at, id AS identified_event_id
        FROM deciding_events
        WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL
{%- if not plan.full %}
        UNION ALL
        SELECT alias, identified_user_id, identified_at, identified_event_id
        FROM published
        WHERE identified_event_id IS NOT NULL
{%- endif %}
    ) AS candidates
),
aliases AS (
    SELECT anonymous_id AS alias FROM deciding_events WHERE anonymous_id IS NOT NULL
    {{ d.union }}
    SELECT alias FROM user_ids
{%- if not plan.full %}
    {{ d.union }}
    SELECT alias FROM published
{%- endif %}
)
SELECT
    aliases.alias,
    CASE
        WHEN user_ids.alias IS NOT NULL THEN aliases.alias
        ELSE COALESCE(identifications.user_id, aliases.alias)
    END AS dbt_visitor_id,
    user_ids.alias IS NOT NULL AS is_user_id,
    identifications.user_id AS identified_user_id,
    identifications.identified_at,
    identifications.identified_event_id
FROM aliases
LEFT JOIN user_ids ON user_ids.alias = aliases.alias
LEFT JOIN identifications ON identifications.alias = aliases.alias AND identifications.recency = 1
{%- if not plan.full %}
WHERE aliases.alias IN (SELECT alias FROM {{ t.stage('touched') }})
{%- endif %};
{{ d.analyze(t.stage('aliases_mapping')) if not plan.full }}
