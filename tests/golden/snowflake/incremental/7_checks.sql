-- Audit: each query counts the staged rows that break a promise of the model. Any count above
-- zero stops the run before publish, with the check's name and the count. Each check reads the
-- staged tables once, by hash: no check sorts (tracks_flow is track_facts' rows with a window over
-- them, so its events are unique when track_facts' are and the counts below agree).
SELECT 'unique session_id in session_tracks' AS check_name, COUNT(*) AS failures
FROM (SELECT session_id FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS" GROUP BY session_id HAVING COUNT(*) > 1) AS dup;

SELECT 'unique event_id in mapped_tracks' AS check_name, COUNT(*) AS failures
FROM (SELECT event_id FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS" GROUP BY event_id HAVING COUNT(*) > 1) AS dup;

SELECT 'unique event_id in track_facts' AS check_name, COUNT(*) AS failures
FROM (SELECT event_id FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS" GROUP BY event_id HAVING COUNT(*) > 1) AS dup;

SELECT 'every event in exactly one session' AS check_name, COUNT(*) AS failures
FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS" AS facts
WHERE NOT EXISTS (
    SELECT 1 FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS" AS sessions WHERE sessions.session_id = facts.session_id
);

-- A session opens exactly where the idle time since the visitor's previous event exceeds the
-- timeout (mapped_tracks.starts_session): an event placed after the first of its session must
-- not open one (no idle gap above the timeout inside a session), the first must.
SELECT 'no idle gap above the timeout inside a session, none opened without one' AS check_name, COUNT(*) AS failures
FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS" AS facts
JOIN "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS" AS mapped ON mapped.event_id = facts.event_id
WHERE (facts.track_sequence_number > 1 AND mapped.starts_session)
   OR (facts.track_sequence_number = 1 AND NOT mapped.starts_session);

SELECT 'same events in mapped_tracks, track_facts and tracks_flow' AS check_name,
    ABS((SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS") - (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS"))
    + ABS((SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS") - (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_TRACKS_FLOW"))
    AS failures;

SELECT 'staged events not already published outside the reopened part' AS check_name, COUNT(*) AS failures
FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS" AS staged
JOIN "SESSIONS"."DBT_MAPPED_TRACKS" AS published ON published.event_id = staged.event_id
WHERE published.event_id NOT IN (SELECT event_id FROM "SESSIONS"."__RS_A330A0BC481B_REOPENED");

SELECT 'staged sessions not already published outside the reopened part' AS check_name, COUNT(*) AS failures
FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS" AS staged
JOIN "SESSIONS"."DBT_SESSION_TRACKS" AS published ON published.session_id = staged.session_id
WHERE NOT EXISTS (
    SELECT 1 FROM "SESSIONS"."__RS_A330A0BC481B_AFFECTED" AS affected
    WHERE affected.dbt_visitor_id = published.dbt_visitor_id
      AND (affected.sessions_from IS NULL OR published.session_start_at >= affected.sessions_from)
);
