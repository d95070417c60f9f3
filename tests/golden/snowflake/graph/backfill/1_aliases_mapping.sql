-- Aliases mapping by the identity graph: a visitor is a connected component of the identifiers
-- linked by the events that carry both ids, by identifies rows (anonymous_id, user_id) and by
-- aliases rows (previous_id, user_id).
--   * junk ids (0, anonymous, null, undefined) were read as NULL (plan);
--   * an anonymous id linked by events or identifies to more than 1 user id(s) (a shared
--     device, a kiosk) is a hub: it links nothing, and maps to the visitor of the user of its
--     latest link, by (timestamp, id);
--   * a visitor’s id is its user id seen first (smallest (timestamp, id) of a row carrying it as
--     user_id; ties by the id itself), else its anonymous id seen first;
--   * the components come from label propagation: every identifier takes the smallest label of
--     its neighbours, then that label’s own label, until no label changes.
-- This run decides again the components its changed events and new link rows touch, from every
-- row naming one of their identifiers; the other components cannot change.

DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_GRAPH_SEEDS";

-- The identifiers of the run’s changed events (before and after) and of its new link rows.
CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_GRAPH_SEEDS" AS
SELECT alias AS node FROM "SESSIONS"."__RS_A330A0BC481B_TOUCHED"
UNION
SELECT anonymous_id FROM "SESSIONS"."__RS_A330A0BC481B_LINKS"
WHERE in_window AND id IS NOT NULL AND "TIMESTAMP" IS NOT NULL AND anonymous_id IS NOT NULL
UNION
SELECT user_id FROM "SESSIONS"."__RS_A330A0BC481B_LINKS"
WHERE in_window AND id IS NOT NULL AND "TIMESTAMP" IS NOT NULL AND user_id IS NOT NULL;


DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_GRAPH_NODES";

