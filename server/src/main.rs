//! `gridsync-server`: the relay's command line.

use std::fs::{File, TryLockError};
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use client_core::store::RedbStore;
use server::Config;

/// The relay's allocator. Under glibc's, memory the relay had freed stayed
/// in the process: answering a peer that holds nothing of a document sends
/// it whole (`Automerge::save`, whose DEFLATE of the columns allocates two
/// 371 KiB states), and each freed state, past glibc's mmap threshold,
/// was reused by smaller long-lived allocations and pinned in an arena, so
/// 1,000 grid indexes served once held 350 MB with 51 MB live. mimalloc
/// returns freed pages to the OS (the same run: 64 MB). It is built
/// without transparent huge pages (the `no_thp` feature in the workspace's
/// Cargo.toml): with them, a 60-worker upload's peak RSS went from 34 MB
/// to 44 MB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use server::registry::{GridRecord, Registry, RegistryError};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "gridsync-server", version, about = "The GridSync relay")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand; each parses its own flags.
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve devices over WebSocket (automerge-repo protocol v1).
    Serve(ServeArgs),
    /// Grids (网格): add and list
    #[command(subcommand)]
    Grid(GridCommand),
    /// Users: add, list and set passwords (role and scope)
    #[command(subcommand)]
    User(UserCommand),
    /// Bearer tokens: issue (shown once), revoke, list
    #[command(subcommand)]
    Token(TokenCommand),
    /// The category catalog (事部件分类, time limits) devices receive: import, list
    #[command(subcommand)]
    Category(CategoryCommand),
    /// District-review export (XLSX, CSV, GeoJSON, JSON) of the relay's grids
    Export(Box<server::export::cli::ExportArgs>),
    /// The audit trail: changes, refusals and failed logins, filtered
    Audit(AuditArgs),
    /// One-off data migrations (the relay also runs them when it starts)
    #[command(subcommand)]
    Migrate(MigrateCommand),
}

#[derive(Debug, Subcommand)]
enum MigrateCommand {
    /// Take residents' names and phones out of tickets written before
    /// private documents: each such ticket is rewritten without them (a new
    /// history at the same id) and its contact moved to its private
    /// document. Stop the relay first.
    PersonalData {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Args)]
struct AuditArgs {
    /// Only this user's rows
    #[arg(long)]
    user: Option<String>,
    /// Only this document's rows (its id, as in automerge:<id>)
    #[arg(long)]
    doc: Option<String>,
    /// Only this grid's rows
    #[arg(long)]
    grid: Option<String>,
    /// From this time on (RFC 3339, for example 2026-11-23T08:00:00+08:00)
    #[arg(long, value_parser = rfc3339_ms)]
    since: Option<i64>,
    /// Before this time (RFC 3339)
    #[arg(long, value_parser = rfc3339_ms)]
    until: Option<i64>,
    #[command(flatten)]
    data: DataArgs,
}

fn rfc3339_ms(text: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            format!("`{text}` is not an RFC 3339 time ({e}); write 2026-11-23T08:00:00+08:00")
        })
}

