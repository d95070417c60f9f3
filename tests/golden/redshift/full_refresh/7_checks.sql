-- Audit: each query counts the staged rows that break a promise of the model. Any count above
-- zero stops the run before publish, with the check's name and the count.

SELECT 'unique session_id in session_tracks' AS check_name, COUNT(*) AS failures
FROM (SELECT session_id FROM "sessions"."__rs_a330a0bc481b_session_tracks" GROUP BY session_id HAVING COUNT(*) > 1) AS dup;

SELECT 'unique event_id in mapped_tracks' AS check_name, COUNT(*) AS failures
FROM (SELECT event_id FROM "sessions"."__rs_a330a0bc481b_mapped_tracks" GROUP BY event_id HAVING COUNT(*) > 1) AS dup;

SELECT 'unique event_id in track_facts' AS check_name, COUNT(*) AS failures
FROM (SELECT event_id FROM "sessions"."__rs_a330a0bc481b_track_facts" GROUP BY event_id HAVING COUNT(*) > 1) AS dup;

SELECT 'unique event_id in tracks_flow' AS check_name, COUNT(*) AS failures
FROM (SELECT event_id FROM "sessions"."__rs_a330a0bc481b_tracks_flow" GROUP BY event_id HAVING COUNT(*) > 1) AS dup;

SELECT 'every event in exactly one session' AS check_name, COUNT(*) AS failures
FROM "sessions"."__rs_a330a0bc481b_track_facts" AS facts
WHERE NOT EXISTS (
    SELECT 1 FROM "sessions"."__rs_a330a0bc481b_session_tracks" AS sessions WHERE sessions.session_id = facts.session_id
);

SELECT 'no idle gap above the timeout inside a session' AS check_name, COUNT(*) AS failures
FROM (
    SELECT
        DATEDIFF(microsecond, TIMESTAMP '1970-01-01 00:00:00', "timestamp") - DATEDIFF(microsecond, TIMESTAMP '1970-01-01 00:00:00', LAG("timestamp") OVER (PARTITION BY session_id ORDER BY track_sequence_number))
            AS gap_us
    FROM "sessions"."__rs_a330a0bc481b_track_facts"
) AS gaps
WHERE gap_us > 1800000000;

SELECT 'same events in mapped_tracks, track_facts and tracks_flow' AS check_name,
    ABS((SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_mapped_tracks") - (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_track_facts"))
    + ABS((SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_mapped_tracks") - (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_tracks_flow"))
    AS failures;