-- The identifiers decided again: the seeds, those linked to a seed (a hub that stops being one
-- joins its users), and every identifier of the published visitors of either.
CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_GRAPH_NODES" AS
WITH seed_links AS (
    SELECT mapped.event_id AS id, mapped.anonymous_id, mapped.user_id, mapped."TIMESTAMP", 'event' AS kind
    FROM "SESSIONS"."DBT_MAPPED_TRACKS" AS mapped
    WHERE mapped.anonymous_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_SEEDS") AND mapped.user_id IS NOT NULL
      AND mapped.event_id NOT IN (SELECT event_id FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES")
    UNION ALL
    SELECT mapped.event_id, mapped.anonymous_id, mapped.user_id, mapped."TIMESTAMP", 'event'
    FROM "SESSIONS"."DBT_MAPPED_TRACKS" AS mapped
    WHERE mapped.user_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_SEEDS")
      AND (mapped.anonymous_id NOT IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_SEEDS"))
      AND mapped.event_id NOT IN (SELECT event_id FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES")
    UNION ALL
    SELECT changes.event_id, changes.anonymous_id, changes.user_id, changes."TIMESTAMP", 'event'
    FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES" AS changes
    WHERE changes.present
      AND (changes.anonymous_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_SEEDS") OR changes.user_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_SEEDS"))
      AND changes.anonymous_id IS NOT NULL AND changes.user_id IS NOT NULL
    UNION ALL
    SELECT links.id, links.anonymous_id, links.user_id, links."TIMESTAMP", links.link_kind
    FROM "SESSIONS"."__RS_A330A0BC481B_LINKS" AS links
    WHERE links.id IS NOT NULL AND links."TIMESTAMP" IS NOT NULL
      AND (links.anonymous_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_SEEDS") OR links.user_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_SEEDS"))
      AND links.anonymous_id IS NOT NULL AND links.user_id IS NOT NULL
),
near AS (
    SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_SEEDS"
    UNION
    SELECT anonymous_id FROM seed_links
    UNION
    SELECT user_id FROM seed_links
)
SELECT node FROM near
UNION
SELECT published.alias
FROM "SESSIONS"."DBT_ALIASES_MAPPING" AS published
WHERE published.dbt_visitor_id IN (
    SELECT mapping.dbt_visitor_id
    FROM "SESSIONS"."DBT_ALIASES_MAPPING" AS mapping
    WHERE mapping.alias IN (SELECT node FROM near)
);


DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_GRAPH_ROWS";

-- The rows that decide them: every row naming one of them.
CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_GRAPH_ROWS" AS
    SELECT mapped.event_id AS id, mapped.anonymous_id, mapped.user_id, mapped."TIMESTAMP", 'event' AS kind
    FROM "SESSIONS"."DBT_MAPPED_TRACKS" AS mapped
    WHERE mapped.anonymous_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_NODES")
      AND mapped.event_id NOT IN (SELECT event_id FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES")
    UNION ALL
    SELECT mapped.event_id, mapped.anonymous_id, mapped.user_id, mapped."TIMESTAMP", 'event'
    FROM "SESSIONS"."DBT_MAPPED_TRACKS" AS mapped
    WHERE mapped.user_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_NODES")
      AND (mapped.anonymous_id IS NULL OR mapped.anonymous_id NOT IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_NODES"))
      AND mapped.event_id NOT IN (SELECT event_id FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES")
    UNION ALL
    SELECT changes.event_id, changes.anonymous_id, changes.user_id, changes."TIMESTAMP", 'event'
    FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES" AS changes
    WHERE changes.present
      AND (changes.anonymous_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_NODES") OR changes.user_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_NODES"))
    UNION ALL
    SELECT links.id, links.anonymous_id, links.user_id, links."TIMESTAMP", links.link_kind
    FROM "SESSIONS"."__RS_A330A0BC481B_LINKS" AS links
    WHERE links.id IS NOT NULL AND links."TIMESTAMP" IS NOT NULL
      AND (links.anonymous_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_NODES") OR links.user_id IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_NODES"));

DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_GRAPH_FACTS";

-- One row per identifier: whether it is a user id, when it was seen first (as a user id, if it
-- is one), its latest link (what a hub maps by) and how many user ids it is linked to.
CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_GRAPH_FACTS" AS
WITH appearances AS (
    SELECT anonymous_id AS node, 0 AS as_user, user_id AS partner, "TIMESTAMP", id,
           CASE WHEN user_id IS NOT NULL AND kind IN ('event', 'identifies') THEN 1 ELSE 0 END AS is_link
    FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_ROWS"
    WHERE anonymous_id IS NOT NULL
    UNION ALL
    SELECT user_id, 1, anonymous_id, "TIMESTAMP", id, 0
    FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_ROWS"
    WHERE user_id IS NOT NULL
),
ranked AS (
    SELECT
        appearances.*,
        ROW_NUMBER() OVER (
            PARTITION BY node ORDER BY as_user DESC, "TIMESTAMP", id
        ) AS first_rank,
        ROW_NUMBER() OVER (
            PARTITION BY node, is_link
            ORDER BY "TIMESTAMP" DESC, id DESC, partner DESC
        ) AS link_recency
    FROM appearances
    WHERE node IN (SELECT node FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_NODES")
),
facts AS (
    SELECT
        node,
        MAX(as_user) AS is_user,
        COUNT(DISTINCT CASE WHEN is_link = 1 THEN partner END) AS linked_users,
        MAX(CASE WHEN first_rank = 1 THEN "TIMESTAMP" END) AS first_seen_at,
        MAX(CASE WHEN first_rank = 1 THEN id END) AS first_seen_id,
        MAX(CASE WHEN is_link = 1 AND link_recency = 1 THEN partner END) AS identified_user_id,
        MAX(CASE WHEN is_link = 1 AND link_recency = 1 THEN "TIMESTAMP" END) AS identified_at,
        MAX(CASE WHEN is_link = 1 AND link_recency = 1 THEN id END) AS identified_event_id
    FROM ranked
    GROUP BY node
)
SELECT
    facts.*,
    (facts.is_user = 0 AND facts.linked_users > 1) AS is_hub
FROM facts;


DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_GRAPH_EDGES";

-- The links between identifiers decided here, both ways; a hub’s links are left out.
CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_GRAPH_EDGES" AS
SELECT DISTINCT pairs.a, pairs.b
FROM (
    SELECT anonymous_id AS a, user_id AS b FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_ROWS"
    WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL AND anonymous_id <> user_id
    UNION ALL
    SELECT user_id, anonymous_id FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_ROWS"
    WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL AND anonymous_id <> user_id
) AS pairs
JOIN "SESSIONS"."__RS_A330A0BC481B_GRAPH_FACTS" AS one ON one.node = pairs.a AND NOT one.is_hub
JOIN "SESSIONS"."__RS_A330A0BC481B_GRAPH_FACTS" AS other ON other.node = pairs.b AND NOT other.is_hub;


DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_GRAPH_LABELS";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_GRAPH_LABELS" AS
SELECT node, node AS label FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_FACTS";

-- @repeat until it counts 0, at most 100 times
DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_GRAPH_STEP";

-- Each identifier’s smallest neighbouring label, then that label’s own label: kept where smaller.
CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_GRAPH_STEP" AS
WITH proposed AS (
    SELECT edges.a AS node, MIN(neighbour.label) AS label
    FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_EDGES" AS edges
    JOIN "SESSIONS"."__RS_A330A0BC481B_GRAPH_LABELS" AS neighbour ON neighbour.node = edges.b
    GROUP BY edges.a
),
jumped AS (
    SELECT proposed.node, CASE WHEN hop.label < proposed.label THEN hop.label ELSE proposed.label END AS label
    FROM proposed
    JOIN "SESSIONS"."__RS_A330A0BC481B_GRAPH_LABELS" AS hop ON hop.node = proposed.label
)
SELECT jumped.node AS step_node, jumped.label AS step_label
FROM jumped
JOIN "SESSIONS"."__RS_A330A0BC481B_GRAPH_LABELS" AS current_label ON current_label.node = jumped.node
WHERE jumped.label < current_label.label;

-- (the step’s columns are named unlike the labels’, so that no name needs the updated table’s)
UPDATE "SESSIONS"."__RS_A330A0BC481B_GRAPH_LABELS" SET label = step_label
FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_STEP"
WHERE node = step_node;

SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_STEP";
-- @end repeat
DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING";

-- Every identifier with its visitor: its component’s user id seen first (else its anonymous id
-- seen first); a hub, the visitor of its latest link’s user.
CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING" AS
WITH members AS (
    SELECT labels.label, facts.node, facts.is_user, facts.first_seen_at, facts.first_seen_id
    FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_FACTS" AS facts
    JOIN "SESSIONS"."__RS_A330A0BC481B_GRAPH_LABELS" AS labels ON labels.node = facts.node
    WHERE NOT facts.is_hub
),
ranked AS (
    SELECT
        members.*,
        ROW_NUMBER() OVER (
            PARTITION BY label
            ORDER BY is_user DESC, first_seen_at, first_seen_id, node
        ) AS canonical_rank
    FROM members
),
visitors AS (
    SELECT members.node, ranked.node AS visitor
    FROM members
    JOIN ranked ON ranked.label = members.label AND ranked.canonical_rank = 1
)
SELECT
    facts.node AS alias,
    CASE
        WHEN facts.is_hub THEN COALESCE(
            latest.visitor, published.dbt_visitor_id, facts.identified_user_id
        )
        ELSE visitors.visitor
    END AS dbt_visitor_id,
    facts.is_user = 1 AS is_user_id,
    facts.identified_user_id,
    facts.identified_at,
    facts.identified_event_id
FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_FACTS" AS facts
LEFT JOIN visitors ON visitors.node = facts.node
LEFT JOIN visitors AS latest ON latest.node = facts.identified_user_id
LEFT JOIN "SESSIONS"."DBT_ALIASES_MAPPING" AS published ON published.alias = facts.identified_user_id;


-- What the graph did, for the run log.
UPDATE "SESSIONS"."__RS_A330A0BC481B_RUN" SET
    identity_hub_ids = (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_GRAPH_FACTS" WHERE is_hub),
    identity_remapped = (
        SELECT COUNT(*)
        FROM "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING" AS staged
        JOIN "SESSIONS"."DBT_ALIASES_MAPPING" AS published ON published.alias = staged.alias
        WHERE published.dbt_visitor_id <> staged.dbt_visitor_id
    ),
    identity_merged = (
        SELECT COALESCE(SUM(joined - 1), 0)
        FROM (
            SELECT staged.dbt_visitor_id, COUNT(DISTINCT published.dbt_visitor_id) AS joined
            FROM "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING" AS staged
            JOIN "SESSIONS"."DBT_ALIASES_MAPPING" AS published ON published.alias = staged.alias
            GROUP BY staged.dbt_visitor_id
        ) AS visitors
        WHERE joined > 1
    )
WHERE TRUE;

-- Publish replaces the mapping of every identifier decided here.
INSERT INTO "SESSIONS"."__RS_A330A0BC481B_TOUCHED" (alias)
SELECT alias FROM "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING"
WHERE alias NOT IN (SELECT alias FROM "SESSIONS"."__RS_A330A0BC481B_TOUCHED");
