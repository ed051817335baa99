//! The load tool's errors: what stops a run (a violation found by verification does not: it is
//! reported).

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("sandbox: {0}")]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{step}: Switchboard answered {status}: {body}")]
    Api {
        step: &'static str,
        status: u16,
        body: String,
    },
    #[error("{0}")]
    Config(String),
    /// A Switchboard process of a [`crate::fleet::Fleet`] failed to start or run a command.
    #[error("{0}")]
    Process(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("database: {0}")]
    Db(#[from] switchboard::db::DbError),
    #[error("tenant: {0}")]
    Tenant(#[from] switchboard::tenants::TenantError),
    #[error("invalid URL: {0}")]
    Url(#[from] url::ParseError),
}

impl LoadError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        LoadError::Io {
            what: what.into(),
            source,
        }
    }
}
