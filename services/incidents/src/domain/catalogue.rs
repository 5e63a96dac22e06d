//! The configurable catalogue from `seeds/incidents/catalogue.json`: categories with their
//! questions and SLAs, agencies, routing rules per district and category, response templates.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::DomainError;

/// The compiled-in seed, so the service runs from any working directory.
pub const CATALOGUE_JSON: &str = include_str!("../../../../seeds/incidents/catalogue.json");

/// An agency that receives reports (a routing target).
#[derive(Debug, Clone, Deserialize)]
pub struct Agency {
    /// Stable id, also the staff scope (`scopes.agencies`).
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Its reports are private (the police): seen only by their reporter and this agency's
    /// clerks, never on the map, in nearby lists, Open311 or share cards (`access::is_private`).
    #[serde(default)]
    pub private: bool,
}

/// One option of a list question.
#[derive(Debug, Clone, Deserialize)]
pub struct QuestionValue {
    /// The value sent back.
    pub key: String,
    /// The label shown.
    pub name: String,
}

/// The kind of answer a question takes (Open311's `datatype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datatype {
    /// One line of text.
    String,
    /// A number.
    Number,
    /// An ISO 8601 instant with a time zone.
    Datetime,
    /// Several lines of text.
    Text,
    /// One of `values`.
    Singlevaluelist,
    /// Any of `values`.
    Multivaluelist,
}

impl Datatype {
    /// Open311's spelling.
    pub fn code(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Datetime => "datetime",
            Self::Text => "text",
            Self::Singlevaluelist => "singlevaluelist",
            Self::Multivaluelist => "multivaluelist",
        }
    }
}

fn yes() -> bool {
    true
}

/// A per-category question (an Open311 attribute).
#[derive(Debug, Clone, Deserialize)]
pub struct Question {
    /// Unique within the category.
    pub code: String,
    /// The kind of answer.
    pub datatype: Datatype,
    /// Whether an answer is required.
    pub required: bool,
    /// Display order, 1 first.
    pub order: u32,
    /// `false`: text shown to the reporter only, no answer taken.
    #[serde(default = "yes")]
    pub variable: bool,
    /// The question in English.
    pub description: String,
    /// The question in Chinese.
    pub description_zh: String,
    /// A hint about the expected answer.
    #[serde(default)]
    pub datatype_description: String,
    /// Options of the list types.
    #[serde(default)]
    pub values: Vec<QuestionValue>,
}

/// How Open311 answers a POST for this category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceType {
    /// Returns the request id at once.
    Realtime,
    /// Returns a token to poll.
    Batch,
}

/// An emergency the portal does not take reports for: the caller is told the number to ring
/// (110 police, 119 fire, 120 ambulance, 122 traffic police) and nothing is filed.
#[derive(Debug, Clone, Deserialize)]
pub struct Emergency {
    /// Stable code, also accepted as a `category` (`fire`, `medical`, `violence`, `traffic_accident`).
    pub code: String,
    /// The number to call.
    pub number: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// Comma-separated words that make a description an emergency (case-insensitive).
    pub keywords: String,
}

/// The emergency numbers of mainland China a catalogue may point to.
pub const EMERGENCY_NUMBERS: [&str; 4] = ["110", "119", "120", "122"];

/// A report category (an Open311 service).
#[derive(Debug, Clone, Deserialize)]
pub struct Category {
    /// Stable code (`service_code`).
    pub code: String,
    /// Open311 service type.
    #[serde(rename = "type")]
    pub kind: ServiceType,
    /// Group, e.g. `sanitation`.
    pub group: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// English description.
    pub description_en: String,
    /// Chinese description.
    pub description_zh: String,
    /// Filed with a private agency (the police): offered to citizens on the reporting form,
    /// absent from Open311's services; the catalogue checks it routes only to a private agency.
    #[serde(default)]
    pub private: bool,
    /// Comma-separated synonyms.
    pub keywords: String,
    /// Hours until a report is due (the SLA).
    pub sla_hours: i64,
    /// Extra questions.
    pub questions: Vec<Question>,
}

