//! Photos: type and size checks on the bytes themselves, decoding and re-encoding (which drops
//! EXIF, GPS included), orientation applied first, and a thumbnail; all on a blocking thread.
//!
//! Decoding is bounded (issue #15): the pixel count is read from the header and refused before
//! anything is allocated for it (a small all-zero PNG can claim 12000² pixels, gigabytes
//! decoded), animated images are refused (only one frame is ever decoded), and at most
//! `incidents.photo_decoders` photos (default: the number of cores) decode at once in a
//! process ([`decoders`]); the rest wait their turn.
//!
//! Files live under `<data_dir>/incidents/photos` on both backends for now (a shared object
//! store is the step for several replicas).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use tokio::sync::Semaphore;

/// Largest upload this service accepts, in bytes. The portal's body limit
/// (`max_body_bytes`, 2 MiB by default) applies first and answers 413 itself: a Mini
/// Program uploads `wx.compressImage` output, well under it; a deployment that takes
/// camera originals raises `CITY_MAX_BODY_BYTES` up to this.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// Largest stored side, in pixels (FixMyStreet's 2048).
pub const MAX_SIDE: u32 = 2048;
/// Thumbnail side, in pixels.
pub const THUMB_SIDE: u32 = 256;
/// Photos per report.
pub const MAX_PER_REPORT: usize = 5;
/// The default largest photo, in pixels (`incidents.photo_max_pixels`).
pub const DEFAULT_MAX_PIXELS: u64 = 40_000_000;

/// The process's decoding permits: `configured` at once (0: the number of cores), fixed by the
/// first caller. Decoding is CPU and memory bound in this process, so the bound is per process.
pub fn decoders(configured: usize) -> &'static Semaphore {
    static DECODERS: OnceLock<Semaphore> = OnceLock::new();
    DECODERS.get_or_init(|| {
        let n = if configured == 0 { std::thread::available_parallelism().map_or(2, usize::from) } else { configured };
        Semaphore::new(n)
    })
}

static DECODING: AtomicUsize = AtomicUsize::new(0);
static MOST_DECODING: AtomicUsize = AtomicUsize::new(0);

/// The most photos this process ever decoded at once (for tests and the operator).
pub fn most_decoding_at_once() -> usize {
    MOST_DECODING.load(Ordering::SeqCst)
}

/// Why a photo was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PhotoError {
    /// Over [`MAX_BYTES`].
    #[error("the photo is larger than {} MB", MAX_BYTES / 1024 / 1024)]
    TooLarge,
    /// Not JPEG, PNG, WebP or GIF by its bytes, whatever its name says.
    #[error("the file is not a JPEG, PNG, WebP or GIF image")]
    NotAnImage,
    /// It claims to be an image but does not decode, or is absurdly large when decoded.
    #[error("the image could not be decoded: {0}")]
    Broken(String),
    /// More pixels than allowed, as its header says (nothing was decoded).
    #[error("the image has {0} pixels; at most {1}")]
    TooManyPixels(u64, u64),
    /// An animated image (APNG, animated WebP): only still photos are taken.
    #[error("animated images are not accepted; send a still photo")]
    Animated,
}

/// A processed photo: the stored JPEG and its thumbnail.
pub struct Processed {
    /// Re-encoded JPEG, no metadata.
    pub jpeg: Vec<u8>,
    /// Thumbnail JPEG.
    pub thumb: Vec<u8>,
    /// Width of the stored image.
    pub width: u32,
    /// Height of the stored image.
    pub height: u32,
}

/// Checks and re-encodes `bytes` with the default pixel limit. CPU-bound: call it through
/// `spawn_blocking`.
pub fn process(bytes: &[u8]) -> Result<Processed, PhotoError> {
    process_within(bytes, DEFAULT_MAX_PIXELS)
}

/// Checks and re-encodes `bytes`, refusing more than `max_pixels` before decoding.
pub fn process_within(bytes: &[u8], max_pixels: u64) -> Result<Processed, PhotoError> {
    DECODING.fetch_add(1, Ordering::SeqCst);
    MOST_DECODING.fetch_max(DECODING.load(Ordering::SeqCst), Ordering::SeqCst);
    let out = decode_and_encode(bytes, max_pixels);
    DECODING.fetch_sub(1, Ordering::SeqCst);
    out
}

/// Whether the image has more than one frame (APNG, animated WebP). GIFs decode their first
/// frame only, so they need no check.
fn is_animated(bytes: &[u8], format: ImageFormat) -> Result<bool, PhotoError> {
    let broken = |e: image::ImageError| PhotoError::Broken(e.to_string());
    match format {
        ImageFormat::Png => {
            image::codecs::png::PngDecoder::new(Cursor::new(bytes)).map_err(broken)?.is_apng().map_err(broken)
        }
        ImageFormat::WebP => {
            Ok(image::codecs::webp::WebPDecoder::new(Cursor::new(bytes)).map_err(broken)?.has_animation())
        }
        _ => Ok(false),
    }
}

