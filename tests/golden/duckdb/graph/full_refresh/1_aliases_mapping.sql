SET force_compression = 'auto';  -- published tables: compressed
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


DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_graph_rows";

-- The rows that decide them: every clean event and every link row.
CREATE TABLE "sessions"."__rs_a330a0bc481b_graph_rows" AS
SELECT id, anonymous_id, user_id, "timestamp", 'event' AS kind FROM "sessions"."__rs_a330a0bc481b_events"
UNION ALL
SELECT id, anonymous_id, user_id, "timestamp", link_kind
FROM "sessions"."__rs_a330a0bc481b_links"
WHERE id IS NOT NULL AND "timestamp" IS NOT NULL AND (anonymous_id IS NOT NULL OR user_id IS NOT NULL);

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_graph_facts";

-- One row per identifier: whether it is a user id, when it was seen first (as a user id, if it
-- is one), its latest link (what a hub maps by) and how many user ids it is linked to.
CREATE TABLE "sessions"."__rs_a330a0bc481b_graph_facts" AS
WITH appearances AS (
    SELECT anonymous_id AS node, 0 AS as_user, user_id AS partner, "timestamp", id,
           CASE WHEN user_id IS NOT NULL AND kind IN ('event', 'identifies') THEN 1 ELSE 0 END AS is_link
    FROM "sessions"."__rs_a330a0bc481b_graph_rows"
    WHERE anonymous_id IS NOT NULL
    UNION ALL
    SELECT user_id, 1, anonymous_id, "timestamp", id, 0
    FROM "sessions"."__rs_a330a0bc481b_graph_rows"
    WHERE user_id IS NOT NULL
),
ranked AS (
    SELECT
        appearances.*,
        ROW_NUMBER() OVER (
            PARTITION BY node ORDER BY as_user DESC, "timestamp", id
        ) AS first_rank,
        ROW_NUMBER() OVER (
            PARTITION BY node, is_link
            ORDER BY "timestamp" DESC, id DESC, partner DESC
        ) AS link_recency
    FROM appearances
),
facts AS (
    SELECT
        node,
        MAX(as_user) AS is_user,
        COUNT(DISTINCT CASE WHEN is_link = 1 THEN partner END) AS linked_users,
        MAX(CASE WHEN first_rank = 1 THEN "timestamp" END) AS first_seen_at,
        MAX(CASE WHEN first_rank = 1 THEN id END) AS first_seen_id,
        MAX(CASE WHEN is_link = 1 AND link_recency = 1 THEN partner END) AS identified_user_id,
        MAX(CASE WHEN is_link = 1 AND link_recency = 1 THEN "timestamp" END) AS identified_at,
        MAX(CASE WHEN is_link = 1 AND link_recency = 1 THEN id END) AS identified_event_id
    FROM ranked
    GROUP BY node
)
SELECT
    facts.*,
    (facts.is_user = 0 AND facts.linked_users > 1) AS is_hub
FROM facts;


DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_graph_edges";

-- The links between identifiers decided here, both ways; a hub’s links are left out.
CREATE TABLE "sessions"."__rs_a330a0bc481b_graph_edges" AS
SELECT DISTINCT pairs.a, pairs.b
FROM (
    SELECT anonymous_id AS a, user_id AS b FROM "sessions"."__rs_a330a0bc481b_graph_rows"
    WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL AND anonymous_id <> user_id
    UNION ALL
    SELECT user_id, anonymous_id FROM "sessions"."__rs_a330a0bc481b_graph_rows"
    WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL AND anonymous_id <> user_id
) AS pairs
JOIN "sessions"."__rs_a330a0bc481b_graph_facts" AS one ON one.node = pairs.a AND NOT one.is_hub
JOIN "sessions"."__rs_a330a0bc481b_graph_facts" AS other ON other.node = pairs.b AND NOT other.is_hub;


DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_graph_labels";

CREATE TABLE "sessions"."__rs_a330a0bc481b_graph_labels" AS
SELECT node, node AS label FROM "sessions"."__rs_a330a0bc481b_graph_facts";

-- @repeat until it counts 0, at most 100 times
DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_graph_step";

-- Each identifier’s smallest neighbouring label, then that label’s own label: kept where smaller.
CREATE TABLE "sessions"."__rs_a330a0bc481b_graph_step" AS
WITH proposed AS (
    SELECT edges.a AS node, MIN(neighbour.label) AS label
    FROM "sessions"."__rs_a330a0bc481b_graph_edges" AS edges
    JOIN "sessions"."__rs_a330a0bc481b_graph_labels" AS neighbour ON neighbour.node = edges.b
    GROUP BY edges.a
),
jumped AS (
    SELECT proposed.node, CASE WHEN hop.label < proposed.label THEN hop.label ELSE proposed.label END AS label
    FROM proposed
    JOIN "sessions"."__rs_a330a0bc481b_graph_labels" AS hop ON hop.node = proposed.label
)
SELECT jumped.node AS step_node, jumped.label AS step_label
FROM jumped
JOIN "sessions"."__rs_a330a0bc481b_graph_labels" AS current_label ON current_label.node = jumped.node
WHERE jumped.label < current_label.label;

-- (the step’s columns are named unlike the labels’, so that no name needs the updated table’s)
UPDATE "sessions"."__rs_a330a0bc481b_graph_labels" SET label = step_label
FROM "sessions"."__rs_a330a0bc481b_graph_step"
WHERE node = step_node;

SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_graph_step";
-- @end repeat
DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_aliases_mapping";

-- Every identifier with its visitor: its component’s user id seen first (else its anonymous id
-- seen first); a hub, the visitor of its latest link’s user.
CREATE TABLE "sessions"."__rs_a330a0bc481b_aliases_mapping" AS
WITH members AS (
    SELECT labels.label, facts.node, facts.is_user, facts.first_seen_at, facts.first_seen_id
    FROM "sessions"."__rs_a330a0bc481b_graph_facts" AS facts
    JOIN "sessions"."__rs_a330a0bc481b_graph_labels" AS labels ON labels.node = facts.node
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
            latest.visitor, facts.identified_user_id
        )
        ELSE visitors.visitor
    END AS dbt_visitor_id,
    facts.is_user = 1 AS is_user_id,
    facts.identified_user_id,
    facts.identified_at,
    facts.identified_event_id
FROM "sessions"."__rs_a330a0bc481b_graph_facts" AS facts
LEFT JOIN visitors ON visitors.node = facts.node
LEFT JOIN visitors AS latest ON latest.node = facts.identified_user_id;


-- What the graph did, for the run log.
UPDATE "sessions"."__rs_a330a0bc481b_run" SET
    identity_hub_ids = (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_graph_facts" WHERE is_hub)
WHERE TRUE;
