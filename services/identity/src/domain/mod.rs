//! Pure identity rules: resident ID numbers (GB 11643), masks, credentials and their hashes,
//! personal-data encryption, the citizen id, the real-name check's seam. Pure: no web
//! framework, no database driver.

pub mod citizen_id;
pub mod credential;
pub mod id_number;
pub mod mask;
pub mod real_name;
pub mod sealed;
