//! `/h5`: the small pages the Service Account's menu and the OAuth sign-in lead to (issue #23).
//!
//! A menu button of type `miniprogram` opens the Mini Program inside WeChat; where it cannot (an
//! old client, a desktop), WeChat opens the button's fallback `url`, one of these pages. Each
//! says which service this is (Chinese and English), what to do next, and links to the Mini
//! Program page that does it. `/h5/me` is where the Service Account sign-in lands by default:
//! it reads the `city_session` cookie the OAuth callback set and says whether it is live.
//!
//! The pages are rendered here from the catalogue (`seeds/services.json`), hold no script, and
//! get the portal's Content-Security-Policy from [`crate::security`] like every HTML answer.
//! The gateway owns the prefix in every mode that faces browsers (all-in-one and `--gateway`);
//! a lone service (`--only`) has none.

use std::sync::Arc;

use city_platform::auth::{Principal, SharedAuthenticator};
use poem::http::StatusCode;
use poem::web::{Data, Html, Path};
use poem::{handler, EndpointExt, IntoResponse, Request, Response, Route};

use crate::ops::CatalogueEntry;

/// The cookie holding a citizen's session after the Service Account sign-in (set by identity's
/// OAuth callback; read here, never shown).
pub const SESSION_COOKIE: &str = "city_session";

/// Pages that are not a catalogue entry.
const GUIDE: &str = "guide";
const ME: &str = "me";

/// What the pages need: the catalogue and the Mini Program they link to.
struct Pages {
    catalogue: Vec<CatalogueEntry>,
    mp_appid: String,
}

/// The `/h5` routes for `catalogue`, linking to the Mini Program `mp_appid`.
pub fn routes(catalogue: &[CatalogueEntry], mp_appid: &str) -> Route {
    let pages = Arc::new(Pages { catalogue: catalogue.to_vec(), mp_appid: mp_appid.to_owned() });
    Route::new().at("/", index.data(pages.clone())).at("/:page", page.data(pages))
}

#[handler]
fn index(Data(pages): Data<&Arc<Pages>>) -> Response {
    Html(render_guide(pages)).into_response()
}

#[handler]
async fn page(req: &Request, Path(name): Path<String>, Data(pages): Data<&Arc<Pages>>) -> Response {
    match name.as_str() {
        GUIDE => Html(render_guide(pages)).into_response(),
        ME => Html(render_me(signed_in(req).await)).into_response(),
        id => match pages.catalogue.iter().find(|s| s.id == id) {
            Some(service) => Html(render_service(service, &pages.mp_appid)).into_response(),
            None => Html(layout(
                "页面不存在 · Page not found",
                "<p>没有这个页面。</p><p lang=\"en\">There is no such page.</p>\
                 <p><a href=\"/h5/guide\">办事指南 · All services</a></p>",
            ))
            .with_status(StatusCode::NOT_FOUND)
            .into_response(),
        },
    }
}

/// Whether the request's `city_session` cookie is a live citizen session.
async fn signed_in(req: &Request) -> bool {
    let Some(token) = cookie(req.header("cookie"), SESSION_COOKIE) else { return false };
    let Some(auth) = req.data::<SharedAuthenticator>() else { return false };
    matches!(auth.bearer(token).await, Ok(Some(Principal::Citizen(_))))
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The link that opens a Mini Program page from a browser inside WeChat (WeChat's plain URL
/// scheme: appid and the page path, percent-encoded).
fn miniprogram_link(appid: &str, path: &str) -> String {
    let path: String = url_encode(path);
    format!("weixin://dl/business/?appid={}&path={path}", url_encode(appid))
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn render_service(s: &CatalogueEntry, mp_appid: &str) -> String {
    let title = format!("{} · {}", escape(&s.name_zh), escape(&s.name_en));
    let next = match (&s.miniprogram_path, &s.url) {
        (Some(path), _) => format!(
            "<h2>下一步 · What to do next</h2>\
             <p>在微信中打开“城市服务”小程序办理。</p>\
             <p lang=\"en\">Open the City Services Mini Program in WeChat to do this.</p>\
             <p><a class=\"go\" href=\"{}\">打开小程序 · Open the Mini Program</a></p>",
            escape(&miniprogram_link(mp_appid, path))
        ),
        (None, Some(url)) => format!(
            "<h2>下一步 · What to do next</h2>\
             <p>这项服务由合作方提供。</p><p lang=\"en\">A partner provides this service.</p>\
             <p><a class=\"go\" href=\"{}\">前往 · Go there</a></p>",
            escape(url)
        ),
        (None, None) => "<p>即将上线。</p><p lang=\"en\">Coming soon.</p>".to_owned(),
    };
    let body = format!(
        "<p>{}</p><p lang=\"en\">{}</p>{next}\
         <p><a href=\"/v1/auth/oa/authorize?redirect=/h5/{}\">用微信登录 · Sign in with WeChat</a> · \
         <a href=\"/h5/guide\">办事指南 · All services</a></p>",
        escape(&s.description_zh),
        escape(&s.description_en),
        url_encode(&s.id),
    );
    layout(&title, &body)
}

fn render_guide(pages: &Pages) -> String {
    let items: String = pages
        .catalogue
        .iter()
        .map(|s| {
            format!(
                "<li><a href=\"/h5/{}\">{} · <span lang=\"en\">{}</span></a></li>",
                url_encode(&s.id),
                escape(&s.name_zh),
                escape(&s.name_en)
            )
        })
        .collect();
    layout(
        "办事指南 · City services guide",
        &format!(
            "<p>选择要办理的事项。</p><p lang=\"en\">Choose what you want to do.</p><ul>{items}</ul>\
             <p><a href=\"/h5/me\">我的 · My account</a></p>"
        ),
    )
}

fn render_me(signed_in: bool) -> String {
    let body = if signed_in {
        "<p>你已登录。</p><p lang=\"en\">You are signed in.</p>\
         <p><a href=\"/h5/guide\">办事指南 · All services</a></p>"
    } else {
        "<p>你还没有登录。</p><p lang=\"en\">You are not signed in.</p>\
         <p><a class=\"go\" href=\"/v1/auth/oa/authorize?redirect=/h5/me\">用微信登录 · Sign in with WeChat</a></p>"
    };
    layout("我的 · My account", body)
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · 城市服务</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:1.5em;max-width:40em;line-height:1.5}}\
         a.go{{display:inline-block;padding:.6em 1em;background:#07c160;color:#fff;border-radius:6px;\
         text-decoration:none}}[lang=en]{{color:#555}}</style></head>\
         <body><header>城市服务 · City Services</header><h1>{title}</h1>{body}</body></html>"
    )
}

/// HTML text and attribute escaping.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mini_program_link_encodes_the_page_path() {
        assert_eq!(
            miniprogram_link("wx1", "pages/booking/index?x=1"),
            "weixin://dl/business/?appid=wx1&path=pages%2Fbooking%2Findex%3Fx%3D1"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        assert_eq!(cookie(Some("a=1; city_session=tok; b=2"), SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(Some("city_sessionx=1"), SESSION_COOKIE), None);
        assert_eq!(cookie(None, SESSION_COOKIE), None);
    }

    #[test]
    fn catalogue_text_is_escaped() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
