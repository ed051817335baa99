//! The two web pages, hand-written HTML with a little CSS and JS (no third-party code):
//! a customer chat widget (`/chat?user=<ref>`) and a helpdesk agent view (`/desk`).
//! Everything user-provided is HTML-escaped; links are absolute under the mount point.

mod chat;
mod desk;

use axum::Router;
use axum::http::Uri;
use axum::response::Html;
use axum::routing::{get, post};

use crate::Sandbox;
use crate::html::escape;

pub(crate) fn router() -> Router<Sandbox> {
    Router::new()
        .route("/chat", get(chat::page).post(chat::send_form))
        .route("/chat/messages", get(chat::messages).post(chat::send_json))
        .route("/desk", get(desk::list))
        .route("/desk/tickets/{id}", get(desk::ticket))
        .route("/desk/tickets/{id}/reply", post(desk::reply))
        .route("/desk/tickets/{id}/status", post(desk::status))
}

/// Where the sandbox is mounted (`/sandbox`), from the full and the routed path.
pub(super) fn mount_prefix(original: &Uri, routed: &Uri) -> String {
    original.path().strip_suffix(routed.path()).unwrap_or("").to_string()
}

const STYLE: &str = r#"
*{box-sizing:border-box}body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f4f5f7}
header{background:#263044;color:#fff;padding:.7rem 1rem}header a{color:#fff}
main{max-width:52rem;margin:0 auto;padding:1rem}
table{width:100%;border-collapse:collapse;background:#fff}td,th{padding:.45rem;border-bottom:1px solid #e3e5ea;text-align:left;vertical-align:top}
.card{background:#fff;border:1px solid #e3e5ea;border-radius:6px;padding:.8rem;margin:.6rem 0}
.meta{color:#667085;font-size:.85em}.private{background:#fff8e1}.incoming{border-left:4px solid #7aa2ff}
.bubbles{display:flex;flex-direction:column;gap:.4rem;min-height:12rem}
.bubble{max-width:80%;padding:.5rem .7rem;border-radius:12px;background:#fff;border:1px solid #e3e5ea;white-space:pre-wrap}
.bubble.user{align-self:flex-end;background:#2f6fed;color:#fff;border:none}
textarea,input,select,button{font:inherit;padding:.45rem;border:1px solid #c9ced8;border-radius:6px}
textarea{width:100%;min-height:5rem}button{background:#2f6fed;color:#fff;border:none;cursor:pointer}
form.row{display:flex;gap:.5rem}form.row input[type=text]{flex:1}
.text{white-space:pre-wrap}
@media (max-width:600px){td,th{padding:.3rem;font-size:.9em}.hide-small{display:none}}
"#;

/// A whole page around `body`.
pub(super) fn layout(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><header><strong>{title}</strong> · Switchboard sandbox</header><main>{body}</main></body></html>",
        title = escape(title),
    ))
}
