-- What filing one report writes on PostgreSQL (services/incidents/src/reports/mod.rs `file`), for
-- the load harness's floor: the repeat-report guard's upsert, the report, its "created" entry and
-- the category's auto-response, the notice to the reporter and the event in the outbox, and the
-- map's eight count rows (zooms 10/12/14/16, the category's and '*'), one statement each as the
-- service sends them, in a scratch copy of the portal's incidents tables (indexes included).
\set k random(1, 9000000000000000000)
\set ci random(1, 4)
\set lat random(30570000, 30760000) / 1000000.0
\set lon random(103950000, 104180000) / 1000000.0
\set row int((:lat + 90) / 0.0006866455078125)
\set col int((:lon + 180) / 0.0006866455078125)
\set now 1764700000000
\set window_start :now - 10000
BEGIN;
INSERT INTO incident_reporters (reporter_key, last_report_at) VALUES ('citizen:' || :k::text, :now::bigint)
    ON CONFLICT (reporter_key) DO UPDATE SET last_report_at = :now::bigint
    WHERE incident_reporters.last_report_at <= :window_start::bigint;
INSERT INTO incident_reports (id, citizen_id, reporter_name, anonymous, channel, contact, category, agency,
    district, state, description, address, attributes, lat, lon, orig_crs, orig_lat, orig_lon, moderation,
    assignee_id, assignee_name, duplicate_of, n_photos, n_followers, version, created_at, updated_at, due_at,
    closed_at, is_open, cell_row, cell_col)
VALUES ('r' || :k::text, 'c' || :k::text, NULL, TRUE, 'miniprogram', NULL,
    (ARRAY['pothole', 'streetlight', 'water_leak', 'noise'])[:ci::int], (ARRAY['roads', 'lighting', 'water', 'env'])[:ci::int],
    '510104', 'open', '路面坑洼破损，车辆经过时颠簸，请尽快修补。', '锦江区红星路二段 88 号附近', '{"size":"small"}',
    :lat::float8, :lon::float8, 'gcj02', :lat::float8, :lon::float8, 'pass', NULL, NULL, NULL, 0, 0, 1,
    :now::bigint, :now::bigint, :now::bigint + 259200000, NULL, TRUE, :row::bigint, :col::bigint);
INSERT INTO incident_updates (id, report_id, at, kind, state_from, state_to, text_zh, text_en, staff_id, staff_name)
VALUES ('u' || :k::text, 'r' || :k::text, :now::bigint, 'created', NULL, 'open', '提交报告', 'Report submitted', NULL, NULL);
INSERT INTO incident_updates (id, report_id, at, kind, state_from, state_to, text_zh, text_en, staff_id, staff_name)
VALUES ('v' || :k::text, 'r' || :k::text, :now::bigint, 'public', NULL, NULL, '感谢您的反映，已转交市交通运输局道路养护中心处理。',
    'Thank you. Your report has been received and sent to Roads Maintenance Centre.', NULL, NULL);
INSERT INTO platform_outbox (id, topic, payload, created_at) VALUES ('n' || :k::text, 'notify.requested',
    json_build_object('notification_id', 'incident:' || 'r' || :k::text || ':' || 'update:' || 'v' || :k::text, 'citizen_id', 'c' || :k::text,
        'kind', 'incidents.report_updated', 'title_zh', '已受理', 'title_en', 'Report received',
        'body_zh', '感谢您的反映，已转交市交通运输局道路养护中心处理。',
        'body_en', 'Thank you. Your report has been received and sent to Roads Maintenance Centre.',
        'data', json_build_object('report_id', 'r' || :k::text, 'state', 'open', 'update_id', 'v' || :k::text),
        'channels', json_build_array('miniprogram', 'oa_template'))::text,
    :now::bigint);
INSERT INTO platform_outbox (id, topic, payload, created_at) VALUES ('e' || :k::text, 'incidents.reported',
    json_build_object('report_id', 'r' || :k::text, 'category', 'pothole', 'agency', 'roads', 'district', '510104',
        'lat', :lat::float8, 'lon', :lon::float8, 'created_at_ms', :now::bigint)::text,
    :now::bigint);
INSERT INTO incident_map_cells (zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon) VALUES
    (10, '*', :row::bigint >> 7, :col::bigint >> 7, 'open', 1, :lat::float8, :lon::float8),
    (10, (ARRAY['pothole', 'streetlight', 'water_leak', 'noise'])[:ci::int], :row::bigint >> 7, :col::bigint >> 7, 'open', 1, :lat::float8, :lon::float8),
    (12, '*', :row::bigint >> 5, :col::bigint >> 5, 'open', 1, :lat::float8, :lon::float8),
    (12, (ARRAY['pothole', 'streetlight', 'water_leak', 'noise'])[:ci::int], :row::bigint >> 5, :col::bigint >> 5, 'open', 1, :lat::float8, :lon::float8),
    (14, '*', :row::bigint >> 3, :col::bigint >> 3, 'open', 1, :lat::float8, :lon::float8),
    (14, (ARRAY['pothole', 'streetlight', 'water_leak', 'noise'])[:ci::int], :row::bigint >> 3, :col::bigint >> 3, 'open', 1, :lat::float8, :lon::float8),
    (16, '*', :row::bigint >> 1, :col::bigint >> 1, 'open', 1, :lat::float8, :lon::float8),
    (16, (ARRAY['pothole', 'streetlight', 'water_leak', 'noise'])[:ci::int], :row::bigint >> 1, :col::bigint >> 1, 'open', 1, :lat::float8, :lon::float8)
    ON CONFLICT (zoom, category, cell_row, cell_col, state) DO UPDATE SET
    n = incident_map_cells.n + excluded.n,
    sum_lat = incident_map_cells.sum_lat + excluded.sum_lat,
    sum_lon = incident_map_cells.sum_lon + excluded.sum_lon;
COMMIT;
