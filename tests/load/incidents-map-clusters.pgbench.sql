-- The map's SQL for the whole city as clusters (services/incidents/src/store/map.rs
-- `counted_cells`): one sum over the count table's cells covering the city, at the kept zoom
-- serving the view's grid. The views are the harness's own (table load_views: the city's box
-- at web-map zooms 10, 11 and 12), picked by one more primary-key lookup than the service makes.
\set v random(0, :n_views - 1)
SELECT count_zoom, shift, r0, r1, c0, c1 FROM load_views WHERE i = :v \gset
SELECT cell_row >> :shift AS r, cell_col >> :shift AS c, state, CAST(SUM(n) AS BIGINT) AS n,
    SUM(sum_lat) AS sum_lat, SUM(sum_lon) AS sum_lon FROM incident_map_cells
    WHERE zoom = :count_zoom AND category IN ('*') AND cell_row BETWEEN :r0 AND :r1 AND cell_col BETWEEN :c0 AND :c1
    GROUP BY 1, 2, state HAVING SUM(n) > 0;
