//! The Service Account menu as WeChat's menu JSON, checked against WeChat's limits before it is
//! sent, so a bad seed file fails here with the button named rather than at WeChat with an errcode.

use serde::{Deserialize, Serialize};

/// Most top-level buttons WeChat shows.
pub const MAX_TOP_LEVEL: usize = 3;
/// Most sub-buttons under one top-level button.
pub const MAX_SUB_BUTTONS: usize = 5;
/// `name` limit in UTF-8 bytes for a top-level button (WeChat's strictest reading).
pub const MAX_TOP_NAME_BYTES: usize = 16;
/// `name` limit in UTF-8 bytes for a sub-button.
pub const MAX_SUB_NAME_BYTES: usize = 60;
/// `key` limit in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// `url` limit in bytes.
pub const MAX_URL_BYTES: usize = 1024;

/// The button types this portal uses.
pub const ALLOWED_TYPES: &[&str] = &["click", "view", "miniprogram", "location_select"];

/// A whole menu: `{"button": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Menu {
    /// Top-level buttons.
    pub button: Vec<Button>,
}

/// One button, top-level or sub. A button with `sub_button` has no `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Button {
    /// `click`, `view`, `miniprogram` or `location_select`; absent on a button that opens a sub-menu.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    /// Shown label.
    pub name: String,
    /// Event key for click-like types.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key: Option<String>,
    /// Target for `view`; fallback for `miniprogram`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
    /// Mini Program appid for `miniprogram`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub appid: Option<String>,
    /// Mini Program page for `miniprogram`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pagepath: Option<String>,
    /// The sub-menu.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sub_button: Option<Vec<Button>>,
}

/// One broken rule, with the WeChat errcode the same menu would get and the button's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message} (WeChat errcode {errcode})")]
pub struct MenuError {
    /// Where: `button[1].sub_button[0].name`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// The errcode WeChat answers for it.
    pub errcode: i64,
}

fn err(path: String, errcode: i64, message: impl Into<String>) -> MenuError {
    MenuError { path, message: message.into(), errcode }
}

impl Menu {
    /// Parses and validates menu JSON.
    pub fn parse(json: &str) -> Result<Self, Vec<MenuError>> {
        let menu: Menu = serde_json::from_str(json)
            .map_err(|e| vec![err("menu".into(), 47001, format!("not WeChat menu JSON: {e}"))])?;
        menu.validate()?;
        Ok(menu)
    }

