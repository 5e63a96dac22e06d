-- Air-quality monitoring stations (国控/省控/市控点). Portable SQL: runs on SQLite and PostgreSQL.
CREATE TABLE stations (
    code TEXT PRIMARY KEY,            -- the network's station code, e.g. 1431A
    name TEXT NOT NULL,
    district_code TEXT,               -- from the platform's districts; NULL outside the city
    lat DOUBLE PRECISION NOT NULL,    -- WGS-84
    lon DOUBLE PRECISION NOT NULL,
    operator TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,       -- UTC milliseconds
    updated_at BIGINT NOT NULL
);
