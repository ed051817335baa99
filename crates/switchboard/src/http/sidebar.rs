//! `GET /freshdesk/sidebar`: a compact card of the customer's live context, the incidence and its
//! timeline, for an iframe app beside the ticket in Freshdesk (§4).
//!
//! It opens without an API key — an iframe cannot send one — with either a signed, expiring link
//! for one ticket (`expires` + `sig`, from `GET /api/v1/freshdesk/sidebar-link`) or the tenant's
//! sidebar token (`token`, for a Freshdesk app whose URL template carries `{{ticket.id}}`). Both
//! are HMACs under a key derived from the master key, compared in constant time, and name the
//! tenant: a token never opens another tenant's data.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::DateTime;
use domain::ids::{ConversationId, IncidenceId, TenantId};
use domain::incidence::Channel;
use domain::ticket::escape_html;
use serde::Deserialize;
use serde_json::json;

use crate::db::incidences::{self as repo, Stored};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, SecretCaller};
use crate::http::routes::Routes;
use crate::state::AppState;
use crate::tenants::Tenant;

pub fn router() -> Routes {
    Routes::new()
        .get("/freshdesk/sidebar", sidebar)
        .get("/api/v1/freshdesk/sidebar-link", link)
}

const TOKEN_PURPOSE: &str = "freshdesk-sidebar-token";
const LINK_PURPOSE: &str = "freshdesk-sidebar-link";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The tenant's sidebar token.
pub fn tenant_token(state: &AppState, tenant: TenantId) -> String {
    B64.encode(state.master_key.sign(TOKEN_PURPOSE, tenant.as_uuid().as_bytes()))
}

fn link_data(tenant: TenantId, ticket: &str, conversation: &str, expires: i64) -> Vec<u8> {
    format!("{tenant}|{ticket}|{conversation}|{expires}").into_bytes()
}

#[derive(Debug, Deserialize)]
struct LinkQuery {
    ticket_id: Option<i64>,
    conversation_id: Option<String>,
    ttl_secs: Option<i64>,
}

/// A signed link for one ticket or conversation, and the tenant-token URL template for a
/// Freshdesk app.
async fn link(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiQuery(q): ApiQuery<LinkQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let tenant = &caller.tenant;
    let ttl = q.ttl_secs.unwrap_or(3600);
    if !(60..=30 * 86_400).contains(&ttl) {
        return Err(ApiError::validation("ttl_secs", "from 60 to 2592000"));
    }
    if q.ticket_id.is_none() && q.conversation_id.is_none() {
        return Err(ApiError::validation("ticket_id", "give ticket_id or conversation_id"));
    }
    let expires = (crate::clock::now() + chrono::Duration::seconds(ttl)).timestamp();
    let ticket = q.ticket_id.map(|t| t.to_string()).unwrap_or_default();
    let conversation = q.conversation_id.unwrap_or_default();
    let sig = B64.encode(
        state
            .master_key
            .sign(LINK_PURPOSE, &link_data(tenant.id, &ticket, &conversation, expires)),
    );
    let base = state.config.public_base_url();
    let mut url = base.join("freshdesk/sidebar").map_err(ApiError::internal)?;
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("tenant", tenant.slug.as_str());
        if !ticket.is_empty() {
            pairs.append_pair("ticket_id", &ticket);
        }
        if !conversation.is_empty() {
            pairs.append_pair("conversation_id", &conversation);
        }
        pairs
            .append_pair("expires", &expires.to_string())
            .append_pair("sig", &sig);
    }
    let template = format!(
        "{}freshdesk/sidebar?tenant={}&token={}&ticket_id={{{{ticket.id}}}}",
        base,
        tenant.slug,
        tenant_token(&state, tenant.id)
    );
    Ok(Json(
        json!({ "url": url.as_str(), "expires_at": DateTime::from_timestamp(expires, 0), "app_url_template": template }),
    ))
}

async fn sidebar(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let slug = q.get("tenant").map_or(domain::ids::TenantSlug::DEFAULT, String::as_str);
    let tenant = state
        .tenants
        .by_slug(slug)
        .await?
        .ok_or_else(|| ApiError::NotFound("tenant".into()))?;
    let ticket = q.get("ticket_id").cloned().unwrap_or_default();
    let conversation = q.get("conversation_id").cloned().unwrap_or_default();
    authorize(&state, &tenant, &q, &ticket, &conversation)?;

    let stored = find(&state, &tenant, &ticket, &conversation).await?;
    let html = match stored {
        Some(s) => card(&state, &tenant, &s).await?,
        None => page(
            "No incidence yet",
            "<p class=\"muted\">Switchboard has no conversation linked to this ticket.</p>",
        ),
    };
    let mut res = axum::response::Html(html).into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors https://*.freshdesk.com 'self'",
        ),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(res)
}

