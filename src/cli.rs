//! The `pebble` command line: one binary, every capability a subcommand.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use pebble_core::access::Role;
use pebble_core::audit::Actor;
use pebble_core::merkle::ProofDocument;
use secrecy::ExposeSecret;

use crate::audit::export::Format;
use crate::audit::proof::{self, InclusionProof};
use crate::audit::{parse_entity, parse_event_type, parse_time};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::startup::{self, Application};
use crate::store::activity::Filter;

#[derive(Parser, Debug)]
#[command(name = "pebble", version, about = "Email operations for Indian B2B businesses", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Try Pebble: a demo business, Tally simulator, users and mailbox, served on the embedded default.
    Demo,
    /// Run the API server, the metrics listener and the background workers.
    Serve,
    /// Print the documented defaults, or (`check`) the effective settings with secrets masked.
    Config {
        #[command(subcommand)]
        action: Option<ConfigAction>,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// The tamper-evident activity stream: verify, checkpoint, prove, export.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Accounts and roles (admin, sales, ops, read_only).
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Validate GSTINs, PANs, CINs or LLPINs offline: values as arguments, or
    /// one per line on stdin. Exit 0 when all are valid, 1 otherwise.
    Validate {
        #[arg(value_enum)]
        kind: ValidateKind,
        values: Vec<String>,
        /// One JSON object per value: {value, kind, valid, normalized, errors, info}.
        #[arg(long)]
        json: bool,
    },
    /// The local intent model: train and evaluate.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Classify email: one RFC 5322 message on stdin, or an mbox; one JSON line per message.
    Classify(ClassifyArgs),
    /// Tally: probe it, list companies and ledgers, sync the catalogue, look up stock.
    Tally {
        #[command(subcommand)]
        action: TallyAction,
    },
    /// Play Tally's XML server from a catalogue file (demos and fault drills).
    TallySim(TallySimArgs),
    /// Import mail from an mbox file, a Maildir or .eml files into a stream.
    Import(ImportArgs),
    /// IMAP mailboxes feeding the streams: add, list, fetch once.
    Mailbox {
        #[command(subcommand)]
        action: MailboxAction,
    },
    /// The pipeline's job queue: status, run due jobs, retry dead letters.
    Pipeline {
        #[command(subcommand)]
        action: PipelineAction,
    },
    /// Backups: create, verify, restore, list, prune.
    Backup {
        #[command(subcommand)]
        action: BackupAction,
    },
    /// Disaster recovery: restore drills that measure RTO and RPO.
    Dr {
        #[command(subcommand)]
        action: DrAction,
    },
    /// Compliance reports for regulators and auditors.
    Report {
        #[command(subcommand)]
        action: ReportAction,
    },
    /// Data-subject requests: export what is held about a person or company.
    Dsr {
        #[command(subcommand)]
        action: DsrAction,
    },
    /// Reply drafts and their outbox.
    Drafts {
        #[command(subcommand)]
        action: DraftsAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum DraftsAction {
    /// Drafts, newest first, with their text and the facts they used.
    List {
        /// pending, approved, rejected, sent or failed
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        stream: Option<String>,
        /// The email's id.
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// A JSON array of drafts, as the API returns them.
        #[arg(long)]
        json: bool,
    },
    /// Replies in the outbox, newest first.
    Outbox {
        /// queued, attempting, committing, sent, dead or unknown
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[arg(value_enum)]
    format: crate::ingest::import::Format,
    /// The mbox file, the Maildir folder, or an .eml file or folder of them.
    path: PathBuf,
    #[arg(long)]
    stream: String,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
pub enum MailboxAction {
    /// Add or change a mailbox (the password is read from the variable named by --password-env).
    Add {
        name: String,
        #[arg(long)]
        stream: String,
        #[arg(long)]
        host: String,
        #[arg(long, default_value_t = 993)]
        port: u16,
        /// Plain IMAP without TLS (local servers only).
        #[arg(long)]
        plain: bool,
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_env: String,
        #[arg(long, default_value = "INBOX")]
        folder: String,
        #[arg(long)]
        disabled: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Fetch what is new in one mailbox now.
    Fetch {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum PipelineAction {
    /// Jobs per state.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Run due jobs until none is left (or --max ran); one JSON line per job.
    Run {
        #[arg(long, default_value_t = usize::MAX)]
        max: usize,
    },
    /// Give a dead job a fresh set of attempts.
    Retry { id: i64 },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BackupKindArg {
    /// Database, object store and chain head.
    Full,
    /// Activity-stream events since the last backup.
    Activity,
}

#[derive(Subcommand, Debug)]
pub enum BackupAction {
    /// Take a consistent backup now, while Pebble keeps serving.
    Create {
        /// Directory for the backup file (default: backup_dir).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "full")]
        kind: BackupKindArg,
        #[arg(long)]
        json: bool,
    },
    /// Check a backup: manifest, checksums, a restore into scratch, the audit
    /// chain and the row counts. Exit 1 naming the failing part.
    Verify {
        file: PathBuf,
        /// PostgreSQL server for the scratch schema (PostgreSQL backups).
        #[arg(long)]
        scratch: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Restore a full backup, then any activity backups after it in order.
    /// Refuses a corrupt or newer-schema backup, and a target that holds a
    /// database unless --force (which keeps the old one aside).
    Restore {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Target database URL (default: the configured database).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        force: bool,
        /// Where objects are restored (default: data_dir/objects).
        #[arg(long)]
        objects_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The backup catalogue, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Apply backup retention now (backup_keep_daily, backup_keep_weekly).
    Prune,
}

#[derive(Subcommand, Debug)]
pub enum DrAction {
    /// Restore the newest backups into scratch, verify, and report recovery
    /// time (RTO) and data-loss window (RPO).
    Drill {
        /// Take a fresh full backup first instead of using the newest ones.
        #[arg(long)]
        fresh: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReportAction {
    /// AI decisions, overrides with justification and failed validations of one
    /// quarter, as CSV and XLSX with a manifest (row counts, SHA-256, chain check).
    Quarterly {
        /// e.g. 2026Q3 (quarters in the business's local time)
        #[arg(long)]
        quarter: String,
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum DsrAction {
    /// Everything held about an e-mail address or a company, as one ZIP.
    Export {
        #[arg(long, conflicts_with = "company", required_unless_present = "company")]
        email: Option<String>,
        /// A company id.
        #[arg(long)]
        company: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum TallyAction {
    /// Check that Tally's XML server answers (`GET /`).
    Ping {
        #[arg(long)]
        json: bool,
    },
    /// Companies loaded in Tally.
    Companies {
        #[arg(long)]
        json: bool,
    },
    /// Copy Tally's stock items into the local catalogue cache.
    Sync {
        /// Everything, not only what changed since the last sync.
        #[arg(long)]
        full: bool,
        #[arg(long)]
        json: bool,
    },
    /// Stock of one product (Tally name, alias or SKU): live, or from the cache when Tally is unavailable.
    Lookup {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Ledgers (parties) with GSTIN, state and group.
    Ledgers {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SimEncoding {
    Utf16,
    Utf8,
}

#[derive(Args, Debug)]
pub struct TallySimArgs {
    /// JSON array of {sku, tally_name, aliases, unit, rate_inr, closing_qty, group}.
    #[arg(long)]
    catalog: PathBuf,
    /// JSON array of {name, group, gstin, state, aliases}.
    #[arg(long)]
    ledgers: Option<PathBuf>,
    #[arg(long, default_value_t = 9000)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Company name the simulator reports as loaded.
    #[arg(long, default_value = "Demo Electricals")]
    company: String,
    /// Delay before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of requests (0 to 1) answered with an empty body.
    #[arg(long, default_value_t = 0.0)]
    fail_rate: f64,
    #[arg(long, value_enum, default_value = "utf16")]
    encoding: SimEncoding,
    #[arg(long, value_enum)]
    fault: Option<crate::tally::sim::Fault>,
    /// How long the `slow` fault delays an answer, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    slow_ms: u64,
}

#[derive(Subcommand, Debug)]
pub enum ModelAction {
    /// Train on the corpus and every reviewed decision (overrides and
    /// confirmations), register the result as a candidate and compare it with
    /// the serving model. With --out: train on the corpus alone and write a
    /// model file, without a database (how the shipped model is made).
    Train {
        /// Directory of labelled `*.jsonl` files (default: the intent_corpus_dir setting; data/intents with --out).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Write the model here instead of registering it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Promote the new model at once if it is not worse than the serving one.
        #[arg(long, conflicts_with = "out")]
        promote: bool,
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a model on the held-out split: the serving one, a registered
    /// version, or a model file.
    Eval {
        /// Directory of labelled `*.jsonl` files (default: the intent_corpus_dir setting).
        #[arg(long)]
        data: Option<PathBuf>,
        /// A model file (no database needed).
        #[arg(long, conflicts_with = "version")]
        model: Option<PathBuf>,
        /// A registered model version.
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The registry: every model with its held-out figures, and which serves.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Make a registered model the serving one, if it is not worse than the
    /// serving model on the held-out split.
    Promote {
        version: String,
        #[arg(long)]
        json: bool,
    },
    /// Return to the model that served before the current one.
    Rollback {
        #[arg(long)]
        json: bool,
    },
    /// Drift of the serving model's recent decisions from its held-out
    /// baseline (PSI of confidence and labels) and the override rate; with
    /// --mbox, of a model's decisions on that mail instead (no database).
    /// Exit 1 on alert.
    Drift {
        /// Mail to compare instead of the recorded decisions.
        #[arg(long)]
        mbox: Option<PathBuf>,
        /// With --mbox: the corpus, for a model file without a recorded baseline.
        #[arg(long, requires = "mbox")]
        data: Option<PathBuf>,
        /// With --mbox: a model file (default: the shipped model).
        #[arg(long, requires = "mbox")]
        model: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Read an mbox file instead of one message on stdin.
    #[arg(long)]
    mbox: Option<PathBuf>,
    /// Catalog JSON (array of {sku, tally_name, aliases, unit, rate_inr, closing_qty, group});
    /// without it, the synced Tally catalogue in the database.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// A model file; without it, the serving model (the registry's promoted
    /// one, else the shipped one).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Use neither the database nor a catalogue: the shipped model (or
    /// --model) and --catalog only.
    #[arg(long)]
    offline: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ValidateKind {
    Gstin,
    Pan,
    Cin,
    Llpin,
    /// Detect each value's kind from its shape.
    Auto,
}

#[derive(Subcommand, Debug)]
pub enum UsersAction {
    /// Create a user; the password is read from stdin (one line).
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Read the password from standard input (required: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable a user (by email or id) and end their sessions.
    Disable { user: String },
    /// Change a user's role (by email or id) and end their sessions.
    SetRole { user: String, role: String },
}

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Load the configuration as `pebble serve` would and print it, secrets masked.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum DbAction {
    /// Apply pending migrations (also done at every start).
    Migrate,
}

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Recompute the hash chain; exit 1 naming the first bad seq.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Sign a checkpoint of the chain head and print it as JSON.
    Checkpoint,
    /// Print an RFC 6962 inclusion proof for one event, against a signed checkpoint.
    Prove { seq: i64 },
    /// Verify a proof offline: Pebble's inclusion proof, or a transparency-dev
    /// inclusion/consistency vector. Reads FILE or stdin; exit 0 valid, 1 invalid.
    VerifyProof {
        file: Option<PathBuf>,
        /// The checkpoint signer's public key (base64) to trust; without it the
        /// signature is checked against the key the proof carries.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Export events as CSV or Excel, streamed; recorded as DataExported.
    Export(ExportArgs),
    /// Redact payloads that are past their retention class now.
    Retention,
    /// Print this log's checkpoint public key (base64).
    PublicKey,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    format: ExportFormat,
    #[arg(long)]
    out: PathBuf,
    /// Earliest occurred_at (RFC 3339 or YYYY-MM-DD), inclusive.
    #[arg(long)]
    from: Option<String>,
    /// Latest occurred_at (RFC 3339 or YYYY-MM-DD), exclusive.
    #[arg(long)]
    to: Option<String>,
    /// Only events about TYPE:ID, e.g. email:42.
    #[arg(long)]
    entity: Option<String>,
    /// Only events of this type, e.g. LeadClassified.
    #[arg(long = "type")]
    event_type: Option<String>,
}

impl ExportArgs {
    fn filter(&self) -> anyhow::Result<Filter> {
        let mut f = Filter::default();
        if let Some(e) = &self.entity {
            let (t, id) = parse_entity(e).map_err(|d| anyhow::anyhow!("--entity: {d}"))?;
            f.entity_type = Some(t);
            f.entity_id = Some(id);
        }
        if let Some(t) = &self.event_type {
            f.event_type = Some(parse_event_type(t).map_err(|d| anyhow::anyhow!("--type: {d}"))?);
        }
        if let Some(t) = &self.from {
            f.from = Some(parse_time(t).map_err(|d| anyhow::anyhow!("--from: {d}"))?);
        }
        if let Some(t) = &self.to {
            f.to = Some(parse_time(t).map_err(|d| anyhow::anyhow!("--to: {d}"))?);
        }
        Ok(f)
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Config { action: None } => {
            print!("{}", Settings::documented_defaults());
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            action: Some(ConfigAction::Check),
        } => {
            let settings = Settings::load()?;
            print!("{}", settings.render_masked());
            println!("# effective database: {}", settings.database_label());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => serve().await,
        Command::Demo => {
            let settings = Settings::load()?;
            let _telemetry = crate::telemetry::init(&settings)?;
            crate::demo::run(settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Db {
            action: DbAction::Migrate,
        } => {
            let settings = Settings::load()?;
            let db = startup::open_database(&settings).await?;
            println!(
                "{}: schema at version {}",
                settings.database_label(),
                db.applied_schema_version().await?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { action } => audit(action).await,
        Command::Users { action } => users(action).await,
        Command::Tally { action } => tally(action).await,
        Command::TallySim(args) => tally_sim(args).await,
        Command::Import(args) => import(args).await,
        Command::Mailbox { action } => mailbox(action).await,
        Command::Pipeline { action } => pipeline(action).await,
        Command::Backup { action } => backup(action).await,
        Command::Dr {
            action: DrAction::Drill { fresh, json },
        } => drill(fresh, json).await,
        Command::Report { action } => report(action).await,
        Command::Dsr { action } => dsr(action).await,
        Command::Drafts { action } => drafts(action).await,
        Command::Validate { kind, values, json } => validate(kind, values, json),
        Command::Model { action } => model(action).await,
        Command::Classify(args) => classify(args).await,
    }
}

async fn model(action: ModelAction) -> anyhow::Result<ExitCode> {
    use crate::intent::offline;
    // The commands that work on files alone.
    match &action {
        ModelAction::Train {
            data,
            out: Some(out),
            json,
            ..
        } => {
            let data = data
                .clone()
                .unwrap_or_else(|| crate::intent::DEFAULT_DATA.into());
            offline::train_to_file(&data, out, *json)?;
            return Ok(ExitCode::SUCCESS);
        }
        ModelAction::Eval {
            data,
            model: Some(file),
            json,
            ..
        } => {
            let data = data
                .clone()
                .unwrap_or_else(|| crate::intent::DEFAULT_DATA.into());
            let (version, e) = offline::eval_file(&data, file)?;
            show(
                *json,
                &e,
                format!("model {version} on the held-out split\n{}", e.render()),
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        ModelAction::Drift {
            mbox: Some(mbox),
            data,
            model,
            json,
        } => {
            let settings = Settings::load()?;
            let raw = std::fs::read(mbox).with_context(|| format!("reading {}", mbox.display()))?;
            let data = data
                .clone()
                .unwrap_or_else(|| settings.intent_corpus_dir.clone());
            let thresholds = pebble_intent::drift::Thresholds {
                watch: settings.intent_drift_psi_watch,
                alert: settings.intent_drift_psi_alert,
            };
            let report = offline::drift_mbox(&raw, &data, model.as_deref(), thresholds)?;
            show(
                *json,
                &report,
                format!(
                    "{:?}: confidence PSI {:.4}, label PSI {:.4} over {} messages",
                    report.status, report.confidence_psi, report.label_psi, report.recent.n
                )
                .to_lowercase(),
            )?;
            return Ok(if report.status == pebble_intent::drift::Status::Alert {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        _ => {}
    }
    let mut settings = Settings::load()?;
    if let ModelAction::Train { data: Some(d), .. } | ModelAction::Eval { data: Some(d), .. } =
        &action
    {
        settings.intent_corpus_dir = d.clone();
    }
    let state = startup::services(&settings, Arc::new(SystemClock)).await?;
    let intent = &state.intent;
    let actor = Actor::system("cli");
    let code = match action {
        ModelAction::Train { promote, json, .. } => {
            let t = intent.train(actor.clone()).await?;
            let c = &t.comparison;
            show(
                json,
                &t,
                format!(
                    "{} {} in {} ms on {} corpus examples and {} corrections (snapshot {})\n\
                     held-out ({} examples): macro-F1 {:.4}, ECE {:.4}; serving {}: macro-F1 {:.4}, ECE {:.4} -> {}\n\n{}",
                    if t.new { "registered candidate" } else { "already registered:" },
                    t.model.version,
                    t.training_ms,
                    t.model.corpus_examples,
                    t.model.correction_examples,
                    t.model.training_snapshot,
                    c.held_out,
                    c.candidate.macro_f1,
                    c.candidate.ece,
                    c.serving.version,
                    c.serving.macro_f1,
                    c.serving.ece,
                    match &c.reason {
                        None => "not worse".to_owned(),
                        Some(r) => format!("worse: {r}"),
                    },
                    t.model.evaluation.render()
                ),
            )?;
            if promote && t.model.state != "promoted" {
                let p = intent.promote(actor, &t.model.version).await?;
                show(
                    json,
                    &p,
                    format!(
                        "promoted {} (was {})",
                        p.serving.version, p.previous_version
                    ),
                )?;
            }
            ExitCode::SUCCESS
        }
        ModelAction::Eval { version, json, .. } => {
            let (v, e) = intent.evaluate(version.as_deref()).await?;
            show(
                json,
                &e,
                format!("model {v} on the held-out split\n{}", e.render()),
            )?;
            ExitCode::SUCCESS
        }
        ModelAction::List { json } => {
            let r = intent.registry().await?;
            let mut text = format!(
                "serving: {} ({}; {} catalogue items)\n",
                r.serving.version, r.serving.source, r.serving.catalog_items
            );
            for m in &r.models {
                text.push_str(&format!(
                    "{}\t{}\t{}\tmacro-F1 {:.4}\tECE {:.4}\t{} + {} corrections\t{}\n",
                    m.version,
                    m.state,
                    pebble_core::audit::canonical_time(m.created_at),
                    m.macro_f1,
                    m.ece,
                    m.corpus_examples,
                    m.correction_examples,
                    &m.training_snapshot[..m.training_snapshot.len().min(12)],
                ));
            }
            show(json, &r, text.trim_end().to_owned())?;
            ExitCode::SUCCESS
        }
        ModelAction::Promote { version, json } => {
            let p = intent.promote(actor, &version).await?;
            let c = p.comparison.as_ref();
            show(
                json,
                &p,
                format!(
                    "promoted {} (was {}); held-out macro-F1 {:.4} vs {:.4}",
                    p.serving.version,
                    p.previous_version,
                    c.map(|c| c.candidate.macro_f1).unwrap_or_default(),
                    c.map(|c| c.serving.macro_f1).unwrap_or_default(),
                ),
            )?;
            ExitCode::SUCCESS
        }
        ModelAction::Rollback { json } => {
            let p = intent.rollback(actor).await?;
            show(
                json,
                &p,
                format!(
                    "rolled back from {} to {} ({})",
                    p.previous_version, p.serving.version, p.serving.source
                ),
            )?;
            ExitCode::SUCCESS
        }
        ModelAction::Drift { json, .. } => {
            let view = intent.drift().await?;
            show(json, &view, view.render().trim_end().to_owned())?;
            if view.status == "alert" {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    };
    state.db.close().await;
    Ok(code)
}

/// `pebble classify`: the serving model and the synced catalogue from the
/// database unless files (or --offline) say otherwise.
async fn classify(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    use crate::intent::offline;
    let input = match &args.mbox {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            buf
        }
    };
    let from_files = args.offline || (args.model.is_some() && args.catalog.is_some());
    let (model, items) = if from_files {
        let items = match &args.catalog {
            Some(p) => offline::load_catalog(p)?,
            None => Vec::new(),
        };
        (offline::load_model(args.model.as_deref())?, items)
    } else {
        let settings = Settings::load()?;
        let db = startup::open_database(&settings).await?;
        let model = match &args.model {
            Some(p) => offline::load_model(Some(p))?,
            None => crate::intent::serving_model(&db).await?.0,
        };
        let items = match &args.catalog {
            Some(p) => offline::load_catalog(p)?,
            None => crate::intent::catalog(&db).await?,
        };
        db.close().await;
        (model, items)
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    offline::classify(&input, args.mbox.is_some(), model, &items, &mut out)?;
    Ok(ExitCode::SUCCESS)
}

/// Offline: needs no database and no settings.
fn validate(kind: ValidateKind, values: Vec<String>, json: bool) -> anyhow::Result<ExitCode> {
    use chrono::Datelike;
    use pebble_core::identifiers::{self as ids, IdKind};
    let kind = match kind {
        ValidateKind::Gstin => IdKind::Gstin,
        ValidateKind::Pan => IdKind::Pan,
        ValidateKind::Cin => IdKind::Cin,
        ValidateKind::Llpin => IdKind::Llpin,
        ValidateKind::Auto => IdKind::Unknown,
    };
    let values = if values.is_empty() {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
        // A stray non-UTF-8 byte becomes U+FFFD and is reported as a bad character.
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| l.trim_end_matches('\r').to_owned())
            .filter(|l| !l.trim().is_empty())
            .collect()
    } else {
        values
    };
    if values.is_empty() {
        eprintln!("nothing to validate: pass values as arguments or one per line on stdin");
        return Ok(ExitCode::FAILURE);
    }
    let year = crate::clock::Clock::now(&SystemClock).year();
    let mut all_valid = true;
    let mut out = std::io::stdout().lock();
    for value in &values {
        let v = ids::validate(kind, value, year);
        all_valid &= v.valid;
        if json {
            writeln!(out, "{}", serde_json::to_string(&v)?)?;
        } else {
            writeln!(out, "{}", human(&v))?;
        }
    }
    Ok(if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn human(v: &pebble_core::identifiers::Validation) -> String {
    let kind = serde_json::to_value(v.kind)
        .ok()
        .and_then(|k| k.as_str().map(str::to_uppercase))
        .unwrap_or_default();
    if v.valid {
        let mut facts = Vec::new();
        facts.extend(v.info.state.map(|s| s.to_owned()));
        facts.extend(v.info.holder_type.map(|h| format!("holder: {h}")));
        facts.extend(v.info.pan.as_ref().map(|p| format!("PAN {p}")));
        facts.extend(v.info.ownership.map(|o| o.to_owned()));
        facts.extend(v.info.year.map(|y| y.to_string()));
        let facts = if facts.is_empty() {
            String::new()
        } else {
            format!(" ({})", facts.join(", "))
        };
        format!("{}: valid {kind}{facts}", v.normalized)
    } else {
        let errors: Vec<String> = v.errors.iter().map(ToString::to_string).collect();
        format!("{:?}: invalid {kind}: {}", v.value, errors.join("; "))
    }
}

async fn tally(action: TallyAction) -> anyhow::Result<ExitCode> {
    let settings = Settings::load()?;
    let state = startup::services(&settings, Arc::new(SystemClock)).await?;
    let tally = &state.tally;
    let client = &tally.client;
    let code = match action {
        TallyAction::Ping { json } => {
            let banner = client.ping().await?;
            show(
                json,
                &serde_json::json!({"url": client.url(), "banner": banner}),
                format!("{}: {banner}", client.url()),
            )?;
            ExitCode::SUCCESS
        }
        TallyAction::Companies { json } => {
            let companies = client.companies().await?;
            let text = companies
                .iter()
                .map(|c| format!("{}{}", c.name, if c.is_active { "\t(active)" } else { "" }))
                .collect::<Vec<_>>()
                .join("\n");
            show(json, &companies, text)?;
            ExitCode::SUCCESS
        }
        TallyAction::Ledgers { json } => {
            let ledgers = client.ledgers().await?;
            let text = ledgers
                .iter()
                .map(|l| {
                    format!(
                        "{}\t{}\t{}\t{}",
                        l.name,
                        l.gstin.as_deref().unwrap_or("-"),
                        l.state.as_deref().unwrap_or("-"),
                        l.group.as_deref().unwrap_or("-")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            show(json, &ledgers, text)?;
            ExitCode::SUCCESS
        }
        TallyAction::Sync { full, json } => {
            let report = tally.sync(full, Actor::system("cli")).await?;
            show(
                json,
                &report,
                format!(
                    "{} sync: {} items written, {} cached, {} ms",
                    if report.full { "full" } else { "incremental" },
                    report.items,
                    report.cached,
                    report.duration_ms
                ),
            )?;
            ExitCode::SUCCESS
        }
        TallyAction::Lookup { name, json } => {
            let found = tally.lookup(&name, Actor::system("cli")).await?;
            let text = match &found.item {
                Some(a) => format!(
                    "{}\t{} {}\trate {}\t{} ({}s old)",
                    a.item.tally_name,
                    a.item.closing_qty,
                    a.item.unit.as_deref().unwrap_or(""),
                    a.item
                        .rate_inr
                        .as_ref()
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "-".into()),
                    a.source.as_str(),
                    a.age_secs
                ),
                None => format!(
                    "{name}: not found ({}{})",
                    found.source.as_str(),
                    found
                        .tally_error
                        .as_deref()
                        .map(|e| format!("; Tally: {e}"))
                        .unwrap_or_default()
                ),
            };
            show(json, &found, text)?;
            if found.item.is_some() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    };
    state.db.close().await;
    Ok(code)
}

async fn drafts(action: DraftsAction) -> anyhow::Result<ExitCode> {
    use crate::http::drafts::{draft_filter, DraftView, OutboxView};
    let settings = Settings::load()?;
    let state = startup::services(&settings, Arc::new(SystemClock)).await?;
    match action {
        DraftsAction::List {
            status,
            stream,
            email,
            limit,
            json,
        } => {
            // The API's own parser, so the CLI accepts and refuses what the API does.
            let mut q = std::collections::HashMap::new();
            for (k, v) in [("status", status), ("stream", stream), ("email", email)] {
                if let Some(v) = v {
                    q.insert(k.to_owned(), v);
                }
            }
            q.insert("limit".to_owned(), limit.to_string());
            let filter = draft_filter(&q, "").map_err(|e| anyhow::anyhow!("{e}"))?;
            let rows = state.drafts.list(&filter).await?;
            if json {
                let views: Vec<DraftView> = rows.into_iter().map(DraftView::from).collect();
                println!("{}", serde_json::to_string(&views)?);
            } else {
                for d in rows {
                    println!(
                        "{}  {:<8}  {:<8}  {:<15}  {}  {}",
                        d.id, d.status, d.stream, d.intent, d.to_addr, d.subject
                    );
                }
            }
        }
        DraftsAction::Outbox {
            status,
            limit,
            json,
        } => {
            let rows = state.outbox.list(status.as_deref(), limit).await?;
            if json {
                let views: Vec<OutboxView> = rows.into_iter().map(OutboxView::from).collect();
                println!("{}", serde_json::to_string(&views)?);
            } else {
                for r in rows {
                    println!(
                        "{}  {:<10}  attempts {}  {}  {}",
                        r.id,
                        r.status,
                        r.attempts,
                        r.to_addr,
                        r.last_error.unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Print `value` as one JSON line, or `text` for people.
fn show<T: serde::Serialize>(json: bool, value: &T, text: String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(value)?);
    } else {
        println!("{text}");
    }
    Ok(())
}

async fn tally_sim(args: TallySimArgs) -> anyhow::Result<ExitCode> {
    use crate::tally::sim;
    let read =
        |p: &PathBuf| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
    let catalog = pebble_core::catalog::parse_catalog(&read(&args.catalog)?)
        .with_context(|| format!("{} is not a catalogue file", args.catalog.display()))?;
    let ledgers: Vec<sim::SimLedger> = match &args.ledgers {
        Some(p) => serde_json::from_slice(&read(p)?)
            .with_context(|| format!("{} is not a ledgers file", p.display()))?,
        None => Vec::new(),
    };
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.fail_rate),
        "--fail-rate must be between 0 and 1"
    );
    let addr = std::net::SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    eprintln!(
        "Tally simulator on http://{addr}: company {:?}, {} stock items, {} ledgers",
        args.company,
        catalog.len(),
        ledgers.len()
    );
    sim::serve(
        listener,
        sim::SimConfig {
            company: args.company,
            catalog,
            ledgers,
            latency: std::time::Duration::from_millis(args.latency_ms),
            fail_rate: args.fail_rate,
            encoding: match args.encoding {
                SimEncoding::Utf16 => pebble_tally::WireEncoding::Utf16Le,
                SimEncoding::Utf8 => pebble_tally::WireEncoding::Utf8,
            },
            fault: args.fault,
            slow: std::time::Duration::from_millis(args.slow_ms),
        },
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

async fn users(action: UsersAction) -> anyhow::Result<ExitCode> {
    let settings = Settings::load()?;
    let state = startup::services(&settings, Arc::new(SystemClock)).await?;
    let auth = &state.auth;
    let actor = Actor::system("cli");
    let parse_role = |r: &str| {
        r.parse::<Role>()
            .map_err(|_| anyhow::anyhow!("--role must be admin, sales, ops or read_only"))
    };
    let shown = |u: &crate::auth::UserView| {
        format!(
            "{}\t{}\t{}\t{}{}",
            u.id,
            u.email,
            u.role,
            u.display_name,
            if u.disabled { "\t(disabled)" } else { "" }
        )
    };
    match action {
        UsersAction::Add {
            email, role, name, ..
        } => {
            let role = parse_role(&role)?;
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("cannot read the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let u = auth
                .create_user(actor, &email, &name, role, password)
                .await?;
            println!("{}", shown(&u));
        }
        UsersAction::List { json } => {
            let all = auth.list_users().await?;
            if json {
                println!("{}", serde_json::to_string(&all)?);
            } else {
                for u in &all {
                    println!("{}", shown(u));
                }
            }
        }
        UsersAction::Disable { user } => {
            let u = auth.find_user(&user).await?;
            println!("{}", shown(&auth.disable(actor, &u.id).await?));
        }
        UsersAction::SetRole { user, role } => {
            let role = parse_role(&role)?;
            let u = auth.find_user(&user).await?;
            println!("{}", shown(&auth.set_role(actor, &u.id, role).await?));
        }
    }
    state.db.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn serve() -> anyhow::Result<ExitCode> {
    let settings = Settings::load()?;
    // Held until serving ends: dropping it flushes Sentry and the last spans.
    let _telemetry = crate::telemetry::init(&settings)?;
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("cannot listen on {}", settings.bind))?;
    let metrics_listener = tokio::net::TcpListener::bind(settings.metrics_bind)
        .await
        .with_context(|| format!("cannot listen on {} for metrics", settings.metrics_bind))?;
    let database = settings.database_label();
    let admin_email = settings.admin_email.clone();
    let admin_password = settings
        .admin_password
        .as_ref()
        .map(|p| p.expose_secret().to_owned());
    let app =
        Application::build(settings, Arc::new(SystemClock), listener, metrics_listener).await?;
    let auth = &app.state().auth;
    if let Some(generated) = auth
        .ensure_admin(&admin_email, admin_password.as_deref())
        .await?
    {
        // Shown once, on the terminal, never in the JSON log.
        eprintln!("Created the first administrator {admin_email} with password: {generated}");
        eprintln!("Change it, or set PEBBLE_ADMIN_PASSWORD before the first start.");
    }
    tracing::info!(addr = %app.addr(), metrics = %app.metrics_addr(), database, "pebble serving");
    app.run(startup::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn audit(action: AuditAction) -> anyhow::Result<ExitCode> {
    if let AuditAction::VerifyProof { file, public_key } = action {
        return verify_proof(file, public_key.as_deref());
    }
    let settings = Settings::load()?;
    let state = startup::services(&settings, Arc::new(SystemClock)).await?;
    let audit = &state.audit;
    let code = match action {
        AuditAction::Verify { json } => {
            let report = audit.verify().await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else if report.ok {
                println!(
                    "ok: {} events verified, head {}{}",
                    report.verified,
                    report.head_hash,
                    report
                        .checkpoint_tree_size
                        .map(|n| format!(", consistent with the signed checkpoint at {n}"))
                        .unwrap_or_default()
                );
            } else {
                println!(
                    "BROKEN at seq {}: {}",
                    report.first_bad_seq.unwrap_or_default(),
                    report.message.as_deref().unwrap_or_default()
                );
            }
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        AuditAction::Checkpoint => {
            let c = audit.checkpoint().await?;
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"origin": audit.signer().origin(), "checkpoint": c})
                )?
            );
            ExitCode::SUCCESS
        }
        AuditAction::Prove { seq } => {
            let p = audit.prove(seq).await?;
            println!("{}", serde_json::to_string_pretty(&p)?);
            ExitCode::SUCCESS
        }
        AuditAction::Export(args) => {
            let filter = args.filter()?;
            let format = match args.format {
                ExportFormat::Csv => Format::Csv,
                ExportFormat::Xlsx => Format::Xlsx,
            };
            let rows = audit
                .export(&state.db, &filter, format, &args.out, Actor::system("cli"))
                .await?;
            eprintln!("exported {rows} events to {}", args.out.display());
            ExitCode::SUCCESS
        }
        AuditAction::Retention => {
            let n = audit.apply_retention().await?;
            println!("redacted {n} payloads past retention");
            ExitCode::SUCCESS
        }
        AuditAction::PublicKey => {
            println!("{}", audit.signer().public_key_base64());
            ExitCode::SUCCESS
        }
        AuditAction::VerifyProof { .. } => unreachable!("handled before opening the database"),
    };
    state.db.close().await;
    Ok(code)
}

/// Offline: needs no database and no settings.
fn verify_proof(file: Option<PathBuf>, public_key: Option<&str>) -> anyhow::Result<ExitCode> {
    let text = match file {
        Some(path) => std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read stdin")?;
            s
        }
    };
    let value: serde_json::Value = serde_json::from_str(&text).context("the proof is not JSON")?;
    let result = if value.get("format").and_then(|f| f.as_str()) == Some(proof::FORMAT) {
        let doc: InclusionProof =
            serde_json::from_value(value).context("malformed Pebble inclusion proof")?;
        proof::verify(&doc, public_key).map(|v| {
            format!(
                "valid: seq {} is in the tree of size {} signed by key {}{}",
                v.seq,
                v.tree_size,
                v.key_id,
                if v.key_trusted {
                    ""
                } else {
                    " (key taken from the proof itself; pass --public-key to pin it)"
                }
            )
        })
    } else {
        ProofDocument::from_json(&text)
            .map_err(|e| e.to_string())
            .and_then(|doc| doc.verify().map_err(|e| e.to_string()))
            .map(|()| "valid".to_owned())
    };
    match result {
        Ok(msg) => {
            println!("{msg}");
            Ok(ExitCode::SUCCESS)
        }
        Err(msg) => {
            println!("invalid: {msg}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::load()?;
    let state = startup::services(&settings, Arc::new(SystemClock)).await?;
    let progress = !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let summary = crate::ingest::import::import(
        &state.ingest,
        args.format,
        &args.path,
        &args.stream.to_lowercase(),
        progress,
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "{} messages: {} imported, {} duplicates, {} quarantined, {} Message-ID conflicts",
            summary.messages,
            summary.imported,
            summary.duplicates,
            summary.quarantined,
            summary.conflicts
        );
    }
    state.db.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn mailbox(action: MailboxAction) -> anyhow::Result<ExitCode> {
    use crate::ingest::imap::{Fetcher, MailboxConfig};
    let settings = Settings::load()?;
    let state = startup::services(&settings, Arc::new(SystemClock)).await?;
    match action {
        MailboxAction::Add {
            name,
            stream,
            host,
            port,
            plain,
            username,
            password_env,
            folder,
            disabled,
        } => {
            let mb = MailboxConfig {
                name,
                stream: stream.to_lowercase(),
                host,
                port,
                tls: !plain,
                username,
                password_env,
                folder,
                enabled: !disabled,
            };
            state.ingest.put_mailbox(&mb).await?;
            println!("mailbox {} → stream {}", mb.name, mb.stream);
        }
        MailboxAction::List { json } => {
            for mb in state.ingest.mailboxes().await? {
                if json {
                    println!("{}", serde_json::to_string(&mb)?);
                } else {
                    println!(
                        "{}\t{}\t{}:{}{}\t{}\t{}",
                        mb.name,
                        mb.stream,
                        mb.host,
                        mb.port,
                        if mb.tls { "" } else { " (plain)" },
                        mb.folder,
                        if mb.enabled { "enabled" } else { "disabled" }
                    );
                }
            }
        }
        MailboxAction::Fetch { name, json } => {
            let rows = crate::store::emails::mailboxes(&state.db).await?;
            let row = rows
                .iter()
                .find(|r| r.name == name)
                .with_context(|| format!("no mailbox named {name:?}"))?;
            let fetcher = Fetcher {
                db: state.db.clone(),
                ingest: state.ingest.clone(),
                clock: Arc::new(SystemClock),
                metrics: state.metrics.clone(),
                poll: std::time::Duration::from_secs(settings.imap_poll_secs.max(1)),
                ca_file: settings.imap_ca_file.clone(),
            };
            let fetched = fetcher.fetch_once(&MailboxConfig::from_row(row)).await?;
            if json {
                println!("{}", serde_json::to_string(&fetched)?);
            } else {
                println!(
                    "{}: {} fetched, {} stored, {} duplicates, {} quarantined (UID {} of validity {})",
                    name,
                    fetched.fetched,
                    fetched.stored,
                    fetched.duplicates,
                    fetched.quarantined,
                    fetched.last_uid,
                    fetched.uidvalidity
                );
            }
        }
    }
    state.db.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn pipeline(action: PipelineAction) -> anyhow::Result<ExitCode> {
    let settings = Settings::load()?;
    let state = startup::services(&settings, Arc::new(SystemClock)).await?;
    let code = match action {
        PipelineAction::Status { json } => {
            let counts = state.pipeline.sample().await?;
            if json {
                let map: serde_json::Map<String, serde_json::Value> =
                    counts.into_iter().map(|(k, v)| (k, v.into())).collect();
                println!("{}", serde_json::Value::Object(map));
            } else {
                for (s, n) in counts {
                    println!("{s}\t{n}");
                }
            }
            ExitCode::SUCCESS
        }
        PipelineAction::Run { max } => {
            let mut out = std::io::stdout().lock();
            for ran in state.pipeline.drain(max).await? {
                serde_json::to_writer(&mut out, &ran)?;
                out.write_all(b"\n")?;
            }
            ExitCode::SUCCESS
        }
        PipelineAction::Retry { id } => {
            let now = state.audit.clock().now().timestamp_micros();
            if crate::store::jobs::requeue(&state.db, id, now).await? {
                println!("job {id} queued again");
                ExitCode::SUCCESS
            } else {
                eprintln!("job {id} is not dead (or does not exist)");
                ExitCode::FAILURE
            }
        }
    };
    state.db.close().await;
    Ok(code)
}

/// A progress bar on stderr, drawn only on a terminal and never with --json.
fn progress(json: bool) -> indicatif::ProgressBar {
    if json {
        return indicatif::ProgressBar::hidden();
    }
    let pb =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg:12} {bytes:>10} {wide_bar} {binary_bytes_per_sec} {elapsed}",
        )
        .expect("a valid template"),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

/// Refusals and failed checks exit 1 with the reason; anything else is an error (2).
fn backup_outcome<T>(
    r: Result<T, crate::backup::BackupError>,
) -> anyhow::Result<Result<T, ExitCode>> {
    use crate::backup::BackupError as E;
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e @ (E::Corrupt { .. } | E::Refused(_) | E::Key(_) | E::Busy)) => {
            eprintln!("refused: {e}");
            Ok(Err(ExitCode::FAILURE))
        }
        Err(e) => Err(e.into()),
    }
}

async fn backup(action: BackupAction) -> anyhow::Result<ExitCode> {
    use crate::backup::manifest::Kind;
    use crate::backup::restore;
    let settings = Settings::load()?;
    let actor = Actor::system("cli");
    match action {
        BackupAction::Create { out, kind, json } => {
            let state = startup::services(&settings, Arc::new(SystemClock)).await?;
            let kind = match kind {
                BackupKindArg::Full => Kind::Full,
                BackupKindArg::Activity => Kind::Activity,
            };
            let pb = progress(json);
            let r = state.backups.create(kind, out.as_deref(), actor, &pb).await;
            pb.finish_and_clear();
            state.db.close().await;
            let c = match backup_outcome(r)? {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            show(
                json,
                &c,
                format!(
                    "{} backup {} written to {} ({} bytes, SHA-256 {}), chain head seq {}, {} ms",
                    c.kind.as_str(),
                    c.id,
                    c.file,
                    c.size_bytes,
                    c.sha256,
                    c.chain.seq,
                    c.duration_ms
                ),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        BackupAction::Verify {
            file,
            scratch,
            json,
        } => {
            let pb = progress(json);
            let r = restore::verify_file(&settings, &file, scratch.as_deref(), &pb).await;
            pb.finish_and_clear();
            let report = match backup_outcome(r)? {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            let recorded = record_verified(&settings, &report).await;
            let text = if report.ok {
                format!(
                    "ok: {} ({} parts, {} bytes, SHA-256 {}); restored chain ends at seq {}{}",
                    report.file,
                    report.parts_checked,
                    report.size_bytes,
                    report.sha256,
                    report.chain.as_ref().map(|c| c.seq).unwrap_or_default(),
                    if recorded {
                        "; recorded as BackupVerified"
                    } else {
                        ""
                    }
                )
            } else {
                format!(
                    "FAILED: {}: part {}: {}",
                    report.file,
                    report.failed_part.as_deref().unwrap_or("?"),
                    report.message.as_deref().unwrap_or_default()
                )
            };
            show(json, &report, text)?;
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        BackupAction::Restore {
            files,
            to,
            force,
            objects_dir,
            json,
        } => {
            let pb = progress(json);
            let r = restore::restore(
                &settings,
                Arc::new(SystemClock),
                restore::RestoreRequest {
                    files,
                    to: to.unwrap_or_else(|| settings.database_url()),
                    force,
                    objects_dir: objects_dir.unwrap_or_else(|| settings.objects_dir()),
                },
                &pb,
            )
            .await;
            pb.finish_and_clear();
            let r = match backup_outcome(r)? {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            show(
                json,
                &r,
                format!(
                    "restored {} into {}: chain verified to seq {}, {} objects written ({} present){}; {} ms",
                    r.backup_ids.join(" + "),
                    r.target,
                    r.chain.seq,
                    r.objects_written,
                    r.objects_present,
                    r.set_aside
                        .as_ref()
                        .map(|a| format!("; the previous database is kept as {a}"))
                        .unwrap_or_default(),
                    r.duration_ms
                ),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        BackupAction::List { json } => {
            let state = startup::services(&settings, Arc::new(SystemClock)).await?;
            let rows = state.backups.list(1000).await?;
            state.db.close().await;
            let text = rows
                .iter()
                .map(|b| {
                    format!(
                        "{}\t{}\t{}\t{}\t{}\tseq {}\t{}\t{}",
                        b.id,
                        b.kind,
                        if b.deleted_at.is_some() {
                            "deleted"
                        } else {
                            &b.status
                        },
                        pebble_core::audit::canonical_time(b.started_at),
                        b.size_bytes
                            .map(|n| n.to_string())
                            .unwrap_or_else(|| "-".into()),
                        b.chain_seq
                            .map(|n| n.to_string())
                            .unwrap_or_else(|| "-".into()),
                        match b.verify_ok {
                            Some(true) => "verified",
                            Some(false) => "VERIFY FAILED",
                            None => "unverified",
                        },
                        b.file.as_deref().unwrap_or("-"),
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            show(json, &rows, text)?;
            Ok(ExitCode::SUCCESS)
        }
        BackupAction::Prune => {
            let state = startup::services(&settings, Arc::new(SystemClock)).await?;
            let removed = state.backups.prune().await?;
            state.db.close().await;
            println!("removed {} backups past retention", removed.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Record a verification in the configured database when the backup is one
/// of its own; a backup checked elsewhere (no database here) is not recorded.
async fn record_verified(
    settings: &Settings,
    report: &crate::backup::restore::VerifyReport,
) -> bool {
    let url = settings.database_url();
    if crate::backup::backend_of(&url) == crate::store::Backend::Sqlite
        && !crate::backup::restore::sqlite_path(&url).is_ok_and(|p| p.exists())
    {
        return false;
    }
    let recorded = async {
        let state = startup::services(settings, Arc::new(SystemClock)).await?;
        let r = state
            .backups
            .record_verified(report, Actor::system("cli"))
            .await;
        state.db.close().await;
        Ok::<_, anyhow::Error>(r?)
    }
    .await;
    match recorded {
        Ok(r) => r,
        Err(e) => {
            eprintln!("note: the verification was not recorded: {e:#}");
            false
        }
    }
}

async fn drill(fresh: bool, json: bool) -> anyhow::Result<ExitCode> {
    let settings = Settings::load()?;
    let state = startup::services(&settings, Arc::new(SystemClock)).await?;
    let pb = progress(json);
    let r = state.backups.drill(fresh, Actor::system("cli"), &pb).await;
    pb.finish_and_clear();
    state.db.close().await;
    let r = match backup_outcome(r)? {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    show(
        json,
        &r,
        format!(
            "drill passed: restored {} ({} backups) and verified the chain to seq {}; RTO {:.2} s, RPO {:.1} s ({} events behind the live database)",
            r.backup_ids.first().map(String::as_str).unwrap_or("-"),
            r.backup_ids.len(),
            r.chain.seq,
            r.rto_ms as f64 / 1e3,
            r.rpo_ms as f64 / 1e3,
            r.events_behind
        ),
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn report(action: ReportAction) -> anyhow::Result<ExitCode> {
    let ReportAction::Quarterly { quarter, out } = action;
    let quarter: crate::compliance::Quarter = quarter
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--quarter: {e}"))?;
    let settings = Settings::load()?;
    let state = startup::services(&settings, Arc::new(SystemClock)).await?;
    let manifest = crate::compliance::quarterly(
        &state.db,
        &state.audit,
        quarter,
        crate::ui::local_offset(&state),
        &out,
        Actor::system("cli"),
        std::env::var("USER").ok(),
    )
    .await?;
    for f in &manifest.files {
        println!("{}\t{} rows\t{}", f.name, f.rows, f.sha256);
    }
    println!(
        "{}: chain {} ({} events); manifest at {}",
        manifest.quarter,
        if manifest.chain.ok {
            "verified"
        } else {
            "BROKEN"
        },
        manifest.chain.verified,
        out.join(crate::compliance::MANIFEST).display()
    );
    state.db.close().await;
    Ok(if manifest.chain.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn dsr(action: DsrAction) -> anyhow::Result<ExitCode> {
    let DsrAction::Export {
        email,
        company,
        out,
    } = action;
    let subject = match (email, company) {
        (Some(e), _) => crate::privacy::Subject::email(&e)?,
        (None, Some(c)) => crate::privacy::Subject::company(&c)?,
        (None, None) => anyhow::bail!("give --email or --company"),
    };
    let settings = Settings::load()?;
    let state = startup::services(&settings, Arc::new(SystemClock)).await?;
    let s = crate::privacy::export(
        &state.db,
        &state.audit,
        state.ingest.objects(),
        &subject,
        Actor::system("cli"),
        &out,
    )
    .await?;
    println!(
        "{}: {} contacts, {} companies, {} leads, {} notes, {} emails, {} attachments, {} events",
        out.display(),
        s.contacts,
        s.companies,
        s.leads,
        s.notes,
        s.emails,
        s.attachments,
        s.events
    );
    state.db.close().await;
    Ok(ExitCode::SUCCESS)
}
