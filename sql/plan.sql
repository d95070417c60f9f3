-- Plan: read the source rows of this run once, from every event table of the source as one stream
-- ({% for et in cfg.event_streams %}{{ et.describe() }}{{ ', ' if not loop.last }}{% endfor %}), clean them, and fix what the run must recompute.
--   * blank or whitespace-only ids count as NULL;
--   * rows without id, without timestamp, or without any identifier are dropped with a reason;
--   * copies of an id collapse to the copy received first (then by content, for determinism),
--     whichever load brought it: in incremental and backfill runs the published copy competes;
--   * the counts by reason are kept with the run, so nothing is lost without a trace.
-- Mode {{ plan.mode }}{% if plan.incremental %}: rows whose {{ cfg.watermark_column }} is later than their table’s
-- stored watermark minus the lookback of {{ cfg.lookback }}.
{%- elif plan.backfill %}: visitors with an event in [{{ plan.window_start }}, {{ plan.window_end }}).
{%- else %}: the whole source.{% endif %}
{% set ts = d.quote('timestamp') %}
{%- macro src(et, column) -%}
{%- if et.table ~ '.' ~ column in plan.aware_columns -%}{{ d.to_utc(d.quote(column)) }}{%- else -%}{{ d.quote(column) }}{%- endif -%}
{%- endmacro %}
{#- An id or event name column as text: one of an integer, UUID or citext type (plan.text_columns) cast. -#}
{%- macro text(et, column, plain=none) -%}
{%- if et.table ~ '.' ~ column in plan.text_columns -%}{{ d.to_text(d.quote(column)) }}{%- else -%}{{ plain if plain is not none else column }}{%- endif -%}
{%- endmacro %}
{%- if plan.aware_columns %}
-- Time-zone-aware source columns ({{ plan.aware_columns | join(', ') }}) are read as UTC timestamps.
{%- endif %}
{%- if plan.text_columns %}
-- Integer, UUID and citext ids and event names ({{ plan.text_columns | join(', ') }}) are read as text.
{%- endif %}
{%- if plan.absent_columns %}
-- Event tables without a column the session facts read give NULL for it: {{ plan.absent_columns | join(', ') }}.
{%- endif %}
{%- from 'macros.sql' import within, declare_span, carried, carried_nulls, carried_order, clean_id, junk_count with context %}
{%- set wm = d.quote(cfg.watermark_column) %}
{%- if plan.backfill %}
{%- set window_ids %}
{%- for et in cfg.event_streams %}
        SELECT {{ text(et, 'id') }} FROM {{ t.event_source(et) }}
        WHERE {{ src(et, 'timestamp') }} >= {{ d.timestamp_literal(plan.window_start) }}
          AND {{ src(et, 'timestamp') }} < {{ d.timestamp_literal(plan.window_end) }}
        {{ d.union }}
{%- endfor %}
        SELECT event_id FROM {{ t.target('mapped_tracks') }}
        WHERE {{ ts }} >= {{ d.timestamp_literal(plan.window_start) }} AND {{ ts }} < {{ d.timestamp_literal(plan.window_end) }}
{%- endset %}
{%- endif %}
{%- if d.script_bounds and not plan.full %}
-- Script variables, declared first as a script requires: the time spans of the rows this run
-- reads from history, found by narrow reads, so that the reads of whole rows prune partitions.
{{ declare_span('copies') }}
{%- if plan.backfill %}
-- The copies of the window’s ids lie within this span of {{ cfg.watermark_column }} in each event table: where
-- it is partitioned by it, the read of their whole rows below prunes the rest.
{%- for et in cfg.event_streams %}
DECLARE source_span_{{ loop.index }} DEFAULT (
    SELECT AS STRUCT MIN({{ wm }}) AS lo, MAX({{ wm }}) AS hi
    FROM {{ t.event_source(et) }}
    WHERE {{ text(et, 'id') }} IN ({{ window_ids }}
    )
);
{%- endfor %}
{%- endif %}
{%- endif %}
{{ d.drop_table(t.stage('events')) }};

-- One read of the source: every row of the run, cleaned and classified, in the table that
-- becomes the run’s events once the dropped rows and the losing copies are deleted from it.
CREATE TABLE {{ t.stage('events') }} AS
WITH cleaned AS (
{%- for et in cfg.event_streams %}
{%- set window_start = plan.window_start_of(et.table) %}
{%- if not loop.first %}
    UNION ALL
{%- endif %}
    SELECT
        {{ d.exact_text(text(et, 'id')) }} AS id,
        {{ d.exact_text(clean_id(text(et, 'anonymous_id'))) }} AS anonymous_id,
        {{ d.exact_text(clean_id(text(et, 'user_id'))) }} AS user_id,
        {{ d.literal(et.event_name) if et.event_name is not none else text(et, et.event_column, d.quote(et.event_column)) }} AS event,
        {{ src(et, 'timestamp') }} AS {{ ts }},
        {{ src(et, 'received_at') }} AS received_at,
        {{ src(et, cfg.watermark_column) }} AS watermark_value,
        {{ d.literal(et.table) }} AS event_table
{%- if cfg.identity == 'graph' %},
        {{ junk_count([text(et, 'anonymous_id'), text(et, 'user_id')]) }} AS junk_ids
{%- endif %}
{%- for name, kind in cfg.carried_columns %},
        {% if et.table ~ '.' ~ name in plan.absent_columns -%}
        CAST(NULL AS {{ d.column_type(kind) }})
        {%- elif kind == 'text' -%}
        {{ d.blank_to_null(d.to_text(d.quote(name))) }}
        {%- else -%}
        CAST({{ d.quote(name) }} AS {{ d.column_type(kind) }})
        {%- endif %} AS {{ d.quote(name) }}
{%- endfor %}
    FROM {{ t.event_source(et) }}
{%- if plan.incremental and window_start is not none %}
    WHERE {{ src(et, cfg.watermark_column) }} > {{ d.timestamp_literal(window_start) }}
       OR {{ d.quote(cfg.watermark_column) }} IS NULL
{%- elif plan.backfill %}
    -- every copy of every id with a copy, or a published event, in the window
    WHERE {{ text(et, 'id') }} IN ({{ window_ids }}
    )
{%- if d.script_bounds %}
      AND ({{ wm }} BETWEEN source_span_{{ loop.index }}.lo AND source_span_{{ loop.index }}.hi OR {{ wm }} IS NULL)
{%- endif %}
{%- endif %}
{%- endfor %}
)
SELECT
    cleaned.*,
    CASE
        WHEN id IS NULL THEN 'null_id'
        WHEN {{ ts }} IS NULL THEN 'null_timestamp'
        WHEN anonymous_id IS NULL AND user_id IS NULL THEN 'no_identifier'
    END AS drop_reason
FROM cleaned;

{#- The run's rows by class, for publish to keep (`condition`: only those the next run reads). -#}
{%- macro read_classes(condition=none) %}
CREATE TABLE {{ t.stage('reads') }} AS
SELECT event_table, watermark_value, id, drop_reason, CAST(COUNT(*) AS {{ d.bigint_type }}) AS row_count
FROM {{ t.stage('events') }}
{%- if condition %}
CROSS JOIN {{ t.stage('run') }} AS run
WHERE {{ condition }}
{%- endif %}
GROUP BY event_table, watermark_value, id, drop_reason;
{%- endmacro %}
{%- if plan.incremental %}
{{ d.drop_table(t.stage('reads')) }};

-- The rows of the run by class: one event table’s rows with one watermark value, id and drop
-- reason, read whole or not at all. Publish keeps them: the next run reads most of them again in
-- its lookback (and every row without a watermark value), and counts only copies beyond these.
{{- read_classes() }}
{%- endif %}

-- Copies of one id: only the ids with several valid copies are ranked (a hash aggregate finds
-- them; sorting every row by id would cost more than the whole cleaning).
{{ d.drop_table(t.stage('copies')) }};

CREATE TABLE {{ t.stage('copies') }} AS
WITH repeated AS (
    SELECT id FROM {{ t.stage('events') }} WHERE drop_reason IS NULL GROUP BY id HAVING COUNT(*) > 1
),
ranked AS (
    SELECT
        events.*,
        ROW_NUMBER() OVER (
            PARTITION BY id
            ORDER BY received_at NULLS LAST, {{ ts }}, {{ d.text_order('event') }} NULLS LAST,
                     {{ d.text_order('anonymous_id') }} NULLS LAST, {{ d.text_order('user_id') }} NULLS LAST,
                     {{ d.text_order('event_table') }}{{ carried_order() }}
        ) AS copy_rank
    FROM {{ t.stage('events') }} AS events
    WHERE drop_reason IS NULL AND id IN (SELECT id FROM repeated)
)
SELECT id, anonymous_id, user_id, event, {{ ts }}, received_at, watermark_value, event_table{{ carried() }}, copy_rank
FROM ranked;

{%- if cfg.identity == 'graph' %}
{{ d.drop_table(t.stage('links')) }};

-- The identity graph’s link rows ({% for kind, link in cfg.link_streams %}{{ link.table }}{{ ', ' if not loop.last }}{% endfor %}{{ 'none configured' if not cfg.link_streams }}), ids cleaned like the events’: all of
-- them, as a touched component is decided again from every row naming its identifiers;
-- `in_window` marks the rows new to this run (an incremental run starts from their identifiers).
CREATE TABLE {{ t.stage('links') }} AS
SELECT
    CAST(NULL AS {{ d.text_type }}) AS link_kind,
    CAST(NULL AS {{ d.text_type }}) AS id,
    CAST(NULL AS {{ d.text_type }}) AS anonymous_id,
    CAST(NULL AS {{ d.text_type }}) AS user_id,
    CAST(NULL AS {{ d.timestamp_type }}) AS {{ ts }},
    CAST(NULL AS {{ d.timestamp_type }}) AS watermark_value,
    FALSE AS in_window,
    0 AS junk_ids
FROM {{ t.stage('events') }}
WHERE FALSE
{%- for kind, link in cfg.link_streams %}
{%- set window_start = plan.window_start_of(link.table) %}
{%- set from_id = 'previous_id' if kind == 'aliases' else 'anonymous_id' %}
UNION ALL
SELECT
    {{ d.literal(kind) }},
    {{ d.exact_text(text(link, 'id')) }},
    {{ d.exact_text(clean_id(text(link, from_id))) }},
    {{ d.exact_text(clean_id(text(link, 'user_id'))) }},
    {{ src(link, 'timestamp') }},
    {{ src(link, cfg.watermark_column) }},
{%- if plan.incremental and window_start is not none %}
    ({{ src(link, cfg.watermark_column) }} > {{ d.timestamp_literal(window_start) }} OR {{ d.quote(cfg.watermark_column) }} IS NULL),
{%- else %}
    {{ 'FALSE' if plan.backfill else 'TRUE' }},
{%- endif %}
    {{ junk_count([text(link, from_id), text(link, 'user_id')]) }}
FROM {{ t.event_source(link) }}
{%- endfor %};
{%- endif %}

{{ d.drop_table(t.stage('run')) }};

-- The counts of the run, and each table’s watermark after it: the greatest value read that is not
-- later than the run’s start. A row stamped in the future (a clock error) is processed and counted
-- as future_watermark, and read again by later runs until its time has passed: it never holds
-- back the rows that arrive after it.
{%- set now = d.current_timestamp() %}

{%- if plan.incremental %}
-- Each row is counted once, by the first run that reads it: of each class, the copies beyond those
-- the last run read. A valid row is new to the model or a duplicate; publish tells them apart.
{%- endif %}

CREATE TABLE {{ t.stage('run') }} AS
{%- if plan.incremental %}
WITH classes AS (
    SELECT event_table, watermark_value, id, drop_reason, SUM(read_now) AS read_now, SUM(read_before) AS read_before
    FROM (
        SELECT event_table, watermark_value, id, drop_reason, row_count AS read_now, 0 AS read_before
        FROM {{ t.stage('reads') }}
        UNION ALL
        SELECT event_table, watermark_value, id, drop_reason, 0, row_count
        FROM {{ t.counted }}
        WHERE source = {{ d.literal(cfg.name) }}
    ) AS both_reads
    GROUP BY event_table, watermark_value, id, drop_reason
),
first_reads AS (
    SELECT drop_reason, SUM(read_now - read_before) AS row_count
    FROM classes
    WHERE read_now > read_before
    GROUP BY drop_reason
)
{%- endif %}
SELECT
    {{ d.literal(plan.run_id) }} AS run_id,
    {{ d.literal(plan.mode) }} AS mode,
    {{ d.current_timestamp() }} AS started_at,
    CAST(COUNT(*) AS {{ d.bigint_type }}) AS rows_read,
{%- if plan.incremental %}
    CAST(COALESCE((SELECT SUM(row_count) FROM first_reads), 0) AS {{ d.bigint_type }}) AS rows_new,
{%- for reason in drop_reasons if reason != 'duplicate' %}
    CAST(COALESCE((SELECT SUM(row_count) FROM first_reads WHERE drop_reason = '{{ reason }}'), 0) AS {{ d.bigint_type }})
        AS dropped_{{ reason }},
{%- endfor %}
    -- the valid rows read first now: publish subtracts the events new to the model
    CAST(COALESCE((SELECT SUM(row_count) FROM first_reads WHERE drop_reason IS NULL), 0) AS {{ d.bigint_type }})
        AS new_valid_rows,
    CAST(NULL AS {{ d.bigint_type }}) AS dropped_duplicate,
{%- else %}
    CAST(COUNT(*) AS {{ d.bigint_type }}) AS rows_new,
{%- for reason in drop_reasons if reason != 'duplicate' %}
    CAST(COALESCE(SUM(CASE WHEN drop_reason = '{{ reason }}' THEN 1 ELSE 0 END), 0) AS {{ d.bigint_type }})
        AS dropped_{{ reason }},
{%- endfor %}
    CAST(NULL AS {{ d.bigint_type }}) AS new_valid_rows,
    CAST((SELECT COUNT(*) FROM {{ t.stage('copies') }} WHERE copy_rank > 1) AS {{ d.bigint_type }}) AS dropped_duplicate,
{%- endif %}
{%- for et in cfg.event_streams %}
    MAX(CASE WHEN event_table = {{ d.literal(et.table) }} AND watermark_value <= {{ now }} THEN watermark_value END)
        AS max_watermark_{{ loop.index }},
{%- endfor %}
    MAX(CASE WHEN watermark_value <= {{ now }} THEN watermark_value END) AS max_watermark,
    CAST(
        COALESCE(SUM(CASE WHEN watermark_value > {{ now }} THEN 1 ELSE 0 END), 0)
{%- if cfg.identity == 'graph' %}
        + (SELECT COUNT(*) FROM {{ t.stage('links') }} WHERE in_window AND watermark_value > {{ now }})
{%- endif %}
        AS {{ d.bigint_type }}
    ) AS future_watermark,
{%- for kind, link in cfg.link_streams %}
    (
        SELECT MAX(watermark_value) FROM {{ t.stage('links') }}
        WHERE link_kind = {{ d.literal(kind) }} AND watermark_value <= {{ now }}
    ) AS link_watermark_{{ loop.index }},
{%- endfor %}
{%- if cfg.identity == 'graph' %}
    -- the identity graph’s counts: junk ids read as NULL here; its step sets the others
    CAST(COALESCE(SUM(junk_ids), 0) + (SELECT COALESCE(SUM(junk_ids), 0) FROM {{ t.stage('links') }} WHERE in_window) AS {{ d.bigint_type }})
        AS identity_excluded,
    CAST(0 AS {{ d.bigint_type }}) AS identity_iterations,
    CAST(0 AS {{ d.bigint_type }}) AS identity_hub_ids,
    CAST(0 AS {{ d.bigint_type }}) AS identity_remapped,
    CAST(0 AS {{ d.bigint_type }}) AS identity_merged
{%- else %}
{%- for name in identity_counts %}
    CAST(NULL AS {{ d.bigint_type }}) AS {{ name }}{{ ',' if not loop.last }}
{%- endfor %}
{%- endif %}
FROM {{ t.stage('events') }};

{%- if plan.full %}
{{ d.drop_table(t.stage('reads')) }};

-- The rows the next incremental run reads again (each table’s from its watermark after this run
-- minus the lookback of {{ cfg.lookback }}, and every row without a watermark value), by class, for
-- publish to keep: that run counts only copies beyond these.
{%- set next_watermark %}
CASE event_table
{%- for et in cfg.event_streams %} WHEN {{ d.literal(et.table) }} THEN run.max_watermark_{{ loop.index }}{% endfor %} END
{%- endset %}
{%- set in_next_window %}watermark_value IS NULL
   OR {{ next_watermark }} IS NULL
   OR {{ d.epoch_us('watermark_value') }} > {{ d.epoch_us(next_watermark) }} - {{ cfg.lookback_microseconds }}
{%- endset %}
{{- read_classes(in_next_window) }}
{%- endif %}

DELETE FROM {{ t.stage('events') }}
WHERE drop_reason IS NOT NULL OR id IN (SELECT id FROM {{ t.stage('copies') }});

INSERT INTO {{ t.stage('events') }} (id, anonymous_id, user_id, event, {{ ts }}, received_at, watermark_value, event_table{{ carried() }})
SELECT id, anonymous_id, user_id, event, {{ ts }}, received_at, watermark_value, event_table{{ carried() }}
FROM {{ t.stage('copies') }}
WHERE copy_rank = 1;

{{ d.drop_table(t.stage('copies')) }};
{#- Planner statistics of the staged tables where the warehouse lacks them (PostgreSQL): an
    incremental run's joins of small stages against the published tables depend on them. #}
{{ d.analyze(t.stage('events')) if not plan.full }}
{% if not plan.full %}
{%- if plan.incremental %}
-- Changes: incoming events that are new or replace their published copy (received earlier, or
-- equal receipt and smaller content), with the published copy’s identity and position.
{%- else %}
-- Changes: the source is the truth for the window’s events (all their copies were read): each
-- replaces its published copy; published events of the window left without a valid copy go.
{%- endif %}
{{ d.drop_table(t.stage('changes')) }};
{%- if d.script_bounds %}

-- The published copies’ time span, from the two columns a lookup by id needs.
SET copies = (
    SELECT AS STRUCT MIN(mapped.{{ ts }}) AS lo, MAX(mapped.{{ ts }}) AS hi
    FROM {{ t.target('mapped_tracks') }} AS mapped
    WHERE mapped.event_id IN (SELECT id FROM {{ t.stage('events') }})
);
{%- endif %}

CREATE TABLE {{ t.stage('changes') }} AS
WITH published AS (
    SELECT
        mapped.event_id AS id, mapped.anonymous_id, mapped.user_id, mapped.event,
        mapped.{{ ts }}, mapped.received_at, mapped.dbt_visitor_id, mapped.event_table{{ carried('mapped') }}
    FROM {{ t.target('mapped_tracks') }} AS mapped
    WHERE mapped.event_id IN (SELECT id FROM {{ t.stage('events') }}){{ within('mapped', ts, 'copies') }}
),
versions AS (
    SELECT id, anonymous_id, user_id, event, {{ ts }}, received_at, event_table{{ carried() }}, 1 AS incoming
    FROM {{ t.stage('events') }}
{%- if plan.incremental %}
    UNION ALL
    SELECT id, anonymous_id, user_id, event, {{ ts }}, received_at, event_table{{ carried() }}, 0 AS incoming
    FROM published
{%- endif %}
),
ranked AS (
    SELECT
        versions.*,
        ROW_NUMBER() OVER (
            PARTITION BY id
            ORDER BY received_at NULLS LAST, {{ ts }}, {{ d.text_order('event') }} NULLS LAST,
                     {{ d.text_order('anonymous_id') }} NULLS LAST, {{ d.text_order('user_id') }} NULLS LAST,
                     {{ d.text_order('event_table') }}{{ carried_order() }}, incoming
        ) AS copy_rank
    FROM versions
)
SELECT
    winner.id AS event_id,
    TRUE AS present,
    winner.anonymous_id,
    winner.user_id,
    winner.event,
    winner.{{ ts }},
    winner.received_at,
    winner.event_table{{ carried('winner') }},
    published.anonymous_id AS old_anonymous_id,
    published.user_id AS old_user_id,
    published.{{ ts }} AS old_timestamp,
    published.dbt_visitor_id AS old_visitor_id
FROM ranked AS winner
LEFT JOIN published ON published.id = winner.id
WHERE winner.copy_rank = 1 AND winner.incoming = 1
{%- if plan.backfill %}
UNION ALL
SELECT
    mapped.event_id,
    FALSE,
    CAST(NULL AS {{ d.text_type }}),
    CAST(NULL AS {{ d.text_type }}),
    CAST(NULL AS {{ d.text_type }}),
    CAST(NULL AS {{ d.timestamp_type }}),
    CAST(NULL AS {{ d.timestamp_type }}),
    CAST(NULL AS {{ d.text_type }}){{ carried_nulls() }},
    mapped.anonymous_id,
    mapped.user_id,
    mapped.{{ ts }},
    mapped.dbt_visitor_id
FROM {{ t.target('mapped_tracks') }} AS mapped
WHERE mapped.{{ ts }} >= {{ d.timestamp_literal(plan.window_start) }}
  AND mapped.{{ ts }} < {{ d.timestamp_literal(plan.window_end) }}
  AND NOT EXISTS (SELECT 1 FROM {{ t.stage('events') }} AS events WHERE events.id = mapped.event_id)
{%- endif %};
{{ d.analyze(t.stage('changes')) }}

-- Identifiers whose mapping may change: every id of a changed event, before and after.
{{ d.drop_table(t.stage('touched')) }};

CREATE TABLE {{ t.stage('touched') }} AS
SELECT anonymous_id AS alias FROM {{ t.stage('changes') }} WHERE anonymous_id IS NOT NULL
{{ d.union }}
SELECT user_id FROM {{ t.stage('changes') }} WHERE user_id IS NOT NULL
{{ d.union }}
SELECT old_anonymous_id FROM {{ t.stage('changes') }} WHERE old_anonymous_id IS NOT NULL
{{ d.union }}
SELECT old_user_id FROM {{ t.stage('changes') }} WHERE old_user_id IS NOT NULL;
{{ d.analyze(t.stage('touched')) }}
{% endif %}
