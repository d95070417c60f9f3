-- dbt_session_tracks as the original builds it: the events whose whole-minute idle time is above
-- 30 (or NULL: the visitor's first) open a session, numbered per visitor in timestamp order, with
-- the start of the next one. A gap of 30:59 truncates to 30 and stays in the session.

CREATE OR REPLACE TABLE {target}.dbt_session_tracks AS
SELECT
    concat(CAST(row_number() OVER by_visitor AS VARCHAR), ' - ', dbt_visitor_id) AS session_id,
    dbt_visitor_id,
    "timestamp" AS session_start_at,
    row_number() OVER by_visitor AS session_sequence_number,
    lead("timestamp") OVER by_visitor AS next_session_start_at
FROM {target}.dbt_mapped_tracks
WHERE idle_time_minutes > 30 OR idle_time_minutes IS NULL
WINDOW by_visitor AS (PARTITION BY dbt_visitor_id ORDER BY "timestamp");
