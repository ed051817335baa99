//! The `loadgen` command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

use crate::baseline::{self, BaselineOptions};
use crate::driver::{DriveOptions, Rate};
use crate::error::LoadError;
use crate::host::{Target, sandbox_config};
use crate::report::Report;
use crate::run::{RunOptions, run};
use crate::scenario::Mix;

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Load Switchboard with signed webhooks and measure (SPEC §15)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drive a running Switchboard: webhooks in, effects checked in a hosted sandbox.
    Run(Box<RunArgs>),
    /// The ingest path's inserts straight against the database, one webhook per transaction.
    Baseline(BaselineArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sign {
    /// RSA-SHA256, like Freshchat (pre-signed before the timed phase).
    Rsa,
    /// HMAC-SHA256 with a shared secret (cheap).
    Hmac,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Switchboard's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8000/")]
    pub target: Url,
    /// Another server of the same deployment (repeatable): webhooks go to each in turn.
    #[arg(long = "also-target")]
    pub also_target: Vec<Url>,
    /// A secret key (sk_…) of the tenant to load.
    #[arg(long, env = "LOADGEN_KEY")]
    pub key: String,
    /// Events per second (open loop), or `max` (closed loop, see --concurrency).
    #[arg(long, default_value = "200", value_parser = parse_rate)]
    pub rate: RateArg,
    /// Senders with --rate max.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// How long to wait after sending for every effect.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub drain: Duration,
    /// Open loop: requests in flight at most.
    #[arg(long, default_value_t = 20_000)]
    pub max_in_flight: usize,
    #[arg(long, value_enum, default_value_t = Sign::Rsa)]
    pub sign: Sign,
    /// Port of the hosted sandbox (0: any).
    #[arg(long, default_value_t = 0)]
    pub sandbox_port: u16,
    /// Share of events that are agent replies.
    #[arg(long, default_value_t = 0.2)]
    pub reply_share: f64,
    /// Customer messages after the first, per conversation.
    #[arg(long, default_value_t = 3)]
    pub followups: u32,
    /// Pause between a message's acceptance and the customer's next.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub think: Duration,
    /// Events to prepare (default: rate × time; 4 000/s with --rate max).
    #[arg(long)]
    pub prebuild: Option<u64>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The server's pid: its VmRSS is sampled every 250 ms.
    #[arg(long)]
    pub pid: Option<u32>,
    /// What database the server uses, for the report.
    #[arg(long)]
    pub db_label: Option<String>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write every sent event (markers, conversations, statuses, times) as JSON here.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// A baseline report (`loadgen baseline --json`) to compare with.
    #[arg(long)]
    pub baseline_json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Apply Switchboard's migrations first.
    #[arg(long)]
    pub migrate: bool,
    #[arg(long)]
    pub db_label: Option<String>,
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateArg {
    PerSecond(f64),
    Max,
}

/// `500`, `2.5` or `max`.
pub fn parse_rate(s: &str) -> Result<RateArg, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(RateArg::Max);
    }
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(RateArg::PerSecond(r)),
        _ => Err(format!("'{s}' is not a positive number of events per second or 'max'")),
    }
}

/// `30s`, `500ms`, `2m`, `1.5s`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 30s or 500ms"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        other => return Err(format!("unknown unit '{other}' in '{s}' (ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("'{s}': {e}"))
}

/// Runs the command; the exit code is 2 when verification found violations.
pub async fn main(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run(args) => load(*args).await,
        Command::Baseline(args) => run_baseline(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn load(args: RunArgs) -> Result<ExitCode, LoadError> {
    let baseline = match &args.baseline_json {
        Some(path) => Some(read_report(path)?),
        None => None,
    };
    let rate = match args.rate {
        RateArg::PerSecond(r) => Rate::PerSecond(r),
        RateArg::Max => Rate::Max {
            concurrency: args.concurrency,
        },
    };
    let options = RunOptions {
        target: Target {
            base: args.target,
            also: args.also_target,
            secret_key: args.key,
        },
        drive: DriveOptions {
            rate,
            warmup: args.warmup,
            duration: args.duration,
            max_in_flight: args.max_in_flight,
            seed: args.seed,
        },
        mix: Mix {
            reply_share: args.reply_share.clamp(0.0, 1.0),
            followups: args.followups,
            think: args.think,
        },
        hmac: args.sign == Sign::Hmac,
        sandbox: sandbox_config(),
        sandbox_port: args.sandbox_port,
        drain: args.drain,
        prebuild_events: args.prebuild,
        pid: args.pid,
        db_label: args.db_label,
    };
    let outcome = run(options).await?;
    let mut report = outcome.report;
    if let Some(b) = &baseline {
        report = report.with_baseline(b);
    }
    print!("{}", report.table());
    for v in outcome.verify.violations.iter().take(20) {
        eprintln!("loadgen: VIOLATION {}", serde_json::to_string(v)?);
    }
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    if let Some(path) = &args.record {
        write_json(path, &outcome.record)?;
    }
    outcome.host.stop().await;
    Ok(if outcome.verify.is_clean() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "loadgen: correctness FAILED: {} violations",
            outcome.verify.violations.len()
        );
        ExitCode::from(2)
    })
}

async fn run_baseline(args: BaselineArgs) -> Result<ExitCode, LoadError> {
    let options = BaselineOptions {
        database_url: args.database_url,
        concurrency: args.concurrency,
        warmup: args.warmup,
        duration: args.duration,
        migrate: args.migrate,
        db_label: args.db_label,
    };
    let report = baseline::run(&options).await?;
    print!("{}", report.table());
    if let Some(path) = &args.json {
        write_json(path, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn read_report(path: &Path) -> Result<Report, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::io(format!("reading {}", path.display()), e))?;
    Ok(serde_json::from_str(&text)?)
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), LoadError> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text).map_err(|e| LoadError::io(format!("writing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("max"), Ok(RateArg::Max));
        assert_eq!(parse_rate("500"), Ok(RateArg::PerSecond(500.0)));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-3").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn the_command_line_parses() {
        let cli = Cli::try_parse_from([
            "loadgen",
            "run",
            "--key",
            "sk_x",
            "--rate",
            "max",
            "--concurrency",
            "8",
            "--duration",
            "20s",
        ]);
        let Ok(Command::Run(args)) = cli.map(|c| c.command) else {
            panic!("not a run");
        };
        assert_eq!((args.rate, args.concurrency), (RateArg::Max, 8));
        assert_eq!(args.duration, Duration::from_secs(20));
        let cli = Cli::try_parse_from(["loadgen", "baseline", "--database-url", "sqlite:x.db"]);
        assert!(cli.is_ok());
    }
}
