-- Issue #19: a public update may carry a photo the crew took ("fixed"). The clerk's upload is
-- attached to the report (so the unattached-upload sweep keeps it and it is served publicly)
-- and to the history entry it illustrates; the report's own photo list leaves these out.
ALTER TABLE incident_photos ADD COLUMN update_id TEXT;
