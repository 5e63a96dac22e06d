//! The rendered images, kept by tag: a card that did not change is not drawn again.
//!
//! In-process and bounded: each replica draws a card at most once per change (the tag is the same
//! everywhere, so clients revalidate against any replica), and the oldest images leave first.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::{render, Card, RenderError};

/// A bounded map from a card's tag to its PNG.
pub struct CardCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    images: HashMap<String, Arc<Vec<u8>>>,
    order: VecDeque<String>,
}

impl CardCache {
    /// A cache of at most `capacity` images (at least one).
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), inner: Mutex::new(Inner::default()) }
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
        if !inner.images.contains_key(&tag) {
            inner.images.insert(tag.clone(), png.clone());
            inner.order.push_back(tag.clone());
            while inner.order.len() > self.capacity {
                if let Some(old) = inner.order.pop_front() {
                    inner.images.remove(&old);
                }
            }
        }
        Ok((tag, png))
    }

    /// How many images are kept.
    pub fn len(&self) -> usize {
        self.inner.lock().images.len()
    }

    /// Whether no image is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for CardCache {
    /// Room for 512 cards (about 25 KB each).
    fn default() -> Self {
        Self::new(512)
    }
}
