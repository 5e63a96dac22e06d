//! How booking's cost grows with the crowd: the bookings scenario at 1 to 256 clients, each
//! point on slots and patients of its own, drawn as PNG charts (bookings/s and p99 against
//! clients) with plotters, and the points kept as JSON beside them (`LOAD_CURVE=dir`).

use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::scenarios::{self, Run};

/// The clients of each point.
const CLIENTS: [usize; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

#[derive(Debug, Serialize)]
struct Point {
    clients: usize,
    bookings_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

/// Runs every point and writes `bookings.json`, `bookings-rate.png` and `bookings-p99.png`
/// into `dir`.
pub async fn bookings(run: &mut Run<'_>, staff: &str, dir: &str, backend: &str) {
    let mut points = Vec::new();
    for (i, clients) in CLIENTS.into_iter().enumerate() {
        run.load.concurrency = clients;
        // A short warm-up: the prepared slots are for measuring.
        run.load.warmup = std::time::Duration::from_millis(200);
        let row = scenarios::book_prepared(run, staff, 2_000_000 + i as u64 * 100_000).await;
        println!("  clients {clients:>3}: {:.0} bookings/s, p99 {:.2} ms", row.rps, row.p99_ms);
        points.push(Point {
            clients,
            bookings_per_s: row.rps,
            p50_ms: row.p50_ms,
            p99_ms: row.p99_ms,
            errors: row.n_errors(),
        });
    }
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
    let json = serde_json::json!({"backend": backend, "secs": run.load.duration.as_secs(), "points": points});
    let text = serde_json::to_string_pretty(&json).expect("the points as JSON") + "\n";
    std::fs::write(Path::new(dir).join("bookings.json"), text).expect("bookings.json");
    let series = |f: fn(&Point) -> f64| points.iter().map(|p| (p.clients as f64, f(p))).collect::<Vec<_>>();
    let caption = |what: &str| format!("{what} ({backend})");
    let path = |name: &str| Path::new(dir).join(name);
    draw(&path("bookings-rate.png"), &caption("bookings/s"), "clients", "bookings/s", &series(|p| p.bookings_per_s));
    draw(&path("bookings-p99.png"), &caption("booking p99"), "clients", "p99 ms", &series(|p| p.p99_ms));
    println!("  charts and points written to {dir}/");
}

/// One line chart of `points` (x, y) with a logarithmic x axis spanning the points' x values
/// (clients, reports, stations all grow by factors). Every curve of the harness uses it.
pub fn draw(path: &Path, caption: &str, x_label: &str, y_label: &str, points: &[(f64, f64)]) {
    register_font();
    let (width, height) = (800u32, 480u32);
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        root.fill(&WHITE).expect("a white background");
        let y_max = points.iter().map(|(_, y)| *y).fold(0.0, f64::max).max(1.0) * 1.1;
        let x_min = points.iter().map(|(x, _)| *x).fold(f64::INFINITY, f64::min).clamp(1.0, f64::MAX);
        let x_max = points.iter().map(|(x, _)| *x).fold(x_min * 2.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d((x_min..x_max).log_scale(), 0.0..y_max)
            .expect("the chart's axes");
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .expect("the mesh");
        chart.draw_series(LineSeries::new(points.iter().copied(), BLUE.stroke_width(2))).expect("the line");
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 4, BLUE.filled()))).expect("the points");
        root.present().expect("the chart drawn");
    }
    image::RgbImage::from_raw(width, height, pixels)
        .expect("an RGB buffer of the chart's size")
        .save(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// plotters draws text with ab_glyph from a font it is given: the share cards' font.
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let font: &'static [u8] = include_bytes!("../../shared/sharecard/fonts/NotoSansSC-Bold-subset.ttf");
        if plotters::style::register_font("sans-serif", FontStyle::Normal, font).is_err() {
            panic!("the share cards' font loads");
        }
    });
}
