-- Publish: replace the five tables and record the run, in one transaction. Readers see the
-- previous model or the new one, never a mix; a failure anywhere leaves the previous one.
{{ d.begin() }};
{% for step in steps %}
{{ d.drop_table(t.target(step)) }};

CREATE TABLE {{ t.target(step) }} AS
SELECT {% for c in columns[step] %}{{ d.quote(c) }}{{ ', ' if not loop.last }}{% endfor %}
FROM {{ t.stage(step) }};
{% endfor %}
CREATE TABLE IF NOT EXISTS {{ t.runs }} (
    run_id {{ d.text_type }},
    source {{ d.text_type }},
    mode {{ d.text_type }},
    started_at {{ d.timestamp_type }},
    finished_at {{ d.timestamp_type }},
    rows_read {{ d.bigint_type }},
{%- for reason in drop_reasons %}
    dropped_{{ reason }} {{ d.bigint_type }},
{%- endfor %}
    visitors {{ d.bigint_type }},
    sessions {{ d.bigint_type }},
{%- for step in steps %}
    rows_{{ step }} {{ d.bigint_type }}{{ "," if not loop.last }}
{%- endfor %}
);

INSERT INTO {{ t.runs }}
SELECT
    run.run_id,
    {{ d.literal(cfg.name) }},
    run.mode,
    run.started_at,
    {{ d.current_timestamp() }},
    run.rows_read,
{%- for reason in drop_reasons %}
    run.dropped_{{ reason }},
{%- endfor %}
    (SELECT COUNT(DISTINCT dbt_visitor_id) FROM {{ t.stage('mapped_tracks') }}),
    (SELECT COUNT(*) FROM {{ t.stage('session_tracks') }}),
{%- for step in steps %}
    (SELECT COUNT(*) FROM {{ t.stage(step) }}){{ "," if not loop.last }}
{%- endfor %}
FROM {{ t.stage('run') }} AS run;

{{ d.commit() }};
