-- Aliases mapping: one row per distinct identifier, mapped to the visitor it belongs to.
--   * every user_id maps to itself;
--   * an anonymous_id maps to the user_id of its latest identified event, by (timestamp, id);
--   * an anonymous_id never identified maps to itself;
--   * a value seen both as user_id and as anonymous_id follows the user_id rule.
-- Extra columns keep what decided the mapping (is_user_id and the latest identification), so an
-- incremental run updates an identifier from its new events alone.
-- This run recomputes only the identifiers its changed events name ("sessions"."__rs_a330a0bc481b_touched").

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_aliases_mapping";

CREATE TABLE "sessions"."__rs_a330a0bc481b_aliases_mapping" AS
WITH
-- Identifiers that lost an event (its copy was replaced or removed) are decided again from
-- every other published event naming them; the others from their published row plus new events.
rescanned AS (
    SELECT old_anonymous_id AS alias FROM "sessions"."__rs_a330a0bc481b_changes" WHERE old_anonymous_id IS NOT NULL
    UNION
    SELECT old_user_id FROM "sessions"."__rs_a330a0bc481b_changes" WHERE old_user_id IS NOT NULL
),
deciding_events AS (
    SELECT event_id AS id, anonymous_id, user_id, "timestamp"
    FROM "sessions"."__rs_a330a0bc481b_changes"
    WHERE present
    UNION ALL
    SELECT naming.event_id, naming.anonymous_id, naming.user_id, naming."timestamp"
    FROM (
        -- One semi-join per identifier column: each lets the warehouse filter the published
        -- events by the few rescanned identifiers as it reads them (an OR of the two passes
        -- every published event on to be tested).
        SELECT mapped.event_id, mapped.anonymous_id, mapped.user_id, mapped."timestamp"
        FROM "sessions"."dbt_mapped_tracks" AS mapped
        WHERE mapped.anonymous_id IN (SELECT alias FROM rescanned)
        UNION
        SELECT mapped.event_id, mapped.anonymous_id, mapped.user_id, mapped."timestamp"
        FROM "sessions"."dbt_mapped_tracks" AS mapped
        WHERE mapped.user_id IN (SELECT alias FROM rescanned)
    ) AS naming
    WHERE naming.event_id NOT IN (SELECT event_id FROM "sessions"."__rs_a330a0bc481b_changes")
),
published AS (
    SELECT aliases.*
    FROM "sessions"."dbt_aliases_mapping" AS aliases
    WHERE aliases.alias IN (SELECT alias FROM "sessions"."__rs_a330a0bc481b_touched")
      AND aliases.alias NOT IN (SELECT alias FROM rescanned)
),
user_ids AS (
    SELECT DISTINCT user_id AS alias FROM deciding_events WHERE user_id IS NOT NULL
    UNION
    SELECT alias FROM published WHERE is_user_id
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
        UNION ALL
        SELECT alias, identified_user_id, identified_at, identified_event_id
        FROM published
        WHERE identified_event_id IS NOT NULL
    ) AS candidates
),
aliases AS (
    SELECT anonymous_id AS alias FROM deciding_events WHERE anonymous_id IS NOT NULL
    UNION
    SELECT alias FROM user_ids
    UNION
    SELECT alias FROM published
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
WHERE aliases.alias IN (SELECT alias FROM "sessions"."__rs_a330a0bc481b_touched");

