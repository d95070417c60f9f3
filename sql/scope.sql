-- Scope: which visitors this run changes, and from which point on.
{%- if plan.full %}
-- Full refresh: every visitor is rebuilt from the first event; there is nothing to scope.
{%- else %}
-- A visitor’s output before its first changed event cannot change, so the run recomputes each
-- affected visitor from a point at or before that event (reopen_at) and keeps the rest:
--   * when the visitor’s last published event before the change lies more than the timeout
--     earlier (a returning visitor, the usual case), the change opens a new session: the run
--     recomputes from the change itself, and carries the visitor’s last published session over
--     to give it its new next_session_start_at;
--   * otherwise the change falls into a published session: the run reopens that session (its
--     start event, unchanged, still starts a session) and recomputes from its start.
-- Either way the first recomputed event follows the published event at previous_at, unchanged.
{%- if plan.backfill %}
-- A backfill recomputes every visitor with an event in [{{ plan.window_start }}, {{ plan.window_end }}) whole.
{%- endif %}
{% set ts = d.quote('timestamp') %}
{% from 'macros.sql' import in_recomputed_part, within, declare_span, earliest_rewrite, carried, visitor_key, visitor_of, follows_remapped with context -%}
{%- set remapped %}
    SELECT staged.alias, staged.dbt_visitor_id
    FROM {{ t.stage('aliases_mapping') }} AS staged
    JOIN {{ t.target('aliases_mapping') }} AS published ON published.alias = staged.alias
    WHERE published.dbt_visitor_id <> staged.dbt_visitor_id
{%- endset %}
{%- if d.script_bounds %}
{{ declare_span('remapped_span') }}
DECLARE events_from {{ d.timestamp_type }};

-- The time span of the anonymous events of identifiers that change visitor, read only when some
-- do: the read of their rows below prunes by it.
IF EXISTS ({{ remapped }}
) THEN
    SET remapped_span = (
        SELECT AS STRUCT MIN(mapped.{{ ts }}) AS lo, MAX(mapped.{{ ts }}) AS hi
        FROM {{ t.target('mapped_tracks') }} AS mapped
        WHERE {{ follows_remapped('mapped', remapped) }}
    );
END IF;
{%- endif %}
{{ d.drop_table(t.stage('moves')) }};

-- Every event whose content or visitor changes, with its old and new visitor and position.
CREATE TABLE {{ t.stage('moves') }} AS
SELECT
    changes.event_id,
    changes.anonymous_id,
    changes.user_id,
    changes.event,
    changes.{{ ts }},
    changes.received_at,
    changes.event_table{{ carried('changes') }},
    CASE WHEN changes.present THEN {{ visitor_of('changes') }} END AS new_visitor_id,
    changes.old_visitor_id,
    changes.old_timestamp
FROM {{ t.stage('changes') }} AS changes
LEFT JOIN {{ t.stage('aliases_mapping') }} AS aliases ON aliases.alias = {{ visitor_key('changes') }}
UNION ALL
SELECT
    mapped.event_id,
    mapped.anonymous_id,
    mapped.user_id,
    mapped.event,
    mapped.{{ ts }},
    mapped.received_at,
    mapped.event_table{{ carried('mapped') }},
    remapped.dbt_visitor_id,
    mapped.dbt_visitor_id,
    mapped.{{ ts }}
FROM {{ t.target('mapped_tracks') }} AS mapped
JOIN ({{ remapped }}
) AS remapped ON remapped.alias = {{ visitor_key('mapped') }}
WHERE {{ 'TRUE' if cfg.identity == 'graph' else 'mapped.user_id IS NULL' }}{{ within('mapped', ts, 'remapped_span') }}
  AND NOT EXISTS (
      SELECT 1 FROM {{ t.stage('changes') }} AS changes WHERE changes.event_id = mapped.event_id
  );
{{ d.analyze(t.stage('moves')) }}

{{ d.drop_table(t.stage('affected')) }};

