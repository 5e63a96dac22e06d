//! The real-name check (实名核验): does this name belong to this resident ID number?
//!
//! A checksum (GB 11643) proves only that a number is well formed, not that it is the person's.
//! A city plugs in an authority behind [`RealNameCheck`]: WeChat's identity verification
//! (微信实名认证, the citizen confirms in WeChat) or the public-security service's name and
//! number check (公安部公民身份信息核查). The demo and the tests use [`SandboxRealName`].

use async_trait::async_trait;

use super::id_number::IdNumber;

/// What the authority said about a name and a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealNameVerdict {
    /// The name is the number's holder's.
    Match,
    /// The name is not the number's holder's (or the number is not issued).
    Mismatch,
}

/// Why the authority could not answer.
#[derive(Debug, thiserror::Error)]
#[error("the real-name check is unavailable: {0}")]
pub struct RealNameUnavailable(pub String);

/// Checks a real name against a resident ID number at an authority.
#[async_trait]
pub trait RealNameCheck: Send + Sync + 'static {
    /// The verdict on `name` (trimmed) for `id_number`.
    async fn check(&self, name: &str, id_number: &IdNumber) -> Result<RealNameVerdict, RealNameUnavailable>;
}

/// The sandbox's authority: every checked number is issued, and its holder's name is any name
/// written as names are on ID cards (Chinese characters, with `·` in minority and transliterated
/// names; or Latin letters and spaces on a foreigner's permanent residence card), 2 to 30
/// characters. Not a real check: a deployment replaces it.
pub struct SandboxRealName;

#[async_trait]
impl RealNameCheck for SandboxRealName {
    async fn check(&self, name: &str, _id_number: &IdNumber) -> Result<RealNameVerdict, RealNameUnavailable> {
        Ok(if looks_like_a_card_name(name) { RealNameVerdict::Match } else { RealNameVerdict::Mismatch })
    }
}

/// Whether `name` is written as a name on an ID card.
pub fn looks_like_a_card_name(name: &str) -> bool {
    let n = name.chars().count();
    let cjk = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c);
    let chinese = name.chars().all(|c| cjk(c) || c == '·');
    let latin =
        name.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') && name.chars().any(|c| c.is_ascii_alphabetic());
    (2..=30).contains(&n) && (chinese || latin) && !name.starts_with('·') && !name.ends_with('·')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_written_on_cards_pass_and_anything_else_does_not() {
        for ok in ["陈小红", "阿依古丽·买买提", "JOHN SMITH"] {
            assert!(looks_like_a_card_name(ok), "{ok}");
        }
        for bad in ["陈", "admin123", "<script>", "·陈", "陈小红!"] {
            assert!(!looks_like_a_card_name(bad), "{bad}");
        }
    }
}
