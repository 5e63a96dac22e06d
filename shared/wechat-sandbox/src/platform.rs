//! Simulated WeChat server APIs for the Mini Program and the Service Account.

use city_platform::config::Settings;
use poem::Route;

/// The simulated Mini Program and Service Account endpoints.
pub fn routes(_settings: &Settings) -> Route {
    Route::new()
}
