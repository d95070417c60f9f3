-- Scope: which visitors this run changes, and from which of their sessions on.
-- A visitor's output before its first changed event cannot change: the run reopens the visitor's
-- last published session that starts strictly before that event (its start event, unchanged,
-- still starts a session) and recomputes from there; earlier sessions keep their numbers.

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_moves";

-- Every event whose content or visitor changes, with its old and new visitor and position.
CREATE TABLE "sessions"."__rs_a330a0bc481b_moves" AS
SELECT
    changes.event_id,
    changes.anonymous_id,
    changes.user_id,
    changes.event,
    changes."timestamp",
    changes.received_at,
    CASE WHEN changes.present THEN COALESCE(changes.user_id, aliases.dbt_visitor_id) END AS new_visitor_id,
    changes.old_visitor_id,
    changes.old_timestamp
FROM "sessions"."__rs_a330a0bc481b_changes" AS changes
LEFT JOIN "sessions"."__rs_a330a0bc481b_aliases_mapping" AS aliases ON aliases.alias = changes.anonymous_id
UNION ALL
SELECT
    mapped.event_id,
    mapped.anonymous_id,
    mapped.user_id,
    mapped.event,
    mapped."timestamp",
    mapped.received_at,
    remapped.dbt_visitor_id,
    mapped.dbt_visitor_id,
    mapped."timestamp"
FROM "sessions"."dbt_mapped_tracks" AS mapped
JOIN (
    SELECT staged.alias, staged.dbt_visitor_id
    FROM "sessions"."__rs_a330a0bc481b_aliases_mapping" AS staged
    JOIN "sessions"."dbt_aliases_mapping" AS published ON published.alias = staged.alias
    WHERE published.dbt_visitor_id <> staged.dbt_visitor_id
) AS remapped ON remapped.alias = mapped.anonymous_id
WHERE mapped.user_id IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM "sessions"."__rs_a330a0bc481b_changes" AS changes WHERE changes.event_id = mapped.event_id
  );

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_affected";

CREATE TABLE "sessions"."__rs_a330a0bc481b_affected" AS
WITH change_points AS (
    SELECT old_visitor_id AS dbt_visitor_id, old_timestamp AS changed_at
    FROM "sessions"."__rs_a330a0bc481b_moves"
    WHERE old_visitor_id IS NOT NULL
    UNION ALL
    SELECT new_visitor_id, "timestamp"
    FROM "sessions"."__rs_a330a0bc481b_moves"
    WHERE new_visitor_id IS NOT NULL
),
first_changes AS (
    -- A NULL change point means "the whole visitor".
    SELECT
        dbt_visitor_id,
        MIN(changed_at) AS first_change_at,
        COUNT(*) - COUNT(changed_at) AS whole_visitor
    FROM change_points
    GROUP BY dbt_visitor_id
),
reopened AS (
    SELECT
        first_changes.dbt_visitor_id,
        sessions.session_start_at,
        sessions.session_sequence_number,
        ROW_NUMBER() OVER (
            PARTITION BY first_changes.dbt_visitor_id ORDER BY sessions.session_start_at DESC
        ) AS recency
    FROM first_changes
    JOIN "sessions"."dbt_session_tracks" AS sessions
        ON sessions.dbt_visitor_id = first_changes.dbt_visitor_id
       AND sessions.session_start_at < first_changes.first_change_at
    WHERE first_changes.whole_visitor = 0
)
SELECT
    first_changes.dbt_visitor_id,
    reopened.session_start_at AS reopen_at,
    COALESCE(reopened.session_sequence_number - 1, 0) AS sessions_before
FROM first_changes
LEFT JOIN reopened
    ON reopened.dbt_visitor_id = first_changes.dbt_visitor_id AND reopened.recency = 1;

-- The published events of the reopened parts: publish deletes them (by event_id) and the steps
-- recompute the events of those parts as they are after this run. A reopened part's first event
-- is unchanged and so is the event before it: its published idle time stays.
DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_reopened";

CREATE TABLE "sessions"."__rs_a330a0bc481b_reopened" AS
SELECT
    mapped.event_id,
    mapped.anonymous_id,
    mapped.user_id,
    mapped.dbt_visitor_id,
    mapped."timestamp",
    mapped.received_at,
    mapped.event,
    CASE WHEN mapped."timestamp" = affected.reopen_at THEN mapped.idle_time_minutes END AS published_idle_time_minutes
FROM "sessions"."dbt_mapped_tracks" AS mapped
JOIN "sessions"."__rs_a330a0bc481b_affected" AS affected
    ON affected.dbt_visitor_id = mapped.dbt_visitor_id
   AND (affected.reopen_at IS NULL OR mapped."timestamp" >= affected.reopen_at);

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_region";

CREATE TABLE "sessions"."__rs_a330a0bc481b_region" AS
SELECT reopened.*
FROM "sessions"."__rs_a330a0bc481b_reopened" AS reopened
WHERE NOT EXISTS (
    SELECT 1 FROM "sessions"."__rs_a330a0bc481b_moves" AS moves WHERE moves.event_id = reopened.event_id
)
UNION ALL
SELECT
    event_id, anonymous_id, user_id, new_visitor_id, "timestamp", received_at, event,
    CAST(NULL AS DOUBLE PRECISION)
FROM "sessions"."__rs_a330a0bc481b_moves"
WHERE new_visitor_id IS NOT NULL;
