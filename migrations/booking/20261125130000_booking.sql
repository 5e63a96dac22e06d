-- The booking service's store: catalogue, sessions and numbered slots, appointments, waitlist,
-- no-show suspensions. Portable between SQLite and PostgreSQL (see docs/architecture.md).

-- Release rules live on the hospital; a department may override any of them (NULL = inherit).
CREATE TABLE hospitals (
    id TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    district_code TEXT NOT NULL,
    level TEXT NOT NULL,
    address TEXT NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    phone TEXT NOT NULL,
    charges_online BOOLEAN NOT NULL,
    release_days_ahead BIGINT NOT NULL,
    release_minute_of_day BIGINT NOT NULL,
    cutoff_minutes_before BIGINT NOT NULL,
    cancel_days_before BIGINT NOT NULL,
    cancel_minute_of_day BIGINT NOT NULL,
    hold_minutes BIGINT NOT NULL,
    waitlist_accept_minutes BIGINT NOT NULL
);

CREATE TABLE departments (
    id TEXT PRIMARY KEY,
    hospital_id TEXT NOT NULL REFERENCES hospitals (id),
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    release_days_ahead BIGINT,
    release_minute_of_day BIGINT,
    cutoff_minutes_before BIGINT,
    cancel_days_before BIGINT,
    cancel_minute_of_day BIGINT
);
CREATE INDEX departments_hospital ON departments (hospital_id);

CREATE TABLE doctors (
    id TEXT PRIMARY KEY,
    hospital_id TEXT NOT NULL REFERENCES hospitals (id),
    department_id TEXT NOT NULL REFERENCES departments (id),
    name TEXT NOT NULL,
    title TEXT NOT NULL,
    specialty TEXT NOT NULL,
    fee_fen BIGINT NOT NULL,
    photo_url TEXT NOT NULL
);
CREATE INDEX doctors_department ON doctors (department_id);

-- One half-day of one doctor. status: open | stopped.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    doctor_id TEXT NOT NULL REFERENCES doctors (id),
    hospital_id TEXT NOT NULL,
    department_id TEXT NOT NULL,
    visit_date TEXT NOT NULL,
    period TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    capacity BIGINT NOT NULL,
    slot_minutes BIGINT NOT NULL,
    fee_fen BIGINT NOT NULL,
    status TEXT NOT NULL,
    stop_reason TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (doctor_id, visit_date, period)
);
CREATE INDEX sessions_date ON sessions (visit_date, department_id);

-- One numbered place (号序). status: free | held | booked | stopped. A slot is taken only by a
-- conditional UPDATE ... WHERE status = 'free'.
CREATE TABLE slots (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    number BIGINT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    appointment_id TEXT,
    UNIQUE (session_id, number)
);

-- status: pending_payment | offered | booked | checked_in | cancelled | expired | no_show.
CREATE TABLE appointments (
    id TEXT PRIMARY KEY,
    slot_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    doctor_id TEXT NOT NULL,
    hospital_id TEXT NOT NULL,
    department_id TEXT NOT NULL,
    visit_date TEXT NOT NULL,
    number BIGINT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    citizen_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    id_number_hash TEXT NOT NULL,
    patient_name_masked TEXT NOT NULL,
    fee_fen BIGINT NOT NULL,
    paid BOOLEAN NOT NULL,
    out_trade_no TEXT,
    refund_state TEXT,
    status TEXT NOT NULL,
    hold_expires_at BIGINT,
    cancel_reason TEXT,
    reminded BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- The database, not the handler, guarantees one live appointment per slot and per patient and slot.
CREATE UNIQUE INDEX appointments_live_slot ON appointments (slot_id)
    WHERE status IN ('pending_payment', 'offered', 'booked', 'checked_in');
CREATE INDEX appointments_patient ON appointments (id_number_hash, visit_date);
CREATE INDEX appointments_citizen ON appointments (citizen_id, visit_date);
CREATE INDEX appointments_session ON appointments (session_id);
CREATE INDEX appointments_hold ON appointments (status, hold_expires_at);

-- One row per patient, written first in every booking transaction: the row lock serialises one
-- patient's bookings on PostgreSQL so the limit counts that follow cannot race.
CREATE TABLE patient_locks (
    id_number_hash TEXT PRIMARY KEY,
    n_bookings BIGINT NOT NULL
);

-- status: waiting | offered | accepted | expired | cleared | cancelled | skipped.
CREATE TABLE waitlist (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    citizen_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    id_number_hash TEXT NOT NULL,
    patient_name_masked TEXT NOT NULL,
    status TEXT NOT NULL,
    appointment_id TEXT,
    offer_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
CREATE UNIQUE INDEX waitlist_live ON waitlist (session_id, id_number_hash) WHERE status IN ('waiting', 'offered');
CREATE INDEX waitlist_queue ON waitlist (session_id, status, seq);

CREATE TABLE no_shows (
    appointment_id TEXT PRIMARY KEY,
    id_number_hash TEXT NOT NULL,
    visit_date TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX no_shows_patient ON no_shows (id_number_hash, visit_date);

CREATE TABLE suspensions (
    id TEXT PRIMARY KEY,
    id_number_hash TEXT NOT NULL,
    patient_name_masked TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    n_no_shows BIGINT NOT NULL,
    lifted_at BIGINT,
    lifted_by TEXT,
    lift_reason TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX suspensions_patient ON suspensions (id_number_hash, ends_at);

-- A rebooking offer after a stop: the alternatives, for the patient to confirm.
CREATE TABLE rebooking_offers (
    appointment_id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL,
    alternatives TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
