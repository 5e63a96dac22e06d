//! The card's layout, drawn with tiny-skia and encoded as PNG.
//!
//! 500×400: a kicker and a headline; a coloured badge on the left; on the right either the detail
//! lines or a map inset (the lines then go under it); a footer. Text that does not fit is cut
//! with an ellipsis rather than overflowing the card.

use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

use crate::text::{draw as text, fit, width};
use crate::{Card, MapInset, Rgb, HEIGHT, WIDTH};

/// Why no image came out (only a broken build or an allocation failure).
#[derive(Debug)]
pub enum RenderError {
    /// The pixmap could not be made.
    Canvas,
    /// PNG encoding failed.
    Encode(String),
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderError::Canvas => write!(f, "share card: no canvas"),
            RenderError::Encode(e) => write!(f, "share card: PNG encoding: {e}"),
        }
    }
}

impl std::error::Error for RenderError {}

const MARGIN: f32 = 28.0;
const BACKGROUND: Rgb = Rgb(0xF8, 0xFA, 0xFC);
const RULE: Rgb = Rgb(0xE5, 0xE7, 0xEB);
const MAP_FILL: Rgb = Rgb(0xDB, 0xEA, 0xFE);
const PIN: Rgb = Rgb(0xDC, 0x26, 0x26);

fn paint(c: Rgb) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(Color::from_rgba8(c.0, c.1, c.2, 255));
    p.anti_alias = true;
    p
}

fn rounded(x: f32, y: f32, w: f32, h: f32, r: f32) -> Option<tiny_skia::Path> {
    let mut b = PathBuilder::new();
    b.move_to(x + r, y);
    b.line_to(x + w - r, y);
    b.quad_to(x + w, y, x + w, y + r);
    b.line_to(x + w, y + h - r);
    b.quad_to(x + w, y + h, x + w - r, y + h);
    b.line_to(x + r, y + h);
    b.quad_to(x, y + h, x, y + h - r);
    b.line_to(x, y + r);
    b.quad_to(x, y, x + r, y);
    b.close();
    b.finish()
}

/// Draws the card and encodes it as PNG.
pub fn render(card: &Card) -> Result<Vec<u8>, RenderError> {
    let mut pm = Pixmap::new(WIDTH, HEIGHT).ok_or(RenderError::Canvas)?;
    pm.fill(Color::from_rgba8(BACKGROUND.0, BACKGROUND.1, BACKGROUND.2, 255));
    let full = WIDTH as f32 - 2.0 * MARGIN;

    // A stripe in the badge's colour, so the band reads even at thumbnail size.
    let stripe = card.badge.as_ref().map(|b| b.fill).unwrap_or(Rgb::CITY);
    if let Some(r) = Rect::from_xywh(0.0, 0.0, WIDTH as f32, 10.0) {
        pm.fill_rect(r, &paint(stripe), Transform::identity(), None);
    }
    text(&mut pm, &fit(&card.kicker, 20.0, full), MARGIN, 48.0, 20.0, Rgb::MUTED);
    text(&mut pm, &fit(&card.title, 40.0, full), MARGIN, 100.0, 40.0, Rgb::INK);

    let top = 124.0;
    let mut right_x = MARGIN;
    if let Some(b) = &card.badge {
        let (bw, bh) = (180.0, 150.0);
        if let Some(path) = rounded(MARGIN, top, bw, bh, 16.0) {
            pm.fill_path(&path, &paint(b.fill), FillRule::Winding, Transform::identity(), None);
        }
        let value_px = if b.value.chars().count() <= 3 { 72.0 } else { 40.0 };
        let value = fit(&b.value, value_px, bw - 20.0);
        let vx = MARGIN + (bw - width(&value, value_px)) / 2.0;
        text(&mut pm, &value, vx, top + 90.0, value_px, b.text);
        let label = fit(&b.label, 26.0, bw - 20.0);
        let lx = MARGIN + (bw - width(&label, 26.0)) / 2.0;
        text(&mut pm, &label, lx, top + 132.0, 26.0, b.text);
        right_x = MARGIN + bw + 24.0;
    }
    let right_w = WIDTH as f32 - MARGIN - right_x;

    match &card.map {
        Some(map) => {
            inset(&mut pm, map, right_x, top, right_w, 150.0);
            // The lines go under the badge and the map, two at most.
            for (i, line) in card.lines.iter().take(2).enumerate() {
                text(&mut pm, &fit(line, 20.0, full), MARGIN, 306.0 + 30.0 * i as f32, 20.0, Rgb::INK);
            }
        }
        None => {
            for (i, line) in card.lines.iter().take(4).enumerate() {
                let (px, colour) = if i == 0 { (24.0, Rgb::INK) } else { (20.0, Rgb::MUTED) };
                text(&mut pm, &fit(line, px, right_w), right_x, top + 28.0 + 38.0 * i as f32, px, colour);
            }
        }
    }

    if let Some(r) = Rect::from_xywh(MARGIN, 352.0, full, 1.5) {
        pm.fill_rect(r, &paint(RULE), Transform::identity(), None);
    }
    text(&mut pm, &fit(&card.footer, 18.0, full), MARGIN, 382.0, 18.0, Rgb::MUTED);

    pm.encode_png().map_err(|e| RenderError::Encode(e.to_string()))
}

