-- Plan: read the source once, clean it and fix this run's input.
--   * blank or whitespace-only ids count as NULL;
--   * rows without id, without timestamp, or without any identifier are dropped with a reason;
--   * copies of an id collapse to the copy received first (then by content, for determinism);
--   * the counts by reason are kept with the run, so nothing is lost without a trace.
{% set ts = d.quote('timestamp') %}
{{ d.create_schema(cfg.target_schema) }};

{{ d.drop_table(t.stage('input')) }};

CREATE TABLE {{ t.stage('input') }} AS
WITH cleaned AS (
    SELECT
        id,
        {{ d.blank_to_null('anonymous_id') }} AS anonymous_id,
        {{ d.blank_to_null('user_id') }} AS user_id,
        event,
        {{ ts }},
        received_at
    FROM {{ t.source }}
),
classified AS (
    SELECT
        cleaned.*,
        CASE
            WHEN id IS NULL THEN 'null_id'
            WHEN {{ ts }} IS NULL THEN 'null_timestamp'
            WHEN anonymous_id IS NULL AND user_id IS NULL THEN 'no_identifier'
        END AS invalid_reason
    FROM cleaned
),
ranked AS (
    SELECT
        classified.*,
        ROW_NUMBER() OVER (
            PARTITION BY id, invalid_reason
            ORDER BY received_at NULLS LAST, {{ ts }}, event NULLS LAST,
                     anonymous_id NULLS LAST, user_id NULLS LAST
        ) AS copy_rank
    FROM classified
)
SELECT
    id,
    anonymous_id,
    user_id,
    event,
    {{ ts }},
    received_at,
    CASE
        WHEN invalid_reason IS NOT NULL THEN invalid_reason
        WHEN copy_rank > 1 THEN 'duplicate'
    END AS drop_reason
FROM ranked;

{{ d.drop_table(t.stage('events')) }};

CREATE TABLE {{ t.stage('events') }} AS
SELECT id, anonymous_id, user_id, event, {{ ts }}, received_at
FROM {{ t.stage('input') }}
WHERE drop_reason IS NULL;

{{ d.drop_table(t.stage('run')) }};

CREATE TABLE {{ t.stage('run') }} AS
SELECT
    {{ run.run_id_sql }} AS run_id,
    {{ run.mode_sql }} AS mode,
    {{ d.current_timestamp() }} AS started_at,
    CAST(COUNT(*) AS {{ d.bigint_type }}) AS rows_read,
{%- for reason in drop_reasons %}
    CAST(COALESCE(SUM(CASE WHEN drop_reason = '{{ reason }}' THEN 1 ELSE 0 END), 0) AS {{ d.bigint_type }})
        AS dropped_{{ reason }}{{ "," if not loop.last }}
{%- endfor %}
FROM {{ t.stage('input') }};

{{ d.drop_table(t.stage('input')) }};
