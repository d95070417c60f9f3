-- Audit: each query counts the staged rows that break a promise of the model. Any count above
-- zero stops the run before publish, with the check’s name and the count. Each check reads the
-- staged tables once, by hash: no check sorts.
SELECT 'unique session_id in session_tracks' AS check_name, COUNT(*) AS failures
FROM (SELECT session_id FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS" GROUP BY session_id HAVING COUNT(*) > 1) AS dup;

SELECT 'every event in exactly one session' AS check_name, COUNT(*) AS failures
FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS" AS facts
WHERE NOT EXISTS (
    SELECT 1 FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS" AS sessions WHERE sessions.session_id = facts.session_id
);

-- One aggregate by event_id over mapped_tracks and track_facts: every event once in each, and
-- first of its session in track_facts exactly where mapped_tracks opens one (the idle time since
-- the visitor’s previous event exceeds the timeout): no idle gap above the timeout inside a
-- session, no session opened without one.
SELECT 'each event once in mapped_tracks and track_facts, sessions opened exactly at idle gaps above the timeout'
    AS check_name, COUNT(*) AS failures
FROM (
    SELECT event_id
    FROM (
        SELECT event_id, 1 AS in_mapped, 0 AS in_facts, CASE WHEN starts_session THEN 1 ELSE 0 END AS opens
        FROM "SESSIONS"."__RS_A330A0BC481B_MAPPED_TRACKS"
        UNION ALL
        SELECT event_id, 0, 1, CASE WHEN track_sequence_number = 1 THEN 1 ELSE 0 END
        FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS"
    ) AS both_tables
    GROUP BY event_id
    HAVING SUM(in_mapped) <> 1 OR SUM(in_facts) <> 1 OR MIN(opens) <> MAX(opens)
) AS failing;

-- tracks_flow is track_facts’ rows with a window over them: the same events when the counts agree.
SELECT 'as many events in tracks_flow as in track_facts' AS check_name,
    ABS((SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS") - (SELECT COUNT(*) FROM "SESSIONS"."__RS_A330A0BC481B_TRACKS_FLOW"))
    AS failures;

-- session_facts aggregates track_facts by session: one row per session, counting its events.
SELECT 'one row per session in session_facts, with as many events as track_facts gives it' AS check_name,
    COUNT(*) AS failures
FROM (
    SELECT session_id
    FROM (
        SELECT session_id, 1 AS fact_rows, event_count AS counted, 0 AS events FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_FACTS"
        UNION ALL
        SELECT session_id, 0, 0, 1 FROM "SESSIONS"."__RS_A330A0BC481B_TRACK_FACTS"
    ) AS both_tables
    GROUP BY session_id
    HAVING SUM(fact_rows) <> 1 OR SUM(counted) <> SUM(events)
) AS failing;

-- user_session_facts: one row per visitor, as many sessions as the visitor’s last session number.
SELECT 'one row per visitor in user_session_facts, counting its sessions' AS check_name, COUNT(*) AS failures
FROM (
    SELECT dbt_visitor_id
    FROM (
        SELECT dbt_visitor_id, 1 AS visitor_rows, session_count AS counted, 0 AS numbered
        FROM "SESSIONS"."__RS_A330A0BC481B_USER_SESSION_FACTS"
        UNION ALL
        SELECT dbt_visitor_id, 0, 0, session_sequence_number FROM "SESSIONS"."__RS_A330A0BC481B_SESSION_TRACKS"
    ) AS both_tables
    GROUP BY dbt_visitor_id
    HAVING SUM(visitor_rows) <> 1 OR SUM(counted) <> MAX(numbered)
) AS failing;
