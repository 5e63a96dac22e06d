-- Hourly readings, their daily rollups and citizens' alert subscriptions. Portable SQL: runs on SQLite and PostgreSQL.

-- One row per station, hour and pollutant: the 1-hour mean in the Chinese standard's unit
-- (CO mg/m3, the others ug/m3), kept as exact decimal text so the AQI arithmetic never sees a float.
CREATE TABLE readings (
    station_code TEXT NOT NULL,
    hour_end BIGINT NOT NULL,          -- UTC milliseconds of the end of the averaged hour (the published time_point)
    pollutant TEXT NOT NULL,           -- pm25, pm10, so2, no2, co, o3
    value TEXT NOT NULL,
    received_at BIGINT NOT NULL,       -- UTC milliseconds
    corrected BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (station_code, hour_end, pollutant)
);
CREATE INDEX readings_by_hour ON readings (hour_end);

-- Daily means per station, Beijing calendar day and pollutant (a rollup of `readings`, rewritten when a
-- day's hours change), so 30-day history reads 180 rows instead of 4 320.
CREATE TABLE daily_rollups (
    station_code TEXT NOT NULL,
    day TEXT NOT NULL,                 -- YYYY-MM-DD, Beijing time
    hours TEXT NOT NULL,               -- JSON: {"pm25": ["35", null, ...24 values], ...}
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (station_code, day)
);

-- A citizen's alert: a place (WGS-84) or a district, a threshold level and the alert's state.
CREATE TABLE alert_subscriptions (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL,
    district_code TEXT,                -- set for district subscriptions
    lat DOUBLE PRECISION,              -- set for place subscriptions (WGS-84)
    lon DOUBLE PRECISION,
    label TEXT NOT NULL DEFAULT '',
    scheme TEXT NOT NULL,
    threshold_level BIGINT NOT NULL,   -- 2..6: alert when the level reaches it
    alerting BOOLEAN NOT NULL DEFAULT FALSE,
    episode BIGINT NOT NULL DEFAULT 0, -- how many alerts were raised; makes notification ids stable
    last_aqi BIGINT,
    last_hour_end BIGINT,              -- the hour last evaluated
    raised_at BIGINT,                  -- UTC milliseconds of the last alert
    cleared_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX alert_subscriptions_by_citizen ON alert_subscriptions (citizen_id);
