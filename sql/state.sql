-- Run state, next to the outputs: one row per source (watermark, version for optimistic
-- concurrency, last run), and one log row per published run.
{{ d.create_schema(cfg.target_schema) }};

CREATE TABLE IF NOT EXISTS {{ t.state }} (
    source {{ d.text_type }} NOT NULL,
    watermark {{ d.timestamp_type }},
    version {{ d.bigint_type }} NOT NULL,
    last_run_id {{ d.text_type }},
    last_mode {{ d.text_type }},
    last_window_start {{ d.timestamp_type }},
    last_window_end {{ d.timestamp_type }},
    updated_at {{ d.timestamp_type }},
    {{ d.primary_key('source') }}
);

CREATE TABLE IF NOT EXISTS {{ t.runs }} (
    run_id {{ d.text_type }},
    source {{ d.text_type }},
    mode {{ d.text_type }},
    requested_mode {{ d.text_type }},
    window_start {{ d.timestamp_type }},
    window_end {{ d.timestamp_type }},
    watermark_before {{ d.timestamp_type }},
    watermark_after {{ d.timestamp_type }},
    started_at {{ d.timestamp_type }},
    finished_at {{ d.timestamp_type }},
    outcome {{ d.text_type }},
    rows_read {{ d.bigint_type }},
{%- for reason in drop_reasons %}
    dropped_{{ reason }} {{ d.bigint_type }},
{%- endfor %}
    events_changed {{ d.bigint_type }},
    visitors_affected {{ d.bigint_type }},
    visitors {{ d.bigint_type }},
    sessions {{ d.bigint_type }},
{%- for step in steps %}
    rows_{{ step }} {{ d.bigint_type }}{{ "," if not loop.last }}
{%- endfor %}
);
