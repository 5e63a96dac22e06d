-- Incident reports: one row per report, its public/internal history, photos, followers
-- ("me too"), per-citizen repeat guard, and Open311 tokens.
CREATE TABLE incident_reports (
    id TEXT PRIMARY KEY,
    citizen_id TEXT,
    reporter_name TEXT,
    anonymous BOOLEAN NOT NULL,
    channel TEXT NOT NULL,
    contact TEXT,
    category TEXT NOT NULL,
    agency TEXT NOT NULL,
    district TEXT NOT NULL,
    state TEXT NOT NULL,
    is_open BOOLEAN NOT NULL,
    description TEXT NOT NULL,
    address TEXT NOT NULL,
    attributes TEXT NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    orig_crs TEXT NOT NULL,
    orig_lat DOUBLE PRECISION NOT NULL,
    orig_lon DOUBLE PRECISION NOT NULL,
    moderation TEXT NOT NULL,
    assignee_id TEXT,
    assignee_name TEXT,
    duplicate_of TEXT,
    n_photos BIGINT NOT NULL,
    n_followers BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX incident_reports_lat_lon ON incident_reports (lat, lon);
CREATE INDEX incident_reports_category_open ON incident_reports (category, is_open, lat);
CREATE INDEX incident_reports_district_state ON incident_reports (district, state, created_at);
CREATE INDEX incident_reports_agency_state ON incident_reports (agency, state, created_at);
CREATE INDEX incident_reports_citizen ON incident_reports (citizen_id, created_at);
CREATE INDEX incident_reports_created ON incident_reports (created_at);

CREATE TABLE incident_updates (
    id TEXT PRIMARY KEY,
    report_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    state_from TEXT,
    state_to TEXT,
    text_zh TEXT NOT NULL,
    text_en TEXT NOT NULL,
    staff_id TEXT,
    staff_name TEXT
);
CREATE INDEX incident_updates_report ON incident_updates (report_id, at);

CREATE TABLE incident_photos (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    report_id TEXT,
    content_type TEXT NOT NULL,
    width BIGINT NOT NULL,
    height BIGINT NOT NULL,
    n_bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX incident_photos_report ON incident_photos (report_id);

CREATE TABLE incident_followers (
    report_id TEXT NOT NULL,
    citizen_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (report_id, citizen_id)
);

CREATE TABLE incident_reporters (
    reporter_key TEXT PRIMARY KEY,
    last_report_at BIGINT NOT NULL
);

CREATE TABLE incident_tokens (
    token TEXT PRIMARY KEY,
    report_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
