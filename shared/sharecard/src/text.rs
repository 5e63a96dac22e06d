//! Text on the card: the bundled font, measuring and drawing a line with ab_glyph's outlines.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use tiny_skia::Pixmap;

use crate::Rgb;

/// Noto Sans SC Bold, subset (see `fonts/README.md`; SIL OFL 1.1 in `fonts/OFL.txt`).
static FONT_BYTES: &[u8] = include_bytes!("../fonts/NotoSansSC-Bold-subset.ttf");

/// The parsed font, once per process.
pub(crate) fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    // The file is compiled in and checked by a unit test, so a parse failure is a build defect.
    FONT.get_or_init(|| FontRef::try_from_slice(FONT_BYTES).expect("the bundled font parses"))
}

/// The characters of `text` the bundled font has no glyph for (whitespace aside).
pub fn missing_chars(text: &str) -> Vec<char> {
    let f = font();
    let mut out: Vec<char> = text.chars().filter(|c| !c.is_whitespace() && f.glyph_id(*c).0 == 0).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The advance width of `text` at `px` pixels.
pub(crate) fn width(text: &str, px: f32) -> f32 {
    let f = font().as_scaled(PxScale::from(px));
    let mut w = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            w += f.kern(p, id);
        }
        w += f.h_advance(id);
        prev = Some(id);
    }
    w
}

/// `text` cut to fit `max` pixels at `px`, with an ellipsis when cut.
pub(crate) fn fit(text: &str, px: f32, max: f32) -> String {
    if width(text, px) <= max {
        return text.to_owned();
    }
    let mut out: String = String::new();
    for c in text.chars() {
        let mut next = out.clone();
        next.push(c);
        next.push('…');
        if width(&next, px) > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// Draws one line of `text` with its baseline at `(x, baseline)`, blending coverage over the
/// pixmap (premultiplied RGBA, as tiny-skia keeps it).
pub(crate) fn draw(pixmap: &mut Pixmap, text: &str, x: f32, baseline: f32, px: f32, colour: Rgb) {
    let f = font().as_scaled(PxScale::from(px));
    let (w, h) = (pixmap.width() as i32, pixmap.height() as i32);
    let data = pixmap.data_mut();
    let mut caret = x;
    let mut prev = None;
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            caret += f.kern(p, id);
        }
        let glyph = id.with_scale_and_position(PxScale::from(px), ab_glyph::point(caret, baseline));
        caret += f.h_advance(id);
        prev = Some(id);
        let Some(outlined) = font().outline_glyph(glyph) else { continue };
        let bounds = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let px_x = bounds.min.x as i32 + gx as i32;
            let px_y = bounds.min.y as i32 + gy as i32;
            if px_x < 0 || px_y < 0 || px_x >= w || px_y >= h {
                return;
            }
            let a = coverage.clamp(0.0, 1.0);
            let i = ((px_y * w + px_x) * 4) as usize;
            // Source-over of an opaque colour at coverage `a`, premultiplied.
            for (k, v) in [colour.0, colour.1, colour.2, 255].into_iter().enumerate() {
                let dst = data[i + k] as f32;
                data[i + k] = (v as f32 * a + dst * (1.0 - a)).round() as u8;
            }
        });
    }
}