fn authorize(
    state: &AppState,
    tenant: &Tenant,
    q: &HashMap<String, String>,
    ticket: &str,
    conversation: &str,
) -> ApiResult<()> {
    let decode = |v: &String| B64.decode(v).ok();
    if let Some(token) = q.get("token").and_then(decode) {
        return match state
            .master_key
            .verify_signature(TOKEN_PURPOSE, tenant.id.as_uuid().as_bytes(), &token)
        {
            true => Ok(()),
            false => Err(ApiError::Unauthorized("the sidebar token is not this tenant's".into())),
        };
    }
    let (Some(expires), Some(sig)) = (
        q.get("expires").and_then(|e| e.parse::<i64>().ok()),
        q.get("sig").and_then(decode),
    ) else {
        return Err(ApiError::Unauthorized(
            "open the sidebar with a signed link or the tenant's sidebar token".into(),
        ));
    };
    if expires < crate::clock::now().timestamp() {
        return Err(ApiError::Unauthorized("the sidebar link has expired".into()));
    }
    match state
        .master_key
        .verify_signature(LINK_PURPOSE, &link_data(tenant.id, ticket, conversation, expires), &sig)
    {
        true => Ok(()),
        false => Err(ApiError::Unauthorized(
            "the sidebar link's signature does not match".into(),
        )),
    }
}

async fn find(state: &AppState, tenant: &Tenant, ticket: &str, conversation: &str) -> ApiResult<Option<Stored>> {
    if let Ok(t) = ticket.parse::<i64>()
        && let Some(s) = repo::by_ticket(&state.db, tenant.id, t).await?
    {
        return Ok(Some(s));
    }
    match ConversationId::parse(conversation) {
        Ok(c) => Ok(repo::by_conversation(&state.db, tenant.id, Channel::InAppChat, &c).await?),
        Err(_) => Ok(None),
    }
}

async fn card(state: &AppState, tenant: &Tenant, stored: &Stored) -> ApiResult<String> {
    let inc = &stored.incidence;
    let id: IncidenceId = inc.id;
    let summary = repo::summary(&state.db, tenant.id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("incidence".into()))?;
    let live = match inc.user_id() {
        Some(u) => state.contexts.get(tenant.id, u).await.ok().flatten(),
        None => None,
    };
    let money = |m: domain::money::Money| format!("{} {}", tenant.currency, m.to_decimal_string(tenant.currency));
    let mut rows: Vec<(&str, String)> = vec![("Customer", inc.user_id().map_or("unknown".into(), |u| u.to_string()))];
    match &live {
        Some(c) => {
            rows.push(("Screen now", c.current_screen().unwrap_or("–").to_owned()));
            rows.push(("Cart now", money(c.cart.cart_value)));
            rows.push(("Guests", c.cart.guest_count.map_or("–".into(), |g| g.to_string())));
            rows.push(("Event", c.cart.event_type.clone().unwrap_or_else(|| "–".into())));
            rows.push(("Friction now", c.friction_score.to_string()));
        }
        None => rows.push(("Live context", "none reported".into())),
    }
    rows.push(("Stage", summary.stage.clone()));
    rows.push(("Priority", summary.priority.clone()));
    rows.push(("Outcome", format!("{} / {}", summary.outcome, summary.order_impact)));
    if let Some(start) = inc.start_context() {
        rows.push((
            "At start",
            format!(
                "{} · {} · friction {}",
                start.app_screen,
                money(start.cart_value),
                start.friction_score
            ),
        ));
    }
    let mut body = String::from("<table>");
    for (k, v) in rows {
        body.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            escape_html(k),
            escape_html(&v)
        ));
    }
    body.push_str("</table><h2>Timeline</h2><ol class=\"timeline\">");
    let timeline = repo::timeline(&state.db, tenant.id, id).await?;
    for e in timeline.iter().rev().take(20) {
        let content = e.content.as_deref().unwrap_or("");
        body.push_str(&format!(
            "<li><span class=\"muted\">{} · {} · {}</span> {}</li>",
            escape_html(&e.created_at.format("%d %b %H:%M").to_string()),
            escape_html(&e.kind),
            escape_html(&e.actor),
            escape_html(content)
        ));
    }
    body.push_str("</ol>");
    Ok(page(&format!("Incidence · {}", summary.outcome), &body))
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{t}</title><style>body{{font:13px system-ui,sans-serif;margin:8px;color:#222}}h1{{font-size:15px}}\
         h2{{font-size:13px;margin:12px 0 4px}}table{{border-collapse:collapse;width:100%}}th{{text-align:left;color:#555;\
         font-weight:normal;padding:2px 8px 2px 0;white-space:nowrap}}td{{padding:2px 0}}.muted{{color:#777}}\
         ol.timeline{{padding-left:16px;margin:0}}ol.timeline li{{margin:2px 0}}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape_html(title)
    )
}
