-- Staff change their own password; an account given a temporary password by an admin must
-- change it before anything else in the console.
ALTER TABLE staff ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
