//! The built-in sandbox: when the `default` tenant has no real provider credentials, `serve`
//! mounts faithful fakes of Freshchat and Freshdesk under `/sandbox` and connects the tenant to
//! them, so a newcomer can write in the chat page, watch the ticket appear on the desk page,
//! reply as an agent and see the reply in the chat — with nothing else installed.

use anyhow::Context;
use domain::ids::TenantSlug;
use sandbox::{FreshdeskWebhookTarget, Sandbox, SandboxConfig, WebhookAuth};
use secrecy::SecretString;
use url::Url;

use crate::config::SandboxMode;
use crate::credentials::{self, FreshchatCredentials, FreshdeskCredentials};
use crate::state::AppState;

/// Whether to mount: `auto` mounts unless real credentials are configured for `default`.
pub async fn wanted(state: &AppState) -> anyhow::Result<bool> {
    let config = &state.config;
    match config.sandbox {
        SandboxMode::On => return Ok(true),
        SandboxMode::Off => return Ok(false),
        SandboxMode::Auto => {}
    }
    let env = &config.default_tenant;
    if env.freshchat.app_key.is_some() || env.freshdesk.api_key.is_some() {
        return Ok(false);
    }
    let Some(tenant) = state.tenants.by_slug(TenantSlug::DEFAULT).await? else {
        return Ok(true);
    };
    let (db, key) = (&state.db, &state.master_key);
    let fc = credentials::load::<FreshchatCredentials>(db, key, tenant.id).await?;
    let fd = credentials::load::<FreshdeskCredentials>(db, key, tenant.id).await?;
    let real = fc.is_some_and(|c| !is_sandbox(&c.api_url)) || fd.is_some_and(|c| !is_sandbox(&c.base_url));
    Ok(!real)
}

fn is_sandbox(url: &Url) -> bool {
    url.path().starts_with("/sandbox/")
}

fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 18];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("the random number generator failed"))?;
    Ok(hex::encode(bytes))
}

/// Builds the sandbox and connects the `default` tenant to it at `base` (Switchboard's own URL).
pub async fn start(state: &AppState, base: &Url) -> anyhow::Result<Sandbox> {
    // The fakes keep no state across restarts while the database does: start ticket ids past any
    // an earlier run handed out (unless it made more than a ticket a microsecond). Still below
    // 2^53, so the ids survive JavaScript.
    let first_ticket_id = u64::try_from(crate::clock::now().timestamp_micros()).unwrap_or(1);
    let config = SandboxConfig {
        freshchat_token: random_token()?,
        freshdesk_api_key: random_token()?,
        first_ticket_id,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(config).context("starting the sandbox")?;
    let tenant = state
        .tenants
        .by_slug(TenantSlug::DEFAULT)
        .await?
        .context("the default tenant")?;
    let join = |path: &str| {
        base.join(path)
            .with_context(|| format!("building the sandbox URL {path}"))
    };
    let webhook_token = random_token()?;
    let fc = FreshchatCredentials {
        api_url: join("sandbox/freshchat/v2")?,
        app_id: None,
        api_token: SecretString::from(sandbox.config().freshchat_token.clone()),
        webhook_public_key: Some(sandbox.freshchat_public_key_pem()),
        webhook_secret: None,
    };
    let fd = FreshdeskCredentials {
        base_url: join("sandbox/freshdesk/api/v2")?,
        api_key: SecretString::from(sandbox.config().freshdesk_api_key.clone()),
        webhook_token: Some(SecretString::from(webhook_token.clone())),
    };
    state.integrations.store(tenant.id, &fc).await?;
    state.integrations.store(tenant.id, &fd).await?;
    sandbox.set_freshchat_webhook_url(Some(join("webhooks/freshchat")?));
    sandbox.set_freshdesk_webhook(Some(FreshdeskWebhookTarget {
        url: join("webhooks/freshdesk")?,
        auth: WebhookAuth::Token(webhook_token),
    }));
    Ok(sandbox)
}
