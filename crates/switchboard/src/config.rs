//! Configuration: defaults ← optional `switchboard.toml` ← environment (and `.env`).
//!
//! Every setting has exactly one name, the environment variable's; the TOML file uses the same
//! names in lower case. Values are read as text and parsed here, so that every error names the
//! variable and says what was expected.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use domain::money::{Currency, Money};
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    /// The environment variable's name.
    pub var: String,
    pub problem: String,
}

impl ConfigError {
    fn new(var: &str, problem: impl Into<String>) -> Self {
        Self {
            var: var.to_owned(),
            problem: problem.into(),
        }
    }
}

/// The environment variables Switchboard reads (lower case, as figment emits them).
pub const VARIABLES: &[&str] = &[
    "database_url",
    "database_max_connections",
    "redis_url",
    "switchboard_addr",
    "switchboard_public_url",
    "switchboard_master_key",
    "switchboard_data_dir",
    "switchboard_log_format",
    "switchboard_sandbox",
    "switchboard_max_body_bytes",
    "switchboard_ingest_queue",
    "switchboard_request_timeout_secs",
    "switchboard_worker_concurrency",
    "switchboard_job_lease_secs",
    "switchboard_poll_interval_ms",
    "switchboard_claim_gap_ms",
    "switchboard_retry_base_ms",
    "switchboard_shutdown_grace_secs",
    "switchboard_provider_timeout_secs",
    "switchboard_context_ttl_secs",
    "switchboard_tenant_name",
    "switchboard_currency",
    "switchboard_timezone",
    "freshchat_app_id",
    "freshchat_app_key",
    "freshchat_api_url",
    "freshchat_webhook_public_key",
    "freshchat_webhook_secret",
    "freshchat_agent_id",
    "freshdesk_domain",
    "freshdesk_api_key",
    "freshdesk_base_url",
    "freshdesk_webhook_token",
    "agent_hourly_rate",
    "friction_detection_enabled",
    "channel_routing_enabled",
];

/// Every setting as the text it was given in, before parsing.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct RawConfig(BTreeMap<String, Text>);

/// A scalar given as text; numbers and booleans from the TOML file are accepted as their text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a single value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_char<E>(self, v: char) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Whether `serve` mounts the built-in provider sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// Mounted when the default tenant has no real provider credentials.
    Auto,
    On,
    Off,
}

/// Freshchat credentials given in the environment for the `default` tenant.
#[derive(Debug, Clone)]
pub struct FreshchatEnv {
    pub api_url: Option<Url>,
    pub app_id: Option<String>,
    pub app_key: Option<SecretString>,
    pub webhook_public_key: Option<String>,
    pub webhook_secret: Option<SecretString>,
    pub agent_id: Option<String>,
}

/// Freshdesk credentials given in the environment for the `default` tenant.
#[derive(Debug, Clone)]
pub struct FreshdeskEnv {
    /// `FRESHDESK_BASE_URL`, else `https://{FRESHDESK_DOMAIN}.freshdesk.com/api/v2`.
    pub base_url: Option<Url>,
    pub api_key: Option<SecretString>,
    pub webhook_token: Option<SecretString>,
}

