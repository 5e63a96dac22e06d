//! The ids that cross module boundaries: an order's id (ours) and its out_trade_no (our number
//! at WeChat Pay). Both are strings underneath; the types keep one from being passed as the other.

city_platform::string_id!(
    /// An order's id (UUIDv7 text).
    pub OrderId
);

city_platform::string_id!(
    /// Our number for an order at WeChat Pay (a kind letter and 31 characters of the order id).
    pub OutTradeNo
);
