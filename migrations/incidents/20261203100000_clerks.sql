-- Issue #15: an assignee must be a clerk who may handle the report. Incidents keeps a copy of
-- each clerk as they last acted on the queue (roles and scopes from their own sign-in), so an
-- assignment is checked against the assignee's scope without asking identity.
CREATE TABLE incident_clerks (
    staff_id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    roles TEXT NOT NULL,
    scopes TEXT NOT NULL,
    seen_at BIGINT NOT NULL
);
