//! Everything about the fakes that a test or a demo may want to change. Defaults follow
//! freshworks.md; where the contract is UNCONFIRMED the choice is a field here, not a constant.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

/// Configuration of a [`crate::Sandbox`]. `SandboxConfig::default()` is a working demo setup.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Freshchat API token expected as `Authorization: Bearer <token>`.
    pub freshchat_token: String,
    /// Freshdesk API key expected as HTTP Basic user name (password anything, e.g. `X`).
    pub freshdesk_api_key: String,
    /// Freshdesk per-minute budget (Pro plan: 400); `X-RateLimit-*` headers report it.
    pub freshdesk_rate_limit_per_minute: u32,
    /// How long a ticket write takes to reach search results (real Freshdesk: "a few minutes").
    pub search_index_lag: Duration,
    /// Delays before retry 1, 2, … of a failed Freshchat webhook (UNCONFIRMED upstream; "up to
    /// 5 retries" is a third-party claim).
    pub freshchat_webhook_retry_delays: Vec<Duration>,
    /// Delays before the retries of a failed Freshdesk automation webhook (+5, +30, +60 min).
    pub freshdesk_webhook_retry_delays: Vec<Duration>,
    /// Per-attempt timeout of a webhook delivery (Freshchat: "3 s" per a third-party claim).
    pub webhook_timeout: Duration,
    /// Seed of the randomness used by probabilistic faults and shuffled batches.
    pub fault_seed: u64,
    /// Value of `X-Freshchat-Payload-Version` (UNCONFIRMED upstream).
    pub freshchat_payload_version: String,
    /// Status of successful Freshchat `POST`s (200 vs 201 is UNCONFIRMED upstream).
    pub freshchat_create_status: u16,
    /// Support agents, present in both Freshchat (string ids) and Freshdesk (integer ids).
    pub agents: Vec<AgentSeed>,
    /// Freshdesk custom ticket fields (`GET /ticket_fields`, validation, search).
    pub ticket_fields: Vec<CustomFieldSpec>,
    /// Allowed ticket `type` values.
    pub ticket_types: Vec<String>,
    /// Ticket statuses: code and display name (custom statuses ≥ 6 may be added).
    pub ticket_statuses: Vec<StatusSpec>,
    /// Top-level fields `POST /tickets` insists on (UNCONFIRMED upstream; requester rule aside).
    pub required_ticket_fields: Vec<String>,
    /// Freshdesk automation rules with a "Trigger Webhook" action (Advanced JSON content).
    pub automations: Vec<AutomationRule>,
    /// JSON-escape values substituted into automation templates. Real Freshdesk substitutes
    /// textually (a `"` in a comment yields invalid JSON); `false` reproduces that.
    pub escape_template_values: bool,
    /// Entries kept in the request log and the webhook delivery log (oldest dropped first).
    pub log_capacity: usize,
    /// PKCS#8 DER of the webhook signing key; `None` generates a fresh RSA-2048 key.
    pub signing_key_pkcs8: Option<Vec<u8>>,
    /// `{{helpdesk_name}}` and the Freshdesk domain used in ticket URLs.
    pub helpdesk_name: String,
    pub freshdesk_domain: String,
    /// The first ticket id handed out. A sandbox restarted against the same database should
    /// not hand out ids it handed out before (real Freshdesk never reuses one).
    pub first_ticket_id: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            freshchat_token: "sandbox-freshchat-token".into(),
            freshdesk_api_key: "sandbox-freshdesk-key".into(),
            freshdesk_rate_limit_per_minute: 400,
            search_index_lag: Duration::ZERO,
            freshchat_webhook_retry_delays: [1, 5, 15, 30, 60].map(Duration::from_secs).to_vec(),
            freshdesk_webhook_retry_delays: [5 * 60, 30 * 60, 60 * 60].map(Duration::from_secs).to_vec(),
            webhook_timeout: Duration::from_secs(3),
            fault_seed: 0x5eed,
            freshchat_payload_version: "1".into(),
            freshchat_create_status: 201,
            agents: default_agents(),
            ticket_fields: default_ticket_fields(),
            ticket_types: ["Question", "Incident", "Problem", "Feature Request", "Refund"]
                .map(String::from)
                .to_vec(),
            ticket_statuses: [(2, "Open"), (3, "Pending"), (4, "Resolved"), (5, "Closed")]
                .map(|(code, name)| StatusSpec {
                    code,
                    name: name.into(),
                })
                .to_vec(),
            required_ticket_fields: ["subject", "description", "status", "priority"]
                .map(String::from)
                .to_vec(),
            automations: default_automations(),
            escape_template_values: true,
            log_capacity: 10_000,
            signing_key_pkcs8: None,
            helpdesk_name: "Switchboard Sandbox".into(),
            freshdesk_domain: "sandbox.freshdesk.com".into(),
            first_ticket_id: 1,
        }
    }
}

