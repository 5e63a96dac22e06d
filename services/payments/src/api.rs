//! HTTP surface of the payments service.

use std::sync::Arc;

use poem_openapi::{OpenApi, Tags};

use crate::PaymentsState;

#[derive(Tags)]
#[allow(dead_code)] // Used by the operations the service's issue adds.
enum PaymentsTags {
    /// Household bills and traffic fines, paid with WeChat Pay.
    Payments,
}

/// The payments service's operations.
pub struct PaymentsApi {
    #[allow(dead_code)] // Read by the operations that the payments issue adds.
    state: Arc<PaymentsState>,
}

impl PaymentsApi {
    /// The API over shared state.
    pub fn new(state: Arc<PaymentsState>) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "PaymentsTags::Payments")]
impl PaymentsApi {}
