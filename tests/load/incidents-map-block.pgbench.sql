-- The map's SQL for one block-zoom view (services/incidents/src/store/map.rs, as `reports::map::view`
-- runs it for a box of about 450 x 480 m at zoom 17): the count table's zoom-16 cells that bound
-- the view, then the map index counting the view (up to 301) and listing its pins. Every block is
-- one of the harness's own (table load_blocks, the same boxes it asks the portal for); picking it
-- is one more primary-key lookup than the service makes, so this floor is a little low. The
-- private categories and agencies are the catalogue's (the harness checks this text against it).
\set b random(0, :n_blocks - 1)
SELECT south, west, north, east, r16_0, r16_1, c16_0, c16_1, r0, r1, r2, r3, r4, r5, r6, r7, c0, c1
    FROM load_blocks WHERE i = :b \gset
SELECT cell_row >> 0 AS r, cell_col >> 0 AS c, state, CAST(SUM(n) AS BIGINT) AS n,
    SUM(sum_lat) AS sum_lat, SUM(sum_lon) AS sum_lon FROM incident_map_cells
    WHERE zoom = 16 AND category IN ('*') AND cell_row BETWEEN :r16_0 AND :r16_1 AND cell_col BETWEEN :c16_0 AND :c16_1
    GROUP BY 1, 2, state HAVING SUM(n) > 0;
SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT 1 AS one FROM incident_reports
    WHERE cell_row IN (:r0, :r1, :r2, :r3, :r4, :r5, :r6, :r7) AND cell_col BETWEEN :c0 AND :c1 AND moderation = 'pass'
    AND category NOT IN ('night_noise', 'illegal_parking', 'lost_item', 'traffic_light_fault') AND agency NOT IN ('police')
    AND lat BETWEEN :south AND :north AND lon BETWEEN :west AND :east LIMIT 301) AS view;
SELECT id, lat, lon, category, state, created_at FROM incident_reports
    WHERE cell_row IN (:r0, :r1, :r2, :r3, :r4, :r5, :r6, :r7) AND cell_col BETWEEN :c0 AND :c1 AND moderation = 'pass'
    AND category NOT IN ('night_noise', 'illegal_parking', 'lost_item', 'traffic_light_fault') AND agency NOT IN ('police')
    AND lat BETWEEN :south AND :north AND lon BETWEEN :west AND :east LIMIT 301;
