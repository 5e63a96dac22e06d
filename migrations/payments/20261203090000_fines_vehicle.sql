-- Issue #15: a fine belongs to the car it was decided against, not to the plate: when a plate
-- goes to another car (another engine in the fines file), the new holder must not see the old
-- car's violations. NULL: a fine recorded without its vehicle, found by decision number only.
ALTER TABLE fines ADD COLUMN vehicle_id TEXT;
UPDATE fines SET vehicle_id = (
    SELECT v.id FROM vehicles v WHERE v.plate = fines.plate AND v.plate_type = fines.plate_type
);
CREATE INDEX fines_vehicle ON fines (vehicle_id);
