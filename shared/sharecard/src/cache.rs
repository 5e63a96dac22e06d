//! The rendered images, kept by tag: a card that did not change is not drawn again.
//!
//! In-process and bounded: each replica draws a card at most once per change (the tag is the same
//! everywhere, so clients revalidate against any replica), and the oldest images leave first.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{render, Card, RenderError};

/// A map from a card's tag to its PNG, bounded in images and in bytes.
pub struct CardCache {
    capacity: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    images: HashMap<String, Arc<Vec<u8>>>,
    order: VecDeque<String>,
    bytes: usize,
}

/// The bytes of PNGs one cache keeps at most by default: cards vary in size with their text, so
/// a count alone does not bound the memory (issue #15).
pub const CARD_CACHE_BYTES: usize = 8 * 1024 * 1024;

impl CardCache {
    /// A cache of at most `capacity` images (at least one) and [`CARD_CACHE_BYTES`].
    pub fn new(capacity: usize) -> Self {
        Self::bounded(capacity, CARD_CACHE_BYTES)
    }

    /// A cache of at most `capacity` images (at least one) and `max_bytes` of PNG; an image
    /// larger than the whole budget is drawn and served but not kept.
    pub fn bounded(capacity: usize, max_bytes: usize) -> Self {
        Self { capacity: capacity.max(1), max_bytes, inner: Mutex::new(Inner::default()) }
    }

    /// The card's tag and PNG, drawn now only when no image of that tag is kept.
    pub fn png(&self, card: &Card) -> Result<(String, Arc<Vec<u8>>), RenderError> {
        let tag = card.etag();
        if let Some(hit) = self.inner.lock().images.get(&tag) {
            return Ok((tag, hit.clone()));
        }
        // Drawn outside the lock: two requests for a new card may both draw it, which is cheaper
        // than making every other card wait.
        let png = Arc::new(render(card)?);
        let mut inner = self.inner.lock();
        if !inner.images.contains_key(&tag) && png.len() <= self.max_bytes {
            inner.images.insert(tag.clone(), png.clone());
            inner.order.push_back(tag.clone());
            inner.bytes += png.len();
            while inner.order.len() > self.capacity || inner.bytes > self.max_bytes {
                let Some(old) = inner.order.pop_front() else { break };
                if let Some(image) = inner.images.remove(&old) {
                    inner.bytes -= image.len();
                }
            }
        }
        Ok((tag, png))
    }

    /// How many images are kept.
    pub fn len(&self) -> usize {
        self.inner.lock().images.len()
    }

    /// How many bytes of PNG are kept.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// Whether no image is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for CardCache {
    /// Room for 512 cards (about 25 KB each) within [`CARD_CACHE_BYTES`].
    fn default() -> Self {
        Self::new(512)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(title: &str) -> Card {
        Card {
            kicker: "成都 · 空气质量".into(),
            title: title.into(),
            badge: None,
            lines: vec!["2026-12-02 20:00".into()],
            map: None,
            footer: "城市服务 · 成都市".into(),
        }
    }

    #[test]
    fn distinct_cards_cannot_grow_the_cache_past_its_bytes() {
        let one = render(&card("锦江区")).unwrap().len();
        // Room for about three cards in bytes, many more in count.
        let cache = CardCache::bounded(100, one * 3 + one / 2);
        for title in ["锦江区", "青羊区", "金牛区", "武侯区", "成华区", "龙泉驿区", "新都区"] {
            cache.png(&card(title)).unwrap();
            assert!(cache.bytes() <= one * 3 + one / 2, "{} bytes kept", cache.bytes());
        }
        assert!((2..=4).contains(&cache.len()), "{} cards kept", cache.len());
        // The newest is kept; a card larger than the budget is served but not kept.
        let (_, newest) = cache.png(&card("新都区")).unwrap();
        assert!(std::sync::Arc::strong_count(&newest) >= 2, "the newest card is the kept one");
        let tiny = CardCache::bounded(100, 16);
        assert!(!tiny.png(&card("锦江区")).unwrap().1.is_empty());
        assert_eq!((tiny.len(), tiny.bytes()), (0, 0));
    }
}
