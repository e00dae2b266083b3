//! The `boardroom` command line.

use anyhow::Context;
use boardroom::config::{Config, LogFormat};
use boardroom::store::NewUser;
use boardroom::{auth, server, telemetry};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// mimalloc instead of glibc's malloc: at saturation a third of the server's CPU was glibc's
/// allocator (`_int_malloc`, `malloc_consolidate`, `unlink_chunk`; BENCHMARKS.md, issue 12).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Boardroom: live kanban and job boards over WebSockets.
///
/// With no configuration it runs alone on an embedded SQLite file under ./data in dev mode,
/// with a demo organization (the logins are printed at start). Point it at Postgres with
/// BOARDROOM_DATABASE_URL for production.
#[derive(Parser)]
#[command(name = "boardroom", version, about, long_about)]
struct Cli {
    /// Configuration file (default: ./config.toml if present). BOARDROOM_* variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format: text for people, json for log shippers (overrides `log_format`).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve,
    /// Apply database migrations and exit (serve applies them too).
    Migrate,
    /// Create an organization and its owner; prints {"org_id":"…","user_id":"…"}.
    CreateOrg {
        /// Name of the organization.
        #[arg(long)]
        name: String,
        /// Email the owner logs in with.
        #[arg(long)]
        owner_email: String,
        /// The owner's password (8 to 256 characters).
        #[arg(long)]
        owner_password: String,
        /// The owner's display name (default: the part of the email before '@').
        #[arg(long)]
        owner_name: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(f) = cli.log_format {
        config.log_format = f;
    }
    telemetry::init(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => server::serve(config).await,
        Command::Migrate => {
            let store = server::open_store(&config).await?;
            tracing::info!(backend = store.backend(), "migrations applied");
            Ok(())
        }
        Command::CreateOrg {
            name,
            owner_email,
            owner_password,
            owner_name,
        } => {
            let name = name.trim().to_string();
            anyhow::ensure!(
                !name.is_empty() && name.chars().count() <= 200,
                "--name must be 1 to 200 characters"
            );
            let email = owner_email.trim().to_lowercase();
            anyhow::ensure!(
                email.len() <= 254
                    && email
                        .split_once('@')
                        .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty()),
                "--owner-email is not an email address"
            );
            let len = owner_password.chars().count();
            anyhow::ensure!(
                (8..=256).contains(&len),
                "--owner-password must be 8 to 256 characters"
            );
            let owner_name = owner_name
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| email.split('@').next().unwrap_or("owner").to_string());
            let store = server::open_store(&config).await?;
            let hash = auth::password::hash(&owner_password)?;
            let (org, user) = store
                .create_org_with_owner(
                    &name,
                    NewUser {
                        email,
                        name: owner_name,
                        password_hash: hash,
                    },
                )
                .await
                .context("cannot create the organization")?;
            println!(
                "{}",
                serde_json::json!({ "org_id": org.id, "user_id": user.id })
            );
            Ok(())
        }
    }
}
