-- Issue #23: a citizen's confirmed e-mail address (sealed, shown masked) and which channels they
-- want each kind of notice on. No row: no address / the service's own choice of channels.
CREATE TABLE citizen_emails (
    citizen_id TEXT PRIMARY KEY,
    email_sealed TEXT NOT NULL,
    email_masked TEXT NOT NULL,
    confirmed_at_ms BIGINT NOT NULL
);

CREATE TABLE citizen_preferences (
    citizen_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    channels TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (citizen_id, kind)
);
