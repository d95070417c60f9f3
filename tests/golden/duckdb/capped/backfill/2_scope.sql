SET force_compression = 'uncompressed';  -- staged tables dropped after the run: written as they are
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
-- A backfill recomputes every visitor with an event in [2026-02-01 00:00:00, 2026-02-02 00:00:00) whole.


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
    changes.event_table, changes."context_campaign_source", changes."context_page_referrer", changes."revenue",
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
    mapped.event_table, mapped."context_campaign_source", mapped."context_page_referrer", mapped."revenue",
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
    UNION ALL
    SELECT dbt_visitor_id, CAST(NULL AS TIMESTAMP)
    FROM "sessions"."dbt_mapped_tracks"
    WHERE "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP) AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
    UNION ALL
    SELECT new_visitor_id, CAST(NULL AS TIMESTAMP)
    FROM "sessions"."__rs_a330a0bc481b_moves"
    WHERE new_visitor_id IS NOT NULL
      AND "timestamp" >= CAST('2026-02-01 00:00:00.000000' AS TIMESTAMP) AND "timestamp" < CAST('2026-02-02 00:00:00.000000' AS TIMESTAMP)
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
        MAX(mapped."timestamp") AS before_change_at,
        MAX(
            CASE
                WHEN mapped.starts_session AND (mapped.idle_time_minutes IS NULL OR mapped.idle_time_minutes > 0)
                THEN mapped."timestamp"
            END
        ) AS session_start_at
    FROM first_changes
    JOIN "sessions"."dbt_mapped_tracks" AS mapped
        ON mapped.dbt_visitor_id = first_changes.dbt_visitor_id
       AND mapped."timestamp" < first_changes.first_change_at
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
    JOIN "sessions"."dbt_session_tracks" AS sessions
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
        MAX(mapped."timestamp") AS before_session_at
    FROM last_sessions
    LEFT JOIN "sessions"."dbt_mapped_tracks" AS mapped
        ON mapped.dbt_visitor_id = last_sessions.dbt_visitor_id
       AND mapped."timestamp" < last_sessions.session_start_at
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
        (epoch_us(before_sessions.first_change_at) - epoch_us(before_sessions.before_change_at)
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
DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_region";

CREATE TABLE "sessions"."__rs_a330a0bc481b_region" AS
SELECT
    mapped.event_id,
    mapped.anonymous_id,
    mapped.user_id,
    mapped.dbt_visitor_id,
    mapped."timestamp",
    mapped.received_at,
    mapped.event,
    mapped.event_table, mapped."context_campaign_source", mapped."context_page_referrer", mapped."revenue"
FROM "sessions"."dbt_mapped_tracks" AS mapped
JOIN "sessions"."__rs_a330a0bc481b_affected" AS affected
    ON affected.dbt_visitor_id = mapped.dbt_visitor_id
      AND (affected.reopen_at IS NULL OR mapped."timestamp" >= affected.reopen_at)
WHERE NOT EXISTS (
    SELECT 1 FROM "sessions"."__rs_a330a0bc481b_moves" AS moves WHERE moves.event_id = mapped.event_id
)
UNION ALL
SELECT event_id, anonymous_id, user_id, new_visitor_id, "timestamp", received_at, event, event_table, "context_campaign_source", "context_page_referrer", "revenue"
FROM "sessions"."__rs_a330a0bc481b_moves"
WHERE new_visitor_id IS NOT NULL;

