-- Issue #15: a suspension belongs to the hospital whose no-show imposed it, so a scheduler lists
-- and lifts only their own hospital's. Older rows (no hospital) are left to admins.
ALTER TABLE suspensions ADD COLUMN hospital_id TEXT;
CREATE INDEX suspensions_hospital ON suspensions (hospital_id, ends_at);
