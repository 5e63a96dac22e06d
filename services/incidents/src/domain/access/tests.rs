//! The access table: every principal against every kind of report, pinning what each sees and
//! may do today. A change of rule changes a row here first.

use city_platform::auth::{Integrator, Role, Scopes, Staff};

use super::*;
use crate::domain::report::{Report, ReportId};

const DISTRICT: &str = "510104";
const AGENCY: &str = "roads";
const REPORTER: &str = "c-rep";

fn staff(id: &str, roles: &[Role], districts: &[&str], agencies: &[&str]) -> Staff {
    Staff {
        staff_id: id.into(),
        username: id.into(),
        roles: roles.to_vec(),
        scopes: Scopes {
            districts: districts.iter().map(|d| d.to_string()).collect(),
            agencies: agencies.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        },
        session_id: format!("s-{id}"),
    }
}

fn integrator(scopes: &[&str]) -> Integrator {
    Integrator { key_id: "k1".into(), name: "three".into(), scopes: scopes.iter().map(|s| s.to_string()).collect() }
}

fn report(moderation: &str, state: &str, anonymous: bool) -> Report {
    Report {
        id: ReportId::from("r-1"),
        citizen_id: Some(REPORTER.into()),
        reporter_name: Some("Ms Li".into()),
        anonymous,
        channel: "miniprogram".into(),
        contact: Some(r#"{"email":"li@example.cn"}"#.into()),
        category: "pothole".into(),
        agency: AGENCY.into(),
        district: DISTRICT.into(),
        state: state.into(),
        description: "Deep pothole".into(),
        address: "Chunxi Road 12".into(),
        attributes: "{}".into(),
        lat: 30.6552,
        lon: 104.0811,
        orig_crs: "wgs84".into(),
        orig_lat: 30.6552,
        orig_lon: 104.0811,
        moderation: moderation.into(),
        assignee_id: None,
        assignee_name: None,
        duplicate_of: None,
        n_photos: 1,
        n_followers: 0,
        version: 1,
        created_at: 0,
        updated_at: 0,
        due_at: 0,
        closed_at: None,
    }
}

/// The report states of the table's columns, in order.
fn reports() -> [(&'static str, Report); 6] {
    [
        ("public", report("pass", "open", false)),
        ("held for review", report("review", "open", false)),
        ("pending a check", report("pending", "confirmed", false)),
        ("rejected text", report("rejected", "in_progress", false)),
        ("anonymous", report("pass", "open", true)),
        ("closed", report("pass", "fixed", false)),
    ]
}

const FIELDS: [(char, Field); 7] = [
    ('T', Field::Text),
    ('N', Field::ReporterName),
    ('C', Field::Contact),
    ('P', Field::Photos),
    ('H', Field::PublicHistory),
    ('I', Field::InternalNotes),
    ('W', Field::Workflow),
];

const HANDLING: [Action; 6] =
    [Action::ReadAsClerk, Action::Update, Action::Resolve, Action::Assign, Action::Merge, Action::Moderate];

fn code(r: Result<(), Refusal>) -> &'static str {
    match r {
        Ok(()) => "ok",
        Err(Refusal::SignInRequired) => "401",
        Err(Refusal::Forbidden(_)) => "403",
        Err(Refusal::Hidden) => "404",
        Err(Refusal::OwnReport) => "own",
        Err(Refusal::Closed) => "closed",
    }
}

/// One row per principal: the fields seen of each report of [`reports`] (T text, N reporter
/// name, C contact, P photos, H public history, I internal notes, W workflow fields; `.` =
/// not seen), then every handling action's answer (the same for all six), then "me too" on
/// each report, then filing a new report.
type Row = (&'static str, [&'static str; 6], &'static str, [&'static str; 6], &'static str);