/// One routing rule; `*` matches anything. The first matching rule wins.
#[derive(Debug, Clone, Deserialize)]
pub struct Rule {
    /// Category code or `*`.
    pub category: String,
    /// District code or `*`.
    pub district: String,
    /// The agency that gets the report.
    pub agency: String,
}

/// A response template for public updates.
#[derive(Debug, Clone, Deserialize)]
pub struct Template {
    /// Stable id.
    pub id: String,
    /// The state it goes with.
    pub state: String,
    /// Categories it applies to; empty means all.
    pub categories: Vec<String>,
    /// Posted automatically when a report enters `state`.
    #[serde(default)]
    pub auto_response: bool,
    /// English title.
    pub title_en: String,
    /// Chinese title.
    pub title_zh: String,
    /// English text; `{{agency}}` is replaced.
    pub text_en: String,
    /// Chinese text.
    pub text_zh: String,
}

/// The whole catalogue.
#[derive(Debug, Clone, Deserialize)]
pub struct Catalogue {
    /// Changes when categories or questions change (Open311 discovery).
    pub changeset: String,
    /// The Open311 jurisdiction id this endpoint answers for.
    pub jurisdiction_id: String,
    /// How near (metres) an open report of the same category counts as a possible duplicate.
    pub duplicate_radius_m: f64,
    /// A citizen's second report within this many seconds is refused.
    pub repeat_report_seconds: i64,
    /// The agencies.
    pub agencies: Vec<Agency>,
    /// Emergencies answered with a number instead of a report, first match wins.
    #[serde(default)]
    pub emergencies: Vec<Emergency>,
    /// The categories.
    pub categories: Vec<Category>,
    /// Routing rules, first match wins.
    pub routing: Vec<Rule>,
    /// Response templates.
    pub templates: Vec<Template>,
}

/// What is private in the portal's catalogue (the compiled-in one `lib.rs` serves): held once
/// so that who may see a report is decided from the report alone, by `access`, and the stores'
/// public queries leave the same reports out.
#[derive(Debug, Default)]
pub struct Privacy {
    /// Ids of the private agencies.
    pub agencies: Vec<String>,
    /// Codes of the private categories.
    pub categories: Vec<String>,
}

impl Privacy {
    /// Whether a report of `category` routed to `agency` is private: either makes it so, so a
    /// police report stays private if a clerk reroutes it, and so does anything sent to the police.
    pub fn is_private(&self, category: &str, agency: &str) -> bool {
        self.categories.iter().any(|c| c == category) || self.agencies.iter().any(|a| a == agency)
    }
}

/// The catalogue's [`Privacy`]. The service refuses to start on a catalogue that does not
/// parse (`lib.rs`), so the empty fallback is never what a running service holds.
pub fn privacy() -> &'static Privacy {
    static PRIVACY: std::sync::OnceLock<Privacy> = std::sync::OnceLock::new();
    PRIVACY.get_or_init(|| {
        Catalogue::demo()
            .map(|c| Privacy {
                agencies: c.agencies.iter().filter(|a| a.private).map(|a| a.id.clone()).collect(),
                categories: c.categories.iter().filter(|c| c.private).map(|c| c.code.clone()).collect(),
            })
            .unwrap_or_default()
    })
}

/// A questionnaire answer after checking: what is stored.
pub type Answers = BTreeMap<String, serde_json::Value>;

impl Catalogue {
    /// The compiled-in demo catalogue.
    pub fn demo() -> Result<Self, DomainError> {
        Self::parse(CATALOGUE_JSON)
    }