/// Where the relay's data lives, for the administration commands (they
/// work while the relay runs).
#[derive(Debug, Args)]
struct DataArgs {
    /// Data directory of the relay
    #[arg(long, default_value = "./gridsync-data", env = "GRIDSYNC_DATA")]
    data: PathBuf,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum GridCommand {
    /// Add a grid with its place in the hierarchy
    Add {
        #[arg(long)]
        code: client_core::ids::GridCode,
        #[arg(long)]
        name: String,
        /// 社区
        #[arg(long)]
        community: String,
        /// 街道
        #[arg(long)]
        street: String,
        /// 区
        #[arg(long)]
        district: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List grids
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Subcommand)]
enum CategoryCommand {
    /// Import a catalog CSV (UTF-8; columns code,name_zh,name_en,kind,time_limit,
    /// urgent_time_limit,filing,closing,after_photos_required, as in
    /// server/catalog/default.csv). All or nothing: a bad row changes nothing
    /// and is named by its line. It replaces the catalog unless --extend; a
    /// running relay sends it to devices within its registry poll.
    Import {
        file: PathBuf,
        /// Add the file's categories to the catalog (replacing equal codes)
        /// instead of replacing the whole catalog
        #[arg(long)]
        extend: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the catalog: the one imported last, or the default shipped with the relay
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user: role worker|supervisor|unit|reviewer|admin; scope
    /// grids:CODE[,CODE...] | community:NAME | street:NAME | district:NAME | all (admins)
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: client_core::model::lifecycle::Role,
        #[arg(long)]
        scope: server::registry::Scope,
        /// Also set the console password, read as one line from stdin
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Set a user's console password (asked twice, not echoed; or one line
    /// from stdin with --password-stdin). Stores only its Argon2id hash and
    /// ends the user's console sessions; device tokens keep working
    Passwd {
        /// The user
        name: String,
        /// Read the password as one line from stdin (for scripts)
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List users
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue a token for a user; it is printed once and only its hash is kept
    Issue {
        #[arg(long)]
        user: String,
        /// What the token is for (for example the device)
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke a token by the id `token list` shows; its open connections close
    Revoke {
        id: String,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List tokens (ids, users, states; never the tokens themselves)
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:3030", env = "GRIDSYNC_LISTEN")]
    listen: String,
    /// Data directory; the database is `<data>/relay.redb`, created if absent.
    #[arg(long, default_value = "./gridsync-data", env = "GRIDSYNC_DATA")]
    data: PathBuf,
    /// Open WebSocket connections beyond which upgrades get HTTP 503.
    #[arg(long, default_value_t = Config::default().max_connections)]
    max_connections: usize,
    /// Documents kept in memory; idle ones beyond this are evicted.
    #[arg(long, default_value_t = Config::default().doc_capacity)]
    doc_capacity: usize,
    /// MiB of the database file kept in memory by the store's page cache.
    #[arg(long, default_value_t = server::admin::STORE_CACHE_MIB)]
    store_cache_mib: usize,
    /// Tile URL template for the console's maps, e.g.
    /// `https://tiles.example/{z}/{x}/{y}.png`; without one the console
    /// draws tickets on a plain background (no internet needed).
    #[arg(long, env = "GRIDSYNC_MAP_TILES")]
    map_tiles: Option<String>,
    /// The datum the tiles are drawn in: `wgs84`, or `gcj02` for Chinese
    /// providers (the console then converts the devices' WGS-84 points).
    #[arg(long, value_enum, default_value = "wgs84", env = "GRIDSYNC_MAP_CRS")]
    map_crs: MapCrs,
    /// Attribution the tile provider asks to be shown on the map.
    #[arg(long, default_value = "", env = "GRIDSYNC_MAP_ATTRIBUTION")]
    map_attribution: String,
    /// Deepest zoom level the tiles exist for.
    #[arg(long, default_value_t = 18)]
    map_max_zoom: u8,
    /// Serve `GET /metrics` (always to an admin's token) to this peer
    /// address instead of loopback; repeat for more [default: loopback only]
    #[arg(long, value_name = "ADDR", conflicts_with = "metrics_from_anywhere")]
    metrics_from: Vec<std::net::IpAddr>,
    /// Serve `GET /metrics` (always to an admin's token) to any address,
    /// through proxies too
    #[arg(long)]
    metrics_from_anywhere: bool,
    /// Largest photo one upload may declare (bytes, or with KiB, MiB, GiB,
    /// KB, MB, GB); a larger one is refused with 413 `photo_too_large`
    #[arg(long, value_name = "SIZE", default_value = "20MiB", value_parser = size)]
    max_photo_size: u64,
    /// Photo bytes one user may start uploading per UTC day (a size as for
    /// --max-photo-size); past it, 429 `upload_quota` until the next day
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = size)]
    daily_upload_per_user: u64,
    /// How long a photo no ticket lists, or an upload nobody continues, is
    /// kept before the hourly sweep removes it (30s, 90m, 24h, 7d)
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = duration)]
    blob_grace: Duration,
    /// How long an upload's body may send nothing before the relay keeps
    /// what arrived and lets the photo go (the device resumes from there)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    upload_idle_timeout: Duration,
    /// How long a round with changes to store waits for more before it
    /// commits, so a sync storm commits many devices' changes per fsync
    /// (0 commits at once; 5ms, 10ms)
    #[arg(long, value_name = "DURATION", default_value = "5ms", value_parser = delay)]
    commit_delay: Duration,
}

/// A size as people write it: `20971520`, `20MiB`, `500 KB`, `1GiB`.
fn size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" | "k" => 1024,
        "mb" => 1000 * 1000,
        "mib" | "m" => 1024 * 1024,
        "gb" => 1000 * 1000 * 1000,
        "gib" | "g" => 1024 * 1024 * 1024,
        _ => u64::MAX,
    };
    n.parse::<u64>()
        .ok()
        .filter(|_| factor != u64::MAX)
        .and_then(|n| n.checked_mul(factor))
        .filter(|&v| v > 0)
        .ok_or_else(|| {
            format!("`{s}` is not a size: write a whole number of bytes, or one with KiB, MiB or GiB (20MiB)")
        })
}