#[rustfmt::skip]
const TABLE: &[Row] = &[
    //  principal              public     held       pending    rejected   anonymous  closed      handle  follow: public    held      pending   rejected  anonymous closed      file
    ("anonymous",            ["TN.PH..", "...PH..", "...PH..", "...PH..", "T..PH..", "TN.PH.."], "401", ["401",    "401",    "401",    "401",    "401",    "401"],     "401"),
    ("reporting citizen",    ["TN.PH..", "TN.PH..", "TN.PH..", "TN.PH..", "T..PH..", "TN.PH.."], "403", ["own",    "own",    "own",    "own",    "own",    "own"],     "ok"),
    ("another citizen",      ["TN.PH..", "...PH..", "...PH..", "...PH..", "T..PH..", "TN.PH.."], "403", ["ok",     "ok",     "ok",     "ok",     "ok",     "closed"],  "ok"),
    ("clerk of the district",["TN.PHIW", "TN.PHIW", "TN.PHIW", "TN.PHIW", "T..PHIW", "TN.PHIW"], "ok",  ["403",    "403",    "403",    "403",    "403",    "403"],     "403"),
    ("clerk of the agency",  ["TN.PHIW", "TN.PHIW", "TN.PHIW", "TN.PHIW", "T..PHIW", "TN.PHIW"], "ok",  ["403",    "403",    "403",    "403",    "403",    "403"],     "403"),
    ("clerk elsewhere",      ["TN.PH..", "...PH..", "...PH..", "...PH..", "T..PH..", "TN.PH.."], "404", ["403",    "403",    "403",    "403",    "403",    "403"],     "403"),
    ("scheduler of district",["TN.PH..", "...PH..", "...PH..", "...PH..", "T..PH..", "TN.PH.."], "403", ["403",    "403",    "403",    "403",    "403",    "403"],     "403"),
    ("admin",                ["TN.PHIW", "TN.PHIW", "TN.PHIW", "TN.PHIW", "T..PHIW", "TN.PHIW"], "ok",  ["403",    "403",    "403",    "403",    "403",    "403"],     "403"),
    ("open311 integrator",   ["TN.PH..", "...PH..", "...PH..", "...PH..", "T..PH..", "TN.PH.."], "403", ["403",    "403",    "403",    "403",    "403",    "403"],     "ok"),
    ("other API key",        ["TN.PH..", "...PH..", "...PH..", "...PH..", "T..PH..", "TN.PH.."], "403", ["403",    "403",    "403",    "403",    "403",    "403"],     "403"),
];

struct People {
    clerk_here: Staff,
    clerk_agency: Staff,
    clerk_elsewhere: Staff,
    scheduler: Staff,
    admin: Staff,
    key: Integrator,
    other_key: Integrator,
}

impl People {
    fn new() -> Self {
        Self {
            clerk_here: staff("st-jj", &[Role::Clerk], &[DISTRICT], &[]),
            clerk_agency: staff("st-roads", &[Role::Clerk], &["510116"], &[AGENCY]),
            clerk_elsewhere: staff("st-sl", &[Role::Clerk], &["510116"], &["water"]),
            scheduler: staff("st-sch", &[Role::Scheduler], &[DISTRICT], &[AGENCY]),
            admin: staff("st-admin", &[Role::Admin], &[], &[]),
            key: integrator(&["open311"]),
            other_key: integrator(&["air-ingest"]),
        }
    }

    fn principal(&self, name: &str) -> Principal<'_> {
        match name {
            "anonymous" => Principal::Anonymous,
            "reporting citizen" => Principal::Citizen(REPORTER),
            "another citizen" => Principal::Citizen("c-other"),
            "clerk of the district" => Principal::Staff(&self.clerk_here),
            "clerk of the agency" => Principal::Staff(&self.clerk_agency),
            "clerk elsewhere" => Principal::Staff(&self.clerk_elsewhere),
            "scheduler of district" => Principal::Staff(&self.scheduler),
            "admin" => Principal::Staff(&self.admin),
            "open311 integrator" => Principal::Integrator(&self.key),
            "other API key" => Principal::Integrator(&self.other_key),
            other => panic!("no principal {other}"),
        }
    }
}

#[test]
fn every_principal_sees_and_may_do_what_the_table_says_with_every_kind_of_report() {
    let people = People::new();
    let reports = reports();
    for (who, seen, handle, follow, file) in TABLE {
        let p = people.principal(who);
        for (i, (state, r)) in reports.iter().enumerate() {
            let got: String = FIELDS.iter().map(|(c, f)| if may_see(&p, r, *f) { *c } else { '.' }).collect();
            assert_eq!(got, seen[i], "{who} looking at a {state} report");
            assert_eq!(code(may(&p, r, Action::Read)), "ok", "anyone may read the public view");
            for a in HANDLING {
                assert_eq!(code(may(&p, r, a)), *handle, "{who}: {a:?} on a {state} report");
            }
            assert_eq!(code(may(&p, r, Action::Follow)), follow[i], "{who} following a {state} report");
        }
        assert_eq!(code(may_file(&p)), *file, "{who} filing a report");
    }
}