    /// Parses and checks a catalogue: every rule names a known agency, and a catch-all exists.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let c: Self = serde_json::from_str(text).map_err(|e| DomainError::Catalogue(e.to_string()))?;
        for r in &c.routing {
            if c.agency(&r.agency).is_none() {
                return Err(DomainError::Catalogue(format!("rule names unknown agency {}", r.agency)));
            }
        }
        for e in &c.emergencies {
            if !EMERGENCY_NUMBERS.contains(&e.number.as_str()) {
                return Err(DomainError::Catalogue(format!("emergency {} names the number {}", e.code, e.number)));
            }
            if c.category(&e.code).is_some() {
                return Err(DomainError::Catalogue(format!("{} is both a category and an emergency", e.code)));
            }
        }
        for cat in &c.categories {
            if cat.sla_hours <= 0 {
                return Err(DomainError::Catalogue(format!("category {} has no SLA", cat.code)));
            }
            c.check_privacy(cat)?;
        }
        Ok(c)
    }

    /// A private category's first matching rule must send it, in every district, to a private
    /// agency; a public category may never reach one. Otherwise a police report could land on
    /// the public map of some district, or a pothole in the police's hidden queue.
    fn check_privacy(&self, cat: &Category) -> Result<(), DomainError> {
        let private_agency = |id: &str| self.agency(id).is_some_and(|a| a.private);
        let matching = self.routing.iter().filter(|r| r.category == "*" || r.category == cat.code);
        if cat.private {
            match matching.clone().next() {
                Some(r) if r.category == cat.code && r.district == "*" && private_agency(&r.agency) => {}
                _ => {
                    return Err(DomainError::Catalogue(format!(
                        "private category {} must first be routed, in every district, to a private agency",
                        cat.code
                    )))
                }
            }
        }
        if !cat.private && matching.clone().any(|r| private_agency(&r.agency)) {
            return Err(DomainError::Catalogue(format!("public category {} may reach a private agency", cat.code)));
        }
        Ok(())
    }

    /// The categories anyone may see reports of (Open311 lists only these).
    pub fn public_categories(&self) -> impl Iterator<Item = &Category> {
        self.categories.iter().filter(|c| !c.private)
    }

    /// The category by code, unless it is private (Open311 knows only the public ones).
    pub fn public_category(&self, code: &str) -> Option<&Category> {
        self.category(code).filter(|c| !c.private)
    }

    /// The category by code.
    pub fn category(&self, code: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.code == code)
    }

    /// The emergency a report of `category` with `text` is, if any: the category is an
    /// emergency's code, or the text holds one of its keywords. The catalogue's order decides
    /// between two (injuries in a crash: the ambulance first).
    pub fn emergency(&self, category: &str, text: &str) -> Option<&Emergency> {
        if let Some(e) = self.emergencies.iter().find(|e| e.code == category) {
            return Some(e);
        }
        let text = text.to_lowercase();
        self.emergencies.iter().find(|e| {
            e.keywords.split(',').map(str::trim).filter(|k| !k.is_empty()).any(|k| text.contains(&k.to_lowercase()))
        })
    }

    /// The agency by id.
    pub fn agency(&self, id: &str) -> Option<&Agency> {
        self.agencies.iter().find(|a| a.id == id)
    }

    /// The agency responsible for `category` in `district`.
    pub fn route(&self, category: &str, district: &str) -> Option<&Agency> {
        self.routing
            .iter()
            .find(|r| (r.category == "*" || r.category == category) && (r.district == "*" || r.district == district))
            .and_then(|r| self.agency(&r.agency))
    }

    /// The templates usable for `state` in `category`, category-specific ones first.
    pub fn templates_for(&self, state: &str, category: &str) -> Vec<&Template> {
        let mut v: Vec<&Template> = self
            .templates
            .iter()
            .filter(|t| t.state == state && (t.categories.is_empty() || t.categories.iter().any(|c| c == category)))
            .collect();
        v.sort_by_key(|t| t.categories.is_empty());
        v
    }

    /// The template by id.
    pub fn template(&self, id: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.id == id)
    }
}

