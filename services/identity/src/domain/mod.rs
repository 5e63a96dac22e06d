//! Pure identity rules: resident ID numbers (GB 11643), masks, credentials and their hashes,
//! personal-data encryption. No poem, no sqlx.

pub mod credential;
pub mod id_number;
pub mod mask;
pub mod sealed;
