-- dbt_mapped_tracks as the original builds it: every source row (duplicates included) joined to
-- the mapping of COALESCE(user_id, anonymous_id); idle time in WHOLE minutes since the visitor's
-- previous event. BigQuery's TIMESTAMP_DIFF(..., MINUTE) truncates the difference, which is
-- DuckDB's date_sub('minute', ...) (date_diff would count minute boundaries, as Snowflake's
-- DATEDIFF does). Ties in timestamp are ordered arbitrarily.

CREATE OR REPLACE TABLE {target}.dbt_mapped_tracks AS
SELECT
    *,
    date_sub(
        'minute',
        lag("timestamp") OVER (PARTITION BY dbt_visitor_id ORDER BY "timestamp"),
        "timestamp"
    ) AS idle_time_minutes
FROM (
    SELECT
        tracks.id AS event_id,
        tracks.anonymous_id,
        aliases.dbt_visitor_id,
        tracks."timestamp",
        tracks.event
    FROM {source} AS tracks
    JOIN {target}.dbt_aliases_mapping AS aliases
        ON aliases.alias = COALESCE(tracks.user_id, tracks.anonymous_id)
) AS mapped;
