//! The command line, as clap derive definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use client_core::ids::{GridCode, TicketId, VisitId};
use client_core::model::lifecycle::{Action, Rating, Role, Status};
use client_core::model::ticket::{Kind, Source, Urgency};
use client_core::model::visit::{Outcome, VisitType};
use client_core::report::input::ExportFlags;

use crate::uuid_prefix::UuidPrefix;
use crate::values;

const AFTER_HELP: &str = "\
Exit codes:
  0    done
  1    refused: forbidden transition or role, grid not yours, unknown or ambiguous id,
       data directory not set up, invalid import, calendar or grids file,
       export destination not writable
  2    usage: unknown flag, bad value, or a flag that does not apply
  3    storage: the local database is damaged, in use by another gridsync, or unwritable
  101  a bug in gridsync (please report it)

JSON output (--json) prints the client-core records on stdout, field names as stored:
  ticket new        {\"id\"}
  ticket list       [TicketSummary]: id, grid, status, category, title, urgency, unit,
                    due_at, reported_at, updated_at, rework_count, conflicts,
                    handled_by, created_by, urged_at, extension_pending
  ticket show/event Ticket: id, grid, source, kind, category, urgency, title,
                    description, location {lat, lon, accuracy_m, address},
                    resident {name, phone}, created_by, created_at, photos,
                    events [{\"Ok\": Event} | {\"Err\": why unreadable}],
                    comments [{id, author, at, text}],
                    state {status, unit, due_at, handled_by, ..., conflicts [{index,
                    event_id, action, actor, reason {kind, ...}}]}
  ticket comment    {\"ticket\", \"comment\"}
  ticket import     one {\"line\", \"saved\"} object per line
  visit add         {\"id\", \"date\"}
  visit list        [Visit]: id, visit_type, grid, household, worker, started_at,
                    ended_at, lat, lon, outcome, notes, tickets, amends
  todo              [TodoItem]: ticket (TicketSummary), actions, why
                    (urged | conflict | extension | overdue | action)
  category list     Catalog: version, categories {code: {code, name_zh, name_en,
                    kind, time_limit, urgent_time_limit, filing, closing,
                    after_photos_required}}, or null before the first sync
  init, whoami,     {user, role, grids, actor, data_dir, database, server, token}
  login             (token is \"stored\" or \"none\", never the token itself)
  export            ExportStats: out, calendar, tickets_seen, tickets_exported,
                    tickets_filtered_out, tickets_outside_period,
                    tickets_without_location, tickets_outside_calendar,
                    visits_seen, visits_exported, visits_filtered_out,
                    visits_outside_period, cells_truncated, total {figures},
                    by_unit {unit: {tickets, figures}} (the by-unit table)
Times in JSON are milliseconds since the Unix epoch; tables show them in +08:00.

Logs go to stderr; set RUST_LOG=debug for more.";

/// gridsync: offline capture for grid governance (网格化管理).
///
/// Report problems as tickets (工单), move them through their lifecycle,
/// and log household visits (走访), all without a network. Every command
/// works on the local database in the data directory.
#[derive(Debug, Parser)]
#[command(name = "gridsync", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// Data directory holding gridsync.redb [default: $HOME/.gridsync]
    #[arg(long, global = true, env = "GRIDSYNC_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Print JSON on stdout instead of tables (see --help for the fields)
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up the data directory for one person: user, role and grids
    Init(InitArgs),
    /// Report, list, show and move tickets (工单)
    #[command(subcommand)]
    Ticket(TicketCommand),
    /// Log and list visits (走访)
    #[command(subcommand)]
    Visit(VisitCommand),
    /// What needs my action (待办), urged tickets (督办) first, with the
    /// suggested next actions and why
    Todo,
    /// The category catalog (事部件分类) this device received from the relay
    #[command(subcommand)]
    Category(CategoryCommand),
    /// Who this device acts as (user, role, grids)
    Whoami,
    /// Provision this device from the relay (登录): with --user, log in with
    /// your password (asked without echo) and get this device its own
    /// token; or give a token an admin issued with --token. Then fetch who
    /// the token belongs to (user, role, grids), store it with the relay and
    /// the token, and sync with them from then on. Initialises the data
    /// directory if needed.
    Login(LoginArgs),
    /// Sync with the relay (同步): send local records, receive everyone else's
    Sync(SyncArgs),
    /// Export the district-review report of my grids (XLSX, CSV, GeoJSON, JSON)
    ///
    /// Works offline from the local store, for the grids this device holds:
    /// a summary per grid, community and street for the period (上报, 立案,
    /// 按期结案率, handling time in working hours, satisfaction, visits,
    /// households), one row per ticket and one row per visit. Residents'
    /// personal data (names, phones, descriptions, visit notes) is left out
    /// unless an admin asks for it with --include-personal.
    ///
    /// The period is whole local days at --offset: --from 00:00 to the end of
    /// --to (inclusive). With neither, the current month; with only --from,
    /// up to today; with only --to, from the first day of --to's month.
    ///
    /// The file is written under a temporary name next to --out and renamed
    /// when complete, so --out is either the whole export or untouched.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The relay, for example ws://relay.example:3030/
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The token an admin issued (`gridsync-server token issue`); kept in
    /// the local database, never printed
    #[arg(
        long,
        env = "GRIDSYNC_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        required_unless_present = "user"
    )]
    pub token: Option<String>,
    /// Log in as this user with a password instead (the relay then issues
    /// this device its own token); GRIDSYNC_TOKEN is then not used
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// With --user: read the password as one line from stdin (for scripts)
    /// instead of asking for it
    #[arg(long, requires = "user")]
    pub password_stdin: bool,
    /// With --user: the name the new token gets in the relay's token list
    /// [default: gridsync on HOSTNAME]
    #[arg(long, value_name = "LABEL", requires = "user")]
    pub device: Option<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The relay, for example ws://relay.example:3030/ (remembered for next
    /// time, even when it cannot be reached now)
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Keep syncing: stay connected, send local edits as they are made,
    /// receive changes as they come, reconnect when the signal returns
    #[arg(long)]
    pub watch: bool,
    /// Give up when the relay sends nothing for this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Login name, recorded as the actor of every event (for a handling
    /// unit: the unit name dispatchers use, for example 物业公司)
    #[arg(long, value_name = "NAME", value_parser = values::non_blank)]
    pub user: String,
    /// What this person does
    #[arg(long, value_parser = values::named::<Role>())]
    pub role: Role,
    /// A grid this person works in (网格编码), for example GL-03-07; repeat for more
    #[arg(long = "grid", value_name = "CODE", required = true)]
    pub grids: Vec<GridCode>,
}

#[derive(Debug, Subcommand)]
pub enum CategoryCommand {
    /// Every code with its name, kind, time limit and whether after-photos
    /// are required (the codes `ticket new --category` accepts)
    List,
}

#[derive(Debug, Subcommand)]
pub enum TicketCommand {
    /// Report a new ticket (上报) and print its id
    New(TicketNewArgs),
    /// List tickets from the local index: open ones in my grids by default
    List(TicketListArgs),
    /// Show a ticket: fields, status, event history, comments and conflicts
    Show(TicketShowArgs),
    /// Move a ticket through its lifecycle (立案, 派遣, 签收, 处置, 核查, 结案, ...)
    Event(TicketEventArgs),
    /// Add a comment to a ticket
    Comment(TicketCommentArgs),
    /// Report many tickets from a JSON-lines file, printing `saved <id>` as each is committed
    ///
    /// One JSON object per line with the fields of `ticket new`: grid and
    /// title required; id, description, category, kind, source, urgency,
    /// location {lat, lon, accuracy_m, address} and resident {name, phone}
    /// optional. Give every record an id: re-running a partly imported file
    /// then never duplicates a ticket. The whole file is checked before
    /// anything is written.
    Import(TicketImportArgs),
    /// Photos of a ticket: add one, or get them all into a folder
    #[command(subcommand)]
    Photo(PhotoCommand),
}

#[derive(Debug, Subcommand)]
pub enum PhotoCommand {
    /// Attach a photo (处置前 before / 处置后 after): copied into this device at
    /// once, uploaded by the next `gridsync sync`
    Add(PhotoAddArgs),
    /// Copy a ticket's photos into a folder, from this device or the relay
    Get(PhotoGetArgs),
}

#[derive(Debug, Args)]
pub struct PhotoAddArgs {
    /// Ticket id or a unique prefix of it (at least 4 hex digits)
    pub id: UuidPrefix,
    /// The photo (JPEG or PNG, at most 20 MiB)
    pub file: PathBuf,
    /// Taken before the work (on report) or after it (on handling)
    #[arg(long, value_parser = ["before", "after"], default_value = "before")]
    pub phase: String,
}

#[derive(Debug, Args)]
pub struct PhotoGetArgs {
    /// Ticket id or a unique prefix of it (at least 4 hex digits)
    pub id: UuidPrefix,
    /// Folder to write the photos into (created if absent)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct TicketNewArgs {
    /// Grid the problem is in
    #[arg(long, value_name = "CODE")]
    pub grid: GridCode,
    /// Short title, for example 3号楼路灯不亮
    #[arg(long, value_parser = values::non_blank)]
    pub title: String,
    /// What was found, in as much detail as helps the handling unit
    #[arg(long)]
    pub description: Option<String>,
    /// Category code (大类+小类), for example 1102 (暴露垃圾); `gridsync category
    /// list` shows the catalog's codes. Once the device holds the catalog an
    /// unknown code is refused with the nearest ones; before, it is kept with a warning
    #[arg(long, value_name = "CODE")]
    pub category: Option<String>,
    /// Kind of problem [default: the category's kind in the catalog, else event]
    #[arg(long, value_parser = values::named::<Kind>())]
    pub kind: Option<Kind>,
    /// Where it came from [default: patrol]
    #[arg(long, value_parser = values::named::<Source>())]
    pub source: Option<Source>,
    /// [default: normal]
    #[arg(long, value_parser = values::named::<Urgency>())]
    pub urgency: Option<Urgency>,
    /// Latitude, WGS84 decimal degrees
    #[arg(long, requires = "lon", allow_negative_numbers = true, value_parser = values::latitude)]
    pub lat: Option<f64>,
    /// Longitude, WGS84 decimal degrees
    #[arg(long, requires = "lat", allow_negative_numbers = true, value_parser = values::longitude)]
    pub lon: Option<f64>,
    /// GPS accuracy in metres
    #[arg(long, value_name = "M", requires = "lat", value_parser = values::metres)]
    pub accuracy: Option<f64>,
    /// Address text, for example 幸福小区3号楼东侧
    #[arg(long, value_name = "TEXT", requires = "lat")]
    pub address: Option<String>,
    /// Resident's name (personal data: shown to supervisors, not exported)
    #[arg(long, value_name = "N")]
    pub resident_name: Option<String>,
    /// Resident's phone number (personal data)
    #[arg(long, value_name = "P")]
    pub resident_phone: Option<String>,
    /// Ticket id to use; a retry with the same id never duplicates the ticket
    #[arg(long, value_name = "UUID")]
    pub id: Option<TicketId>,
    /// A photo of the problem (repeatable): copied into this device at once,
    /// uploaded by the next `gridsync sync`
    #[arg(long, value_name = "FILE")]
    pub photo: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TicketListArgs {
    /// Only this grid (one of mine)
    #[arg(long, value_name = "CODE")]
    pub grid: Option<GridCode>,
    /// Include closed (已结案) and invalid (已注销) tickets
    #[arg(long)]
    pub all: bool,
    /// Only tickets in this status
    #[arg(long, value_name = "S", value_parser = values::named::<Status>())]
    pub status: Option<Status>,
    /// Only tickets with unresolved lifecycle conflicts (冲突), open or closed
    #[arg(long)]
    pub conflicts: bool,
}

#[derive(Debug, Args)]
pub struct TicketShowArgs {
    /// Ticket id or a unique prefix of it (at least 4 hex digits)
    pub id: UuidPrefix,
}

#[derive(Debug, Args)]
pub struct TicketEventArgs {
    /// Ticket id or a unique prefix of it (at least 4 hex digits)
    pub id: UuidPrefix,
    /// The lifecycle action to take
    #[arg(value_parser = values::named_except::<Action>(&[Action::Reported]))]
    pub action: Action,
    /// Free text; required as the reason for invalid, returned, rework and
    /// extension_requested (延期申请), and as the note of urged (督办, only for
    /// an overdue or nearly due ticket: the last quarter of its time limit)
    #[arg(long, value_name = "T")]
    pub note: Option<String>,
    /// dispatched: the handling unit (处置单位), as its user name
    #[arg(long, value_name = "U")]
    pub unit: Option<String>,
    /// dispatched: the deadline, RFC 3339 [default: the category's time limit in the
    /// catalog, else 21 working hours (7 if urgent), on the China calendar];
    /// extension_requested: the deadline proposed; extension_approved: the deadline
    /// granted [default: the one proposed]
    #[arg(long, value_name = "RFC3339", value_parser = crate::time::parse_rfc3339)]
    pub due: Option<i64>,
    /// closed: close as a duplicate of this ticket (id or prefix)
    #[arg(long, value_name = "ID")]
    pub duplicate_of: Option<UuidPrefix>,
    /// rated: the resident's answer at the callback (回访)
    #[arg(long, value_parser = values::named::<Rating>())]
    pub rating: Option<Rating>,
}

#[derive(Debug, Args)]
pub struct TicketCommentArgs {
    /// Ticket id or a unique prefix of it (at least 4 hex digits)
    pub id: UuidPrefix,
    /// The comment
    #[arg(value_parser = values::non_blank)]
    pub text: String,
}

#[derive(Debug, Args)]
pub struct TicketImportArgs {
    /// JSON-lines file to import, or - for stdin
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum VisitCommand {
    /// Log a visit in my visit log for its day (+08:00) and print its id
    Add(VisitAddArgs),
    /// List visits in my grids
    List(VisitListArgs),
}

#[derive(Debug, Args)]
pub struct VisitAddArgs {
    /// Grid the visit was in
    #[arg(long, value_name = "CODE")]
    pub grid: GridCode,
    /// Kind of visit
    #[arg(long = "type", value_parser = values::named::<VisitType>())]
    pub visit_type: VisitType,
    /// Household as building-unit-room, for example 3-2-501
    #[arg(long)]
    pub household: Option<String>,
    /// How it went
    #[arg(long, value_parser = values::named::<Outcome>())]
    pub outcome: Outcome,
    /// Notes
    #[arg(long, value_name = "T")]
    pub notes: Option<String>,
    /// When the visit started, RFC 3339 [default: now]
    #[arg(long, value_name = "RFC3339", value_parser = crate::time::parse_rfc3339)]
    pub started: Option<i64>,
    /// When it ended, RFC 3339
    #[arg(long, value_name = "RFC3339", value_parser = crate::time::parse_rfc3339)]
    pub ended: Option<i64>,
    /// Check-in latitude, WGS84
    #[arg(long, requires = "lon", allow_negative_numbers = true, value_parser = values::latitude)]
    pub lat: Option<f64>,
    /// Check-in longitude, WGS84
    #[arg(long, requires = "lat", allow_negative_numbers = true, value_parser = values::longitude)]
    pub lon: Option<f64>,
    /// A ticket this visit spawned (id or prefix); repeat for more
    #[arg(long = "ticket", value_name = "ID")]
    pub tickets: Vec<UuidPrefix>,
    /// The earlier visit this one corrects (id or prefix, same grid)
    #[arg(long, value_name = "VISIT_ID")]
    pub amends: Option<UuidPrefix>,
    /// Visit id to use; a retry with the same id rewrites the same record
    #[arg(long, value_name = "UUID")]
    pub id: Option<VisitId>,
}

#[derive(Debug, Args)]
pub struct VisitListArgs {
    /// Only this grid (one of mine)
    #[arg(long, value_name = "CODE")]
    pub grid: Option<GridCode>,
    /// Only visits that started on this day (+08:00), YYYY-MM-DD
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = crate::time::parse_date)]
    pub date: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub report: ExportFlags,
    /// Only this grid (one of mine); repeat for more [default: all my grids]
    #[arg(long = "grid", value_name = "CODE")]
    pub grids: Vec<GridCode>,
    /// Only grids in this community (社区), as named in --grids-file
    #[arg(long, value_name = "NAME", requires = "grids_file", value_parser = values::non_blank)]
    pub community: Option<String>,
    /// Only grids in this street (街道), as named in --grids-file
    #[arg(long, value_name = "NAME", requires = "grids_file", value_parser = values::non_blank)]
    pub street: Option<String>,
    /// Only grids in this district (区), as named in --grids-file
    #[arg(long, value_name = "NAME", requires = "grids_file", value_parser = values::non_blank)]
    pub district: Option<String>,
    /// Names of grids and where they sit: a UTF-8 CSV file with the header
    /// `grid,name,community,street,district` (or 网格编码,网格名称,社区,街道,区)
    /// and one line per grid code. Grids missing from it read as 未知 (unknown)
    #[arg(long, value_name = "FILE.csv")]
    pub grids_file: Option<PathBuf>,
    /// Add residents' names and phones, ticket descriptions and visit notes (admins only)
    #[arg(long)]
    pub include_personal: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
