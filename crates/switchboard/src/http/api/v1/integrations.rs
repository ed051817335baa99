//! `/api/v1/integrations`: connect a tenant's Freshchat and Freshdesk. Secrets are write-only:
//! they are sealed on the way in and shown masked on the way out.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use providers::freshchat::FreshchatPublicKey;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::input::Body;
use crate::credentials::{self, CredentialKind, FreshchatCredentials, FreshdeskCredentials};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::SecretCaller;
use crate::http::routes::Routes;
use crate::state::AppState;
use crate::tenants::Tenant;

pub fn router() -> Routes {
    Routes::new()
        .get("/integrations", show)
        .put("/integrations/freshchat", put_freshchat)
        .delete("/integrations/freshchat", remove_freshchat)
        .put("/integrations/freshdesk", put_freshdesk)
        .delete("/integrations/freshdesk", remove_freshdesk)
}

/// `••••abcd`: enough to recognise a secret, never enough to use it.
fn mask(secret: &SecretString) -> String {
    let s = secret.expose_secret();
    let tail: String = s.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    if s.chars().count() <= 8 {
        "••••".to_owned()
    } else {
        format!("••••{tail}")
    }
}

async fn describe(state: &AppState, tenant: &Tenant) -> ApiResult<Value> {
    let (db, key) = (&state.db, &state.master_key);
    let fc = credentials::load::<FreshchatCredentials>(db, key, tenant.id)
        .await
        .map_err(ApiError::internal)?;
    let fd = credentials::load::<FreshdeskCredentials>(db, key, tenant.id)
        .await
        .map_err(ApiError::internal)?;
    let base = state.config.public_base_url();
    let slug = tenant.slug.as_str();
    Ok(json!({
        "freshchat": fc.map(|c| json!({
            "api_url": c.api_url,
            "app_id": c.app_id,
            "api_token": mask(&c.api_token),
            "webhook_verification": if c.webhook_public_key.is_some() { Some("rsa") } else if c.webhook_secret.is_some() { Some("hmac") } else { None },
        })),
        "freshdesk": fd.map(|c| json!({
            "base_url": c.base_url,
            "api_key": mask(&c.api_key),
            "webhook_token": c.webhook_token.as_ref().map(mask),
        })),
        "webhook_urls": {
            "freshchat": format!("{base}webhooks/{slug}/freshchat"),
            "freshdesk": format!("{base}webhooks/{slug}/freshdesk"),
        },
    }))
}

async fn show(State(state): State<AppState>, SecretCaller(caller): SecretCaller) -> ApiResult<Json<Value>> {
    Ok(Json(describe(&state, &caller.tenant).await?))
}

fn http_url(field: &str, text: &str) -> ApiResult<Url> {
    Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| ApiError::validation(field, "an http(s) URL"))
}

fn secret(field: &str, text: String) -> ApiResult<SecretString> {
    let t = text.trim();
    if t.is_empty() || t.len() > 4096 {
        return Err(ApiError::validation(field, "must not be empty"));
    }
    Ok(SecretString::from(t.to_owned()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FreshchatInput {
    api_url: String,
    api_token: String,
    app_id: Option<String>,
    webhook_public_key: Option<String>,
    webhook_secret: Option<String>,
}

async fn put_freshchat(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    Body(input): Body<FreshchatInput>,
) -> ApiResult<Json<Value>> {
    let public_key = input.webhook_public_key.filter(|k| !k.trim().is_empty());
    if let Some(pem) = &public_key {
        FreshchatPublicKey::parse(pem).map_err(|e| {
            ApiError::validation(
                "webhook_public_key",
                format!("not the RSA public key from Freshchat's webhook page: {e}"),
            )
        })?;
    }
    let creds = FreshchatCredentials {
        api_url: http_url("api_url", &input.api_url)?,
        api_token: secret("api_token", input.api_token)?,
        app_id: input.app_id.filter(|a| !a.trim().is_empty()),
        webhook_public_key: public_key,
        webhook_secret: input.webhook_secret.map(|s| secret("webhook_secret", s)).transpose()?,
    };
    store(&state, &caller.tenant, &creds).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FreshdeskInput {
    base_url: Option<String>,
    domain: Option<String>,
    api_key: String,
    webhook_token: Option<String>,
}

async fn put_freshdesk(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    Body(input): Body<FreshdeskInput>,
) -> ApiResult<Json<Value>> {
    let base_url = match (input.base_url, input.domain) {
        (Some(url), None) => http_url("base_url", &url)?,
        (None, Some(domain)) => providers::freshdesk::base_url_for_domain(&domain)
            .map_err(|e| ApiError::validation("domain", e.to_string()))?,
        _ => {
            return Err(ApiError::validation(
                "base_url",
                "give exactly one of base_url and domain",
            ));
        }
    };
    let webhook_token = input.webhook_token.map(|t| secret("webhook_token", t)).transpose()?;
    if webhook_token.as_ref().is_some_and(|t| t.expose_secret().len() < 16) {
        return Err(ApiError::validation(
            "webhook_token",
            "at least 16 characters: it is the webhooks' only authentication",
        ));
    }
    let creds = FreshdeskCredentials {
        base_url,
        api_key: secret("api_key", input.api_key)?,
        webhook_token,
    };
    store(&state, &caller.tenant, &creds).await
}

async fn store<C: CredentialKind>(state: &AppState, tenant: &Tenant, creds: &C) -> ApiResult<Json<Value>> {
    state
        .integrations
        .store(tenant.id, creds)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(describe(state, tenant).await?))
}

async fn remove_freshchat(State(state): State<AppState>, SecretCaller(caller): SecretCaller) -> ApiResult<StatusCode> {
    remove(&state, &caller.tenant, FreshchatCredentials::KIND).await
}

async fn remove_freshdesk(State(state): State<AppState>, SecretCaller(caller): SecretCaller) -> ApiResult<StatusCode> {
    remove(&state, &caller.tenant, FreshdeskCredentials::KIND).await
}

async fn remove(state: &AppState, tenant: &Tenant, kind: &str) -> ApiResult<StatusCode> {
    crate::db::tenants::delete_credential(&state.db, tenant.id, kind).await?;
    state.integrations.forget(tenant.id);
    Ok(StatusCode::NO_CONTENT)
}
