//! Pure payment rules: plates and plate types, order numbers and the ids that cross modules,
//! masking, the legal late surcharge on fines (`fines`), the bill-import CSV (`import`), the
//! fines file (`fine_import`) and the vehicle registry's engine codes (`vehicles`).
//! No HTTP or database types, no clock reads.

pub mod fine_import;
pub mod fines;
pub mod ids;
pub mod import;
pub mod vehicles;

pub use fines::{fine_quote, FineQuote, FINE_DEADLINE_DAYS};
pub use ids::{OrderId, OutTradeNo};

/// Province abbreviations in use on plates.
const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// Plate type codes (号牌种类) we accept, with their names.
pub const PLATE_TYPES: &[(&str, &str)] = &[
    ("01", "大型汽车"),
    ("02", "小型汽车"),
    ("03", "使馆汽车"),
    ("04", "领馆汽车"),
    ("05", "境外汽车"),
    ("06", "外籍汽车"),
    ("07", "普通摩托车"),
    ("08", "轻便摩托车"),
    ("13", "低速车"),
    ("15", "挂车"),
    ("16", "教练汽车"),
    ("23", "警用汽车"),
    ("26", "香港入出境车"),
    ("27", "澳门入出境车"),
    ("51", "大型新能源汽车"),
    ("52", "小型新能源汽车"),
];

/// A plate number in normal form (`川A12345`): province, issuer letter, serial.
#[derive(Clone, PartialEq, Eq)]
pub struct Plate(String);

impl std::fmt::Debug for Plate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The serial identifies a vehicle (and so a person); logs see the region only.
        let head: String = self.0.chars().take(2).collect();
        write!(f, "Plate({head}***)")
    }
}

impl Plate {
    /// Normalises (trim, drop `·` `.` spaces, upper-case) and validates a regular or new-energy plate.
    pub fn parse(raw: &str) -> Option<Self> {
        let normal: String = raw
            .chars()
            .filter(|c| !matches!(c, '·' | '.' | ' ' | '\u{3000}' | '-'))
            .flat_map(char::to_uppercase)
            .collect();
        let chars: Vec<char> = normal.chars().collect();
        let serial_char = |c: char| (c.is_ascii_uppercase() && c != 'I' && c != 'O') || c.is_ascii_digit();
        let ok = match chars.as_slice() {
            [p, issuer, serial @ ..] if PROVINCES.contains(*p) && issuer.is_ascii_uppercase() => match serial {
                // Regular plate: five letters or digits.
                s if s.len() == 5 => s.iter().all(|c| serial_char(*c)),
                // Small new-energy: D/F, a letter or digit, four digits; large: five digits then D/F.
                s if s.len() == 6 => {
                    (matches!(s[0], 'D' | 'F') && serial_char(s[1]) && s[2..].iter().all(char::is_ascii_digit))
                        || (s[..5].iter().all(char::is_ascii_digit) && matches!(s[5], 'D' | 'F'))
                }
                _ => false,
            },
            _ => false,
        };
        ok.then_some(Self(normal))
    }

    /// The normal form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plate type code from [`PLATE_TYPES`].
pub fn plate_type(code: &str) -> Option<&'static str> {
    PLATE_TYPES.iter().find(|(c, _)| *c == code.trim()).map(|(c, _)| *c)
}

/// A decision number (决定书编号): 15-20 digits.
pub fn decision_no(raw: &str) -> Option<String> {
    let raw = raw.trim();
    ((15..=20).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit())).then(|| raw.to_owned())
}

/// A fresh out_trade_no: a kind letter and 31 characters from the order id, within WeChat's
/// 6-32 of `[0-9A-Za-z_-|*]`.
pub fn out_trade_no(kind: ItemKind, order_id: &str) -> OutTradeNo {
    let hex: String = order_id.chars().filter(char::is_ascii_alphanumeric).collect();
    let prefix = match kind {
        ItemKind::Bill => 'B',
        ItemKind::Fine => 'F',
        ItemKind::Topup => 'T',
        ItemKind::Booking => 'H',
    };
    OutTradeNo::from(format!("{prefix}{}", &hex[..hex.len().min(31)]))
}

/// What an order pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A utility bill for one period.
    Bill,
    /// A traffic fine with its surcharge.
    Fine,
    /// A prepaid top-up.
    Topup,
    /// A hospital booking fee (挂号费) that booking asked for.
    Booking,
}

impl ItemKind {
    /// Stored and API form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bill => "bill",
            Self::Fine => "fine",
            Self::Topup => "topup",
            Self::Booking => "booking",
        }
    }

    /// From the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bill" => Some(Self::Bill),
            "fine" => Some(Self::Fine),
            "topup" => Some(Self::Topup),
            "booking" => Some(Self::Booking),
            _ => None,
        }
    }
}

