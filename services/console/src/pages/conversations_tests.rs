//! The agents' pages: times, forms, refusals and every template, in both languages.

use super::*;

#[test]
fn spans_read_in_hours_and_minutes_in_both_languages() {
    assert_eq!(span(2 * 3_600_000 + 5 * 60_000 + 59_000, Lang::Zh), "2小时05分");
    assert_eq!(span(47 * 60_000, Lang::En), "47 min");
    assert_eq!(span(-5, Lang::En), "0 min", "a past deadline is no negative time");
    assert_eq!(beijing(0), "1970-01-01 08:00");
}

#[test]
fn the_window_is_open_until_its_instant_and_the_wait_counts_from_opening() {
    let c = json!({"opened_at_ms": 1_000, "last_message_at_ms": 1_000, "window_closes_at_ms": 1_000 + 3_600_000});
    let open = decorate(c.clone(), 1_000 + 60_000, Lang::En);
    assert_eq!(open["window_open"], true);
    assert_eq!(open["window_text"], "59 min");
    assert_eq!(open["waiting_text"], "1 min");
    assert_eq!(decorate(c, 1_000 + 3_600_000, Lang::En)["window_open"], false);
}

#[test]
fn a_reply_is_the_text_else_the_canned_reply_and_a_transfer_names_an_agent_or_a_group() {
    let f = ConversationForm { text: "  ".into(), canned: "cr1".into(), ..Default::default() };
    assert_eq!(reply_of(&f), Some(Reply::Canned("cr1".into())));
    let f = ConversationForm { text: " hello ".into(), canned: "cr1".into(), ..Default::default() };
    assert_eq!(reply_of(&f), Some(Reply::Text("hello".into())));
    assert_eq!(reply_of(&ConversationForm::default()), None);
    let f = ConversationForm { to: "group:payments".into(), note: " bill ".into(), ..Default::default() };
    assert_eq!(transfer_of(&f), Some(json!({"to_group": "payments", "note": "bill"})));
    let f = ConversationForm { to: "agent:s2".into(), ..Default::default() };
    assert_eq!(transfer_of(&f), Some(json!({"to_agent_id": "s2", "note": ""})));
    assert_eq!(transfer_of(&ConversationForm { to: "agent:".into(), ..Default::default() }), None);
}

#[test]
fn only_the_closed_window_refusal_turns_the_reply_box_into_the_template_form() {
    let closed = ApiError::Refused { status: 409, problem: json!({"type": "/problems/reply-window-closed"}) };
    let taken = ApiError::Refused { status: 409, problem: json!({"type": "/problems/conversation-taken"}) };
    assert!(window_closed(&closed));
    assert!(!window_closed(&taken));
}

fn base(lang: Lang) -> Value {
    json!({
        "t": lang.words(), "lang": lang.code(), "html_lang": lang.html(), "nav": "conversations", "back": "%2F",
        "me": {"name": "Zhang", "username": "agent.zhang", "roles": "agent", "scope": ""},
        "csrf": "tok", "poll": 5, "w": words(lang),
    })
}

fn summary(state: &str, agent: Option<&str>, closes_in_ms: i64) -> Value {
    let now = now_ms();
    json!({"id": "c1", "account": {"appid": "wx1", "name": "City <b>"}, "follower": {"openid_masked": "o6_w…Xy1", "signed_in": true},
           "group": "payments", "state": state, "agent_id": agent, "opened_at_ms": now - 600_000,
           "last_message_at_ms": now - 60_000, "window_closes_at_ms": now + closes_in_ms,
           "preview": "<script>bill</script>", "queue_position": 2, "outcome": null, "satisfaction": null})
}

#[test]
fn the_inbox_renders_both_lists_escaped_with_the_window_left_in_both_languages() {
    let pages = super::super::Templates::new();
    for lang in [Lang::Zh, Lang::En] {
        let mut c = base(lang);
        c["agent"] = json!({"staff_id": "s1", "display_name": "Zhang", "status": "away", "groups": ["payments"],
                            "languages": ["zh"], "max_concurrent": 3, "active": 0});
        c["mine"] = json!([decorate(summary("assigned", Some("s1"), 3_600_000), now_ms(), lang)]);
        c["waiting"] = json!([decorate(summary("waiting", None, -1), now_ms(), lang)]);
        c["stamp"] = json!("st");
        let page = pages.render("conversations.html", &c);
        assert!(!page.contains("internal error"), "{page}");
        assert!(page.contains("id=\"go-online\"") && page.contains("name=\"csrf\" value=\"tok\""), "{page}");
        assert!(page.contains("&lt;script&gt;bill"), "the preview is escaped: {page}");
        assert!(page.contains("id=\"conv-mine\"") && page.contains("id=\"conv-queue\""), "{page}");
        assert!(page.contains(&format!("⚠ {}", words(lang)["window_closed"].as_str().unwrap())), "{page}");
        assert!(page.contains(&span(3_600_000 - 1, lang)) || page.contains(&span(3_600_000, lang)), "{page}");
        let fragment = pages.render("conversations_lists.html", &c);
        assert!(fragment.contains("data-stamp=\"st\"") && !fragment.contains("<html"), "{fragment}");
    }
}

