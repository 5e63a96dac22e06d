-- Only held text needs finding by its moderation: a partial index, so the planner can never
-- take it for the map's `moderation = 'pass'` (which, without statistics, it did over the
-- map index, reading every public report).
DROP INDEX incident_reports_moderation;
CREATE INDEX incident_reports_pending ON incident_reports (created_at) WHERE moderation = 'pending';
