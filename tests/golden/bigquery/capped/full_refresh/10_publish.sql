-- Publish, in one transaction of DML only: claim the run state the plan saw (a concurrent or
-- stale run finds it moved and is refused), write the tables, advance the watermarks, log the
-- run. Readers see the previous model or the new one, never a mix; a failure anywhere leaves the
-- previous one.


-- The published tables, created once with their layout (before the transaction: DDL commits on
-- most warehouses). Publish writes them with DML only, so their layout, grants and dependent
-- views stay as the warehouse’s owner set them.

CREATE TABLE IF NOT EXISTS `sessions`.`dbt_aliases_mapping` (
    `alias` STRING,
    `dbt_visitor_id` STRING,
    `is_user_id` BOOL,
    `identified_user_id` STRING,
    `identified_at` TIMESTAMP,
    `identified_event_id` STRING
)
CLUSTER BY `alias`;

CREATE TABLE IF NOT EXISTS `sessions`.`dbt_mapped_tracks` (
    `event_id` STRING,
    `anonymous_id` STRING,
    `dbt_visitor_id` STRING,
    `timestamp` TIMESTAMP,
    `event` STRING,
    `idle_time_minutes` FLOAT64,
    `user_id` STRING,
    `received_at` TIMESTAMP,
    `starts_session` BOOL,
    `event_table` STRING,
    `context_campaign_source` STRING,
    `context_page_referrer` STRING,
    `revenue` NUMERIC
)
PARTITION BY DATE(`timestamp`)
CLUSTER BY `dbt_visitor_id`;

CREATE TABLE IF NOT EXISTS `sessions`.`dbt_session_tracks` (
    `session_id` STRING,
    `dbt_visitor_id` STRING,
    `session_start_at` TIMESTAMP,
    `session_sequence_number` INT64,
    `next_session_start_at` TIMESTAMP
)
PARTITION BY DATE(`session_start_at`)
CLUSTER BY `dbt_visitor_id`;

CREATE TABLE IF NOT EXISTS `sessions`.`dbt_track_facts` (
    `anonymous_id` STRING,
    `timestamp` TIMESTAMP,
    `event_id` STRING,
    `event` STRING,
    `session_id` STRING,
    `dbt_visitor_id` STRING,
    `track_sequence_number` INT64,
    `event_table` STRING,
    `context_campaign_source` STRING,
    `context_page_referrer` STRING,
    `revenue` NUMERIC
)
PARTITION BY DATE(`timestamp`)
CLUSTER BY `dbt_visitor_id`;

CREATE TABLE IF NOT EXISTS `sessions`.`dbt_tracks_flow` (
    `event_id` STRING,
    `session_id` STRING,
    `track_sequence_number` INT64,
    `event` STRING,
    `dbt_visitor_id` STRING,
    `timestamp` TIMESTAMP,
    `event_2` STRING,
    `event_3` STRING,
    `event_4` STRING,
    `event_5` STRING
)
PARTITION BY DATE(`timestamp`)
CLUSTER BY `dbt_visitor_id`;

CREATE TABLE IF NOT EXISTS `sessions`.`dbt_session_facts` (
    `session_id` STRING,
    `dbt_visitor_id` STRING,
    `session_start_at` TIMESTAMP,
    `session_end_at` TIMESTAMP,
    `duration_seconds` FLOAT64,
    `event_count` INT64,
    `first_event` STRING,
    `last_event` STRING,
    `conversion_count` INT64,
    `converted` BOOL,
    `first_context_campaign_source` STRING,
    `first_context_page_referrer` STRING,
    `total_revenue` NUMERIC,
    `session_sequence_number` INT64
)
PARTITION BY DATE(`session_start_at`)
CLUSTER BY `dbt_visitor_id`;

CREATE TABLE IF NOT EXISTS `sessions`.`dbt_user_session_facts` (
    `dbt_visitor_id` STRING,
    `first_seen_at` TIMESTAMP,
    `last_seen_at` TIMESTAMP,
    `session_count` INT64,
    `event_count` INT64,
    `converted_session_count` INT64,
    `first_session_id` STRING,
    `last_session_id` STRING
)
CLUSTER BY `dbt_visitor_id`;

