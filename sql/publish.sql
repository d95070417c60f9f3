-- Publish, in one transaction of DML only: claim the run state the plan saw (a concurrent or
-- stale run finds it moved and is refused), write the tables, advance the watermarks, log the
-- run. Readers see the previous model or the new one, never a mix; a failure anywhere leaves the
-- previous one.
{#- The script variable of the earliest time from each `since` column of the affected stage #}
{% set rewrite_bounds = {'reopen_at': 'events_from', 'sessions_from': 'sessions_from'} %}
{% from 'macros.sql' import in_recomputed_part, earliest_rewrite, column with context -%}
{%- set watermark_after -%}
{%- if plan.incremental -%}
COALESCE(GREATEST(run.max_watermark, {{ d.timestamp_literal(plan.watermark_before) }}), run.max_watermark, {{ d.timestamp_literal(plan.watermark_before) }})
{%- elif plan.backfill -%}
{{ d.timestamp_literal(plan.watermark_before) }}
{%- else -%}
run.max_watermark
{%- endif -%}
{%- endset %}
{#- Each event or link table's watermark after the run, from its column of the stage `run` #}
{%- macro table_watermark(et, column) -%}
{%- set before = d.timestamp_literal(plan.watermark_of(et.table)) -%}
{%- if plan.incremental -%}
COALESCE(GREATEST(run.{{ column }}, {{ before }}), run.{{ column }}, {{ before }})
{%- elif plan.backfill -%}
{{ before }}
{%- else -%}
run.{{ column }}
{%- endif -%}
{%- endmacro %}
{%- set target = 'target' if d.delete_alias else none %}
{% include 'targets.sql' %}

{%- if d.script_transactions and not plan.full %}
-- The earliest time this run rewrites, as script variables: constants to every statement after
-- them, so the deletes below prune the published tables’ day partitions.
{%- for since, variable in rewrite_bounds.items() %}
DECLARE {{ variable }} {{ d.timestamp_type }} DEFAULT {{ earliest_rewrite(since) }};
{%- endfor %}
{%- endif %}
{{ d.begin() }};
{%- set storage = d.staging_storage(kept=True) %}
{%- if storage %}
{{ storage }}
{%- endif %}
-- The claim: exactly one state row at the planned version, or the run is refused.
UPDATE {{ t.state }} SET
    watermark = (SELECT {{ watermark_after }} FROM {{ t.stage('run') }} AS run),
    version = version + 1,
    last_run_id = {{ d.literal(plan.run_id) }},
    last_mode = {{ d.literal(plan.mode) }},
    last_window_start = {{ d.timestamp_literal(plan.window_start) }},
    last_window_end = {{ d.timestamp_literal(plan.window_end) }},
    updated_at = {{ d.current_timestamp() }},
    settings = {{ d.literal(settings_json) }}
WHERE source = {{ d.literal(cfg.name) }} AND version = {{ plan.state_version }};
{%- if d.script_transactions %}

ASSERT (@@row_count) = 1 AS 'publish refused: the state of the source moved since the plan; another run published first';
{%- endif %}

-- One watermark per event table.
DELETE FROM {{ t.watermarks }} WHERE source = {{ d.literal(cfg.name) }};

INSERT INTO {{ t.watermarks }} (source, event_table, watermark)
{%- for et in cfg.event_streams %}
SELECT {{ d.literal(cfg.name) }}, {{ d.literal(et.table) }}, {{ table_watermark(et, 'max_watermark_' ~ loop.index) }}
FROM {{ t.stage('run') }} AS run
{%- if not loop.last or cfg.link_streams %}
UNION ALL
{%- endif %}
{%- endfor %}
{%- for kind, link in cfg.link_streams %}
SELECT {{ d.literal(cfg.name) }}, {{ d.literal(link.table) }}, {{ table_watermark(link, 'link_watermark_' ~ loop.index) }}
FROM {{ t.stage('run') }} AS run
{%- if not loop.last %}
UNION ALL
{%- endif %}
{%- endfor %};
{%- if not plan.backfill %}

-- The rows this run read, by class: the next incremental run counts only copies beyond these.
DELETE FROM {{ t.counted }} WHERE source = {{ d.literal(cfg.name) }};

INSERT INTO {{ t.counted }} ({% for name, kind in counted_columns %}{{ name }}{{ ', ' if not loop.last }}{% endfor %})
SELECT {{ d.literal(cfg.name) }}, event_table, watermark_value, id, drop_reason, row_count
FROM {{ t.stage('reads') }};
{%- endif %}
{%- if plan.full and not d.publish_by_rename %}
-- A full refresh replaces every row of the published tables.
{%- for step in steps %}

{{ d.delete_all(t.target(step)) }};

INSERT INTO {{ t.target(step) }} ({% for c in columns[step] %}{{ d.quote(c) }}{{ ', ' if not loop.last }}{% endfor %})
SELECT {% for c in columns[step] %}{{ d.quote(c) }}{{ ', ' if not loop.last }}{% endfor %}
FROM {{ t.stage(step) }};
{%- endfor %}
{%- endif %}
{%- if not plan.full %}
{%- for table in tables if table.found_by == 'alias' %}
DELETE FROM {{ t.target(table.step) }}
WHERE alias IN (SELECT alias FROM {{ t.stage('touched') }});

INSERT INTO {{ t.target(table.step) }} ({% for c in columns[table.step] %}{{ d.quote(c) }}{{ ', ' if not loop.last }}{% endfor %})
SELECT {% for c in columns[table.step] %}{{ d.quote(c) }}{{ ', ' if not loop.last }}{% endfor %}
FROM {{ t.stage(table.step) }};
{%- endfor %}
-- The recomputed parts of the affected visitors: their events from the reopen point on, and their
-- sessions from the last one starting before it (each table carries the visitor and timestamp);
-- the one-row-per-visitor tables, every row of them.
{%- for table in tables if table.found_by == 'visitor' %}
{%- set row, at, since = target or t.target(table.step), column(table.time_column), table.since %}
DELETE FROM {{ t.target(table.step) }}{{ ' AS ' ~ target if target }}
{%- if d.delete_using %}
USING {{ t.stage('affected') }} AS affected
WHERE {{ in_recomputed_part(row, at, since) }};
{%- else %}
WHERE
{%- if d.script_transactions %} {{ row }}.{{ at }} >= {{ rewrite_bounds[since] }} AND{% endif %} EXISTS (
    SELECT 1 FROM {{ t.stage('affected') }} AS affected
    WHERE {{ in_recomputed_part(row, at, since) }}
);
{%- endif %}
{% endfor %}
{%- for table in tables if table.found_by == 'whole_visitor' %}
DELETE FROM {{ t.target(table.step) }}
WHERE dbt_visitor_id IN (SELECT dbt_visitor_id FROM {{ t.stage('affected') }});
{% endfor %}
{%- for table in tables if table.found_by in ('visitor', 'whole_visitor') %}
INSERT INTO {{ t.target(table.step) }} ({% for c in columns[table.step] %}{{ d.quote(c) }}{{ ', ' if not loop.last }}{% endfor %})
SELECT {% for c in columns[table.step] %}{{ d.quote(c) }}{{ ', ' if not loop.last }}{% endfor %}
FROM {{ t.stage(table.step) }};
{% endfor %}
{%- endif %}

DELETE FROM {{ t.runs }} WHERE run_id = {{ d.literal(plan.run_id) }};

INSERT INTO {{ t.runs }} (
    run_id, source, mode, requested_mode, window_start, window_end, watermark_before, watermark_after,
    started_at, finished_at, outcome, rows_read, rows_new, future_watermark,
{%- for reason in drop_reasons %} dropped_{{ reason }},{% endfor %}
    events_changed, visitors_affected, visitors, sessions,
{%- for step in steps %} rows_{{ step }},{% endfor %} state_version, reason,
   {% for name in identity_counts %} {{ name }}{{ ',' if not loop.last }}{% endfor %}
)
SELECT
    run.run_id,
    {{ d.literal(cfg.name) }},
    run.mode,
    {{ d.literal(plan.requested_mode) }},
    {{ d.timestamp_literal(plan.window_start) }},
    {{ d.timestamp_literal(plan.window_end) }},
    {{ d.timestamp_literal(plan.watermark_before) }},
    {{ watermark_after }},
    run.started_at,
    {{ d.current_timestamp() }},
    'published',
    run.rows_read,
    run.rows_new,
    run.future_watermark,
{%- for reason in drop_reasons %}
{%- if plan.incremental and reason == 'duplicate' %}
    -- the valid rows read first now, but the events new to the model: the copies that lost to
    -- another (this run’s, or the published one), and the published copies they replace
    run.new_valid_rows - (SELECT COUNT(*) FROM {{ t.stage('changes') }} WHERE old_visitor_id IS NULL),
{%- else %}
    run.dropped_{{ reason }},
{%- endif %}
{%- endfor %}
{%- if plan.full %}
    (SELECT COUNT(*) FROM {{ t.stage('mapped_tracks') }}),
    totals.visitor_count,
{%- else %}
    (SELECT COUNT(*) FROM {{ t.stage('changes') }}),
    (SELECT COUNT(*) FROM {{ t.stage('affected') }}),
{%- endif %}
    totals.visitor_count,
    totals.session_count,
{%- for step in steps %}
    (SELECT COUNT(*) FROM {{ t.stage(step) }}),
{%- endfor %}
    {{ plan.state_version }},
    {{ d.literal(plan.reason) if plan.reason else 'CAST(NULL AS ' ~ d.text_type ~ ')' }},
{%- for name in identity_counts %}
    run.{{ name }}{{ ',' if not loop.last }}
{%- endfor %}
FROM {{ t.stage('run') }} AS run
-- Visitors and sessions of the model as published, in one scan of session_tracks (every visitor
-- has a session: several times fewer rows than its events).
CROSS JOIN (
    -- (named unlike any dataset: GoogleSQL would read `sessions`.`t` in this scope as a field of a
    -- column named sessions)
    SELECT COUNT(DISTINCT dbt_visitor_id) AS visitor_count, COUNT(*) AS session_count
    FROM {{ t.stage('session_tracks') if plan.full else t.target('session_tracks') }}
) AS totals;
{%- if plan.full and d.publish_by_rename %}
-- A full refresh moves its staged tables into place (the staged columns are the published ones).
{% for step in steps %}
{{ d.drop_table(t.target(step)) }};

{{ d.rename_table(t.stage(step), cfg.target_schema, t.target_name(step)) }};
{% endfor %}
{%- endif %}
{{ d.commit() }};
