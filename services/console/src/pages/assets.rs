//! The console's static files, compiled into the binary: its own CSS and JavaScript and the
//! vendored Leaflet (see `vendor/README.md`). Nothing is fetched from elsewhere at run time.

use poem::http::{header, StatusCode};
use poem::web::Path;
use poem::{handler, IntoResponse, Response};

const FILES: &[(&str, &str, &[u8])] = &[
    ("console.css", "text/css; charset=utf-8", include_bytes!("../../assets/console.css")),
    ("console.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/console.js")),
    ("leaflet/leaflet.js", "text/javascript; charset=utf-8", include_bytes!("../../vendor/leaflet-1.9.4/leaflet.js")),
    ("leaflet/leaflet.css", "text/css; charset=utf-8", include_bytes!("../../vendor/leaflet-1.9.4/leaflet.css")),
    ("leaflet/LICENSE", "text/plain; charset=utf-8", include_bytes!("../../vendor/leaflet-1.9.4/LICENSE")),
    (
        "leaflet/images/marker-icon.png",
        "image/png",
        include_bytes!("../../vendor/leaflet-1.9.4/images/marker-icon.png"),
    ),
    (
        "leaflet/images/marker-icon-2x.png",
        "image/png",
        include_bytes!("../../vendor/leaflet-1.9.4/images/marker-icon-2x.png"),
    ),
    (
        "leaflet/images/marker-shadow.png",
        "image/png",
        include_bytes!("../../vendor/leaflet-1.9.4/images/marker-shadow.png"),
    ),
];

#[handler]
pub fn serve(Path(path): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == path) {
        Some((_, mime, bytes)) => Response::builder()
            .content_type(*mime)
            // Versioned by the binary: an hour is short enough for a deploy to show.
            .header(header::CACHE_CONTROL, "public, max-age=3600")
            .header("x-content-type-options", "nosniff")
            .body(bytes.to_vec()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
