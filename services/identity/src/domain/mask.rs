//! Masks for personal data in responses and logs.

/// `张*`, `欧**`, `李*明`: the first character, and the last when there are three or more.
pub fn name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

/// `138****8000`: the first 3 and last 4 digits of a mobile number.
pub fn phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let n = chars.len();
    if n < 8 {
        return "*".repeat(n);
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[n - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(n - 7))
}

/// A mainland mobile number (`1` then 10 digits), or an error message naming the rule.
pub fn parse_mobile(text: &str) -> Result<String, &'static str> {
    let t = text.trim().trim_start_matches("+86").trim();
    if t.len() == 11 && t.starts_with('1') && t.bytes().all(|b| b.is_ascii_digit()) {
        Ok(t.to_owned())
    } else {
        Err("a mainland mobile number has 11 digits starting with 1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_only_their_first_and_last_characters() {
        assert_eq!(name("张三"), "张*");
        assert_eq!(name("李小明"), "李*明");
        assert_eq!(name("欧阳小明"), "欧**明");
        assert_eq!(name("王"), "*");
    }

    #[test]
    fn phones_keep_three_and_four_digits() {
        assert_eq!(phone("13800138000"), "138****8000");
    }

    #[test]
    fn mobile_numbers_are_checked_and_normalised() {
        assert_eq!(parse_mobile("+86 13800138000"), Ok("13800138000".into()));
        assert!(parse_mobile("1380013800").is_err());
        assert!(parse_mobile("23800138000").is_err());
    }
}
