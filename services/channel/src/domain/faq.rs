//! The FAQ: text messages answered by keyword, in Chinese and English, tolerant of small typos.

use serde::Deserialize;

/// One FAQ entry from `seeds/wechat/faq.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct FaqEntry {
    /// Words or phrases that select this entry (any language; case-insensitive).
    pub keywords: Vec<String>,
    /// Answer in Chinese.
    pub answer_zh: String,
    /// Answer in English.
    pub answer_en: String,
}

/// The FAQ table.
#[derive(Debug, Clone)]
pub struct Faq {
    entries: Vec<FaqEntry>,
}

/// The table shipped in `seeds/wechat/faq.json`.
pub const SEED: &str = include_str!("../../../../seeds/wechat/faq.json");

impl Faq {
    /// Parses a FAQ table.
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        Ok(Self { entries: serde_json::from_str(json)? })
    }

    /// The shipped table.
    pub fn seed() -> Self {
        Self::parse(SEED).expect("seeds/wechat/faq.json is checked by a unit test")
    }

    /// The best answer for `text`, in the language the text is written in, or `None`.
    ///
    /// An exact keyword contained in the text wins (the longest one, so "air quality" beats
    /// "air"); otherwise an English word within one edit of a keyword of 4+ letters
    /// ("polution", "hospitl") counts as a close match.
    pub fn answer(&self, text: &str) -> Option<&str> {
        let lower = text.trim().to_lowercase();
        if lower.is_empty() {
            return None;
        }
        let chinese = lower.chars().any(is_cjk);
        let mut best: Option<(usize, &FaqEntry)> = None;
        for entry in &self.entries {
            for kw in &entry.keywords {
                let kw = kw.to_lowercase();
                if contains_keyword(&lower, &kw) && best.is_none_or(|(len, _)| kw.len() > len) {
                    best = Some((kw.len(), entry));
                }
            }
        }
        if let Some((_, entry)) = best {
            return Some(entry.answer(chinese));
        }
        let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() >= 4).collect();
        for entry in &self.entries {
            for kw in &entry.keywords {
                if kw.len() >= 4 && kw.is_ascii() && words.iter().any(|w| within_one_edit(w, &kw.to_lowercase())) {
                    return Some(entry.answer(chinese));
                }
            }
        }
        None
    }
}

impl FaqEntry {
    fn answer(&self, chinese: bool) -> &str {
        if chinese {
            &self.answer_zh
        } else {
            &self.answer_en
        }
    }
}

fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Chinese keywords match as substrings; ASCII ones only as whole words ("air" not in "fair").
fn contains_keyword(text: &str, kw: &str) -> bool {
    if !kw.is_ascii() {
        return text.contains(kw);
    }
    text.match_indices(kw).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + kw.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// Levenshtein distance ≤ 1.
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 1 {
        return false;
    }
    let (mut i, mut j, mut edits) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            i += 1;
            j += 1;
            continue;
        }
        edits += 1;
        if edits > 1 {
            return false;
        }
        match a.len().cmp(&b.len()) {
            std::cmp::Ordering::Greater => i += 1,
            std::cmp::Ordering::Less => j += 1,
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
        }
    }
    edits + (a.len() - i) + (b.len() - j) <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chinese_question_gets_the_chinese_answer() {
        let faq = Faq::seed();
        let answer = faq.answer("请问今天空气怎么样").unwrap();
        assert!(answer.contains("附近空气质量"));
    }

    #[test]
    fn an_english_question_gets_the_english_answer() {
        let faq = Faq::seed();
        let answer = faq.answer("How do I pay a fine?").unwrap();
        assert!(answer.starts_with("Your unpaid bills"));
    }

    #[test]
    fn a_misspelt_english_word_is_a_close_match() {
        assert!(Faq::seed().answer("polution today").unwrap().contains("air quality"));
    }

    #[test]
    fn a_keyword_inside_another_word_does_not_match() {
        assert_eq!(Faq::seed().answer("unfair"), None);
    }

    #[test]
    fn unrelated_text_has_no_answer() {
        assert_eq!(Faq::seed().answer("你好，我想表扬一下环卫工人"), None);
    }
}