/// The outline scaled into the box (longitude shortened by the latitude's cosine, so shapes keep
/// their proportions), and the pin.
fn inset(pm: &mut Pixmap, map: &MapInset, x: f32, y: f32, w: f32, h: f32) {
    if let Some(path) = rounded(x, y, w, h, 12.0) {
        pm.fill_path(&path, &paint(Rgb::WHITE), FillRule::Winding, Transform::identity(), None);
    }
    let points = map.rings.iter().flatten().chain(map.pin.iter());
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (lon, lat) in points {
        min_x = min_x.min(*lon);
        max_x = max_x.max(*lon);
        min_y = min_y.min(*lat);
        max_y = max_y.max(*lat);
    }
    if min_x > max_x {
        return;
    }
    let k = ((min_y + max_y) / 2.0).to_radians().cos().max(0.1);
    let span_x = ((max_x - min_x) * k).max(1e-6);
    let span_y = (max_y - min_y).max(1e-6);
    let pad = 14.0;
    let scale = ((w - 2.0 * pad) as f64 / span_x).min((h - 2.0 * pad) as f64 / span_y);
    let ox = x as f64 + (w as f64 - span_x * scale) / 2.0;
    let oy = y as f64 + (h as f64 - span_y * scale) / 2.0;
    let project = |lon: f64, lat: f64| (((lon - min_x) * k * scale + ox) as f32, ((max_y - lat) * scale + oy) as f32);

    let mut b = PathBuilder::new();
    for ring in &map.rings {
        for (i, (lon, lat)) in ring.iter().enumerate() {
            let (px, py) = project(*lon, *lat);
            if i == 0 {
                b.move_to(px, py);
            } else {
                b.line_to(px, py);
            }
        }
        b.close();
    }
    if let Some(path) = b.finish() {
        pm.fill_path(&path, &paint(MAP_FILL), FillRule::EvenOdd, Transform::identity(), None);
        let stroke = Stroke { width: 2.0, ..Stroke::default() };
        pm.stroke_path(&path, &paint(Rgb::CITY), &stroke, Transform::identity(), None);
    }
    if let Some((lon, lat)) = map.pin {
        let (px, py) = project(lon, lat);
        // A teardrop: a circle above the point and a stem down to it.
        let mut b = PathBuilder::new();
        b.move_to(px, py);
        b.line_to(px - 7.0, py - 14.0);
        b.line_to(px + 7.0, py - 14.0);
        b.close();
        if let Some(stem) = b.finish() {
            pm.fill_path(&stem, &paint(PIN), FillRule::Winding, Transform::identity(), None);
        }
        if let Some(head) = PathBuilder::from_circle(px, py - 18.0, 10.0) {
            pm.fill_path(&head, &paint(PIN), FillRule::Winding, Transform::identity(), None);
            let stroke = Stroke { width: 2.5, ..Stroke::default() };
            pm.stroke_path(&head, &paint(Rgb::WHITE), &stroke, Transform::identity(), None);
        }
    }
}
