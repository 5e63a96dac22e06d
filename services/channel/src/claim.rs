//! Retries of one push are recognised by an atomic claim in the shared cache: `SET NX` with a
//! TTL in Redis when distributed (one replica wins, whichever receives the retry), the
//! in-process cache all-in-one (one process, one claim). The claim's value then becomes the
//! reply the first delivery gave, so a retry gets the same words without a second effect.
//!
//! WeChat retries a push three times within about 15 seconds; the claim outlives that by far.
//! Should a claim be lost anyway (Redis flushed), what a push writes is still idempotent: follower
//! state is last-write-wins and a kept conversation is unique per dedupe key.

use std::time::Duration;

use city_platform::cache::{Cache, CacheError};

/// How long a push's claim and its reply are kept.
pub const CLAIM_TTL: Duration = Duration::from_secs(10 * 60);

const PENDING: u8 = b'P';
const SILENT: u8 = b'S';
const REPLIED: u8 = b'R';

/// What claiming a push's dedupe key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First delivery: handle it.
    New,
    /// A retry: do nothing again; answer with the first delivery's reply if it has one yet.
    Seen(Option<String>),
}

fn key(dedupe_key: &str) -> String {
    format!("wechat:push:{dedupe_key}")
}

/// Claims `dedupe_key`; exactly one delivery of a key is [`Claim::New`] within [`CLAIM_TTL`].
pub async fn claim(cache: &dyn Cache, dedupe_key: &str) -> Result<Claim, CacheError> {
    let key = key(dedupe_key);
    if cache.set_if_absent(&key, &[PENDING], CLAIM_TTL).await? {
        return Ok(Claim::New);
    }
    let reply = cache.get(&key).await?.and_then(|v| match v.split_first() {
        Some((&REPLIED, text)) => String::from_utf8(text.to_vec()).ok(),
        _ => None,
    });
    Ok(Claim::Seen(reply))
}

/// Keeps the first delivery's answer (`None`: it was `success`) for its retries.
pub async fn remember(cache: &dyn Cache, dedupe_key: &str, reply: Option<&str>) -> Result<(), CacheError> {
    let value = match reply {
        Some(text) => [&[REPLIED], text.as_bytes()].concat(),
        None => vec![SILENT],
    };
    cache.set(&key(dedupe_key), &value, CLAIM_TTL).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use city_platform::cache::MemoryCache;

    #[tokio::test]
    async fn the_first_claim_wins_and_retries_get_the_remembered_reply() {
        let cache = MemoryCache::new();
        assert_eq!(claim(&*cache, "msg:1").await.unwrap(), Claim::New);
        assert_eq!(claim(&*cache, "msg:1").await.unwrap(), Claim::Seen(None), "still in flight");
        remember(&*cache, "msg:1", Some("你好 hello")).await.unwrap();
        assert_eq!(claim(&*cache, "msg:1").await.unwrap(), Claim::Seen(Some("你好 hello".into())));
        remember(&*cache, "msg:2", None).await.unwrap();
        assert_eq!(claim(&*cache, "msg:2").await.unwrap(), Claim::Seen(None));
        assert_eq!(claim(&*cache, "msg:3").await.unwrap(), Claim::New);
    }
}
