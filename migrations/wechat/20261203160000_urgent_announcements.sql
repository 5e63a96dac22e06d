-- Urgent announcements (issue #21): sent as template messages to the citizens concerned (an
-- appointment or an open report in the announcement's district), never broadcast. The district
-- is the existing `district` column (required for an urgent one). 0/1 rather than BOOLEAN keeps
-- the default portable; `recipients` is how many citizens a template message was planned for,
-- NULL until an urgent one is sent.
ALTER TABLE announcements ADD COLUMN urgent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE announcements ADD COLUMN recipients BIGINT;