/// Values that seed the `default` tenant.
#[derive(Debug, Clone)]
pub struct DefaultTenantEnv {
    pub name: String,
    pub currency: Currency,
    pub timezone: chrono_tz::Tz,
    /// Given explicitly: applied at every start (the environment wins). Unset: the tenant's own
    /// setting stands.
    pub agent_hourly_rate: Option<Money>,
    pub friction_detection_enabled: Option<bool>,
    pub channel_routing_enabled: Option<bool>,
    pub freshchat: FreshchatEnv,
    pub freshdesk: FreshdeskEnv,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub database_max_connections: u32,
    pub redis_url: Option<String>,
    pub addr: SocketAddr,
    /// The base URL providers are given for webhooks (`SWITCHBOARD_PUBLIC_URL`).
    pub public_url: Option<Url>,
    pub master_key: Option<SecretString>,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub sandbox: SandboxMode,
    pub max_body_bytes: usize,
    /// Webhooks waiting to be stored at most; past it, webhooks are answered 503 at once.
    pub ingest_queue: usize,
    pub request_timeout: Duration,
    pub worker_concurrency: usize,
    pub job_lease: Duration,
    pub poll_interval: Duration,
    /// The least time between a worker's claims (see `WorkerOptions::claim_gap`).
    pub claim_gap: Duration,
    /// The first retry's backoff; each further one doubles it (with jitter), up to 30 minutes.
    pub retry_base: Duration,
    pub shutdown_grace: Duration,
    pub provider_timeout: Duration,
    pub context_ttl: Duration,
    pub default_tenant: DefaultTenantEnv,
}

impl Config {
    /// Reads `.env` (if present), `switchboard.toml` (if present) and the environment.
    pub fn load() -> Result<Config, ConfigError> {
        // A missing .env is normal; a malformed one is reported by name.
        if let Err(e) = dotenvy::dotenv()
            && !e.not_found()
        {
            return Err(ConfigError::new(".env", e.to_string()));
        }
        let figment = Figment::new()
            .merge(Toml::file("switchboard.toml"))
            .merge(Env::raw().only(VARIABLES));
        Self::from_figment(&figment)
    }

    pub fn from_figment(figment: &Figment) -> Result<Config, ConfigError> {
        let raw: RawConfig = figment.extract().map_err(|e| {
            let var = if e.path.is_empty() {
                "configuration".to_owned()
            } else {
                e.path.join(".").to_uppercase()
            };
            ConfigError::new(&var, e.kind.to_string())
        })?;
        raw.parse()
    }

    /// The URL providers should post webhooks to.
    pub fn public_base_url(&self) -> Url {
        self.public_url.clone().unwrap_or_else(|| {
            let host = if self.addr.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else {
                self.addr.ip().to_string()
            };
            let host = if self.addr.is_ipv6() && host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            Url::parse(&format!("http://{host}:{}/", self.addr.port()))
                .unwrap_or_else(|_| Url::parse("http://127.0.0.1:8000/").expect("constant URL parses"))
        })
    }
}

struct Reader {
    raw: RawConfig,
}

impl Reader {
    /// The trimmed text of `var`; empty counts as unset.
    fn text(&self, var: &str) -> Option<String> {
        self.raw
            .0
            .get(var)
            .map(|t| t.0.trim().to_owned())
            .filter(|t| !t.is_empty())
    }

    fn parse<T>(
        &self,
        var: &str,
        default: T,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        match self.text(var) {
            None => Ok(default),
            Some(text) => parse(&text).ok_or_else(|| {
                ConfigError::new(
                    &var.to_uppercase(),
                    format!("expected {expected}, got '{}'", shown(var, &text)),
                )
            }),
        }
    }

    fn optional<T>(
        &self,
        var: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        self.parse(var, None, expected, |t| parse(t).map(Some))
    }