/// The ledger account an order's money is owed to: the biller, or for a booking fee the
/// hospital (`counterparty` is the order's biller id, which holds the hospital then).
pub fn payable_account(kind: &str, counterparty: &str) -> String {
    if kind == ItemKind::Booking.as_str() {
        format!("hospital_payable:{counterparty}")
    } else {
        format!("biller_payable:{counterparty}")
    }
}

/// The one refund number a booking's refund request may use: derived from the booking, so a
/// repeated or concurrent request finds the refund already there instead of making another.
/// WeChat allows 64 characters of `[0-9A-Za-z_-|*@]`.
pub fn booking_refund_no(booking_id: &str) -> String {
    let clean: String = booking_id.chars().filter(char::is_ascii_alphanumeric).take(60).collect();
    format!("RB{clean}")
}

/// The one refund number of a duplicate payment (an order that paid an item already settled):
/// derived from the order, so however often the job or WeChat's repeated notifications bring it
/// up, the second reservation finds the number taken.
pub fn duplicate_refund_no(order_id: &str) -> String {
    let clean: String = order_id.chars().filter(char::is_ascii_alphanumeric).take(60).collect();
    format!("RD{clean}")
}

/// A holder's name for display: the family name's characters replaced but the last (`*三丰` → `**丰`).
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        n => "*".repeat(n - 1) + &chars[n - 1].to_string(),
    }
}

/// A plate for display: the 4th to 6th characters hidden (`川A1***5`).
pub fn mask_plate(plate: &str) -> String {
    plate.chars().enumerate().map(|(i, c)| if (3..6).contains(&i) { '*' } else { c }).collect()
}

/// An account number for display: the last four characters.
pub fn mask_account(account: &str) -> String {
    let chars: Vec<char> = account.chars().collect();
    let keep = chars.len().min(4);
    "*".repeat(chars.len() - keep) + &chars[chars.len() - keep..].iter().collect::<String>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_and_new_energy_plates_are_accepted_in_any_printed_form() {
        assert_eq!(Plate::parse(" 川a·12345 ").unwrap().as_str(), "川A12345");
        assert!(Plate::parse("川AD12345").is_some());
        assert!(Plate::parse("粤B12345F").is_some());
        assert!(Plate::parse("京A1234").is_none(), "four serial characters are too few");
        assert!(Plate::parse("京AD1234X").is_none(), "a small NEV plate ends in four digits");
    }

    #[test]
    fn plates_with_i_or_o_or_foreign_provinces_are_rejected() {
        assert!(Plate::parse("川A1234O").is_none());
        assert!(Plate::parse("X A12345").is_none());
        assert!(Plate::parse("川A1234学").is_none());
        assert!(Plate::parse("").is_none());
    }

    #[test]
    fn plate_debug_output_hides_the_serial() {
        assert_eq!(format!("{:?}", Plate::parse("川A12345").unwrap()), "Plate(川A***)");
    }

    #[test]
    fn out_trade_numbers_fit_wechat_rules() {
        let no = out_trade_no(ItemKind::Fine, "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
        assert!((6..=32).contains(&no.len()), "{no}");
        assert!(no.starts_with('F'));
    }

    #[test]
    fn a_booking_refund_number_is_stable_and_fits_wechat_rules() {
        let a = booking_refund_no("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
        assert_eq!(a, booking_refund_no("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"));
        assert_ne!(a, booking_refund_no("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"));
        assert!(a.len() <= 64 && a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
    }

    #[test]
    fn a_duplicate_payments_refund_number_is_stable_and_its_own() {
        let id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(duplicate_refund_no(id), duplicate_refund_no(id));
        assert_ne!(duplicate_refund_no(id), booking_refund_no(id));
        assert!(duplicate_refund_no(id).len() <= 64);
    }

    #[test]
    fn booking_fees_are_owed_to_the_hospital_and_bills_to_the_biller() {
        assert_eq!(payable_account("booking", "h-cd2"), "hospital_payable:h-cd2");
        assert_eq!(payable_account("bill", "cd-power"), "biller_payable:cd-power");
        assert_eq!(ItemKind::parse("booking"), Some(ItemKind::Booking));
        assert!(out_trade_no(ItemKind::Booking, "0193a1b2-c3d4").starts_with('H'));
    }

    #[test]
    fn names_and_accounts_are_masked() {
        assert_eq!(mask_name("张三丰"), "**丰");
        assert_eq!(mask_account("3100123456"), "******3456");
    }
}
