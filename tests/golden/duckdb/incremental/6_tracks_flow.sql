SET force_compression = 'uncompressed';  -- staged tables dropped after the run: written as they are
-- Tracks flow: every event with the 4 events that follow it in the same
-- session (event_k is the event k-1 places later; NULL past the session's end).

DROP TABLE IF EXISTS "sessions"."__rs_a330a0bc481b_tracks_flow";

CREATE TABLE "sessions"."__rs_a330a0bc481b_tracks_flow" AS
SELECT
    event_id,
    session_id,
    track_sequence_number,
    event,
    dbt_visitor_id,
    "timestamp",
    LEAD(event, 1) OVER (
        PARTITION BY session_id ORDER BY track_sequence_number
    ) AS event_2,
    LEAD(event, 2) OVER (
        PARTITION BY session_id ORDER BY track_sequence_number
    ) AS event_3,
    LEAD(event, 3) OVER (
        PARTITION BY session_id ORDER BY track_sequence_number
    ) AS event_4,
    LEAD(event, 4) OVER (
        PARTITION BY session_id ORDER BY track_sequence_number
    ) AS event_5
FROM "sessions"."__rs_a330a0bc481b_track_facts";
