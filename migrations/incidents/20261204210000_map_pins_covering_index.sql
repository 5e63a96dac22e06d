-- A block view's pins also need each report's agency (the privacy rule), id and time, which the
-- map index lacked: every pin cost a read of its row, about one page each at random over the
-- table, and at 1 M reports that page reading was most of the view's time (issue #24). With them
-- in the index, the view is read from the index alone (on PostgreSQL once the table's pages are
-- all-visible, which autovacuum keeps them). Same leading columns, so every other use of the old
-- index is served by this one.
CREATE INDEX incident_reports_map_pins ON incident_reports
    (cell_row, cell_col, moderation, category, state, lat, lon, agency, id, created_at);
DROP INDEX incident_reports_map;
