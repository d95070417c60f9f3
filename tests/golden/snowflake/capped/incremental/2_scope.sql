-- Scope: which visitors this run changes, and from which point on.
-- A visitor’s output before its first changed event cannot change, so the run recomputes each
-- affected visitor from a point at or before that event (reopen_at) and keeps the rest:
--   * when the visitor’s last published event before the change lies more than the timeout
--     earlier (a returning visitor, the usual case), the change opens a new session: the run
--     recomputes from the change itself, and carries the visitor’s last published session over
--     to give it its new next_session_start_at;
--   * otherwise the change falls into a published session: the run reopens that session (its
--     start event, unchanged, still starts a session) and recomputes from its start.
-- Either way the first recomputed event follows the published event at previous_at, unchanged.


DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_MOVES";

-- Every event whose content or visitor changes, with its old and new visitor and position.
CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_MOVES" AS
SELECT
    changes.event_id,
    changes.anonymous_id,
    changes.user_id,
    changes.event,
    changes."TIMESTAMP",
    changes.received_at,
    changes.event_table, changes."CONTEXT_CAMPAIGN_SOURCE", changes."CONTEXT_PAGE_REFERRER", changes."REVENUE",
    CASE WHEN changes.present THEN COALESCE(changes.user_id, aliases.dbt_visitor_id) END AS new_visitor_id,
    changes.old_visitor_id,
    changes.old_timestamp
FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES" AS changes
LEFT JOIN "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING" AS aliases ON aliases.alias = changes.anonymous_id
UNION ALL
SELECT
    mapped.event_id,
    mapped.anonymous_id,
    mapped.user_id,
    mapped.event,
    mapped."TIMESTAMP",
    mapped.received_at,
    mapped.event_table, mapped."CONTEXT_CAMPAIGN_SOURCE", mapped."CONTEXT_PAGE_REFERRER", mapped."REVENUE",
    remapped.dbt_visitor_id,
    mapped.dbt_visitor_id,
    mapped."TIMESTAMP"
FROM "SESSIONS"."DBT_MAPPED_TRACKS" AS mapped
JOIN (
    SELECT staged.alias, staged.dbt_visitor_id
    FROM "SESSIONS"."__RS_A330A0BC481B_ALIASES_MAPPING" AS staged
    JOIN "SESSIONS"."DBT_ALIASES_MAPPING" AS published ON published.alias = staged.alias
    WHERE published.dbt_visitor_id <> staged.dbt_visitor_id
) AS remapped ON remapped.alias = mapped.anonymous_id
WHERE mapped.user_id IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM "SESSIONS"."__RS_A330A0BC481B_CHANGES" AS changes WHERE changes.event_id = mapped.event_id
  );


DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_AFFECTED";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS
WITH change_points AS (
    SELECT old_visitor_id AS dbt_visitor_id, old_timestamp AS changed_at
    FROM "SESSIONS"."__RS_A330A0BC481B_MOVES"
    WHERE old_visitor_id IS NOT NULL
    UNION ALL
    SELECT new_visitor_id, "TIMESTAMP"
    FROM "SESSIONS"."__RS_A330A0BC481B_MOVES"
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
earlier_events AS (
    -- Sessions capped at 2500 events can start among events that share a
    -- timestamp: the run reopens a session only at a start no earlier event shares its time with (its
    -- idle time is above zero, or it has none), so that the events from that start on are exactly
    -- that session’s and the later ones’. Per visitor: its last published event before the first
    -- change, and the last such session start before it.
    SELECT
        first_changes.dbt_visitor_id,
        first_changes.first_change_at,
        MAX(mapped."TIMESTAMP") AS before_change_at,
        MAX(
            CASE
                WHEN mapped.starts_session AND (mapped.idle_time_minutes IS NULL OR mapped.idle_time_minutes > 0)
                THEN mapped."TIMESTAMP"
            END
        ) AS session_start_at
    FROM first_changes
    JOIN "SESSIONS"."DBT_MAPPED_TRACKS" AS mapped
        ON mapped.dbt_visitor_id = first_changes.dbt_visitor_id
       AND mapped."TIMESTAMP" < first_changes.first_change_at
    WHERE first_changes.whole_visitor = 0
    GROUP BY first_changes.dbt_visitor_id, first_changes.first_change_at
),
last_sessions AS (
    -- The session starting there (the first of those sharing its start), and the visitor’s last
    -- published session before the change.
    SELECT
        earlier_events.dbt_visitor_id,
        earlier_events.first_change_at,
        earlier_events.before_change_at,
        earlier_events.session_start_at,
        MIN(sessions.session_sequence_number) AS session_sequence_number,
        MAX(sessions.session_sequence_number) AS last_sequence_number
    FROM earlier_events
    JOIN "SESSIONS"."DBT_SESSION_TRACKS" AS sessions
        ON sessions.dbt_visitor_id = earlier_events.dbt_visitor_id
       AND sessions.session_start_at >= earlier_events.session_start_at
       AND sessions.session_start_at < earlier_events.first_change_at
    GROUP BY
        earlier_events.dbt_visitor_id,
        earlier_events.first_change_at,
        earlier_events.before_change_at,
        earlier_events.session_start_at
),
before_sessions AS (
    -- The last published event before that session’s start.
    SELECT
        last_sessions.dbt_visitor_id,
        last_sessions.first_change_at,
        last_sessions.before_change_at,
        last_sessions.session_start_at,
        last_sessions.session_sequence_number,
        last_sessions.last_sequence_number,
        MAX(mapped."TIMESTAMP") AS before_session_at
    FROM last_sessions
    LEFT JOIN "SESSIONS"."DBT_MAPPED_TRACKS" AS mapped
        ON mapped.dbt_visitor_id = last_sessions.dbt_visitor_id
       AND mapped."TIMESTAMP" < last_sessions.session_start_at
    GROUP BY
        last_sessions.dbt_visitor_id,
        last_sessions.first_change_at,
        last_sessions.before_change_at,
        last_sessions.session_start_at,
        last_sessions.session_sequence_number,
        last_sessions.last_sequence_number
),
reopen_points AS (
    -- A change more than the timeout after the last published event opens a new session when that
    -- session is the visitor’s last before the change; otherwise the run reopens it.
    SELECT
        before_sessions.*,
        (DATE_PART(EPOCH_MICROSECOND, before_sessions.first_change_at) - DATE_PART(EPOCH_MICROSECOND, before_sessions.before_change_at)
            > 1800000000
            AND before_sessions.session_sequence_number = before_sessions.last_sequence_number) AS opens_session
    FROM before_sessions
)
-- A visitor without a published session before its first change has no published event before
-- it either: it is recomputed from that change, all of it (a backfill’s whole visitors: NULLs).
SELECT
    first_changes.dbt_visitor_id,
    CASE
        WHEN first_changes.whole_visitor > 0 THEN NULL
        WHEN points.dbt_visitor_id IS NULL OR points.opens_session THEN first_changes.first_change_at
        ELSE points.session_start_at
    END AS reopen_at,
    CASE
        WHEN first_changes.whole_visitor > 0 THEN NULL
        ELSE COALESCE(points.session_start_at, first_changes.first_change_at)
    END AS sessions_from,
    CASE
        WHEN points.opens_session THEN points.session_sequence_number
        ELSE COALESCE(points.session_sequence_number - 1, 0)
    END AS sessions_before,
    CASE WHEN points.opens_session THEN points.before_change_at ELSE points.before_session_at END AS previous_at
FROM first_changes
LEFT JOIN reopen_points AS points ON points.dbt_visitor_id = first_changes.dbt_visitor_id;


-- The events to recompute: the published events from each reopen point on (publish deletes
-- them by the same predicate), as they are after this run, and the changed events at their new
-- place.
DROP TABLE IF EXISTS "SESSIONS"."__RS_A330A0BC481B_REGION";

CREATE TABLE "SESSIONS"."__RS_A330A0BC481B_REGION" AS
SELECT
    mapped.event_id,
    mapped.anonymous_id,
    mapped.user_id,
    mapped.dbt_visitor_id,
    mapped."TIMESTAMP",
    mapped.received_at,
    mapped.event,
    mapped.event_table, mapped."CONTEXT_CAMPAIGN_SOURCE", mapped."CONTEXT_PAGE_REFERRER", mapped."REVENUE"
FROM "SESSIONS"."DBT_MAPPED_TRACKS" AS mapped
JOIN "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected
    ON affected.dbt_visitor_id = mapped.dbt_visitor_id
      AND (affected.reopen_at IS NULL OR mapped."TIMESTAMP" >= affected.reopen_at)
WHERE NOT EXISTS (
    SELECT 1 FROM "SESSIONS"."__RS_A330A0BC481B_MOVES" AS moves WHERE moves.event_id = mapped.event_id
)
UNION ALL
SELECT event_id, anonymous_id, user_id, new_visitor_id, "TIMESTAMP", received_at, event, event_table, "CONTEXT_CAMPAIGN_SOURCE", "CONTEXT_PAGE_REFERRER", "REVENUE"
FROM "SESSIONS"."__RS_A330A0BC481B_MOVES"
WHERE new_visitor_id IS NOT NULL;

