-- Aliases mapping by the identity graph: a visitor is a connected component of the identifiers
-- linked by the events that carry both ids, by identifies rows (anonymous_id, user_id) and by
-- aliases rows (previous_id, user_id).
--   * junk ids ({{ cfg.excluded_ids | join(', ') }}) were read as NULL (plan);
--   * an anonymous id linked by events or identifies to more than {{ cfg.max_users_per_anonymous_id }} user id(s) (a shared
--     device, a kiosk) is a hub: it links nothing, and maps to the visitor of the user of its
--     latest link, by (timestamp, id);
--   * a visitor’s id is its user id seen first (smallest (timestamp, id) of a row carrying it as
--     user_id; ties by the id itself), else its anonymous id seen first;
--   * the components come from label propagation: every identifier takes the smallest label of
--     its neighbours, then that label’s own label, until no label changes.
{%- if not plan.full %}
-- This run decides again the components its changed events and new link rows touch, from every
-- row naming one of their identifiers; the other components cannot change.
{%- endif %}
{% set ts = d.quote('timestamp') %}
{%- set hubs_from = "('event', 'identifies')" %}
{#- Every row (event or link) naming an identifier of `nodes` (a table of one column `node`), as it
    is after this run: published events not replaced by it, its changed events, the link rows.
    `links_only`: only rows carrying both ids. -#}
{%- macro rows_naming(nodes, links_only=false) %}
    SELECT mapped.event_id AS id, mapped.anonymous_id, mapped.user_id, mapped.{{ ts }}, 'event' AS kind
    FROM {{ t.target('mapped_tracks') }} AS mapped
    WHERE mapped.anonymous_id IN (SELECT node FROM {{ nodes }}){{ ' AND mapped.user_id IS NOT NULL' if links_only }}
      AND mapped.event_id NOT IN (SELECT event_id FROM {{ t.stage('changes') }})
    UNION ALL
    SELECT mapped.event_id, mapped.anonymous_id, mapped.user_id, mapped.{{ ts }}, 'event'
    FROM {{ t.target('mapped_tracks') }} AS mapped
    WHERE mapped.user_id IN (SELECT node FROM {{ nodes }})
      AND ({% if not links_only %}mapped.anonymous_id IS NULL OR {% endif %}mapped.anonymous_id NOT IN (SELECT node FROM {{ nodes }}))
      AND mapped.event_id NOT IN (SELECT event_id FROM {{ t.stage('changes') }})
    UNION ALL
    SELECT changes.event_id, changes.anonymous_id, changes.user_id, changes.{{ ts }}, 'event'
    FROM {{ t.stage('changes') }} AS changes
    WHERE changes.present
      AND (changes.anonymous_id IN (SELECT node FROM {{ nodes }}) OR changes.user_id IN (SELECT node FROM {{ nodes }}))
{%- if links_only %}
      AND changes.anonymous_id IS NOT NULL AND changes.user_id IS NOT NULL
{%- endif %}
    UNION ALL
    SELECT links.id, links.anonymous_id, links.user_id, links.{{ ts }}, links.link_kind
    FROM {{ t.stage('links') }} AS links
    WHERE links.id IS NOT NULL AND links.{{ ts }} IS NOT NULL
      AND (links.anonymous_id IN (SELECT node FROM {{ nodes }}) OR links.user_id IN (SELECT node FROM {{ nodes }}))
{%- if links_only %}
      AND links.anonymous_id IS NOT NULL AND links.user_id IS NOT NULL
{%- endif %}
{%- endmacro %}
{%- if not plan.full %}
{{ d.drop_table(t.stage('graph_seeds')) }};

-- The identifiers of the run’s changed events (before and after) and of its new link rows.
CREATE TABLE {{ t.stage('graph_seeds') }} AS
SELECT alias AS node FROM {{ t.stage('touched') }}
{{ d.union }}
SELECT anonymous_id FROM {{ t.stage('links') }}
WHERE in_window AND id IS NOT NULL AND {{ ts }} IS NOT NULL AND anonymous_id IS NOT NULL
{{ d.union }}
SELECT user_id FROM {{ t.stage('links') }}
WHERE in_window AND id IS NOT NULL AND {{ ts }} IS NOT NULL AND user_id IS NOT NULL;
{{ d.analyze(t.stage('graph_seeds')) }}

{{ d.drop_table(t.stage('graph_nodes')) }};

-- The identifiers decided again: the seeds, those linked to a seed (a hub that stops being one
-- joins its users), and every identifier of the published visitors of either.
CREATE TABLE {{ t.stage('graph_nodes') }} AS
WITH seed_links AS ({{ rows_naming(t.stage('graph_seeds'), links_only=true) }}
),
near AS (
    SELECT node FROM {{ t.stage('graph_seeds') }}
    {{ d.union }}
    SELECT anonymous_id FROM seed_links
    {{ d.union }}
    SELECT user_id FROM seed_links
)
SELECT node FROM near
{{ d.union }}
SELECT published.alias
FROM {{ t.target('aliases_mapping') }} AS published
WHERE published.dbt_visitor_id IN (
    SELECT mapping.dbt_visitor_id
    FROM {{ t.target('aliases_mapping') }} AS mapping
    WHERE mapping.alias IN (SELECT node FROM near)
);
{{ d.analyze(t.stage('graph_nodes')) }}
{%- endif %}

{{ d.drop_table(t.stage('graph_rows')) }};

-- The rows that decide them: {% if plan.full %}every clean event and every link row{% else %}every row naming one of them{% endif %}.
CREATE TABLE {{ t.stage('graph_rows') }} AS
{%- if plan.full %}
SELECT id, anonymous_id, user_id, {{ ts }}, 'event' AS kind FROM {{ t.stage('events') }}
UNION ALL
SELECT id, anonymous_id, user_id, {{ ts }}, link_kind
FROM {{ t.stage('links') }}
WHERE id IS NOT NULL AND {{ ts }} IS NOT NULL AND (anonymous_id IS NOT NULL OR user_id IS NOT NULL)
{%- else %}{{ rows_naming(t.stage('graph_nodes')) }}
{%- endif %};

{{ d.drop_table(t.stage('graph_facts')) }};

-- One row per identifier: whether it is a user id, when it was seen first (as a user id, if it
-- is one), its latest link (what a hub maps by) and how many user ids it is linked to.
CREATE TABLE {{ t.stage('graph_facts') }} AS
WITH appearances AS (
    SELECT anonymous_id AS node, 0 AS as_user, user_id AS partner, {{ ts }}, id,
           CASE WHEN user_id IS NOT NULL AND kind IN {{ hubs_from }} THEN 1 ELSE 0 END AS is_link
    FROM {{ t.stage('graph_rows') }}
    WHERE anonymous_id IS NOT NULL
    UNION ALL
    SELECT user_id, 1, anonymous_id, {{ ts }}, id, 0
    FROM {{ t.stage('graph_rows') }}
    WHERE user_id IS NOT NULL
),
ranked AS (
    SELECT
        appearances.*,
        ROW_NUMBER() OVER (
            PARTITION BY node ORDER BY as_user DESC, {{ ts }}, {{ d.text_order('id') }}
        ) AS first_rank,
        ROW_NUMBER() OVER (
            PARTITION BY node, is_link
            ORDER BY {{ ts }} DESC, {{ d.text_order('id') }} DESC, {{ d.text_order('partner') }} DESC
        ) AS link_recency
    FROM appearances
{%- if not plan.full %}
    WHERE node IN (SELECT node FROM {{ t.stage('graph_nodes') }})
{%- endif %}
),
facts AS (
    SELECT
        node,
        MAX(as_user) AS is_user,
        COUNT(DISTINCT CASE WHEN is_link = 1 THEN partner END) AS linked_users,
        MAX(CASE WHEN first_rank = 1 THEN {{ ts }} END) AS first_seen_at,
        MAX(CASE WHEN first_rank = 1 THEN id END) AS first_seen_id,
        MAX(CASE WHEN is_link = 1 AND link_recency = 1 THEN partner END) AS identified_user_id,
        MAX(CASE WHEN is_link = 1 AND link_recency = 1 THEN {{ ts }} END) AS identified_at,
        MAX(CASE WHEN is_link = 1 AND link_recency = 1 THEN id END) AS identified_event_id
    FROM ranked
    GROUP BY node
)
SELECT
    facts.*,
    (facts.is_user = 0 AND facts.linked_users > {{ cfg.max_users_per_anonymous_id }}) AS is_hub
FROM facts;
{{ d.analyze(t.stage('graph_facts')) }}

{{ d.drop_table(t.stage('graph_edges')) }};

-- The links between identifiers decided here, both ways; a hub’s links are left out.
CREATE TABLE {{ t.stage('graph_edges') }} AS
SELECT DISTINCT pairs.a, pairs.b
FROM (
    SELECT anonymous_id AS a, user_id AS b FROM {{ t.stage('graph_rows') }}
    WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL AND anonymous_id <> user_id
    UNION ALL
    SELECT user_id, anonymous_id FROM {{ t.stage('graph_rows') }}
    WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL AND anonymous_id <> user_id
) AS pairs
JOIN {{ t.stage('graph_facts') }} AS one ON one.node = pairs.a AND NOT one.is_hub
JOIN {{ t.stage('graph_facts') }} AS other ON other.node = pairs.b AND NOT other.is_hub;
{{ d.analyze(t.stage('graph_edges')) }}

{{ d.drop_table(t.stage('graph_labels')) }};

CREATE TABLE {{ t.stage('graph_labels') }} AS
SELECT node, node AS label FROM {{ t.stage('graph_facts') }};
{{ d.analyze(t.stage('graph_labels')) }}
-- @repeat until it counts 0, at most {{ graph_iterations }} times
{{ d.drop_table(t.stage('graph_step')) }};

-- Each identifier’s smallest neighbouring label, then that label’s own label: kept where smaller.
CREATE TABLE {{ t.stage('graph_step') }} AS
WITH proposed AS (
    SELECT edges.a AS node, MIN(neighbour.label) AS label
    FROM {{ t.stage('graph_edges') }} AS edges
    JOIN {{ t.stage('graph_labels') }} AS neighbour ON neighbour.node = edges.b
    GROUP BY edges.a
),
jumped AS (
    SELECT proposed.node, CASE WHEN hop.label < proposed.label THEN hop.label ELSE proposed.label END AS label
    FROM proposed
    JOIN {{ t.stage('graph_labels') }} AS hop ON hop.node = proposed.label
)
SELECT jumped.node AS step_node, jumped.label AS step_label
FROM jumped
JOIN {{ t.stage('graph_labels') }} AS current_label ON current_label.node = jumped.node
WHERE jumped.label < current_label.label;

-- (the step’s columns are named unlike the labels’, so that no name needs the updated table’s)
UPDATE {{ t.stage('graph_labels') }} SET label = step_label
FROM {{ t.stage('graph_step') }}
WHERE node = step_node;

SELECT COUNT(*) FROM {{ t.stage('graph_step') }};
-- @end repeat
{{ d.drop_table(t.stage('aliases_mapping')) }};

-- Every identifier with its visitor: its component’s user id seen first (else its anonymous id
-- seen first); a hub, the visitor of its latest link’s user.
CREATE TABLE {{ t.stage('aliases_mapping') }} AS
WITH members AS (
    SELECT labels.label, facts.node, facts.is_user, facts.first_seen_at, facts.first_seen_id
    FROM {{ t.stage('graph_facts') }} AS facts
    JOIN {{ t.stage('graph_labels') }} AS labels ON labels.node = facts.node
    WHERE NOT facts.is_hub
),
ranked AS (
    SELECT
        members.*,
        ROW_NUMBER() OVER (
            PARTITION BY label
            ORDER BY is_user DESC, first_seen_at, {{ d.text_order('first_seen_id') }}, {{ d.text_order('node') }}
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
            latest.visitor{% if not plan.full %}, published.dbt_visitor_id{% endif %}, facts.identified_user_id
        )
        ELSE visitors.visitor
    END AS dbt_visitor_id,
    facts.is_user = 1 AS is_user_id,
    facts.identified_user_id,
    facts.identified_at,
    facts.identified_event_id
FROM {{ t.stage('graph_facts') }} AS facts
LEFT JOIN visitors ON visitors.node = facts.node
LEFT JOIN visitors AS latest ON latest.node = facts.identified_user_id
{%- if not plan.full %}
LEFT JOIN {{ t.target('aliases_mapping') }} AS published ON published.alias = facts.identified_user_id
{%- endif %};
{{ d.analyze(t.stage('aliases_mapping')) }}

-- What the graph did, for the run log.
UPDATE {{ t.stage('run') }} SET
    identity_hub_ids = (SELECT COUNT(*) FROM {{ t.stage('graph_facts') }} WHERE is_hub)
{%- if not plan.full %},
    identity_remapped = (
        SELECT COUNT(*)
        FROM {{ t.stage('aliases_mapping') }} AS staged
        JOIN {{ t.target('aliases_mapping') }} AS published ON published.alias = staged.alias
        WHERE published.dbt_visitor_id <> staged.dbt_visitor_id
    ),
    identity_merged = (
        SELECT COALESCE(SUM(joined - 1), 0)
        FROM (
            SELECT staged.dbt_visitor_id, COUNT(DISTINCT published.dbt_visitor_id) AS joined
            FROM {{ t.stage('aliases_mapping') }} AS staged
            JOIN {{ t.target('aliases_mapping') }} AS published ON published.alias = staged.alias
            GROUP BY staged.dbt_visitor_id
        ) AS visitors
        WHERE joined > 1
    )
{%- endif %}
WHERE TRUE;
{%- if not plan.full %}

-- Publish replaces the mapping of every identifier decided here.
INSERT INTO {{ t.stage('touched') }} (alias)
SELECT alias FROM {{ t.stage('aliases_mapping') }}
WHERE alias NOT IN (SELECT alias FROM {{ t.stage('touched') }});
{%- endif %}