/// A duration as people write it: `500ms`, `30s`, `90m`, `24h`, `7d`.
fn duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let millis: Option<u64> = match unit.trim() {
        "ms" => Some(1),
        "s" => Some(1000),
        "m" | "min" => Some(60_000),
        "h" => Some(3_600_000),
        "d" => Some(86_400_000),
        _ => None,
    };
    n.parse::<u64>()
        .ok()
        .zip(millis)
        .and_then(|(n, m)| n.checked_mul(m))
        .filter(|&v| v > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| {
            format!(
                "`{s}` is not a duration: write a whole number with ms, s, m, h or d (30s, 24h)"
            )
        })
}

/// A duration that may be zero (`0`, `0s`, `0ms`): a wait that can be off.
fn delay(s: &str) -> Result<Duration, String> {
    match s.trim() {
        "0" | "0s" | "0ms" => Ok(Duration::ZERO),
        _ => duration(s),
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum MapCrs {
    Wgs84,
    Gcj02,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let outcome = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Grid(c) => grid(c),
        Command::User(c) => user(c),
        Command::Token(c) => token(c),
        Command::Category(c) => category(c),
        Command::Export(args) => return server::export::cli::run(&args),
        Command::Audit(a) => audit(a),
        Command::Migrate(MigrateCommand::PersonalData { data }) => migrate_personal_data(data),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gridsync-server: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config {
        max_connections: args.max_connections,
        doc_capacity: args.doc_capacity,
        map_tiles: args.map_tiles.map(|url| server::MapTiles {
            url,
            crs: match args.map_crs {
                MapCrs::Wgs84 => server::TileCrs::Wgs84,
                MapCrs::Gcj02 => server::TileCrs::Gcj02,
            },
            attribution: args.map_attribution,
            max_zoom: args.map_max_zoom,
        }),
        metrics_from: if args.metrics_from_anywhere {
            server::MetricsFrom::Anywhere
        } else if args.metrics_from.is_empty() {
            server::MetricsFrom::Loopback
        } else {
            server::MetricsFrom::Addresses(args.metrics_from)
        },
        max_photo_bytes: args.max_photo_size,
        max_upload_bytes_per_user_per_day: args.daily_upload_per_user,
        blob_grace: args.blob_grace,
        upload_idle_timeout: args.upload_idle_timeout,
        commit_delay: args.commit_delay,
        ..Config::default()
    };
    config.validate()?;
    std::fs::create_dir_all(&args.data).with_context(|| {
        format!(
            "could not create the data directory {}",
            args.data.display()
        )
    })?;
    let _lock = lock_data_dir(&args.data)?;
    let path = args.data.join(server::admin::DATABASE_FILE);
    let store = RedbStore::open_with_cache(&path, args.store_cache_mib.saturating_mul(1 << 20))
        .with_context(|| format!("could not open the relay database {}", path.display()))?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("could not listen on {}", args.listen))?;
        let addr: SocketAddr = listener
            .local_addr()
            .context("could not read the bound address")?;
        println!(
            "gridsync-server listening on ws://{addr} (data: {})",
            args.data.display()
        );
        println!("console: http://{addr}/console");
        server::run(listener, Arc::new(store), config, shutdown_signal()).await?;
        Ok(())
    })
}

impl DataArgs {
    /// Opens the relay's database and its registry and runs `f` on them.
    fn registry<T>(
        &self,
        f: impl FnOnce(&Registry<'_>) -> Result<T, RegistryError>,
    ) -> anyhow::Result<T> {
        let store = server::admin::open_store(&self.data)?;
        Ok(f(&Registry::new(&store.database())?)?)
    }

    /// Prints `value` as JSON with `--json`, else `human()`.
    fn print<T: serde::Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> String,
    ) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value)?);
        } else {
            println!("{}", human());
        }
        Ok(())
    }

    /// Prints `rows` as a JSON array with `--json`, else one `line` each.
    fn print_rows<T: serde::Serialize>(
        &self,
        rows: &[T],
        line: impl Fn(&T) -> String,
    ) -> anyhow::Result<()> {
        self.print(&rows, || {
            rows.iter().map(line).collect::<Vec<_>>().join("\n")
        })
    }
}