impl SandboxConfig {
    /// Replaces both providers' webhook retry schedules (tests compress minutes to milliseconds).
    pub fn with_webhook_retry_delays(mut self, delays: Vec<Duration>) -> Self {
        self.freshchat_webhook_retry_delays = delays.clone();
        self.freshdesk_webhook_retry_delays = delays;
        self
    }
}

/// A support agent known to both products.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentSeed {
    pub freshchat_id: String,
    pub freshdesk_id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

fn default_agents() -> Vec<AgentSeed> {
    vec![
        AgentSeed {
            freshchat_id: "5f2b8c1e-7a43-4c1d-9e0b-3d6a2f1c8a01".into(),
            freshdesk_id: 43_000_000_101,
            email: "asha.rao@sandbox.example".into(),
            first_name: "Asha".into(),
            last_name: "Rao".into(),
        },
        AgentSeed {
            freshchat_id: "5f2b8c1e-7a43-4c1d-9e0b-3d6a2f1c8a02".into(),
            freshdesk_id: 43_000_000_102,
            email: "vikram.iyer@sandbox.example".into(),
            first_name: "Vikram".into(),
            last_name: "Iyer".into(),
        },
    ]
}

/// A Freshdesk custom ticket field.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CustomFieldSpec {
    /// The API name, e.g. `cf_cart_value`.
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    /// "Required when submitting": `POST /tickets` answers `missing_field` without it.
    pub required: bool,
}

impl CustomFieldSpec {
    pub fn new(name: &str, label: &str, kind: FieldKind) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            kind,
            required: false,
        }
    }
}

/// Freshdesk custom field types and the JSON each accepts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum FieldKind {
    /// JSON integer only (a float or a string → `datatype_mismatch`).
    Number,
    /// Any JSON number.
    Decimal,
    /// Single-line text.
    Text,
    /// Multi-line text.
    Paragraph,
    Checkbox,
    /// `YYYY-MM-DD`.
    Date,
    Dropdown {
        choices: Vec<String>,
    },
}

fn default_ticket_fields() -> Vec<CustomFieldSpec> {
    vec![
        CustomFieldSpec::new("cf_friction_score", "Friction score", FieldKind::Number),
        CustomFieldSpec::new("cf_cart_value", "Cart value", FieldKind::Number),
        CustomFieldSpec::new("cf_guest_count", "Guest count", FieldKind::Number),
        CustomFieldSpec::new("cf_order_stage", "Order stage", FieldKind::Text),
        CustomFieldSpec::new(
            "cf_freshchat_conversation_id",
            "Freshchat conversation id",
            FieldKind::Text,
        ),
        CustomFieldSpec::new("cf_event_type", "Event type", FieldKind::Text),
    ]
}

/// A ticket status code and its display name (what `{{ticket.status}}` renders).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusSpec {
    pub code: u16,
    pub name: String,
}

/// A Freshdesk "Ticket Updates" automation whose action is Trigger Webhook (POST, JSON,
/// Advanced content).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AutomationRule {
    pub name: String,
    pub trigger: AutomationTrigger,
    /// JSON text with `{{placeholders}}`, rendered textually.
    pub template: String,
}

/// When a rule fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutomationTrigger {
    /// "Reply is sent" OR "public Note is added", performed by an agent.
    AgentReply,
    /// "Status is changed".
    StatusChanged,
}

/// Switchboard's two documented templates (SPEC §3).
pub const AGENT_REPLY_TEMPLATE: &str = r#"{"event":"agent_reply","ticket_id":"{{ticket.id}}","conversation_id":"{{ticket.cf_freshchat_conversation_id}}","comment":"{{ticket.latest_public_comment}}","agent_email":"{{ticket.agent.email}}","triggered_event":"{{triggered_event}}"}"#;
pub const STATUS_CHANGED_TEMPLATE: &str = r#"{"event":"status_changed","ticket_id":"{{ticket.id}}","conversation_id":"{{ticket.cf_freshchat_conversation_id}}","status":"{{ticket.status}}","tags":"{{ticket.tags}}","triggered_event":"{{triggered_event}}"}"#;

fn default_automations() -> Vec<AutomationRule> {
    vec![
        AutomationRule {
            name: "agent_reply".into(),
            trigger: AutomationTrigger::AgentReply,
            template: AGENT_REPLY_TEMPLATE.into(),
        },
        AutomationRule {
            name: "status_changed".into(),
            trigger: AutomationTrigger::StatusChanged,
            template: STATUS_CHANGED_TEMPLATE.into(),
        },
    ]
}

/// Where Freshdesk automation webhooks go and how they authenticate (Freshdesk cannot sign).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FreshdeskWebhookTarget {
    pub url: Url,
    pub auth: WebhookAuth,
}

/// "Requires authentication" of the Trigger Webhook action, or a secret in the URL.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAuth {
    None,
    Basic {
        username: String,
        password: String,
    },
    /// Appended to the URL as `?token=<value>`.
    Token(String),
}
