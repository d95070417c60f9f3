-- Visitor facts: one row per visitor over all of its sessions.
-- An affected visitor’s sessions are its recomputed ones (session_facts of this run) and its
-- published ones before the reopen point, which this run keeps.
DROP TABLE IF EXISTS `sessions`.`__rs_a330a0bc481b_user_session_facts`;

CREATE TABLE `sessions`.`__rs_a330a0bc481b_user_session_facts` AS
WITH visitor_sessions AS (
    SELECT dbt_visitor_id, session_sequence_number, session_start_at, session_end_at, event_count, converted
    FROM `sessions`.`__rs_a330a0bc481b_session_facts`
    UNION ALL
    SELECT
        published.dbt_visitor_id, published.session_sequence_number, published.session_start_at,
        published.session_end_at, published.event_count, published.converted
    FROM `sessions`.`dbt_session_facts` AS published
    JOIN `sessions`.`__rs_a330a0bc481b_affected` AS affected ON affected.dbt_visitor_id = published.dbt_visitor_id
    WHERE published.session_start_at < affected.reopen_at
)
SELECT
    dbt_visitor_id,
    MIN(session_start_at) AS first_seen_at,
    MAX(session_end_at) AS last_seen_at,
    CAST(COUNT(*) AS INT64) AS session_count,
    CAST(SUM(event_count) AS INT64) AS event_count,
    CAST(SUM(CASE WHEN converted THEN 1 ELSE 0 END) AS INT64) AS converted_session_count,
    CAST(MIN(session_sequence_number) AS STRING) || ' - ' || dbt_visitor_id AS first_session_id,
    CAST(MAX(session_sequence_number) AS STRING) || ' - ' || dbt_visitor_id AS last_session_id
FROM visitor_sessions
GROUP BY dbt_visitor_id;

