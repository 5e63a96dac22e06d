//! Every template renders with the shapes the handlers give it, in both languages.

use serde_json::json;

use super::*;

fn sample_base(lang: Lang) -> Value {
    json!({
        "t": lang.words(), "lang": lang.code(), "html_lang": lang.html(), "nav": "queue", "back": "%2Fconsole%2Fqueue",
        "me": {"name": "Wang", "username": "jj.clerk", "roles": "clerk", "scope": "510104"},
        "csrf": "c", "poll_secs": 15, "tile_url": null, "tile_attribution": "",
    })
}

fn ticket_row() -> Value {
    json!({
        "report": {"id": "R1", "category": "pothole", "state": "open", "status": "open", "description": "Deep <b>hole</b>", "address": "Chunxi Road",
                   "location": {"lat": 30.65, "lon": 104.08, "crs": "wgs84"}, "district": "510104",
                   "agency": {"id": "roads", "name_zh": "路", "name_en": "Roads"}, "photos": [{"id": "p", "url": "/u", "thumbnail_url": "/t"}],
                   "created_at": "2026-12-01T08:00:00Z", "updated_at": "2026-12-01T08:00:00Z", "due_at": "2026-12-03T08:00:00Z",
                   "followers": 0, "duplicate_of": null,
                   "history": [{"id": "h", "at": "2026-12-01T08:00:00Z", "kind": "public", "state_from": "open", "state_to": "fixed", "text_zh": "好", "text_en": "ok", "staff_name": "W"}]},
        "version": 3, "moderation": "review", "overdue": true, "assignee_id": null, "assignee_name": null, "channel": "miniprogram",
    })
}

#[test]
fn every_page_renders_in_both_languages_and_escapes_text() {
    let pages = Templates::new();
    for lang in [Lang::Zh, Lang::En] {
        let mut c = sample_base(lang);
        c["login_csrf"] = json!("x");
        c["error"] = json!(crate::i18n::refusal(lang));
        c["next"] = json!("");
        c["notice"] = json!(null);
        let login = pages.render("login.html", &c);
        assert!(login.contains("name=\"csrf\" value=\"x\""), "{login}");
        assert!(login.contains(crate::i18n::refusal(lang)));

        let mut c = sample_base(lang);
        c["rows"] = json!([ticket_row()]);
        c["total"] = json!(1);
        c["page"] = json!(1);
        c["pages"] = json!(1);
        c["query"] = json!("state=open");
        c["stamp"] = json!("s");
        c["counts"] =
            json!({"all": 1, "state": {"open": 1}, "category": {}, "district": {}, "mine": 0, "overdue": 1, "held": 1});
        c["f"] = json!({"state": "open", "category": "", "district": "", "q": "", "sort": "", "mine": false, "overdue": false, "held": false});
        c["states"] = json!(super::queue::STATES);
        c["categories"] = json!([{"code": "pothole", "name_zh": "坑洼", "name_en": "Pothole"}]);
        c["districts"] = json!([{"code": "510104", "name_zh": "锦江区", "name_en": "Jinjiang"}]);
        let queue = pages.render("queue.html", &c);
        assert!(queue.contains("/console/tickets/R1"), "{queue}");
        assert!(queue.contains("Deep &lt;b&gt;hole&lt;"), "text is escaped: {queue}");
        assert!(!queue.contains("internal error"));

        let mut c = sample_base(lang);
        c["ticket"] = ticket_row();
        c["r"] = ticket_row()["report"].clone();
        c["etag"] = json!("\"v3\"");
        c["reporter"] = json!(null);
        c["templates"] = json!([{"id": "t1", "state": "fixed", "title_zh": "已修", "title_en": "Fixed", "text_zh": "已修复", "text_en": "Fixed it"}]);
        c["categories"] = json!([{"code": "pothole", "name_zh": "坑洼", "name_en": "Pothole"}]);
        c["states"] = json!(super::queue::STATES);
        c["nearby"] = json!([{"report": {"id": "R2", "description": "x"}, "distance_m": 12.5}]);
        c["colleagues"] = json!([{"id": "s2", "name": "Li"}]);
        c["hours_left"] = json!(-2.5);
        c["late_hours"] = json!(2.5);
        c["held"] = json!(true);
        c["banner"] = json!({"kind": "conflict", "text": "changed"});
        c["map_at"] = json!({"lat": 30.6527, "lon": 104.0836, "coord": "gcj02"});
        let ticket = pages.render("ticket.html", &c);
        assert!(
            ticket.contains("data-lat=\"30.6527\" data-lon=\"104.0836\" data-coord=\"gcj02\""),
            "the small map's pin is the page model's point, not the report's WGS-84 one: {ticket}"
        );
        assert!(ticket.contains("id=\"reload\""), "{ticket}");
        assert!(ticket.contains("value=\"&quot;v3&quot;\""), "the ETag is a hidden field: {ticket}");
        assert!(ticket.contains("id=\"approve\""));
        assert!(ticket.contains("2026-12-03 16:00"), "instants in Beijing time: {ticket}");

        let mut c = sample_base(lang);
        c["forced"] = json!(true);
        c["error"] = json!(null);
        let page = pages.render("password.html", &c);
        assert!(page.contains("id=\"pw-forced\"") && page.contains("name=\"csrf\" value=\"c\""), "{page}");

        let mut c = sample_base(lang);
        c["message"] = json!("m");
        assert!(pages.render("message.html", &c).contains(">m<"));
    }
}