fn category(command: CategoryCommand) -> anyhow::Result<()> {
    match command {
        CategoryCommand::Import { file, extend, data } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("could not read the catalog file {}", file.display()))?;
            let categories = server::catalog::parse_csv(&text)
                .with_context(|| format!("{} was not imported", file.display()))?;
            let count = categories.len();
            let catalog = data.registry(|r| r.import_catalog(categories, extend))?;
            data.print(&catalog, || {
                format!(
                    "imported {count} categories from {}: the catalog is now version {} with {} categories",
                    file.display(),
                    catalog.version,
                    catalog.categories.len()
                )
            })
        }
        CategoryCommand::List { data } => {
            let catalog = data.registry(|r| r.catalog())?;
            data.print(&catalog, || {
                let mut lines = vec![format!(
                    "catalog version {}: {} categories",
                    catalog.version,
                    catalog.categories.len()
                )];
                lines.extend(catalog.categories.values().map(|c| {
                    format!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        c.code,
                        c.name_zh,
                        c.kind,
                        c.time_limit.map_or("-".into(), |t| t.to_string()),
                        c.urgent_time_limit.map_or("-".into(), |t| t.to_string()),
                        if c.after_photos_required {
                            "after-photos"
                        } else {
                            "-"
                        }
                    )
                }));
                lines.join("\n")
            })
        }
    }
}

fn grid(command: GridCommand) -> anyhow::Result<()> {
    match command {
        GridCommand::Add {
            code,
            name,
            community,
            street,
            district,
            data,
        } => {
            let record = GridRecord {
                code,
                name,
                community,
                street,
                district,
            };
            data.registry(|r| r.add_grid(&record))?;
            data.print(&record, || {
                format!("added grid {} ({})", record.code, record.name)
            })
        }
        GridCommand::List { data } => data.print_rows(&data.registry(|r| r.grids())?, |g| {
            format!(
                "{}\t{}\t{}\t{}\t{}",
                g.code, g.name, g.community, g.street, g.district
            )
        }),
    }
}

fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            role,
            scope,
            password_stdin,
            data,
        } => {
            let record = if password_stdin {
                let password = read_password(&name, true)?;
                data.registry(|r| r.add_user_with_password(&name, role, scope, &password))?
            } else {
                data.registry(|r| r.add_user(&name, role, scope))?
            };
            data.print(&record, || {
                let with = if password_stdin {
                    " with a console password"
                } else {
                    ""
                };
                format!(
                    "added {} `{}` for {}{with}",
                    record.role, record.name, record.scope
                )
            })
        }
        UserCommand::Passwd {
            name,
            password_stdin,
            data,
        } => {
            // Refuse an unknown name before asking for a password.
            if data.registry(|r| r.user(&name))?.is_none() {
                return Err(RegistryError::UnknownUser(name).into());
            }
            let password = read_password(&name, password_stdin)?;
            let ended = data.registry(|r| r.set_password(&name, &password))?;
            let shown = serde_json::json!({ "user": name, "sessions_ended": ended });
            data.print(&shown, || {
                format!(
                    "set the console password of `{name}` (only its Argon2id hash is kept); \
                     {ended} console session(s) ended"
                )
            })
        }
        UserCommand::List { data } => data.print_rows(&data.registry(|r| r.users())?, |u| {
            format!("{}\t{}\t{}", u.name, u.role, u.scope)
        }),
    }
}

/// A new password for `name`: one line from stdin, or asked twice on the
/// terminal without echo.
fn read_password(name: &str, from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("could not read the password from stdin")?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password);
        return Ok(password.to_owned());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "there is no terminal to ask for the password on; pipe it in with --password-stdin"
        );
    }
    let first = rpassword::prompt_password(format!("New password for `{name}`: "))
        .context("could not read the password from the terminal")?;
    let again = rpassword::prompt_password("The same again: ")
        .context("could not read the password from the terminal")?;
    if first != again {
        anyhow::bail!("the two passwords differ; nothing was changed, run the command again");
    }
    Ok(first)
}

fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Issue { user, label, data } => {
            let (token, record) = data.registry(|r| r.issue_token(&user, label))?;
            let shown = serde_json::json!({ "token": token, "id": record.id, "user": record.user });
            data.print(&shown, || {
                format!(
                    "{token}\n(token {} for `{}`: shown once, only its hash is kept; give it to the device with `gridsync login --token ...`)",
                    record.id, record.user
                )
            })
        }
        TokenCommand::Revoke { id, data } => {
            let record = data.registry(|r| r.revoke_token(&id))?;
            data.print(&record, || {
                format!("revoked token {} of `{}`", record.id, record.user)
            })
        }
        TokenCommand::List { data } => data.print_rows(&data.registry(|r| r.tokens())?, |t| {
            let state = if t.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            };
            format!(
                "{}\t{}\t{}\t{}",
                t.id,
                t.user,
                state,
                t.label.as_deref().unwrap_or("")
            )
        }),
    }
}

fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let store = server::admin::open_store(&args.data.data)?;
    let filter = server::audit::AuditFilter {
        user: args.user,
        doc: args.doc,
        grid: args.grid,
        since: args.since,
        until: args.until,
    };
    let rows = server::audit::query(&store.database(), &filter)?;
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    args.data.print_rows(&rows, |r| {
        let at = chrono::DateTime::from_timestamp_millis(r.at)
            .map_or_else(|| r.at.to_string(), |t| t.to_rfc3339());
        let what = match (r.changes, &r.reason) {
            (Some(n), _) => format!("{n} changes"),
            (None, Some(why)) => why.clone(),
            (None, None) => String::new(),
        };
        format!(
            "{at}\t{}\t{}\t{}\t{}\t{}\t{what}",
            r.action.as_str(),
            dash(&r.user),
            dash(&r.grid),
            dash(&r.doc),
            r.peer
                .clone()
                .or(r.addr.clone())
                .unwrap_or_else(|| "-".into()),
        )
    })
}

fn migrate_personal_data(data: DataArgs) -> anyhow::Result<()> {
    // The hub holds documents in memory: never rewrite them under a running relay.
    let _lock = lock_data_dir(&data.data)?;
    let store = server::admin::open_store(&data.data)?;
    let migrated = server::migrate::personal_data(&store)?;
    server::migrate::mark_migrated(&store)?;
    data.print(&migrated, || {
        format!(
            "looked at {} tickets; rewrote {} without residents' contacts ({} moved to private documents)",
            migrated.tickets,
            migrated.rewritten.len(),
            migrated.contacts_moved
        )
    })
}

/// Holds `<data>/relay.lock` for the life of the process: the database
/// itself admits several processes (devices share theirs), but two relays
/// over one directory would answer for the same storage id.
fn lock_data_dir(data: &Path) -> anyhow::Result<File> {
    let path = data.join("relay.lock");
    let file = File::options()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("could not open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => anyhow::bail!(
            "the data directory {} is in use by another gridsync-server; stop it or choose another --data",
            data.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("could not lock {}", path.display()))
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

#[cfg(test)]
mod tests {
    use super::{delay, duration, size};
    use std::time::Duration;

    #[test]
    fn sizes_and_durations_read_as_people_write_them() {
        assert_eq!(size("20MiB"), Ok(20 * 1024 * 1024));
        assert_eq!(size("500 KB"), Ok(500_000));
        assert_eq!(size("1gib"), Ok(1 << 30));
        assert_eq!(size("4096"), Ok(4096));
        for bad in ["", "0", "20XB", "MiB", "1.5MiB", "-3"] {
            assert!(size(bad).unwrap_err().contains("20MiB"), "{bad}");
        }
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(duration("90 m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        for bad in ["30", "0s", "1w", "h"] {
            assert!(duration(bad).unwrap_err().contains("30s, 24h"), "{bad}");
        }
        // A wait that can be off takes zero as well.
        assert_eq!(delay("0"), Ok(Duration::ZERO));
        assert_eq!(delay("0ms"), Ok(Duration::ZERO));
        assert_eq!(delay("2ms"), Ok(Duration::from_millis(2)));
        assert!(delay("00x").is_err());
    }
}
