SET force_compression = 'auto';  -- published tables: compressed
-- Aliases mapping: one row per distinct identifier, mapped to the visitor it belongs to.
--   * every user_id maps to itself;
--   * an anonymous_id maps to the user_id of its latest identified event, by (timestamp, id);
--   * an anonymous_id never identified maps to itself;
--   * a value seen both as user_id and as anonymous_id follows the user_id rule.
-- Extra columns keep what decided the mapping (is_user_id and the latest identification), so an
-- incremental run updates an identifier from its new events alone.

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_aliases_mapping";

CREATE TABLE "sessions"."__rs_a330a0bc481b_aliases_mapping" AS
WITH
deciding_events AS (
    SELECT id, anonymous_id, user_id, "timestamp" FROM "sessions"."__rs_a330a0bc481b_events"
),
user_ids AS (
    SELECT DISTINCT user_id AS alias FROM deciding_events WHERE user_id IS NOT NULL
),
identifications AS (
    SELECT
        alias,
        user_id,
        identified_at,
        identified_event_id,
        ROW_NUMBER() OVER (PARTITION BY alias ORDER BY identified_at DESC, identified_event_id DESC) AS recency
    FROM (
        SELECT anonymous_id AS alias, user_id, "timestamp" AS identified_at, id AS identified_event_id
        FROM deciding_events
        WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL
    ) AS candidates
),
aliases AS (
    SELECT anonymous_id AS alias FROM deciding_events WHERE anonymous_id IS NOT NULL
    UNION
    SELECT alias FROM user_ids
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
LEFT JOIN identifications ON identifications.alias = aliases.alias AND identifications.recency = 1;