#[test]
fn the_conversation_offers_the_reply_box_while_the_window_is_open_and_the_template_form_after() {
    let pages = super::super::Templates::new();
    let lang = Lang::En;
    let mut conv = decorate(summary("assigned", Some("s1"), 3_600_000), now_ms(), lang);
    conv["messages"] = json!([
        {"id": "m1", "from": "citizen", "agent_id": null, "kind": "text", "text": "my <bill>", "at_ms": 0, "delivery": null, "at_text": "t"},
        {"id": "m2", "from": "agent", "agent_id": "s1", "kind": "text", "text": "late", "at_ms": 0, "delivery": "window-closed", "at_text": "t"},
    ]);
    conv["transfers"] = json!([{"from_agent_id": "s2", "to_agent_id": null, "to_group": "payments", "note": "bill", "at_ms": 0, "at_text": "t"}]);
    let mut c = base(lang);
    c["context"] = context(&json!({"signed_in": true, "unpaid": [{"amount_fen": 100}]}), lang);
    c["mine"] = json!(true);
    c["canned"] = json!([{"id": "cr1", "title": "Hours", "text": "We open at 9", "group": "general"}]);
    c["agents"] =
        json!([{"staff_id": "s2", "display_name": "Li", "status": "online", "active": 1, "max_concurrent": 3}]);
    c["groups"] = json!(GROUPS);
    c["outcomes"] = json!(OUTCOMES);
    c["banner"] = json!({"text": "Not done: taken", "failed": true});
    c["stamp"] = json!("s");
    c["conv"] = conv.clone();
    let page = pages.render("conversation.html", &c);
    assert!(!page.contains("internal error"), "{page}");
    assert!(page.contains("id=\"form-reply\"") && !page.contains("id=\"form-template\""), "{page}");
    assert!(page.contains("my &lt;bill&gt;") && page.contains("Not delivered"), "{page}");
    assert!(page.contains("value=\"agent:s2\"") && page.contains("value=\"group:payments\""), "{page}");
    assert!(page.contains("value=\"cr1\"") && page.contains("¥1.00"), "{page}");
    assert!(page.contains("role=\"alert\" id=\"conv-banner\""), "{page}");
    assert!(!page.contains("Handled by"), "the account written to handles it: {page}");

    // Moved to another account's agents (issue #20): the page says whose, beside the account
    // the citizen wrote to (replies still come from it).
    let mut moved = conv.clone();
    moved["handled_by_account"] = json!({"key": "traffic", "appid": "wx3", "name": "Traffic <Police>"});
    c["conv"] = moved;
    let page = pages.render("conversation.html", &c);
    assert!(page.contains("Handled by: Traffic &lt;Police&gt;") && page.contains("City &lt;b&gt;"), "{page}");

    conv["window_open"] = json!(false);
    c["conv"] = conv.clone();
    let page = pages.render("conversation.html", &c);
    assert!(page.contains("id=\"form-template\"") && !page.contains("id=\"form-reply\""), "{page}");
    assert!(page.contains(words(lang)["template_why"].as_str().unwrap()), "{page}");

    // Someone else's conversation: no reply box at all; a waiting one: accept.
    c["mine"] = json!(false);
    conv["state"] = json!("waiting");
    c["conv"] = conv;
    let page = pages.render("conversation.html", &c);
    assert!(page.contains("id=\"accept\"") && !page.contains("form-template") && !page.contains("form-reply"));
    let fragment = pages.render("conversation_messages.html", &c);
    assert!(fragment.contains("data-from=\"citizen\"") && !fragment.contains("<html"), "{fragment}");
}

#[test]
fn the_context_shows_instants_in_beijing_time_and_fen_as_yuan() {
    let ctx = json!({"signed_in": true, "next_appointment": {"starts_at_ms": 0, "place": "West China"},
                     "unpaid": [{"amount_fen": 12345, "description": "Water"}], "open_tickets": [],
                     "district": {"code": "510104", "name": "锦江区"}, "air": {"aqi": 87, "level": "moderate"}});
    let c = context(&ctx, Lang::En);
    assert_eq!(c["appointment"][0], json!([["Place", "West China"], ["starts at", "1970-01-01 08:00"]]));
    assert_eq!(c["unpaid"][0][0], json!(["Amount", "¥123.45"]));
    assert_eq!(context(&ctx, Lang::Zh)["unpaid"][0][1], json!(["事项", "Water"]));
    assert_eq!(c["district"], "锦江区");
    assert_eq!(c["air"], "AQI 87 · moderate");
    assert_eq!(context(&json!({}), Lang::Zh)["air"], Value::Null);
}