    /// Every broken WeChat limit, or `Ok` when WeChat would accept the menu.
    pub fn validate(&self) -> Result<(), Vec<MenuError>> {
        let mut errors = Vec::new();
        if self.button.is_empty() || self.button.len() > MAX_TOP_LEVEL {
            errors.push(err(
                "button".into(),
                40016,
                format!("{} top-level buttons; 1 to {MAX_TOP_LEVEL} allowed", self.button.len()),
            ));
        }
        for (i, top) in self.button.iter().enumerate() {
            let path = format!("button[{i}]");
            check_name(&mut errors, &path, &top.name, MAX_TOP_NAME_BYTES, 40018);
            match &top.sub_button {
                Some(subs) => {
                    if top.kind.is_some() {
                        errors.push(err(format!("{path}.type"), 40017, "a button with a sub-menu has no type"));
                    }
                    if subs.is_empty() || subs.len() > MAX_SUB_BUTTONS {
                        errors.push(err(
                            format!("{path}.sub_button"),
                            40023,
                            format!("{} sub-buttons; 1 to {MAX_SUB_BUTTONS} allowed", subs.len()),
                        ));
                    }
                    for (j, sub) in subs.iter().enumerate() {
                        let sub_path = format!("{path}.sub_button[{j}]");
                        if sub.sub_button.is_some() {
                            errors.push(err(sub_path.clone(), 40024, "sub-buttons cannot have sub-menus"));
                        }
                        check_name(&mut errors, &sub_path, &sub.name, MAX_SUB_NAME_BYTES, 40025);
                        check_action(&mut errors, &sub_path, sub, [40024, 40026, 40027]);
                    }
                }
                None => check_action(&mut errors, &path, top, [40017, 40019, 40055]),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Every `key` of a click-like button, in menu order.
    pub fn keys(&self) -> Vec<&str> {
        let mut keys = Vec::new();
        for top in &self.button {
            for b in std::iter::once(top).chain(top.sub_button.iter().flatten()) {
                if let Some(k) = &b.key {
                    keys.push(k.as_str());
                }
            }
        }
        keys
    }
}

fn check_name(errors: &mut Vec<MenuError>, path: &str, name: &str, max: usize, errcode: i64) {
    if name.trim().is_empty() || name.len() > max {
        errors.push(err(format!("{path}.name"), errcode, format!("name is {} bytes; 1 to {max} allowed", name.len())));
    }
}

/// `codes`: [type errcode, key errcode, url errcode] for this level.
fn check_action(errors: &mut Vec<MenuError>, path: &str, b: &Button, codes: [i64; 3]) {
    let [type_code, key_code, url_code] = codes;
    let Some(kind) = b.kind.as_deref() else {
        errors.push(err(format!("{path}.type"), type_code, "a button without a sub-menu needs a type"));
        return;
    };
    if !ALLOWED_TYPES.contains(&kind) {
        errors.push(err(
            format!("{path}.type"),
            type_code,
            format!("type `{kind}` is not one of {}", ALLOWED_TYPES.join(", ")),
        ));
        return;
    }
    let needs_key = matches!(kind, "click" | "location_select");
    let needs_url = matches!(kind, "view" | "miniprogram");
    match (&b.key, needs_key) {
        (None, true) => errors.push(err(format!("{path}.key"), key_code, format!("a {kind} button needs a key"))),
        (Some(k), _) if k.is_empty() || k.len() > MAX_KEY_BYTES => errors.push(err(
            format!("{path}.key"),
            key_code,
            format!("key is {} bytes; 1 to {MAX_KEY_BYTES} allowed", k.len()),
        )),
        _ => {}
    }
    match (&b.url, needs_url) {
        (None, true) => errors.push(err(format!("{path}.url"), url_code, format!("a {kind} button needs a url"))),
        (Some(u), _) if u.len() > MAX_URL_BYTES || !(u.starts_with("https://") || u.starts_with("http://")) => errors
            .push(err(
                format!("{path}.url"),
                url_code,
                format!("url must be http(s) and at most {MAX_URL_BYTES} bytes"),
            )),
        _ => {}
    }
    if kind == "miniprogram" {
        if b.appid.as_deref().is_none_or(str::is_empty) {
            errors.push(err(format!("{path}.appid"), 40166, "a miniprogram button needs the Mini Program's appid"));
        }
        if b.pagepath.as_deref().is_none_or(str::is_empty) {
            errors.push(err(format!("{path}.pagepath"), 40165, "a miniprogram button needs a pagepath"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../../../seeds/wechat/menu.json");

    #[test]
    fn the_seed_menu_is_within_wechats_limits() {
        let menu = Menu::parse(SEED).unwrap();
        assert!(menu.keys().contains(&"AIR_NEAR_ME"));
    }

    #[test]
    fn four_top_level_buttons_are_refused_with_40016() {
        let mut menu = Menu::parse(SEED).unwrap();
        menu.button.push(menu.button[0].clone());
        let errors = menu.validate().unwrap_err();
        assert_eq!(errors[0].errcode, 40016);
    }

    #[test]
    fn a_top_level_name_over_16_bytes_is_refused_even_at_six_characters() {
        // Six CJK characters are 18 bytes.
        let mut menu = Menu::parse(SEED).unwrap();
        menu.button[0].name = "城市服务中心".into();
        let errors = menu.validate().unwrap_err();
        assert_eq!((errors[0].path.as_str(), errors[0].errcode), ("button[0].name", 40018));
    }

    #[test]
    fn six_sub_buttons_and_an_unknown_type_are_both_reported() {
        let mut menu = Menu::parse(SEED).unwrap();
        let subs = menu.button[1].sub_button.as_mut().unwrap();
        subs.extend(subs.clone());
        subs[0].kind = Some("scancode_push".into());
        let codes: Vec<i64> = menu.validate().unwrap_err().iter().map(|e| e.errcode).collect();
        assert!(codes.contains(&40023) && codes.contains(&40024), "{codes:?}");
    }

    #[test]
    fn a_miniprogram_button_needs_its_appid_page_and_fallback_url() {
        let menu = Menu::parse(r#"{"button":[{"type":"miniprogram","name":"Book"}]}"#).unwrap_err();
        let found: Vec<(&str, i64)> = menu.iter().map(|e| (e.path.as_str(), e.errcode)).collect();
        assert_eq!(found, [("button[0].url", 40055), ("button[0].appid", 40166), ("button[0].pagepath", 40165)]);
        let whole = r#"{"button":[{"type":"miniprogram","name":"Book","url":"https://city.example.cn/h5/booking",
            "appid":"wxcity0000000mp01","pagepath":"pages/booking/index"}]}"#;
        assert!(Menu::parse(whole).is_ok());
    }

    #[test]
    fn a_click_button_without_a_key_is_refused() {
        let menu = Menu::parse(r#"{"button":[{"type":"click","name":"Air"}]}"#);
        assert_eq!(menu.unwrap_err()[0].path, "button[0].key");
    }
}
