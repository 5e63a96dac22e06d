//! Ids that cross module boundaries (handler → use case → store), typed so an appointment's id
//! cannot be passed where a slot's is meant. UUIDv7 text underneath, as in SQL and JSON.

city_platform::string_id!(
    /// An appointment's id.
    pub AppointmentId
);
city_platform::string_id!(
    /// A numbered slot's id.
    pub SlotId
);
city_platform::string_id!(
    /// A session's (a doctor's half-day) id.
    pub SessionId
);