BEGIN TRANSACTION;
-- The claim: exactly one state row at the planned version, or the run is refused.
UPDATE `sessions`.`rudder_sessions_state` SET
    watermark = (SELECT run.max_watermark FROM `sessions`.`__rs_a330a0bc481b_run` AS run),
    version = version + 1,
    last_run_id = 'scheduled__2026-03-02T03:00:00+00:00',
    last_mode = 'full_refresh',
    last_window_start = CAST(NULL AS TIMESTAMP),
    last_window_end = CAST(NULL AS TIMESTAMP),
    updated_at = CURRENT_TIMESTAMP(),
    settings = '{"aliases_table": "", "conversion_events": ["order_completed", "signed_up"], "event_tables": [{"event_column": "event", "table": "tracks"}, {"event_column": "name", "table": "pages"}, {"event_name": "order_completed", "table": "orders"}], "flow_length": 5, "identifies_table": "", "identity": "last_touch", "identity_exclude": ["", "null", "undefined", "anonymous", "0"], "max_session_events": 2500, "max_users_per_anonymous_id": 1, "session_first_columns": ["context_campaign_source", "context_page_referrer"], "session_sum_columns": ["revenue"], "source_schema": "rudderstack", "source_table": "tracks", "timeout_minutes": 30, "watermark_column": "received_at"}'
WHERE source = 'shop' AND version = 0;

ASSERT (@@row_count) = 1 AS 'publish refused: the state of the source moved since the plan; another run published first';

-- One watermark per event table.
DELETE FROM `sessions`.`rudder_sessions_watermarks` WHERE source = 'shop';

INSERT INTO `sessions`.`rudder_sessions_watermarks` (source, event_table, watermark)
SELECT 'shop', 'tracks', run.max_watermark_1
FROM `sessions`.`__rs_a330a0bc481b_run` AS run
UNION ALL
SELECT 'shop', 'pages', run.max_watermark_2
FROM `sessions`.`__rs_a330a0bc481b_run` AS run
UNION ALL
SELECT 'shop', 'orders', run.max_watermark_3
FROM `sessions`.`__rs_a330a0bc481b_run` AS run;

-- The rows this run read, by class: the next incremental run counts only copies beyond these.
DELETE FROM `sessions`.`rudder_sessions_counted` WHERE source = 'shop';

INSERT INTO `sessions`.`rudder_sessions_counted` (source, event_table, watermark_value, id, drop_reason, row_count)
SELECT 'shop', event_table, watermark_value, id, drop_reason, row_count
FROM `sessions`.`__rs_a330a0bc481b_reads`;
-- A full refresh replaces every row of the published tables.

DELETE FROM `sessions`.`dbt_aliases_mapping` WHERE TRUE;

INSERT INTO `sessions`.`dbt_aliases_mapping` (`alias`, `dbt_visitor_id`, `is_user_id`, `identified_user_id`, `identified_at`, `identified_event_id`)
SELECT `alias`, `dbt_visitor_id`, `is_user_id`, `identified_user_id`, `identified_at`, `identified_event_id`
FROM `sessions`.`__rs_a330a0bc481b_aliases_mapping`;

DELETE FROM `sessions`.`dbt_mapped_tracks` WHERE TRUE;

INSERT INTO `sessions`.`dbt_mapped_tracks` (`event_id`, `anonymous_id`, `dbt_visitor_id`, `timestamp`, `event`, `idle_time_minutes`, `user_id`, `received_at`, `starts_session`, `event_table`, `context_campaign_source`, `context_page_referrer`, `revenue`)
SELECT `event_id`, `anonymous_id`, `dbt_visitor_id`, `timestamp`, `event`, `idle_time_minutes`, `user_id`, `received_at`, `starts_session`, `event_table`, `context_campaign_source`, `context_page_referrer`, `revenue`
FROM `sessions`.`__rs_a330a0bc481b_mapped_tracks`;

DELETE FROM `sessions`.`dbt_session_tracks` WHERE TRUE;

INSERT INTO `sessions`.`dbt_session_tracks` (`session_id`, `dbt_visitor_id`, `session_start_at`, `session_sequence_number`, `next_session_start_at`)
SELECT `session_id`, `dbt_visitor_id`, `session_start_at`, `session_sequence_number`, `next_session_start_at`
FROM `sessions`.`__rs_a330a0bc481b_session_tracks`;

DELETE FROM `sessions`.`dbt_track_facts` WHERE TRUE;

INSERT INTO `sessions`.`dbt_track_facts` (`anonymous_id`, `timestamp`, `event_id`, `event`, `session_id`, `dbt_visitor_id`, `track_sequence_number`, `event_table`, `context_campaign_source`, `context_page_referrer`, `revenue`)
SELECT `anonymous_id`, `timestamp`, `event_id`, `event`, `session_id`, `dbt_visitor_id`, `track_sequence_number`, `event_table`, `context_campaign_source`, `context_page_referrer`, `revenue`
FROM `sessions`.`__rs_a330a0bc481b_track_facts`;

DELETE FROM `sessions`.`dbt_tracks_flow` WHERE TRUE;

INSERT INTO `sessions`.`dbt_tracks_flow` (`event_id`, `session_id`, `track_sequence_number`, `event`, `dbt_visitor_id`, `timestamp`, `event_2`, `event_3`, `event_4`, `event_5`)
SELECT `event_id`, `session_id`, `track_sequence_number`, `event`, `dbt_visitor_id`, `timestamp`, `event_2`, `event_3`, `event_4`, `event_5`
FROM `sessions`.`__rs_a330a0bc481b_tracks_flow`;

