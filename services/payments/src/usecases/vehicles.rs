//! The vehicle registry: proving a car with its plate and the last six characters of its engine
//! number (as the traffic police's own app asks), binding it, and feeding the registry from the
//! fines file. A plate alone shows nobody anything; an unknown plate and a wrong engine code get
//! the same answer; guesses are counted per citizen and per plate before they are checked.

use std::fmt;
use std::time::Duration;

use city_platform::config::Settings;

use crate::domain::fine_import::FineImportRow;
use crate::domain::vehicles::{self, EngineCode, ATTEMPTS_PER_CITIZEN_PER_DAY, ATTEMPTS_PER_PLATE_PER_DAY};
use crate::domain::{self, Plate};
use crate::store::fines::FineRow;
use crate::store::vehicles::{FineFile, FinesRecorded, NewFine, VehicleBindingRow};
use crate::store::StoreError;
use crate::PaymentsState;

/// Why a vehicle could not be proved, bound or read.
#[derive(Debug)]
pub enum VehicleError {
    /// A field the plate form needs is absent (named).
    Missing(&'static str),
    /// Not a plate number.
    BadPlate,
    /// Not a plate type code.
    BadPlateType,
    /// Not six letters or digits.
    BadEngineCode,
    /// No registered vehicle has this plate, type and engine code (an unknown plate and a wrong
    /// code are one answer).
    NoMatch,
    /// Too many fine lookups today by this citizen, or plate-and-engine attempts at this plate.
    TooManyAttempts,
    /// No such binding of the caller's.
    BindingNotFound,
    /// The binding's plate now belongs to another vehicle; bind it again.
    BindingStale,
    /// The attempt counters could not be reached; nothing is checked without them.
    Unavailable,
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for VehicleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(field) => write!(f, "{field} is required"),
            Self::BadPlate => f.write_str("not a plate number"),
            Self::BadPlateType => f.write_str("not a plate type code"),
            Self::BadEngineCode => f.write_str("not six letters or digits"),
            Self::NoMatch => f.write_str("no vehicle matches this plate, plate type and engine number"),
            Self::TooManyAttempts => f.write_str("too many fine lookups today"),
            Self::BindingNotFound => f.write_str("no such vehicle binding"),
            Self::BindingStale => f.write_str("the plate now belongs to another vehicle; bind it again"),
            Self::Unavailable => f.write_str("the attempt counters are not answering"),
            Self::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for VehicleError {}

impl From<StoreError> for VehicleError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// What a citizen types to prove a car, as typed.
#[derive(Debug, Clone, Copy, Default)]
pub struct VehicleProof<'a> {
    /// Plate number.
    pub plate: Option<&'a str>,
    /// Plate type code.
    pub plate_type: Option<&'a str>,
    /// The last six characters of the engine number.
    pub engine_last6: Option<&'a str>,
}

/// A car proved: its plate, type and registry id.
#[derive(Debug, Clone)]
pub struct ProvedVehicle {
    /// The plate.
    pub plate: Plate,
    /// Plate type code.
    pub plate_type: &'static str,
    /// The registry's id of the car.
    pub vehicle_id: String,
}

/// The key of this deployment's registry hashes. Derived from the WeChat Pay APIv3 key, the
/// payments secret every profile configures (production refuses to start without it) and that
/// never sits in the database. Rotating it leaves bound vehicles working (bindings keep the
/// registry's id, not a hash) and plate lookups working again after the next fines file.
pub fn registry_key(settings: &Settings) -> [u8; 32] {
    vehicles::registry_key(settings.payments.api_v3_key.expose())
}

/// Counts one attempt for the citizen and (with a plate) for the plate, before anything is
/// compared, so parallel guesses cannot outrun the count.
async fn reserve_attempt(state: &PaymentsState, citizen_id: &str, plate_tag: Option<&str>) -> Result<(), VehicleError> {
    let day = state.clock.today().format("%Y%m%d");
    // A day and an hour, so a counter started just before midnight still covers its whole day.
    let ttl = Duration::from_secs(25 * 3600);
    let cache = &state.platform.cache;
    let counted = async {
        let by_citizen = cache.increment(&format!("payments:vehicle-attempts:citizen:{citizen_id}:{day}"), ttl).await?;
        let by_plate = match plate_tag {
            Some(tag) => cache.increment(&format!("payments:vehicle-attempts:plate:{tag}:{day}"), ttl).await?,
            None => 0,
        };
        Ok::<_, city_platform::cache::CacheError>((by_citizen, by_plate))
    };
    match counted.await {
        Ok((c, p)) if c <= ATTEMPTS_PER_CITIZEN_PER_DAY && p <= ATTEMPTS_PER_PLATE_PER_DAY => Ok(()),
        Ok(_) => {
            tracing::warn!(citizen = %citizen_id, "fine lookups over the day's limit");
            Err(VehicleError::TooManyAttempts)
        }
        Err(err) => {
            tracing::warn!(error = %err, "fine lookup counters unavailable; refusing");
            Err(VehicleError::Unavailable)
        }
    }
}

/// Counts a lookup by decision number against the citizen's day: the numbers run in sequence,
/// so without a count anyone could walk them and learn where and when cars were.
pub async fn reserve_decision_lookup(state: &PaymentsState, citizen_id: &str) -> Result<(), VehicleError> {
    reserve_attempt(state, citizen_id, None).await
}

/// Proves a car: plate, type and engine code must match a registered vehicle.
#[tracing::instrument(skip_all, fields(citizen = %citizen_id))]
pub async fn prove(
    state: &PaymentsState,
    citizen_id: &str,
    proof: VehicleProof<'_>,
) -> Result<ProvedVehicle, VehicleError> {
    let plate = Plate::parse(proof.plate.ok_or(VehicleError::Missing("plate"))?).ok_or(VehicleError::BadPlate)?;
    let plate_type = domain::plate_type(proof.plate_type.ok_or(VehicleError::Missing("plate_type"))?)
        .ok_or(VehicleError::BadPlateType)?;
    let engine = EngineCode::parse(proof.engine_last6.ok_or(VehicleError::Missing("engine_last6"))?)
        .ok_or(VehicleError::BadEngineCode)?;
    let key = registry_key(&state.platform.settings);
    reserve_attempt(state, citizen_id, Some(&vehicles::plate_tag(&key, &plate, plate_type))).await?;
    // Hashed before the lookup, so an unknown plate costs what a known one does.
    let candidate = vehicles::engine_hash(&key, &plate, plate_type, &engine);
    match state.store.vehicle(plate.as_str(), plate_type).await? {
        Some(v) if v.engine_hash == candidate => Ok(ProvedVehicle { plate, plate_type, vehicle_id: v.id }),
        _ => Err(VehicleError::NoMatch),
    }
}

/// The fines of a car proved by plate, type and engine code, oldest decision first: the car's
/// own, not those of an earlier car that carried the plate.
pub async fn fines_of_proved(
    state: &PaymentsState,
    citizen_id: &str,
    proof: VehicleProof<'_>,
) -> Result<Vec<FineRow>, VehicleError> {
    let car = prove(state, citizen_id, proof).await?;
    Ok(state.store.fines_of_vehicle(&car.vehicle_id).await?)
}

/// Binds a proved car to the citizen (again: the binding, now to the car registered today).
pub async fn bind(
    state: &PaymentsState,
    citizen_id: &str,
    proof: VehicleProof<'_>,
    label: Option<&str>,
) -> Result<VehicleBindingRow, VehicleError> {
    let car = prove(state, citizen_id, proof).await?;
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    let binding = state
        .store
        .bind_vehicle(citizen_id, &car.vehicle_id, car.plate.as_str(), car.plate_type, label, state.clock.now_ms())
        .await?;
    tracing::info!(binding = %binding.id, "vehicle bound");
    Ok(binding)
}

/// The citizen's bound vehicles.
pub async fn bound_of(state: &PaymentsState, citizen_id: &str) -> Result<Vec<VehicleBindingRow>, VehicleError> {
    Ok(state.store.vehicle_bindings_of(citizen_id).await?)
}

/// Unbinds one of the citizen's vehicles.
pub async fn unbind(state: &PaymentsState, citizen_id: &str, binding_id: &str) -> Result<(), VehicleError> {
    if state.store.unbind_vehicle(citizen_id, binding_id).await? {
        Ok(())
    } else {
        Err(VehicleError::BindingNotFound)
    }
}

/// The fines of one of the citizen's bound vehicles, while the plate is still that car's.
pub async fn fines_of_bound(
    state: &PaymentsState,
    citizen_id: &str,
    binding_id: &str,
) -> Result<Vec<FineRow>, VehicleError> {
    let binding = state.store.vehicle_binding(citizen_id, binding_id).await?.ok_or(VehicleError::BindingNotFound)?;
    if !binding.current {
        return Err(VehicleError::BindingStale);
    }
    Ok(state.store.fines_of_vehicle(&binding.vehicle_id).await?)
}

/// Records fines with their vehicles in the registry (the fines file's rows, or any other
/// source of them such as demo data); `file` names the file they came in, if any.
pub async fn register_fines(
    state: &PaymentsState,
    rows: &[FineImportRow],
    file: Option<&FineFile<'_>>,
) -> Result<FinesRecorded, StoreError> {
    let key = registry_key(&state.platform.settings);
    let hashes: Vec<String> =
        rows.iter().map(|r| vehicles::engine_hash(&key, &r.plate, r.plate_type, &r.engine)).collect();
    let fines: Vec<NewFine> = rows
        .iter()
        .zip(&hashes)
        .map(|(r, hash)| NewFine {
            decision_no: &r.decision_no,
            plate: r.plate.as_str(),
            plate_type: r.plate_type,
            engine_hash: Some(hash),
            fine_fen: r.fine_fen,
            decided_on: r.decided_on.to_string(),
            violation: &r.violation,
            location: &r.location,
        })
        .collect();
    state.store.record_fines(file, &fines, state.clock.now_ms()).await
}