CREATE TABLE {{ t.stage('affected') }} AS
WITH change_points AS (
    SELECT old_visitor_id AS dbt_visitor_id, old_timestamp AS changed_at
    FROM {{ t.stage('moves') }}
    WHERE old_visitor_id IS NOT NULL
    UNION ALL
    SELECT new_visitor_id, {{ ts }}
    FROM {{ t.stage('moves') }}
    WHERE new_visitor_id IS NOT NULL
{%- if plan.backfill %}
    UNION ALL
    SELECT dbt_visitor_id, CAST(NULL AS {{ d.timestamp_type }})
    FROM {{ t.target('mapped_tracks') }}
    WHERE {{ ts }} >= {{ d.timestamp_literal(plan.window_start) }} AND {{ ts }} < {{ d.timestamp_literal(plan.window_end) }}
    UNION ALL
    SELECT new_visitor_id, CAST(NULL AS {{ d.timestamp_type }})
    FROM {{ t.stage('moves') }}
    WHERE new_visitor_id IS NOT NULL
      AND {{ ts }} >= {{ d.timestamp_literal(plan.window_start) }} AND {{ ts }} < {{ d.timestamp_literal(plan.window_end) }}
{%- endif %}
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
{%- if cfg.max_session_events %}
earlier_events AS (
    -- Sessions capped at {{ cfg.max_session_events }} events can start among events that share a
    -- timestamp: the run reopens a session only at a start no earlier event shares its time with (its
    -- idle time is above zero, or it has none), so that the events from that start on are exactly
    -- that session’s and the later ones’. Per visitor: its last published event before the first
    -- change, and the last such session start before it.
    SELECT
        first_changes.dbt_visitor_id,
        first_changes.first_change_at,
        MAX(mapped.{{ ts }}) AS before_change_at,
        MAX(
            CASE
                WHEN mapped.starts_session AND (mapped.idle_time_minutes IS NULL OR mapped.idle_time_minutes > 0)
                THEN mapped.{{ ts }}
            END
        ) AS session_start_at
    FROM first_changes
    JOIN {{ t.target('mapped_tracks') }} AS mapped
        ON mapped.dbt_visitor_id = first_changes.dbt_visitor_id
       AND mapped.{{ ts }} < first_changes.first_change_at
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
    JOIN {{ t.target('session_tracks') }} AS sessions
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
        MAX(mapped.{{ ts }}) AS before_session_at
    FROM last_sessions
    LEFT JOIN {{ t.target('mapped_tracks') }} AS mapped
        ON mapped.dbt_visitor_id = last_sessions.dbt_visitor_id
       AND mapped.{{ ts }} < last_sessions.session_start_at
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
        ({{ d.epoch_us('before_sessions.first_change_at') }} - {{ d.epoch_us('before_sessions.before_change_at') }}
            > {{ cfg.timeout_microseconds }}
            AND before_sessions.session_sequence_number = before_sessions.last_sequence_number) AS opens_session
    FROM before_sessions
)
{%- else %}
last_sessions AS (
    -- The visitor’s last published session starting before the first change.
    SELECT
        first_changes.dbt_visitor_id,
        first_changes.first_change_at,
        sessions.session_start_at,
        sessions.session_sequence_number,
        ROW_NUMBER() OVER (
            PARTITION BY first_changes.dbt_visitor_id ORDER BY sessions.session_start_at DESC
        ) AS recency
    FROM first_changes
    JOIN {{ t.target('session_tracks') }} AS sessions
        ON sessions.dbt_visitor_id = first_changes.dbt_visitor_id
       AND sessions.session_start_at < first_changes.first_change_at
    WHERE first_changes.whole_visitor = 0
),
earlier_events AS (
    -- The last published events before the first change and before that session’s start.
    SELECT
        last_sessions.dbt_visitor_id,
        last_sessions.first_change_at,
        last_sessions.session_start_at,
        last_sessions.session_sequence_number,
        MAX(mapped.{{ ts }}) AS before_change_at,
        MAX(CASE WHEN mapped.{{ ts }} < last_sessions.session_start_at THEN mapped.{{ ts }} END) AS before_session_at
    FROM last_sessions
    JOIN {{ t.target('mapped_tracks') }} AS mapped
        ON mapped.dbt_visitor_id = last_sessions.dbt_visitor_id
       AND mapped.{{ ts }} < last_sessions.first_change_at
    WHERE last_sessions.recency = 1
    GROUP BY
        last_sessions.dbt_visitor_id,
        last_sessions.first_change_at,
        last_sessions.session_start_at,
        last_sessions.session_sequence_number
),
reopen_points AS (
    SELECT
        earlier_events.*,
        ({{ d.epoch_us('earlier_events.first_change_at') }} - {{ d.epoch_us('earlier_events.before_change_at') }}
            > {{ cfg.timeout_microseconds }}) AS opens_session
    FROM earlier_events
)
{%- endif %}
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
{{ d.analyze(t.stage('affected')) }}

-- The events to recompute: the published events from each reopen point on (publish deletes
-- them by the same predicate), as they are after this run, and the changed events at their new
-- place.
{{ d.drop_table(t.stage('region')) }};
{%- if d.script_bounds %}

SET events_from = {{ earliest_rewrite('reopen_at') }};
{%- endif %}

CREATE TABLE {{ t.stage('region') }} AS
SELECT
    mapped.event_id,
    mapped.anonymous_id,
    mapped.user_id,
    mapped.dbt_visitor_id,
    mapped.{{ ts }},
    mapped.received_at,
    mapped.event,
    mapped.event_table{{ carried('mapped') }}
FROM {{ t.target('mapped_tracks') }} AS mapped
JOIN {{ t.stage('affected') }} AS affected
    ON {{ in_recomputed_part('mapped', ts) }}
WHERE {% if d.script_bounds %}mapped.{{ ts }} >= events_from AND {% endif %}NOT EXISTS (
    SELECT 1 FROM {{ t.stage('moves') }} AS moves WHERE moves.event_id = mapped.event_id
)
UNION ALL
SELECT event_id, anonymous_id, user_id, new_visitor_id, {{ ts }}, received_at, event, event_table{{ carried() }}
FROM {{ t.stage('moves') }}
WHERE new_visitor_id IS NOT NULL;
{{ d.analyze(t.stage('region')) }}
{%- endif %}
