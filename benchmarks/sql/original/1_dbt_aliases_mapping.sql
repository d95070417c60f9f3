-- dbt_aliases_mapping as RudderStack's dbt-sessionization project builds it (BigQuery), in DuckDB.
-- Every (anonymous_id, user_id, timestamp) of the source, plus every user_id as an alias of its
-- own, made distinct; an alias maps to the user_id of its latest row that has one (ties in
-- timestamp broken arbitrarily), else to itself. No blank-id cleaning, no deduplication: the
-- source is read twice and the whole union sorted by alias and timestamp.
--
-- The original's `first_value(user_id IGNORE NULLS) OVER (PARTITION BY alias ORDER BY timestamp
-- DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)` is written here as the same
-- window without IGNORE NULLS, the rows with a user_id sorted first: the same value from the
-- same sorted window. DuckDB 2.0 evaluates IGNORE NULLS by scanning the frame for every row,
-- which is quadratic in a partition of NULLs, and the NULL alias (every anonymous row's
-- (NULL, NULL, timestamp)) is such a partition: minutes at 1e7 events that measure DuckDB, not
-- the model.
-- Placeholders, replaced by benchmarks/run.py: {source} (the tracks table), {target} (a schema).

CREATE OR REPLACE TABLE {target}.dbt_aliases_mapping AS
WITH all_mappings AS (
    SELECT anonymous_id, user_id, "timestamp" FROM {source}
    UNION
    SELECT user_id, NULL, "timestamp" FROM {source}
)
SELECT DISTINCT
    anonymous_id AS alias,
    COALESCE(
        first_value(user_id) OVER (
            PARTITION BY anonymous_id
            ORDER BY user_id IS NULL, "timestamp" DESC
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        ),
        user_id,
        anonymous_id
    ) AS dbt_visitor_id
FROM all_mappings;
