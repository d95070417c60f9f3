-- dbt_track_facts as the original builds it: a range join of every mapped event to the session of
-- its visitor whose [session_start_at, next_session_start_at) holds its timestamp (the last
-- session is open-ended), then the event's place in the session by timestamp.

CREATE OR REPLACE TABLE {target}.dbt_track_facts AS
SELECT
    tracks.anonymous_id,
    tracks."timestamp",
    tracks.event_id,
    tracks.event,
    sessions.session_id,
    tracks.dbt_visitor_id,
    row_number() OVER (PARTITION BY sessions.session_id ORDER BY tracks."timestamp") AS track_sequence_number
FROM {target}.dbt_mapped_tracks AS tracks
JOIN {target}.dbt_session_tracks AS sessions
    ON tracks.dbt_visitor_id = sessions.dbt_visitor_id
   AND tracks."timestamp" >= sessions.session_start_at
   AND (tracks."timestamp" < sessions.next_session_start_at OR sessions.next_session_start_at IS NULL);
