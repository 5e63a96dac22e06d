//! Simulated WeChat Pay API v3 merchant account.

use city_platform::config::Settings;
use poem::Route;

/// The simulated WeChat Pay endpoints.
pub fn routes(_settings: &Settings) -> Route {
    Route::new()
}
