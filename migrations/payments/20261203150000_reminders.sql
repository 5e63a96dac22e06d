-- Issue #23: every reminder sent, by its key (`bill_new:<bill>:<citizen>`,
-- `bill_due:<bill>:<citizen>`, `fine_new:<fine>:<citizen>`), so each goes once: the row and the
-- notify.requested event are written in one transaction, and a second round finds the row.
CREATE TABLE payment_reminders (
    reminder_key TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
