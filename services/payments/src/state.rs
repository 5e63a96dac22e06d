//! What the payments handlers and use cases share.

use std::sync::Arc;

use city_platform::{Db, Platform};
use city_wechat::crypto::pay::ApiV3Key;
use city_wechat::pay_client::PayClient;
use tokio::sync::Notify;

use crate::applier::Applier;
use crate::biller::Biller;
use crate::clock::Clock;
use crate::payers::PayerDirectory;
use crate::store::Store;

/// What the payments handlers share.
pub struct PaymentsState {
    /// The service's own database.
    pub db: Db,
    /// Its SQL.
    pub store: Store,
    /// Cache, bus and reference data.
    pub platform: Platform,
    /// The clock every "now" comes from.
    pub clock: Clock,
    /// The WeChat Pay client (merchant signer, platform verifier).
    pub pay: PayClient,
    /// The biller adapter.
    pub biller: Arc<dyn Biller>,
    /// Wakes the background job (after a payment, so posting starts at once).
    pub kick: Arc<Notify>,
    /// Applies paid transactions in batched write transactions.
    pub applier: Applier,
    /// The APIv3 key that decrypts notifications.
    pub api_v3_key: ApiV3Key,
    /// Who pays: each citizen's Mini Program openid, from identity.
    pub payers: Arc<dyn PayerDirectory>,
}
