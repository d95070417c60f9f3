-- dbt_tracks_flow as the original builds it: first_value / nth_value windows over the session in
-- track order with the default frame (from the session's start to the current row), so `event`
-- is the session's first event and event_k its k-th, once the row is k or more events in; not
-- the events that follow each row (see the differences in SPEC.md). The cost is that of LEAD():
-- one window over the session, sorted by track_sequence_number.

CREATE OR REPLACE TABLE {target}.dbt_tracks_flow AS
WITH derived AS (
    SELECT
        event_id,
        session_id,
        track_sequence_number,
        first_value(event IGNORE NULLS) OVER in_session AS event,
        dbt_visitor_id,
        "timestamp",
        nth_value(event, 2 IGNORE NULLS) OVER in_session AS second_event,
        nth_value(event, 3 IGNORE NULLS) OVER in_session AS third_event,
        nth_value(event, 4 IGNORE NULLS) OVER in_session AS fourth_event,
        nth_value(event, 5 IGNORE NULLS) OVER in_session AS fifth_event
    FROM {target}.dbt_track_facts
    WINDOW in_session AS (PARTITION BY session_id ORDER BY track_sequence_number)
)
SELECT
    event_id,
    session_id,
    track_sequence_number,
    event,
    dbt_visitor_id,
    CAST("timestamp" AS TIMESTAMP) AS "timestamp",
    second_event AS event_2,
    third_event AS event_3,
    fourth_event AS event_4,
    fifth_event AS event_5
FROM derived;