DELETE FROM `sessions`.`dbt_session_facts` WHERE TRUE;

INSERT INTO `sessions`.`dbt_session_facts` (`session_id`, `dbt_visitor_id`, `session_start_at`, `session_end_at`, `duration_seconds`, `event_count`, `first_event`, `last_event`, `conversion_count`, `converted`, `first_context_campaign_source`, `first_context_page_referrer`, `total_revenue`, `session_sequence_number`)
SELECT `session_id`, `dbt_visitor_id`, `session_start_at`, `session_end_at`, `duration_seconds`, `event_count`, `first_event`, `last_event`, `conversion_count`, `converted`, `first_context_campaign_source`, `first_context_page_referrer`, `total_revenue`, `session_sequence_number`
FROM `sessions`.`__rs_a330a0bc481b_session_facts`;

DELETE FROM `sessions`.`dbt_user_session_facts` WHERE TRUE;

INSERT INTO `sessions`.`dbt_user_session_facts` (`dbt_visitor_id`, `first_seen_at`, `last_seen_at`, `session_count`, `event_count`, `converted_session_count`, `first_session_id`, `last_session_id`)
SELECT `dbt_visitor_id`, `first_seen_at`, `last_seen_at`, `session_count`, `event_count`, `converted_session_count`, `first_session_id`, `last_session_id`
FROM `sessions`.`__rs_a330a0bc481b_user_session_facts`;

DELETE FROM `sessions`.`rudder_sessions_runs` WHERE run_id = 'scheduled__2026-03-02T03:00:00+00:00';

INSERT INTO `sessions`.`rudder_sessions_runs` (
    run_id, source, mode, requested_mode, window_start, window_end, watermark_before, watermark_after,
    started_at, finished_at, outcome, rows_read, rows_new, future_watermark, dropped_null_id, dropped_null_timestamp, dropped_no_identifier, dropped_duplicate,
    events_changed, visitors_affected, visitors, sessions, rows_aliases_mapping, rows_mapped_tracks, rows_session_tracks, rows_track_facts, rows_tracks_flow, rows_session_facts, rows_user_session_facts, state_version, reason,
    identity_excluded, identity_iterations, identity_hub_ids, identity_remapped, identity_merged
)
SELECT
    run.run_id,
    'shop',
    run.mode,
    'full_refresh',
    CAST(NULL AS TIMESTAMP),
    CAST(NULL AS TIMESTAMP),
    CAST(NULL AS TIMESTAMP),
    run.max_watermark,
    run.started_at,
    CURRENT_TIMESTAMP(),
    'published',
    run.rows_read,
    run.rows_new,
    run.future_watermark,
    run.dropped_null_id,
    run.dropped_null_timestamp,
    run.dropped_no_identifier,
    run.dropped_duplicate,
    (SELECT COUNT(*) FROM `sessions`.`__rs_a330a0bc481b_mapped_tracks`),
    totals.visitor_count,
    totals.visitor_count,
    totals.session_count,
    (SELECT COUNT(*) FROM `sessions`.`__rs_a330a0bc481b_aliases_mapping`),
    (SELECT COUNT(*) FROM `sessions`.`__rs_a330a0bc481b_mapped_tracks`),
    (SELECT COUNT(*) FROM `sessions`.`__rs_a330a0bc481b_session_tracks`),
    (SELECT COUNT(*) FROM `sessions`.`__rs_a330a0bc481b_track_facts`),
    (SELECT COUNT(*) FROM `sessions`.`__rs_a330a0bc481b_tracks_flow`),
    (SELECT COUNT(*) FROM `sessions`.`__rs_a330a0bc481b_session_facts`),
    (SELECT COUNT(*) FROM `sessions`.`__rs_a330a0bc481b_user_session_facts`),
    0,
    CAST(NULL AS STRING),
    run.identity_excluded,
    run.identity_iterations,
    run.identity_hub_ids,
    run.identity_remapped,
    run.identity_merged
FROM `sessions`.`__rs_a330a0bc481b_run` AS run
-- Visitors and sessions of the model as published, in one scan of session_tracks (every visitor
-- has a session: several times fewer rows than its events).
CROSS JOIN (
    -- (named unlike any dataset: GoogleSQL would read `sessions`.`t` in this scope as a field of a
    -- column named sessions)
    SELECT COUNT(DISTINCT dbt_visitor_id) AS visitor_count, COUNT(*) AS session_count
    FROM `sessions`.`__rs_a330a0bc481b_session_tracks`
) AS totals;
COMMIT TRANSACTION;
