-- Aliases mapping: one row per distinct identifier, mapped to the visitor it belongs to.
--   * every user_id maps to itself;
--   * an anonymous_id maps to the user_id of its latest identified event, by (timestamp, id);
--   * an anonymous_id never identified maps to itself;
--   * a value seen both as user_id and as anonymous_id follows the user_id rule.
{% set ts = d.quote('timestamp') %}
{{ d.drop_table(t.stage('aliases_mapping')) }};

CREATE TABLE {{ t.stage('aliases_mapping') }} AS
WITH user_ids AS (
    SELECT DISTINCT user_id AS alias
    FROM {{ t.stage('events') }}
    WHERE user_id IS NOT NULL
),
anonymous_ids AS (
    SELECT DISTINCT anonymous_id AS alias
    FROM {{ t.stage('events') }}
    WHERE anonymous_id IS NOT NULL
),
identifications AS (
    SELECT
        anonymous_id,
        user_id,
        ROW_NUMBER() OVER (PARTITION BY anonymous_id ORDER BY {{ ts }} DESC, id DESC) AS recency
    FROM {{ t.stage('events') }}
    WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL
)
SELECT alias, alias AS dbt_visitor_id
FROM user_ids
UNION ALL
SELECT anonymous_ids.alias, COALESCE(identifications.user_id, anonymous_ids.alias) AS dbt_visitor_id
FROM anonymous_ids
LEFT JOIN identifications
    ON identifications.anonymous_id = anonymous_ids.alias AND identifications.recency = 1
WHERE NOT EXISTS (SELECT 1 FROM user_ids WHERE user_ids.alias = anonymous_ids.alias);
