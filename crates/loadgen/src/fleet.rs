//! Switchboard as real processes, for crash and scale-out tests: `serve` and `worker` started
//! from the binary on one database, killed with SIGKILL at any moment, and started again on the
//! same port. Each process gets a clean environment (only what is set here, so a developer's
//! `.env` or provider credentials never leak in) and its own log file.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use url::Url;

use crate::error::LoadError;

/// What every process of the fleet shares.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// The `switchboard` binary.
    pub binary: PathBuf,
    pub database_url: String,
    /// Working directory, data folder and logs.
    pub dir: PathBuf,
    /// More `SWITCHBOARD_*` settings (lease, poll interval, provider timeout, …).
    pub env: Vec<(String, String)>,
}

/// A process's part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `serve`, on this port; with its own worker or not.
    Serve { port: u16, worker: bool },
    /// `worker`.
    Worker,
}

struct Member {
    role: Role,
    name: String,
    child: Option<Child>,
    starts: u32,
    kills: u32,
}

/// The processes, by index in the order they were added.
pub struct Fleet {
    config: FleetConfig,
    members: Vec<Member>,
}

/// How long a `serve` may take to answer `/readyz`.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A key for the development credentials' encryption, the same for every process.
const MASTER_KEY: &str = "5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b5b";

impl Fleet {
    pub fn new(config: FleetConfig) -> Result<Self, LoadError> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| LoadError::io(format!("creating {}", config.dir.display()), e))?;
        Ok(Self {
            config,
            members: Vec::new(),
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.config.binary);
        command
            .args(args)
            .current_dir(&self.config.dir)
            .env_clear()
            .env("DATABASE_URL", &self.config.database_url)
            .env("SWITCHBOARD_DATA_DIR", &self.config.dir)
            .env("SWITCHBOARD_MASTER_KEY", MASTER_KEY)
            .env("SWITCHBOARD_SANDBOX", "off")
            .env("SWITCHBOARD_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .envs(self.config.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs a one-off command (`migrate`, `tenant create …`) to the end; its standard output.
    pub async fn run(&self, args: &[&str]) -> Result<String, LoadError> {
        let output = self
            .command(args)
            .output()
            .await
            .map_err(|e| LoadError::io(format!("running switchboard {}", args.join(" ")), e))?;
        if !output.status.success() {
            return Err(LoadError::Process(format!(
                "switchboard {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A new tenant and a secret key for it.
    pub async fn tenant_with_key(&self, slug: &str) -> Result<String, LoadError> {
        self.run(&["tenant", "create", slug, "--name", slug]).await?;
        let out = self
            .run(&["apikey", "create", "--tenant", slug, "--kind", "secret"])
            .await?;
        out.lines()
            .map(str::trim)
            .find(|l| l.starts_with("sk_"))
            .map(str::to_string)
            .ok_or_else(|| LoadError::Process(format!("no key in `switchboard apikey create`'s output: {out}")))
    }

    /// Starts a process; a `serve` is ready (answers `/readyz`) when this returns.
    pub async fn add(&mut self, role: Role) -> Result<usize, LoadError> {
        let index = self.members.len();
        let name = match role {
            Role::Serve { port, .. } => format!("serve-{port}"),
            Role::Worker => format!("worker-{index}"),
        };
        self.members.push(Member {
            role,
            name,
            child: None,
            starts: 0,
            kills: 0,
        });
        self.start(index).await?;
        Ok(index)
    }

    async fn start(&mut self, index: usize) -> Result<(), LoadError> {
        let (role, name) = {
            let m = self.member(index)?;
            (m.role, m.name.clone())
        };
        let log_path = self.log_path(&name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| LoadError::io(format!("opening {}", log_path.display()), e))?;
        let err = log
            .try_clone()
            .map_err(|e| LoadError::io(format!("opening {}", log_path.display()), e))?;
        let mut command = match role {
            Role::Serve { worker: true, .. } => self.command(&["serve"]),
            Role::Serve { worker: false, .. } => self.command(&["serve", "--no-worker"]),
            Role::Worker => self.command(&["worker"]),
        };
        if let Role::Serve { port, .. } = role {
            command.env("SWITCHBOARD_ADDR", format!("127.0.0.1:{port}"));
        }
        let child = command
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| LoadError::io(format!("starting {name}"), e))?;
        let member = self.member_mut(index)?;
        member.child = Some(child);
        member.starts += 1;
        if let Role::Serve { port, .. } = role {
            self.wait_ready(index, port).await?;
        }
        Ok(())
    }

    async fn wait_ready(&mut self, index: usize, port: u16) -> Result<(), LoadError> {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/readyz");
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            let name = self.member(index)?.name.clone();
            if let Some(child) = self.member_mut(index)?.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(LoadError::Process(format!(
                    "{name} exited ({status}) before it was ready:\n{}",
                    self.log_tail(&name)
                )));
            }
            if started.elapsed() > READY_WITHIN {
                return Err(LoadError::Process(format!(
                    "{name} was not ready within {READY_WITHIN:?}:\n{}",
                    self.log_tail(&name)
                )));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL: no shutdown, no cleanup, whatever it was doing.
    pub async fn kill(&mut self, index: usize) -> Result<(), LoadError> {
        let member = self.member_mut(index)?;
        if let Some(mut child) = member.child.take() {
            child
                .kill()
                .await
                .map_err(|e| LoadError::io(format!("killing {}", member.name), e))?;
            member.kills += 1;
        }
        Ok(())
    }

    /// Starts a killed process again (a running one is killed first); a `serve` is ready again
    /// when this returns.
    pub async fn restart(&mut self, index: usize) -> Result<(), LoadError> {
        self.kill(index).await?;
        self.start(index).await
    }

    /// Asks every process to stop (SIGTERM: graceful shutdown) and waits for them.
    pub async fn stop(&mut self) -> Result<(), LoadError> {
        for member in &mut self.members {
            if let Some(mut child) = member.child.take() {
                // std and tokio send only SIGKILL; SIGTERM through kill(1), else SIGKILL.
                let pid = child.id().map(|p| p.to_string()).unwrap_or_default();
                let termed = Command::new("kill").args(["-TERM", &pid]).status().await;
                if !termed.is_ok_and(|s| s.success()) {
                    let _ = child.start_kill();
                }
                if tokio::time::timeout(Duration::from_secs(30), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            }
        }
        Ok(())
    }

    /// Base URL of the `serve` at `index`.
    pub fn base_url(&self, index: usize) -> Result<Url, LoadError> {
        match self.member(index)?.role {
            Role::Serve { port, .. } => Ok(format!("http://127.0.0.1:{port}/").parse()?),
            Role::Worker => Err(LoadError::Process(format!("process {index} is a worker, not a server"))),
        }
    }

    /// Times the process was started and killed.
    pub fn counts(&self, index: usize) -> (u32, u32) {
        self.members.get(index).map_or((0, 0), |m| (m.starts, m.kills))
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.config.dir.join(format!("{name}.log"))
    }

    /// The last lines a process logged (for failure messages).
    fn log_tail(&self, name: &str) -> String {
        tail(&self.log_path(name), 40)
    }

    fn member(&self, index: usize) -> Result<&Member, LoadError> {
        self.members
            .get(index)
            .ok_or_else(|| LoadError::Process(format!("no process {index}")))
    }

    fn member_mut(&mut self, index: usize) -> Result<&mut Member, LoadError> {
        self.members
            .get_mut(index)
            .ok_or_else(|| LoadError::Process(format!("no process {index}")))
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A port that was free a moment ago (the OS picks it; the listener is closed again).
pub fn free_port() -> Result<u16, LoadError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| LoadError::io("finding a free port", e))?;
    Ok(listener
        .local_addr()
        .map_err(|e| LoadError::io("finding a free port", e))?
        .port())
}