fn decode_and_encode(bytes: &[u8], max_pixels: u64) -> Result<Processed, PhotoError> {
    if bytes.len() > MAX_BYTES {
        return Err(PhotoError::TooLarge);
    }
    let format = image::guess_format(bytes).map_err(|_| PhotoError::NotAnImage)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif) {
        return Err(PhotoError::NotAnImage);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // A small file can claim huge dimensions (a decompression bomb); refuse before allocating.
    let mut limits = Limits::default();
    limits.max_image_width = Some(12_000);
    limits.max_image_height = Some(12_000);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    if is_animated(bytes, format)? {
        return Err(PhotoError::Animated);
    }
    let mut decoder = reader.into_decoder().map_err(|e| PhotoError::Broken(e.to_string()))?;
    // The header's claim, before a byte of pixels is allocated.
    let (w, h) = decoder.dimensions();
    let pixels = u64::from(w) * u64::from(h);
    if pixels > max_pixels {
        return Err(PhotoError::TooManyPixels(pixels, max_pixels));
    }
    let orientation = decoder.orientation().map_err(|e| PhotoError::Broken(e.to_string()))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| PhotoError::Broken(e.to_string()))?;
    img.apply_orientation(orientation);
    let img = if img.width() > MAX_SIDE || img.height() > MAX_SIDE { img.thumbnail(MAX_SIDE, MAX_SIDE) } else { img };
    let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
    let jpeg = encode(&rgb, 85)?;
    let thumb = encode(&rgb.thumbnail(THUMB_SIDE, THUMB_SIDE), 75)?;
    Ok(Processed { jpeg, thumb, width: rgb.width(), height: rgb.height() })
}

fn encode(img: &DynamicImage, quality: u8) -> Result<Vec<u8>, PhotoError> {
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    img.write_with_encoder(enc).map_err(|e| PhotoError::Broken(e.to_string()))?;
    Ok(out)
}

/// Where photos live.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("incidents").join("photos")
}

/// The file of a photo (`thumb` for its thumbnail). Ids are UUIDs we made, never user input
/// that reached here unchecked.
pub fn file(data_dir: &Path, id: &str, thumb: bool) -> PathBuf {
    dir(data_dir).join(if thumb { format!("{id}_thumb.jpg") } else { format!("{id}.jpg") })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JPEG with an EXIF APP1 segment (GPS tag marker included) spliced in after SOI.
    pub(crate) fn jpeg_with_exif() -> Vec<u8> {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(64, 48, image::Rgb([200, 30, 30])));
        let plain = encode(&img, 90).unwrap();
        let payload = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude-30.6552";
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        app1.extend_from_slice(payload);
        let mut out = plain[..2].to_vec();
        out.extend_from_slice(&app1);
        out.extend_from_slice(&plain[2..]);
        out
    }

    #[test]
    fn exif_is_gone_after_reencoding() {
        let input = jpeg_with_exif();
        assert!(input.windows(4).any(|w| w == b"Exif"));
        let p = process(&input).unwrap();
        assert!(!p.jpeg.windows(4).any(|w| w == b"Exif"));
        assert!(!p.jpeg.windows(11).any(|w| w == b"GPSLatitude"));
        assert_eq!((p.width, p.height), (64, 48));
        assert!(!p.thumb.is_empty());
    }

    #[test]
    fn text_pretending_to_be_a_jpeg_is_refused() {
        assert_eq!(process(b"GIF? no, just text").err(), Some(PhotoError::NotAnImage));
    }

    #[test]
    fn a_truncated_jpeg_is_broken_not_a_panic() {
        let mut input = jpeg_with_exif();
        input.truncate(60);
        assert!(matches!(process(&input), Err(PhotoError::Broken(_))));
    }

    /// A PNG of `side`² all-zero grey pixels: a few hundred kilobytes that claim gigabytes.
    pub(crate) fn zero_png(side: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let enc = image::codecs::png::PngEncoder::new_with_quality(
            &mut out,
            image::codecs::png::CompressionType::Best,
            image::codecs::png::FilterType::NoFilter,
        );
        let row = vec![0u8; side as usize];
        let rows = (0..side).flat_map(|_| row.iter().copied()).collect::<Vec<u8>>();
        image::ImageEncoder::write_image(enc, &rows, side, side, image::ExtendedColorType::L8).unwrap();
        out
    }

    #[test]
    fn a_huge_all_zero_png_is_refused_from_its_header_before_decoding() {
        let bomb = zero_png(12_000);
        assert!(bomb.len() < MAX_BYTES, "{} bytes", bomb.len());
        let started = std::time::Instant::now();
        assert_eq!(process(&bomb).err(), Some(PhotoError::TooManyPixels(144_000_000, DEFAULT_MAX_PIXELS)));
        // Refused from the header: no time spent inflating 144 million pixels.
        assert!(started.elapsed() < std::time::Duration::from_millis(500), "{:?}", started.elapsed());
        assert!(process(&zero_png(600)).is_ok());
    }

    #[test]
    fn oversized_uploads_are_refused_before_decoding() {
        let mut big = vec![0xFF, 0xD8, 0xFF];
        big.resize(MAX_BYTES + 1, 0);
        assert_eq!(process(&big).err(), Some(PhotoError::TooLarge));
    }
}
