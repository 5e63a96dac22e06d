//! The service's clock is the platform's ([`city_platform::time::Clock`]), injected through the
//! state: handlers and use cases ask it for "now" and "today" instead of reading the wall clock.

pub use city_platform::time::Clock;