impl Template {
    /// The text with `{{agency}}` filled in, (zh, en).
    pub fn render(&self, agency: &Agency) -> (String, String) {
        (self.text_zh.replace("{{agency}}", &agency.name_zh), self.text_en.replace("{{agency}}", &agency.name_en))
    }
}

impl Category {
    /// Checks answers against the questions: required ones present, list values known, numbers
    /// and datetimes parse. Returns the answers to store, or the first bad field
    /// (`attribute[code]`) with why.
    pub fn check_answers(&self, raw: &BTreeMap<String, Vec<String>>) -> Result<Answers, (String, String)> {
        let mut out = Answers::new();
        for code in raw.keys() {
            if !self.questions.iter().any(|q| q.variable && &q.code == code) {
                return Err((format!("attribute[{code}]"), format!("{} has no question `{code}`", self.code)));
            }
        }
        for q in self.questions.iter().filter(|q| q.variable) {
            let field = format!("attribute[{}]", q.code);
            let values: Vec<&str> = raw
                .get(&q.code)
                .map(|v| v.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            if values.is_empty() {
                if q.required {
                    return Err((field, format!("an answer to \"{}\" is required", q.description)));
                }
                continue;
            }
            let known = |v: &str| q.values.iter().any(|o| o.key == v);
            let value = match q.datatype {
                Datatype::Multivaluelist => {
                    if let Some(bad) = values.iter().find(|v| !known(v)) {
                        return Err((field, format!("`{bad}` is not one of the options")));
                    }
                    serde_json::json!(values)
                }
                _ if values.len() > 1 => return Err((field, "takes one value".into())),
                Datatype::Singlevaluelist => {
                    if !known(values[0]) {
                        return Err((field, format!("`{}` is not one of the options", values[0])));
                    }
                    serde_json::json!(values[0])
                }
                Datatype::Number => match values[0].parse::<f64>() {
                    Ok(n) if n.is_finite() => serde_json::json!(n),
                    _ => return Err((field, "not a number".into())),
                },
                Datatype::Datetime => match chrono::DateTime::parse_from_rfc3339(values[0]) {
                    Ok(t) => serde_json::json!(t.with_timezone(&chrono::Utc).to_rfc3339()),
                    Err(_) => return Err((field, "not an ISO 8601 date-time with a time zone".into())),
                },
                Datatype::String if values[0].contains('\n') => return Err((field, "one line only".into())),
                Datatype::String | Datatype::Text => {
                    if values[0].chars().count() > 1000 {
                        return Err((field, "at most 1000 characters".into()));
                    }
                    serde_json::json!(values[0])
                }
            };
            out.insert(q.code.clone(), value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emergencies_answer_with_their_number_by_category_or_keyword() {
        let c = Catalogue::demo().unwrap();
        let number = |cat: &str, text: &str| c.emergency(cat, text).map(|e| e.number.as_str());
        assert_eq!(number("fire", "anything"), Some("119"));
        assert_eq!(number("traffic_accident", ""), Some("122"));
        assert_eq!(number("noise", "楼下有人打架，还拿着刀"), Some("110"));
        assert_eq!(number("pothole", "Smoke coming out of a manhole"), Some("119"));
        assert_eq!(number("pothole", "车祸，司机在流血"), Some("120"), "injuries: the ambulance first");
        assert_eq!(number("pothole", "追尾了，车堵在路口"), Some("122"));
        assert_eq!(number("noise", "Loud music after midnight"), None);
        assert_eq!(number("streetlight", "路灯不亮"), None);
    }

    #[test]
    fn a_catalogue_may_name_only_the_four_emergency_numbers() {
        let text = CATALOGUE_JSON.replacen("\"number\": \"119\"", "\"number\": \"12345\"", 1);
        assert!(matches!(Catalogue::parse(&text), Err(DomainError::Catalogue(m)) if m.contains("12345")));
    }

    fn answers(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn the_demo_catalogue_parses_and_routes_every_category_in_every_district() {
        let c = Catalogue::demo().unwrap();
        let districts = city_platform::districts::Districts::demo().unwrap();
        for cat in &c.categories {
            for d in districts.all() {
                assert!(c.route(&cat.code, &d.code).is_some(), "{} in {}", cat.code, d.code);
            }
        }
    }

    #[test]
    fn dumping_goes_to_the_central_bureau_downtown_and_the_suburban_one_outside() {
        let c = Catalogue::demo().unwrap();
        assert_eq!(c.route("dumping", "510104").unwrap().id, "um-central");
        assert_eq!(c.route("dumping", "510116").unwrap().id, "um-suburban");
        assert_eq!(c.route("pothole", "510116").unwrap().id, "roads");
    }

    #[test]
    fn a_required_answer_missing_names_the_attribute() {
        let c = Catalogue::demo().unwrap();
        let pothole = c.category("pothole").unwrap();
        let err = pothole.check_answers(&answers(&[])).unwrap_err();
        assert_eq!(err.0, "attribute[size]");
    }

    #[test]
    fn list_answers_must_be_options_and_unknown_attributes_are_refused() {
        let c = Catalogue::demo().unwrap();
        let pothole = c.category("pothole").unwrap();
        assert_eq!(pothole.check_answers(&answers(&[("size", &["huge"])])).unwrap_err().0, "attribute[size]");
        assert_eq!(
            pothole.check_answers(&answers(&[("size", &["small"]), ("colour", &["red"])])).unwrap_err().0,
            "attribute[colour]"
        );
        let ok = pothole.check_answers(&answers(&[("size", &["small"]), ("lane", &["cycle", "footway"])])).unwrap();
        assert_eq!(ok["lane"], serde_json::json!(["cycle", "footway"]));
    }

    #[test]
    fn police_categories_are_private_and_routed_to_the_police_everywhere_while_noise_stays_with_env() {
        let c = Catalogue::demo().unwrap();
        let districts = city_platform::districts::Districts::demo().unwrap();
        for code in ["night_noise", "illegal_parking", "lost_item", "traffic_light_fault"] {
            assert!(c.category(code).unwrap().private, "{code}");
            for d in districts.all() {
                assert_eq!(c.route(code, &d.code).unwrap().id, "police", "{code} in {}", d.code);
            }
            assert!(privacy().is_private(code, "police"));
        }
        assert!(!c.category("noise").unwrap().private);
        assert_eq!(c.route("noise", "510104").unwrap().id, "env");
        assert!(!privacy().is_private("noise", "env"));
        assert!(privacy().is_private("noise", "police"), "whatever reaches the police is private");
        let public: Vec<&str> = c.public_categories().map(|c| c.code.as_str()).collect();
        assert_eq!(public, ["pothole", "streetlight", "dumping", "water_leak", "noise"]);
    }

    #[test]
    fn a_private_category_routed_elsewhere_or_a_public_one_routed_to_the_police_is_refused() {
        let leaky = CATALOGUE_JSON.replacen(
            r#"{"category": "lost_item", "district": "*", "agency": "police"}"#,
            r#"{"category": "lost_item", "district": "510104", "agency": "env"}, {"category": "lost_item", "district": "*", "agency": "police"}"#,
            1,
        );
        assert!(matches!(Catalogue::parse(&leaky), Err(DomainError::Catalogue(m)) if m.contains("lost_item")));
        let exposed = CATALOGUE_JSON.replacen(
            r#"{"category": "noise", "district": "*", "agency": "env"}"#,
            r#"{"category": "noise", "district": "*", "agency": "police"}"#,
            1,
        );
        assert!(matches!(Catalogue::parse(&exposed), Err(DomainError::Catalogue(m)) if m.contains("noise")));
    }

    #[test]
    fn category_specific_templates_come_before_general_ones() {
        let c = Catalogue::demo().unwrap();
        let t = c.templates_for("action_scheduled", "pothole");
        assert_eq!(t[0].id, "pothole-scheduled");
        assert_eq!(t.len(), 2);
    }
}