    fn number<T: FromStr + PartialOrd + Copy + std::fmt::Display>(
        &self,
        var: &str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError> {
        self.parse(var, default, &format!("a whole number from {min} to {max}"), |t| {
            t.parse::<T>().ok().filter(|n| *n >= min && *n <= max)
        })
    }

    fn url(&self, var: &str) -> Result<Option<Url>, ConfigError> {
        self.optional(var, "an http(s) URL", |t| {
            Url::parse(t).ok().filter(|u| matches!(u.scheme(), "http" | "https"))
        })
    }

    fn secret(&self, var: &str) -> Option<SecretString> {
        self.text(var).map(SecretString::from)
    }
}

/// Secrets are never echoed back in error messages.
fn shown(var: &str, text: &str) -> String {
    let secret = ["key", "secret", "token", "password"].iter().any(|w| var.contains(w));
    if secret {
        "***".to_owned()
    } else {
        text.chars().take(80).collect()
    }
}

fn parse_bool(t: &str) -> Option<bool> {
    match t.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl RawConfig {
    pub fn parse(self) -> Result<Config, ConfigError> {
        if let Some(unknown) = self.0.keys().find(|k| !VARIABLES.contains(&k.as_str())) {
            return Err(ConfigError::new(
                &unknown.to_uppercase(),
                "is not a Switchboard setting",
            ));
        }
        let r = Reader { raw: self };
        let data_dir = PathBuf::from(r.text("switchboard_data_dir").unwrap_or_else(|| "./data".to_owned()));
        let database_url = match r.text("database_url") {
            Some(url)
                if url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://") =>
            {
                url
            }
            Some(url) => {
                return Err(ConfigError::new(
                    "DATABASE_URL",
                    format!(
                        "expected sqlite:<path> or postgres://…, got '{}'",
                        crate::db::redact_url(&url)
                    ),
                ));
            }
            None => format!("sqlite:{}", data_dir.join("switchboard.db").display()),
        };
        let worker_concurrency = r.number(
            "switchboard_worker_concurrency",
            default_concurrency(&database_url),
            1,
            1024,
        )?;
        let addr = r.parse(
            "switchboard_addr",
            SocketAddr::from(([127, 0, 0, 1], 8000)),
            "host:port such as 127.0.0.1:8000",
            |t| t.parse().ok(),
        )?;
        let currency = r.parse(
            "switchboard_currency",
            Currency::INR,
            "a three-letter ISO 4217 code such as INR",
            |t| Currency::parse(t).ok(),
        )?;
        let master_key = r.secret("switchboard_master_key");
        if let Some(key) = &master_key {
            crate::crypto::MasterKey::parse(key)
                .map_err(|e| ConfigError::new("SWITCHBOARD_MASTER_KEY", e.to_string()))?;
        }
        let freshdesk_domain = r.optional(
            "freshdesk_domain",
            "your Freshdesk subdomain (acme for acme.freshdesk.com)",
            |t| {
                let ok = t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !t.is_empty();
                ok.then(|| t.to_owned())
            },
        )?;
        let freshdesk_base_url = match (r.url("freshdesk_base_url")?, freshdesk_domain) {
            (Some(url), _) => Some(url),
            (None, Some(domain)) => Url::parse(&format!("https://{domain}.freshdesk.com/api/v2")).ok(),
            (None, None) => None,
        };
        let freshchat_public_key = r.text("freshchat_webhook_public_key");
        if let Some(key) = &freshchat_public_key {
            providers::freshchat::FreshchatPublicKey::parse(key).map_err(|e| {
                ConfigError::new(
                    "FRESHCHAT_WEBHOOK_PUBLIC_KEY",
                    format!("expected the RSA public key shown in Freshchat's webhook settings: {e}"),
                )
            })?;
        }
        Ok(Config {
            database_url,
            database_max_connections: r.number("database_max_connections", 10, 1, 1000)?,
            redis_url: r.optional("redis_url", "redis://host:port[/db]", |t| {
                (t.starts_with("redis://") || t.starts_with("rediss://")).then(|| t.to_owned())
            })?,
            addr,
            public_url: r.url("switchboard_public_url")?,
            master_key,
            data_dir,
            log_format: r.parse(
                "switchboard_log_format",
                LogFormat::Json,
                "json or pretty",
                |t| match t {
                    "json" => Some(LogFormat::Json),
                    "pretty" => Some(LogFormat::Pretty),
                    _ => None,
                },
            )?,
            sandbox: r.parse(
                "switchboard_sandbox",
                SandboxMode::Auto,
                "auto, on or off",
                |t| match t {
                    "auto" => Some(SandboxMode::Auto),
                    "on" | "true" => Some(SandboxMode::On),
                    "off" | "false" => Some(SandboxMode::Off),
                    _ => None,
                },
            )?,
            max_body_bytes: r.number("switchboard_max_body_bytes", 1024 * 1024, 1024, 64 * 1024 * 1024)?,
            ingest_queue: r.number("switchboard_ingest_queue", 4096, 1, 1_000_000)?,
            request_timeout: Duration::from_secs(r.number("switchboard_request_timeout_secs", 30, 1, 3600)?),
            worker_concurrency,
            job_lease: Duration::from_secs(r.number("switchboard_job_lease_secs", 60, 2, 86_400)?),
            poll_interval: Duration::from_millis(r.number("switchboard_poll_interval_ms", 1000, 10, 60_000)?),
            claim_gap: Duration::from_millis(r.number("switchboard_claim_gap_ms", 3, 0, 1000)?),
            retry_base: Duration::from_millis(r.number("switchboard_retry_base_ms", 2000, 10, 600_000)?),
            shutdown_grace: Duration::from_secs(r.number("switchboard_shutdown_grace_secs", 20, 0, 3600)?),
            provider_timeout: Duration::from_secs(r.number("switchboard_provider_timeout_secs", 10, 1, 300)?),
            context_ttl: Duration::from_secs(r.number("switchboard_context_ttl_secs", 7 * 86_400, 60, 365 * 86_400)?),
            default_tenant: DefaultTenantEnv {
                name: r
                    .text("switchboard_tenant_name")
                    .unwrap_or_else(|| "Default".to_owned()),
                currency,
                timezone: r.parse(
                    "switchboard_timezone",
                    chrono_tz::Asia::Kolkata,
                    "an IANA time zone such as Asia/Kolkata",
                    |t| t.parse().ok(),
                )?,
                agent_hourly_rate: r.optional("agent_hourly_rate", "a non-negative amount such as 150", |t| {
                    Money::parse_decimal(t, currency).ok().filter(|m| !m.is_negative())
                })?,
                friction_detection_enabled: r.optional("friction_detection_enabled", "true or false", parse_bool)?,
                channel_routing_enabled: r.optional("channel_routing_enabled", "true or false", parse_bool)?,
                freshchat: FreshchatEnv {
                    api_url: r.url("freshchat_api_url")?,
                    app_id: r.text("freshchat_app_id"),
                    app_key: r.secret("freshchat_app_key"),
                    webhook_public_key: freshchat_public_key,
                    webhook_secret: r.secret("freshchat_webhook_secret"),
                    agent_id: r.text("freshchat_agent_id"),
                },
                freshdesk: FreshdeskEnv {
                    base_url: freshdesk_base_url,
                    api_key: r.secret("freshdesk_api_key"),
                    webhook_token: r.secret("freshdesk_webhook_token"),
                },
            },
        })
    }
}

/// Jobs run at once per worker by default. A job mostly waits — for the database, for a
/// provider, for the grouped statement it joined — so a worker works off about `concurrency ÷
/// job time` jobs a second: on PostgreSQL, which takes concurrent writers, that needs many (at
/// 64, with a job taking ~30 ms under load, processing topped out near 1,100 events/s with
/// CPU to spare; at 256 it kept up with 1,250 and worked off ~1,900 at 2,000). SQLite has one
/// writer, and more jobs would only queue for it in front of the webhooks waiting to be stored.
fn default_concurrency(database_url: &str) -> usize {
    if database_url.starts_with("sqlite:") { 16 } else { 256 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut f = Figment::new();
        for (k, v) in pairs {
            f = f.merge(Serialized::default(&k.to_lowercase(), *v));
        }
        Config::from_figment(&f)
    }

    #[test]
    fn defaults_need_nothing() {
        let c = load(&[]).expect("defaults are valid");
        assert_eq!(c.database_url, "sqlite:./data/switchboard.db");
        assert_eq!(c.worker_concurrency, 16, "SQLite has one writer");
        assert_eq!(c.addr.to_string(), "127.0.0.1:8000");
        assert_eq!(c.public_base_url().as_str(), "http://127.0.0.1:8000/");
        assert_eq!(c.default_tenant.currency, Currency::INR);
        assert_eq!(c.default_tenant.agent_hourly_rate, None);
        assert_eq!(c.default_tenant.friction_detection_enabled, None);
        assert_eq!(c.sandbox, SandboxMode::Auto);
    }

    #[test]
    fn errors_name_the_variable() {
        let cases = [
            ("SWITCHBOARD_ADDR", "localhost"),
            ("DATABASE_URL", "mysql://x"),
            ("SWITCHBOARD_PUBLIC_URL", "not a url"),
            ("SWITCHBOARD_MASTER_KEY", "short"),
            ("FRICTION_DETECTION_ENABLED", "maybe"),
            ("CHANNEL_ROUTING_ENABLED", "2"),
            ("AGENT_HOURLY_RATE", "-5"),
            ("SWITCHBOARD_WORKER_CONCURRENCY", "0"),
            ("SWITCHBOARD_TIMEZONE", "Mars/Olympus"),
            ("SWITCHBOARD_CURRENCY", "rupees"),
            ("FRESHDESK_DOMAIN", "acme.freshdesk.com/x"),
            ("REDIS_URL", "localhost:6379"),
            (
                "FRESHCHAT_WEBHOOK_PUBLIC_KEY",
                "-----BEGIN RSA PUBLIC KEY----- abc -----END RSA PUBLIC KEY-----",
            ),
        ];
        for (var, value) in cases {
            let err = load(&[(var, value)]).expect_err(var);
            assert_eq!(err.var, var, "{err}");
            assert!(err.to_string().starts_with(&format!("{var}: ")), "{err}");
        }
    }

    #[test]
    fn secrets_are_not_echoed() {
        let err = load(&[("SWITCHBOARD_MASTER_KEY", "hunter2-not-a-key")]).expect_err("bad key");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn freshdesk_url_from_domain_or_base_url() {
        let c = load(&[("FRESHDESK_DOMAIN", "acme")]).expect("valid");
        assert_eq!(
            c.default_tenant.freshdesk.base_url.expect("url").as_str(),
            "https://acme.freshdesk.com/api/v2"
        );
        let c = load(&[
            ("FRESHDESK_DOMAIN", "acme"),
            ("FRESHDESK_BASE_URL", "http://127.0.0.1:9000/sandbox/freshdesk/api/v2"),
        ])
        .expect("valid");
        assert_eq!(c.default_tenant.freshdesk.base_url.expect("url").port(), Some(9000));
    }

    #[test]
    fn values_are_parsed() {
        let c = load(&[
            ("DATABASE_URL", "postgres://localhost/x"),
            ("SWITCHBOARD_ADDR", "0.0.0.0:9001"),
            ("FRICTION_DETECTION_ENABLED", "false"),
            ("AGENT_HOURLY_RATE", "199.5"),
            ("SWITCHBOARD_SANDBOX", "off"),
        ])
        .expect("valid");
        assert_eq!(c.database_url, "postgres://localhost/x");
        assert_eq!(c.worker_concurrency, 256, "PostgreSQL takes concurrent writers");
        assert_eq!(c.public_base_url().as_str(), "http://127.0.0.1:9001/");
        assert_eq!(c.default_tenant.friction_detection_enabled, Some(false));
        assert_eq!(c.default_tenant.agent_hourly_rate, Some(Money::from_minor(19_950)));
        assert_eq!(c.sandbox, SandboxMode::Off);
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let f = Figment::new().merge(Serialized::default("databse_url", "sqlite:x"));
        let err = Config::from_figment(&f).expect_err("typo");
        assert_eq!(err.var, "DATABSE_URL");
    }
}
