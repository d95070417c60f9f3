-- Run state, next to the outputs: one row per source (watermark, version for optimistic
-- concurrency, last run), one watermark per event table of the source, the rows the last run read (so the next
-- counts each row once), and one log row per run. Columns an upgrade adds are added in place.
{{ d.create_schema(cfg.target_schema) }};

CREATE TABLE IF NOT EXISTS {{ t.state }} (
{%- for name, kind in state_columns %}
    {{ name }} {{ d.column_type(kind) }}{{ ' NOT NULL' if name in ('source', 'version') }},
{%- endfor %}
    {{ d.primary_key('source') }}
);

CREATE TABLE IF NOT EXISTS {{ t.watermarks }} (
{%- for name, kind in watermark_columns %}
    {{ name }} {{ d.column_type(kind) }}{{ ' NOT NULL' if name in ('source', 'event_table') }}{{ "," if not loop.last }}
{%- endfor %}
);

CREATE TABLE IF NOT EXISTS {{ t.counted }} (
{%- for name, kind in counted_columns %}
    {{ name }} {{ d.column_type(kind) }}{{ ' NOT NULL' if name in ('source', 'event_table', 'row_count') }}{{ "," if not loop.last }}
{%- endfor %}
);

CREATE TABLE IF NOT EXISTS {{ t.runs }} (
{%- for name, kind in run_log_columns %}
    {{ name }} {{ d.column_type(kind) }}{{ "," if not loop.last }}
{%- endfor %}
);

-- The state row of the source, seeded once at version 0: every publish claims it with
-- UPDATE ... WHERE version = <the planned version>, checked to have updated exactly one row.
INSERT INTO {{ t.state }} (source, version)
SELECT {{ d.literal(cfg.name) }}, 0
FROM (SELECT 1 AS one) AS seed
WHERE NOT EXISTS (SELECT 1 FROM {{ t.state }} WHERE source = {{ d.literal(cfg.name) }});
