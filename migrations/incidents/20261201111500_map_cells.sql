-- The map's grid (see services/incidents/src/domain/grid.rs): each report's cell at zoom 17,
-- and per-cell counts at zooms 10, 12, 14 and 16 by (category, state) and by state alone
-- (category '*'), kept in the same transaction as every write that moves a report on the map.
-- Only reports whose text passed the content-safety check (moderation = 'pass') are counted.
ALTER TABLE incident_reports ADD COLUMN cell_row BIGINT;
ALTER TABLE incident_reports ADD COLUMN cell_col BIGINT;

-- floor() of a positive number in both dialects: SQLite's CAST truncates, PostgreSQL's rounds,
-- so subtract one where the cast went up. 0.0006866455078125 = 90 / 2^17 exactly.
UPDATE incident_reports SET
    cell_row = CAST((lat + 90) / 0.0006866455078125 AS BIGINT) - CASE WHEN CAST((lat + 90) / 0.0006866455078125 AS BIGINT) > (lat + 90) / 0.0006866455078125 THEN 1 ELSE 0 END,
    cell_col = CAST((lon + 180) / 0.0006866455078125 AS BIGINT) - CASE WHEN CAST((lon + 180) / 0.0006866455078125 AS BIGINT) > (lon + 180) / 0.0006866455078125 THEN 1 ELSE 0 END;

CREATE TABLE incident_map_cells (
    zoom BIGINT NOT NULL,
    category TEXT NOT NULL,
    cell_row BIGINT NOT NULL,
    cell_col BIGINT NOT NULL,
    state TEXT NOT NULL,
    n BIGINT NOT NULL,
    sum_lat DOUBLE PRECISION NOT NULL,
    sum_lon DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (zoom, category, cell_row, cell_col, state)
);

INSERT INTO incident_map_cells (zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon)
SELECT 10, category, cell_row >> 7, cell_col >> 7, state, COUNT(*), SUM(lat), SUM(lon)
FROM incident_reports WHERE moderation = 'pass' GROUP BY category, cell_row >> 7, cell_col >> 7, state;
INSERT INTO incident_map_cells (zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon)
SELECT 10, '*', cell_row >> 7, cell_col >> 7, state, COUNT(*), SUM(lat), SUM(lon)
FROM incident_reports WHERE moderation = 'pass' GROUP BY cell_row >> 7, cell_col >> 7, state;

INSERT INTO incident_map_cells (zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon)
SELECT 12, category, cell_row >> 5, cell_col >> 5, state, COUNT(*), SUM(lat), SUM(lon)
FROM incident_reports WHERE moderation = 'pass' GROUP BY category, cell_row >> 5, cell_col >> 5, state;
INSERT INTO incident_map_cells (zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon)
SELECT 12, '*', cell_row >> 5, cell_col >> 5, state, COUNT(*), SUM(lat), SUM(lon)
FROM incident_reports WHERE moderation = 'pass' GROUP BY cell_row >> 5, cell_col >> 5, state;

INSERT INTO incident_map_cells (zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon)
SELECT 14, category, cell_row >> 3, cell_col >> 3, state, COUNT(*), SUM(lat), SUM(lon)
FROM incident_reports WHERE moderation = 'pass' GROUP BY category, cell_row >> 3, cell_col >> 3, state;
INSERT INTO incident_map_cells (zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon)
SELECT 14, '*', cell_row >> 3, cell_col >> 3, state, COUNT(*), SUM(lat), SUM(lon)
FROM incident_reports WHERE moderation = 'pass' GROUP BY cell_row >> 3, cell_col >> 3, state;

INSERT INTO incident_map_cells (zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon)
SELECT 16, category, cell_row >> 1, cell_col >> 1, state, COUNT(*), SUM(lat), SUM(lon)
FROM incident_reports WHERE moderation = 'pass' GROUP BY category, cell_row >> 1, cell_col >> 1, state;
INSERT INTO incident_map_cells (zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon)
SELECT 16, '*', cell_row >> 1, cell_col >> 1, state, COUNT(*), SUM(lat), SUM(lon)
FROM incident_reports WHERE moderation = 'pass' GROUP BY cell_row >> 1, cell_col >> 1, state;

-- Pins and fine clusters read a view's cells from this index alone (the lat/lon index it
-- replaces made every view scan its whole latitude band).
CREATE INDEX incident_reports_map ON incident_reports (cell_row, cell_col, moderation, category, state, lat, lon);
DROP INDEX incident_reports_lat_lon;

-- Text held while the content-safety check was unreachable is asked about again, oldest first.
CREATE INDEX incident_reports_moderation ON incident_reports (moderation, created_at);
