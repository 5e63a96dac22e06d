//! HTTP surface of the booking service.

use std::sync::Arc;

use poem_openapi::{OpenApi, Tags};

use crate::BookingState;

#[derive(Tags)]
#[allow(dead_code)] // Used by the operations the service's issue adds.
enum BookingTags {
    /// Doctor appointments: hospitals, doctors, slots, bookings, waitlists.
    Booking,
}

/// The booking service's operations.
pub struct BookingApi {
    #[allow(dead_code)] // Read by the operations that the booking issue adds.
    state: Arc<BookingState>,
}

impl BookingApi {
    /// The API over shared state.
    pub fn new(state: Arc<BookingState>) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "BookingTags::Booking")]
impl BookingApi {}