#[test]
fn a_clerks_queue_holds_exactly_the_reports_they_may_handle() {
    let people = People::new();
    let mut r = report("pass", "open", false);
    for who in ["clerk of the district", "clerk of the agency", "clerk elsewhere", "admin"] {
        let p = people.principal(who);
        let scope = queue_scope(&p).unwrap();
        for (category, district, agency) in [
            ("pothole", DISTRICT, AGENCY),
            ("pothole", DISTRICT, "water"),
            ("pothole", "510116", AGENCY),
            ("pothole", "510116", "parks"),
            ("lost_item", DISTRICT, "police"),
            ("pothole", DISTRICT, "police"),
            ("lost_item", DISTRICT, AGENCY),
        ] {
            r.category = category.into();
            r.district = district.into();
            r.agency = agency.into();
            assert_eq!(
                scope.holds(category, district, agency),
                may(&p, &r, Action::ReadAsClerk).is_ok(),
                "{who} {district} {agency}"
            );
        }
    }
    assert_eq!(queue_scope(&people.principal("admin")).unwrap(), QueueScope::Everything);
    for (who, refusal) in [("anonymous", "401"), ("another citizen", "403"), ("scheduler of district", "403")] {
        assert_eq!(code(queue_scope(&people.principal(who)).map(|_| ())), refusal, "{who}");
    }
}

/// A police report (issue #22) in the district clerk's own district: its reporter and the
/// police clerks see it; everyone else, other clerks included, is told it does not exist.
#[test]
fn a_private_report_is_its_reporters_and_its_agencys_clerks_only() {
    let people = People::new();
    let police = staff("st-police", &[Role::Clerk], &[], &["police"]);
    let env = staff("st-env", &[Role::Clerk], &[DISTRICT], &["env"]);
    let mut r = report("pass", "open", false);
    r.category = "lost_item".into();
    r.agency = "police".into();
    #[rustfmt::skip]
    let rows: [(&str, Principal<'_>, &str, &str, &str, &str); 8] = [
        //  who                      principal                            seen       read   handle follow
        ("anonymous",             Principal::Anonymous,                   ".......", "404", "404", "404"),
        ("reporting citizen",     Principal::Citizen(REPORTER),           "TN.PH..", "ok",  "403", "own"),
        ("another citizen",       Principal::Citizen("c-other"),          ".......", "404", "404", "404"),
        ("clerk of the district", people.principal("clerk of the district"), ".......", "404", "404", "404"),
        ("environment clerk",     Principal::Staff(&env),                 ".......", "404", "404", "404"),
        ("police clerk",          Principal::Staff(&police),              "TN.PHIW", "ok",  "ok",  "403"),
        ("admin",                 people.principal("admin"),              "TN.PHIW", "ok",  "ok",  "403"),
        ("open311 integrator",    people.principal("open311 integrator"), ".......", "404", "404", "404"),
    ];
    for (who, p, seen, read, handle, follow) in rows {
        let got: String = FIELDS.iter().map(|(c, f)| if may_see(&p, &r, *f) { *c } else { '.' }).collect();
        assert_eq!(got, seen, "{who} looking at a police report");
        assert_eq!(code(may(&p, &r, Action::Read)), read, "{who} reading a police report");
        for a in HANDLING {
            assert_eq!(code(may(&p, &r, a)), handle, "{who}: {a:?} on a police report");
        }
        assert_eq!(code(may(&p, &r, Action::Follow)), follow, "{who} following a police report");
    }
    assert!(!text_is_public(&r) && on_map(&r).is_none(), "a police report is on no map");
    // Rerouted by a clerk, it stays private: the category is the police's.
    r.agency = AGENCY.into();
    assert!(is_private(&r));
}

#[test]
fn only_a_passed_text_is_public_and_only_attached_photos_are() {
    assert!(text_is_public(&report("pass", "open", false)));
    for held in ["review", "pending", "rejected"] {
        assert!(!text_is_public(&report(held, "open", false)), "{held}");
    }
    assert!(photo_is_public(Some("r-1")));
    assert!(!photo_is_public(None));
}

#[test]
fn a_held_report_is_off_the_map() {
    assert!(on_map(&report("pass", "open", false)).is_some());
    assert!(on_map(&report("review", "open", false)).is_none());
}
