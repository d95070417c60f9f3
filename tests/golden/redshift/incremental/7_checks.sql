-- Audit: each query counts the staged rows that break a promise of the model. Any count above
-- zero stops the run before publish, with the check's name and the count. Each check reads the
-- staged tables once, by hash: no check sorts (tracks_flow is track_facts' rows with a window over
-- them, so its events are unique when track_facts' are and the counts below agree).
SELECT 'unique session_id in session_tracks' AS check_name, COUNT(*) AS failures
FROM (SELECT session_id FROM "sessions"."__rs_a330a0bc481b_session_tracks" GROUP BY session_id HAVING COUNT(*) > 1) AS dup;

SELECT 'unique event_id in mapped_tracks' AS check_name, COUNT(*) AS failures
FROM (SELECT event_id FROM "sessions"."__rs_a330a0bc481b_mapped_tracks" GROUP BY event_id HAVING COUNT(*) > 1) AS dup;

SELECT 'unique event_id in track_facts' AS check_name, COUNT(*) AS failures
FROM (SELECT event_id FROM "sessions"."__rs_a330a0bc481b_track_facts" GROUP BY event_id HAVING COUNT(*) > 1) AS dup;

SELECT 'every event in exactly one session' AS check_name, COUNT(*) AS failures
FROM "sessions"."__rs_a330a0bc481b_track_facts" AS facts
WHERE NOT EXISTS (
    SELECT 1 FROM "sessions"."__rs_a330a0bc481b_session_tracks" AS sessions WHERE sessions.session_id = facts.session_id
);

-- A session opens exactly where the idle time since the visitor's previous event exceeds the
-- timeout (mapped_tracks.starts_session): an event placed after the first of its session must
-- not open one (no idle gap above the timeout inside a session), the first must.
SELECT 'no idle gap above the timeout inside a session, none opened without one' AS check_name, COUNT(*) AS failures
FROM "sessions"."__rs_a330a0bc481b_track_facts" AS facts
JOIN "sessions"."__rs_a330a0bc481b_mapped_tracks" AS mapped ON mapped.event_id = facts.event_id
WHERE (facts.track_sequence_number > 1 AND mapped.starts_session)
   OR (facts.track_sequence_number = 1 AND NOT mapped.starts_session);

SELECT 'same events in mapped_tracks, track_facts and tracks_flow' AS check_name,
    ABS((SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_mapped_tracks") - (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_track_facts"))
    + ABS((SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_mapped_tracks") - (SELECT COUNT(*) FROM "sessions"."__rs_a330a0bc481b_tracks_flow"))
    AS failures;

SELECT 'staged events not already published outside the reopened part' AS check_name, COUNT(*) AS failures
FROM "sessions"."__rs_a330a0bc481b_mapped_tracks" AS staged
JOIN "sessions"."dbt_mapped_tracks" AS published ON published.event_id = staged.event_id
WHERE published.event_id NOT IN (SELECT event_id FROM "sessions"."__rs_a330a0bc481b_reopened");

SELECT 'staged sessions not already published outside the reopened part' AS check_name, COUNT(*) AS failures
FROM "sessions"."__rs_a330a0bc481b_session_tracks" AS staged
JOIN "sessions"."dbt_session_tracks" AS published ON published.session_id = staged.session_id
WHERE NOT EXISTS (
    SELECT 1 FROM "sessions"."__rs_a330a0bc481b_affected" AS affected
    WHERE affected.dbt_visitor_id = published.dbt_visitor_id
      AND (affected.sessions_from IS NULL OR published.session_start_at >= affected.sessions_from)
);
