//! `switchboard sandbox`: the provider fakes on their own port.

//! The `switchboard` command.

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::startup;

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    #[arg(long, default_value_t = 9000)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Where to post Freshchat webhooks, e.g. http://127.0.0.1:8000/webhooks/freshchat
    #[arg(long)]
    freshchat_webhook: Option<url::Url>,
    /// Where to post Freshdesk automation webhooks, e.g. http://127.0.0.1:8000/webhooks/freshdesk
    #[arg(long)]
    freshdesk_webhook: Option<url::Url>,
    /// The token the Freshdesk webhooks carry (as `?token=`).
    #[arg(long)]
    freshdesk_token: Option<String>,
}

pub(crate) async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    let sandbox = sandbox::Sandbox::new(sandbox::SandboxConfig::default())?;
    sandbox.set_freshchat_webhook_url(args.freshchat_webhook.clone());
    if let Some(url) = args.freshdesk_webhook.clone() {
        let auth = match args.freshdesk_token.clone() {
            Some(t) => sandbox::WebhookAuth::Token(t),
            None => sandbox::WebhookAuth::None,
        };
        sandbox.set_freshdesk_webhook(Some(sandbox::FreshdeskWebhookTarget { url, auth }));
    }
    let addr = std::net::SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let base = format!("http://{}/sandbox", listener.local_addr()?);
    let config = sandbox.config();
    println!("\nSwitchboard sandbox");
    println!(
        "  Freshchat API:  {base}/freshchat/v2   (FRESHCHAT_API_URL; token {})",
        config.freshchat_token
    );
    println!(
        "  Freshdesk API:  {base}/freshdesk/api/v2   (FRESHDESK_BASE_URL; API key {})",
        config.freshdesk_api_key
    );
    println!("  Chat page:      {base}/chat?user=demo-customer");
    println!("  Desk page:      {base}/desk");
    println!("  Admin:          {base}/admin/state");
    println!(
        "  Webhook public key (FRESHCHAT_WEBHOOK_PUBLIC_KEY):\n{}\n",
        sandbox.freshchat_public_key_pem()
    );
    let shutdown = CancellationToken::new();
    startup::cancel_on_signal(shutdown.clone());
    let app = axum::Router::new().nest("/sandbox", sandbox.router());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
