//! Settings: one typed tree, layered defaults → optional TOML file
//! (`PEBBLE_CONFIG`) → `PEBBLE_*` environment. Passed by value, never global,
//! so every test builds its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

/// Every setting. Field names are the TOML keys; the environment variable is
/// `PEBBLE_` + the upper-cased key (`database_url` → `PEBBLE_DATABASE_URL`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Directory for the SQLite database, attachments, keys and backups.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER@HOST/DB`; empty means a SQLite
    /// file `pebble.db` in `data_dir`. May hold a password, so it is secret.
    #[serde(serialize_with = "mask")]
    pub database_url: Option<SecretString>,
    /// Maximum database connections per process.
    pub database_max_connections: u32,
    /// Address of the API and web UI.
    pub bind: SocketAddr,
    /// Address of the Prometheus `/metrics` listener, kept off the public port.
    pub metrics_bind: SocketAddr,
    /// Log filter, e.g. `info` or `pebble=debug,tower_http=info`.
    pub log: String,
    /// Sentry DSN: `ERROR` events and panics are reported there; unset = no
    /// Sentry. Holds the project's key, so it is secret.
    #[serde(serialize_with = "mask")]
    pub sentry_dsn: Option<SecretString>,
    /// OTLP/HTTP collector base URL (e.g. `http://127.0.0.1:4318`); spans are
    /// sent to its `/v1/traces`. Unset = no traces exported.
    pub otlp_endpoint: Option<String>,
    /// Base64 Ed25519 seed (32 bytes) that signs audit checkpoints; when
    /// unset, `audit_signing_key_file` is used (created on first use).
    #[serde(serialize_with = "mask")]
    pub audit_signing_key: Option<SecretString>,
    /// Key file for checkpoint signing; empty means `data_dir/keys/audit-ed25519.key`.
    pub audit_signing_key_file: Option<PathBuf>,
    /// Name of this log in signed checkpoints (who vouches for the chain).
    pub audit_origin: String,
    /// How often the server signs a checkpoint of the chain head, in seconds (0 = never).
    pub audit_checkpoint_interval_secs: u64,
    /// How often the server applies retention (redacts expired payloads), in seconds (0 = never).
    pub audit_retention_interval_secs: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// HMAC key (any length ≥ 32 bytes) that signs access tokens; when unset,
    /// a key file in `data_dir/keys` is created on first use.
    #[serde(serialize_with = "mask")]
    pub jwt_secret: Option<SecretString>,
    /// Earlier signing keys, comma-separated, still accepted (by `kid`) during rotation.
    #[serde(serialize_with = "mask")]
    pub jwt_previous_secrets: Option<SecretString>,
    /// `iss` and `aud` of access tokens.
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// Lifetime of an access token, in seconds (at most 900).
    pub access_token_ttl_secs: u64,
    /// A session unused this long is dead, in seconds.
    pub session_idle_secs: u64,
    /// A session ends this long after login whatever its use, in seconds.
    pub session_max_secs: u64,
    /// Login of the administrator created on first start when there are no users.
    pub admin_email: String,
    /// That administrator's password; when unset one is generated and printed once.
    #[serde(serialize_with = "mask")]
    pub admin_password: Option<SecretString>,
    /// Redis for state shared by several instances (rate limits); unset = in-process.
    #[serde(serialize_with = "mask")]
    pub redis_url: Option<SecretString>,
    /// Requests per minute per signed-in user (0 = no limit).
    pub rate_limit_per_minute: u32,
    /// Login attempts per minute per client address.
    pub login_rate_limit_per_minute: u32,
    /// Failed logins per hour per account before the account is locked out for the rest of the hour.
    pub login_failures_per_hour: u32,
    /// Origins allowed to call the API from a browser, comma-separated (never `*`).
    pub cors_origins: String,
    /// Tally's XML server.
    pub tally_url: String,
    /// The Tally company to read, exactly as Tally shows it; empty = Tally's active company.
    pub tally_company: String,
    /// Request encoding: `utf16` (what Tally and every mature connector use) or `utf8`.
    pub tally_encoding: String,
    /// Connect timeout towards Tally, in milliseconds.
    pub tally_connect_timeout_ms: u64,
    /// Whole-request timeout of a live lookup, in milliseconds (short: the cache answers instead).
    pub tally_lookup_timeout_ms: u64,
    /// Whole-request timeout of a sync export, in seconds (long: big catalogues).
    pub tally_sync_timeout_secs: u64,
    /// Retries of a failed sync read, with jittered exponential backoff.
    pub tally_retries: u32,
    /// Consecutive failures that open the circuit breaker.
    pub tally_breaker_failures: u32,
    /// Seconds the breaker stays open before one probe is let through.
    pub tally_breaker_cooldown_secs: u64,
    /// Largest Tally response read, in bytes.
    pub tally_max_response_bytes: usize,
    /// Seconds between catalogue syncs inside `pebble serve` (0 = never).
    pub tally_sync_interval_secs: u64,

    // Ingestion and the pipeline (issue 4).
    /// Streams mail can be filed under, comma-separated.
    pub streams: String,
    /// IMAP mailboxes; more can be added through the API.
    pub mailboxes: Vec<crate::ingest::imap::MailboxConfig>,
    /// Longest wait between IMAP checks, in seconds (IDLE wakes earlier).
    pub imap_poll_secs: u64,
    /// PEM file of extra CA certificates for IMAP servers with a private CA.
    pub imap_ca_file: Option<PathBuf>,
    pub ingest_max_message_bytes: usize,
    pub ingest_max_headers: usize,
    pub ingest_max_mime_depth: usize,
    pub ingest_max_parts: usize,
    /// Pipeline workers per process (0 = this process does not work the queue).
    pub pipeline_workers: usize,
    pub pipeline_max_attempts: i32,
    pub pipeline_retry_base_ms: u64,
    pub pipeline_lease_secs: u64,
    // Backups, restore and drills (issue 11).
    /// Where backups are written; empty means `data_dir/backups`.
    pub backup_dir: Option<PathBuf>,
    /// Base64 32-byte key; when set, every backup part is encrypted and
    /// authenticated with it (XChaCha20-Poly1305). Needed again to verify or restore.
    #[serde(serialize_with = "mask")]
    pub backup_encryption_key: Option<SecretString>,
    /// zstd level of backup parts (1 fast … 19 small).
    pub backup_compression_level: i32,
    /// Seconds between full backups inside `pebble serve` (0 = never).
    pub backup_full_interval_secs: u64,
    /// Seconds between incremental activity-stream backups inside `pebble serve` (0 = never).
    pub backup_activity_interval_secs: u64,
    /// Verify each scheduled full backup (restore into scratch) right after taking it.
    pub backup_verify_scheduled: bool,
    /// Full backups kept: the newest of each of this many days …
    pub backup_keep_daily: u32,
    /// … and of each of this many ISO weeks.
    pub backup_keep_weekly: u32,
    /// Seconds between automatic restore drills inside `pebble serve` (0 = never).
    pub backup_drill_interval_secs: u64,
    /// PostgreSQL server for verification and drill scratch schemas; empty
    /// means the configured database (a temporary schema in it). May hold a password.
    #[serde(serialize_with = "mask")]
    pub backup_scratch_url: Option<SecretString>,
    // The web UI, dashboards and data-subject requests (issue 10).
    /// Mark the UI's session cookie `Secure` even when no proxy says the
    /// request came over HTTPS (it always is when `X-Forwarded-Proto: https`).
    pub web_cookie_secure: bool,
    /// The business's offset from UTC in minutes (India: 330): dashboards'
    /// days and the times the UI shows.
    pub business_utc_offset_minutes: i32,
    // The intent model (issue 6): registry, review, drift, optional LLM.
    /// Directory of the labelled corpus (`*.jsonl`) that training and the held-out split come from.
    pub intent_corpus_dir: PathBuf,
    /// Decisions below this confidence wait in the review queue.
    pub intent_review_threshold: f64,
    /// Below this confidence of the local model the LLM is asked (when one is configured).
    pub intent_llm_threshold: f64,
    /// Macro-F1 a candidate may lose against the serving model and still count as not worse.
    pub intent_promotion_tolerance: f64,
    /// A candidate's calibration error may exceed the serving model's only while it stays below this.
    pub intent_max_ece: f64,
    /// Seconds between checks for a newly promoted model or catalogue (0 = never).
    pub intent_refresh_secs: u64,
    /// Seconds between drift checks inside `pebble serve` (0 = never).
    pub intent_drift_interval_secs: u64,
    /// Newest decisions of the serving model that drift is measured on.
    pub intent_drift_window: u32,
    /// Fewer decisions than this in the window: too few to judge drift.
    pub intent_drift_min_decisions: u32,
    /// PSI above this is worth watching.
    pub intent_drift_psi_watch: f64,
    /// PSI above this raises DriftAlertRaised.
    pub intent_drift_psi_alert: f64,
    /// Share of overridden decisions in the window that raises DriftAlertRaised.
    pub intent_drift_override_rate: f64,
    /// OpenAI-compatible chat endpoint (empty = no LLM), e.g. `http://127.0.0.1:11434/v1`.
    pub llm_url: String,
    /// The model name, or for Azure OpenAI the deployment name.
    pub llm_model: String,
    /// API key (`PEBBLE_LLM_API_KEY`); sent as a bearer token, or as `api-key` to Azure.
    #[serde(serialize_with = "mask")]
    pub llm_api_key: Option<SecretString>,
    /// `openai` (OpenAI, Ollama, vLLM, llama.cpp server) or `azure`.
    pub llm_provider: String,
    /// Azure OpenAI's `api-version` query parameter.
    pub llm_azure_api_version: String,
    /// Timeout of one LLM attempt, in milliseconds.
    pub llm_timeout_ms: u64,
    /// Retries of a failed LLM call (timeouts, 429, 5xx, unreadable answers).
    pub llm_retries: u32,

    // Drafts, review and sending (issue 8).
    /// The business's name, as replies are signed when there is no signature.
    pub business_name: String,
    /// Signature under every reply (name, phone, address; may span lines).
    pub draft_signature: String,
    /// Terms under quotations (payment, validity, freight).
    pub draft_terms: String,
    /// GST in percent quoted for items whose stock group has no rate below.
    pub draft_gst_percent: String,
    /// GST by Tally stock group: `Group=rate;Group=rate`.
    pub draft_gst_by_group: String,
    /// Lead time quoted for items in stock.
    pub draft_lead_time_in_stock: String,
    /// Lead time quoted for items short or out of stock.
    pub draft_lead_time_to_order: String,
    /// Draft replies with the configured LLM (`llm_url`), given the same
    /// facts as the templates; the template answers whenever the LLM fails,
    /// times out or states a number without a source.
    pub draft_llm: bool,
    /// SMTP server for approved replies: `smtp://host:port` (add `?tls=required`
    /// for STARTTLS) or `smtps://host:465`; empty = replies wait in the outbox.
    pub smtp_url: String,
    /// SMTP login, from the environment.
    #[serde(serialize_with = "mask")]
    pub smtp_username: Option<SecretString>,
    #[serde(serialize_with = "mask")]
    pub smtp_password: Option<SecretString>,
    /// The From address of replies (and the domain of their Message-IDs).
    pub smtp_from: String,
    /// Per-stream From addresses: `sales=sales@x.in;support=support@x.in`.
    pub smtp_from_by_stream: String,
    /// Deadline of one delivery attempt, connection to answer, in seconds.
    pub smtp_timeout_secs: u64,
    /// Attempts before a reply is dead-lettered.
    pub outbox_max_attempts: u32,
    /// First retry delay in seconds; doubles with each attempt (at most an hour).
    pub outbox_backoff_secs: u64,
    /// How often the outbox worker looks for due replies, in milliseconds.
    pub outbox_poll_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./pebble-data"),
            database_url: None,
            database_max_connections: 8,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_bind: SocketAddr::from(([127, 0, 0, 1], 9464)),
            log: "info".into(),
            sentry_dsn: None,
            otlp_endpoint: None,
            audit_signing_key: None,
            audit_signing_key_file: None,
            audit_origin: "pebble".into(),
            audit_checkpoint_interval_secs: 3600,
            audit_retention_interval_secs: 86_400,
            max_body_bytes: 2 * 1024 * 1024,
            jwt_secret: None,
            jwt_previous_secrets: None,
            jwt_issuer: "pebble".into(),
            jwt_audience: "pebble-api".into(),
            access_token_ttl_secs: 600,
            session_idle_secs: 30 * 60,
            session_max_secs: 12 * 3600,
            admin_email: "admin@pebble.local".into(),
            admin_password: None,
            redis_url: None,
            rate_limit_per_minute: 100,
            login_rate_limit_per_minute: 20,
            login_failures_per_hour: 20,
            cors_origins: String::new(),
            tally_url: "http://127.0.0.1:9000".into(),
            tally_company: String::new(),
            tally_encoding: "utf16".into(),
            tally_connect_timeout_ms: 1000,
            tally_lookup_timeout_ms: 2000,
            tally_sync_timeout_secs: 120,
            tally_retries: 2,
            tally_breaker_failures: 3,
            tally_breaker_cooldown_secs: 30,
            tally_max_response_bytes: 64 * 1024 * 1024,
            tally_sync_interval_secs: 900,
            streams: "sales,support,accounts".into(),
            mailboxes: Vec::new(),
            imap_poll_secs: 300,
            imap_ca_file: None,
            ingest_max_message_bytes: 25 * 1024 * 1024,
            ingest_max_headers: 1000,
            ingest_max_mime_depth: 20,
            ingest_max_parts: 500,
            pipeline_workers: 2,
            pipeline_max_attempts: 5,
            pipeline_retry_base_ms: 2000,
            pipeline_lease_secs: 300,

            // Backups, restore and drills (issue 11).
            backup_dir: None,
            backup_encryption_key: None,
            backup_compression_level: 3,
            backup_full_interval_secs: 6 * 3600,
            backup_activity_interval_secs: 3600,
            backup_verify_scheduled: true,
            backup_keep_daily: 7,
            backup_keep_weekly: 4,
            backup_drill_interval_secs: 7 * 86_400,
            backup_scratch_url: None,
            web_cookie_secure: false,
            business_utc_offset_minutes: 330,

            // The intent model (issue 6).
            intent_corpus_dir: PathBuf::from("data/intents"),
            intent_review_threshold: 0.6,
            intent_llm_threshold: 0.6,
            intent_promotion_tolerance: 0.0,
            intent_max_ece: 0.05,
            intent_refresh_secs: 30,
            intent_drift_interval_secs: 3600,
            intent_drift_window: 500,
            intent_drift_min_decisions: 100,
            intent_drift_psi_watch: 0.1,
            intent_drift_psi_alert: 0.25,
            intent_drift_override_rate: 0.25,
            llm_url: String::new(),
            llm_model: String::new(),
            llm_api_key: None,
            llm_provider: "openai".into(),
            llm_azure_api_version: "2024-10-21".into(),
            llm_timeout_ms: 10_000,
            llm_retries: 2,
            business_name: String::new(),
            draft_signature: String::new(),
            draft_terms:
                "Rates are exclusive of GST and freight, and subject to stock at the time of order."
                    .into(),
            draft_gst_percent: "18".into(),
            draft_gst_by_group: String::new(),
            draft_lead_time_in_stock: "ready to dispatch".into(),
            draft_lead_time_to_order: "to be confirmed".into(),
            draft_llm: false,
            smtp_url: String::new(),
            smtp_username: None,
            smtp_password: None,
            smtp_from: String::new(),
            smtp_from_by_stream: String::new(),
            smtp_timeout_secs: 30,
            outbox_max_attempts: 6,
            outbox_backoff_secs: 60,
            outbox_poll_ms: 2000,
        }
    }
}

/// One line of documentation per setting, in the order `pebble config` prints.
pub const DOCUMENTATION: &[(&str, &str)] = &[
    ("data_dir", "Directory for the SQLite database, attachments, keys and backups."),
    (
        "database_url",
        "sqlite://PATH or postgres://USER@HOST/DB; unset = SQLite file pebble.db in data_dir. Secret.",
    ),
    ("database_max_connections", "Maximum database connections per process."),
    ("bind", "Address of the API and web UI."),
    ("metrics_bind", "Address of the Prometheus /metrics listener."),
    ("log", "Log filter (tracing EnvFilter syntax), e.g. info or pebble=debug."),
    (
        "sentry_dsn",
        "Sentry DSN; set = ERROR log events and panics are reported to Sentry (no request bodies, no PII). Secret.",
    ),
    (
        "otlp_endpoint",
        "OTLP/HTTP collector base URL, e.g. http://127.0.0.1:4318; set = request spans exported to its /v1/traces.",
    ),
    (
        "audit_signing_key",
        "Base64 Ed25519 seed that signs audit checkpoints. Secret. Unset = key file.",
    ),
    (
        "audit_signing_key_file",
        "Checkpoint signing key file; unset = data_dir/keys/audit-ed25519.key (created on first use).",
    ),
    ("audit_origin", "Name of this log in signed checkpoints."),
    (
        "audit_checkpoint_interval_secs",
        "Seconds between signed checkpoints while serving (0 = never).",
    ),
    (
        "audit_retention_interval_secs",
        "Seconds between retention runs while serving (0 = never).",
    ),
    ("max_body_bytes", "Largest request body accepted, in bytes."),
    (
        "jwt_secret",
        "HMAC key (>= 32 bytes) signing access tokens. Secret. Unset = data_dir/keys/jwt.key, created on first use.",
    ),
    (
        "jwt_previous_secrets",
        "Earlier signing keys, comma-separated, still accepted during rotation. Secret.",
    ),
    ("jwt_issuer", "The iss claim of access tokens."),
    ("jwt_audience", "The aud claim of access tokens."),
    ("access_token_ttl_secs", "Access-token lifetime in seconds (at most 900)."),
    ("session_idle_secs", "A session unused this many seconds is dead (ASVS L2: 30 minutes)."),
    ("session_max_secs", "Absolute session lifetime in seconds."),
    ("admin_email", "Login of the administrator created on first start."),
    (
        "admin_password",
        "That administrator's password. Secret. Unset = generated and printed once.",
    ),
    (
        "redis_url",
        "Redis shared by several instances for rate limits. Secret. Unset = in-process.",
    ),
    ("rate_limit_per_minute", "Requests per minute per signed-in user (0 = off)."),
    ("login_rate_limit_per_minute", "Login attempts per minute per client address (0 = off)."),
    (
        "login_failures_per_hour",
        "Failed logins per hour per account before it is locked for the rest of the hour (ASVS: <= 100).",
    ),
    ("cors_origins", "Browser origins allowed to call the API, comma-separated; empty = none."),
    ("tally_url", "Tally's XML server (TallyPrime / Tally.ERP 9)."),
    ("tally_company", "Tally company to read, exactly as Tally shows it; empty = the active company."),
    ("tally_encoding", "Request encoding: utf16 (Tally's own) or utf8."),
    ("tally_connect_timeout_ms", "Connect timeout towards Tally, in milliseconds."),
    ("tally_lookup_timeout_ms", "Timeout of a live stock lookup, in milliseconds; the cache answers after it."),
    ("tally_sync_timeout_secs", "Timeout of one sync export, in seconds."),
    ("tally_retries", "Retries of a failed sync read (jittered exponential backoff)."),
    ("tally_breaker_failures", "Consecutive Tally failures that open the circuit breaker."),
    ("tally_breaker_cooldown_secs", "Seconds the breaker stays open before a half-open probe."),
    ("tally_max_response_bytes", "Largest Tally response read, in bytes."),
    ("tally_sync_interval_secs", "Seconds between catalogue syncs while serving (0 = never)."),
    ("streams", "Streams mail is filed under (sales, support, accounts, …), comma-separated."),
    (
        "mailboxes",
        "IMAP mailboxes: [{name, stream, host, port, tls, username, password_env, folder}]; the password is read from the variable named by password_env.",
    ),
    ("imap_poll_secs", "Longest wait between IMAP checks, in seconds; IDLE wakes earlier."),
    ("imap_ca_file", "PEM file of extra CA certificates trusted for IMAP over TLS."),
    ("ingest_max_message_bytes", "Largest message taken; bigger ones are kept in quarantine."),
    ("ingest_max_headers", "Most header fields in a message before it is quarantined."),
    ("ingest_max_mime_depth", "Deepest MIME nesting before a message is quarantined."),
    ("ingest_max_parts", "Most MIME parts in a message before it is quarantined."),
    ("pipeline_workers", "Pipeline workers in this process (0 = leave the queue to other processes)."),
    ("pipeline_max_attempts", "Attempts of a pipeline step before its job is dead-lettered."),
    ("pipeline_retry_base_ms", "First retry delay of a failed step; doubles with each attempt."),
    ("pipeline_lease_secs", "Seconds a worker holds a job before another may take it over."),
    // Backups, restore and drills (issue 11).
    ("backup_dir", "Where backups are written; unset = data_dir/backups."),
    (
        "backup_encryption_key",
        "Base64 32-byte key (openssl rand -base64 32); set = backups encrypted with XChaCha20-Poly1305. Secret.",
    ),
    ("backup_compression_level", "zstd level of backup parts (1 fast ... 19 small)."),
    ("backup_full_interval_secs", "Seconds between full backups while serving (0 = never)."),
    (
        "backup_activity_interval_secs",
        "Seconds between incremental activity-stream backups while serving (0 = never).",
    ),
    ("backup_verify_scheduled", "Verify each scheduled full backup (restore into scratch) after taking it."),
    ("backup_keep_daily", "Full backups kept: the newest of each of this many days."),
    ("backup_keep_weekly", "Full backups kept: the newest of each of this many ISO weeks."),
    ("backup_drill_interval_secs", "Seconds between automatic restore drills while serving (0 = never)."),
    (
        "backup_scratch_url",
        "PostgreSQL server for verify/drill scratch schemas; unset = the configured database. Secret.",
    ),
    // Web UI (issue 10).
    (
        "web_cookie_secure",
        "Always mark the UI session cookie Secure (it is whenever X-Forwarded-Proto says https).",
    ),
    (
        "business_utc_offset_minutes",
        "The business's offset from UTC in minutes (India: 330), for dashboards' days and shown times.",
    ),
    // The intent model (issue 6).
    ("intent_corpus_dir", "Labelled corpus (*.jsonl) for training and the held-out split."),
    ("intent_review_threshold", "Decisions below this confidence wait in the review queue."),
    ("intent_llm_threshold", "Below this local-model confidence the LLM is asked (if configured)."),
    (
        "intent_promotion_tolerance",
        "Macro-F1 a candidate may lose against the serving model and still be promoted (0 = none).",
    ),
    (
        "intent_max_ece",
        "A candidate's calibration error may exceed the serving model's only while below this.",
    ),
    ("intent_refresh_secs", "Seconds between checks for a newly promoted model or catalogue (0 = never)."),
    ("intent_drift_interval_secs", "Seconds between drift checks while serving (0 = never)."),
    ("intent_drift_window", "Newest decisions of the serving model that drift is measured on."),
    ("intent_drift_min_decisions", "Fewer decisions than this in the window: drift is not judged."),
    ("intent_drift_psi_watch", "Population stability index above which drift is worth watching."),
    ("intent_drift_psi_alert", "Population stability index above which DriftAlertRaised is recorded."),
    (
        "intent_drift_override_rate",
        "Share of overridden decisions in the window above which DriftAlertRaised is recorded.",
    ),
    ("llm_url", "OpenAI-compatible chat endpoint; empty = no LLM (e.g. http://127.0.0.1:11434/v1)."),
    ("llm_model", "LLM model name, or the Azure OpenAI deployment name."),
    ("llm_api_key", "LLM API key (bearer token, or api-key for Azure). Secret."),
    ("llm_provider", "openai (OpenAI, Ollama, vLLM, llama.cpp server) or azure."),
    ("llm_azure_api_version", "Azure OpenAI api-version query parameter."),
    ("llm_timeout_ms", "Timeout of one LLM attempt, in milliseconds."),
    ("llm_retries", "Retries of a failed LLM call (timeouts, 429, 5xx, unreadable answers)."),
    // Drafts, review and sending (issue 8).
    ("business_name", "The business's name; replies are signed with it when draft_signature is empty."),
    ("draft_signature", "Signature under every reply (may span lines)."),
    ("draft_terms", "Terms under quotations (payment, validity, freight); empty = none."),
    ("draft_gst_percent", "GST in percent quoted for items whose stock group has no rate in draft_gst_by_group."),
    ("draft_gst_by_group", "GST by Tally stock group: Group=rate;Group=rate."),
    ("draft_lead_time_in_stock", "Lead time quoted for items in stock."),
    ("draft_lead_time_to_order", "Lead time quoted for items short or out of stock."),
    (
        "draft_llm",
        "Draft replies with the LLM (needs llm_url), from the same facts; the template answers on any LLM error, timeout or unsourced number.",
    ),
    (
        "smtp_url",
        "SMTP server for approved replies: smtp://host:port[?tls=required] or smtps://host:465; empty = replies wait in the outbox.",
    ),
    ("smtp_username", "SMTP login. Secret (set it in the environment)."),
    ("smtp_password", "SMTP password. Secret (set it in the environment)."),
    ("smtp_from", "From address of replies; its domain names their Message-IDs. Needed to approve drafts."),
    ("smtp_from_by_stream", "Per-stream From addresses: sales=sales@x.in;support=support@x.in."),
    ("smtp_timeout_secs", "Deadline of one delivery attempt, from connecting to the server's answer, in seconds."),
    ("outbox_max_attempts", "Delivery attempts before a reply is dead-lettered."),
    ("outbox_backoff_secs", "First retry delay in seconds; doubles with each attempt, at most an hour."),
    ("outbox_poll_ms", "How often the outbox worker looks for due replies, in milliseconds."),
];

fn mask<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("********"),
        None => s.serialize_none(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
}

impl Settings {
    /// Layer the optional file named by `PEBBLE_CONFIG` and the `PEBBLE_*`
    /// environment over the defaults.
    pub fn load() -> Result<Settings, ConfigError> {
        Self::figment(
            std::env::var_os("PEBBLE_CONFIG")
                .map(PathBuf::from)
                .as_deref(),
        )
        .extract()
        .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }

    fn figment(file: Option<&Path>) -> Figment {
        let mut f = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            f = f.merge(Toml::file_exact(path));
        }
        // Only known keys: other PEBBLE_* variables (PEBBLE_CONFIG itself, test
        // switches, settings of tools beside Pebble) are not settings.
        let keys: Vec<&str> = DOCUMENTATION.iter().map(|(k, _)| *k).collect();
        f.merge(Env::prefixed("PEBBLE_").only(&keys).lowercase(true))
    }

    /// The effective database URL.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.expose_secret().is_empty() => url.expose_secret().to_owned(),
            _ => format!("sqlite://{}", self.data_dir.join("pebble.db").display()),
        }
    }

    /// A label for the database that is safe to print.
    pub fn database_label(&self) -> String {
        crate::store::redact_url(&self.database_url())
    }

    pub fn stream_list(&self) -> Vec<String> {
        self.streams
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub fn mail_limits(&self) -> crate::mail::Limits {
        crate::mail::Limits {
            max_message_bytes: self.ingest_max_message_bytes,
            max_headers: self.ingest_max_headers,
            max_depth: self.ingest_max_mime_depth,
            max_parts: self.ingest_max_parts,
        }
    }

    /// Root of the local object store: raw emails and attachments, by content hash.
    pub fn objects_dir(&self) -> PathBuf {
        self.data_dir.join("objects")
    }

    /// Where backups are written.
    pub fn backup_dir(&self) -> PathBuf {
        self.backup_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("backups"))
    }

    pub fn signing_key_file(&self) -> PathBuf {
        self.audit_signing_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys").join("audit-ed25519.key"))
    }

    /// Defaults as commented TOML, for `pebble config`.
    pub fn documented_defaults() -> String {
        render(&Settings::default())
    }

    /// The effective settings as commented TOML with secrets masked.
    pub fn render_masked(&self) -> String {
        render(self)
    }
}

fn render(s: &Settings) -> String {
    let table = toml::Value::try_from(s).expect("settings serialise to TOML");
    let mut out = String::new();
    for (key, doc) in DOCUMENTATION {
        out.push_str(&format!("# {doc}\n# env: PEBBLE_{}\n", key.to_uppercase()));
        match table.get(*key) {
            Some(v) => out.push_str(&format!("{key} = {v}\n\n")),
            None => out.push_str(&format!("# {key} =  (unset)\n\n")),
        }
    }
    out
}

#[cfg(test)]
// figment::Jail's closures must return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_documented_once() {
        let table = toml::Value::try_from(Settings {
            database_url: Some("x".into()),
            audit_signing_key: Some("x".into()),
            audit_signing_key_file: Some("x".into()),
            jwt_secret: Some("x".into()),
            jwt_previous_secrets: Some("x".into()),
            admin_password: Some("x".into()),
            redis_url: Some("x".into()),
            sentry_dsn: Some("x".into()),
            otlp_endpoint: Some("x".into()),
            imap_ca_file: Some("x".into()),
            backup_dir: Some("x".into()),
            backup_encryption_key: Some("x".into()),
            backup_scratch_url: Some("x".into()),
            llm_api_key: Some("x".into()),
            smtp_username: Some("x".into()),
            smtp_password: Some("x".into()),
            ..Settings::default()
        })
        .unwrap();
        let keys: Vec<_> = table.as_table().unwrap().keys().cloned().collect();
        let documented: Vec<_> = DOCUMENTATION.iter().map(|(k, _)| k.to_string()).collect();
        let mut a = keys.clone();
        a.sort();
        let mut b = documented.clone();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("pebble.toml", "log = \"debug\"\nbind = \"127.0.0.1:1\"\n")?;
            jail.set_env("PEBBLE_BIND", "127.0.0.1:2");
            let s: Settings = Settings::figment(Some(Path::new("pebble.toml"))).extract()?;
            assert_eq!(s.log, "debug");
            assert_eq!(s.bind.port(), 2);
            assert_eq!(s.metrics_bind.port(), 9464);
            Ok(())
        });
    }

    #[test]
    fn secrets_never_appear_in_rendered_or_debug_output() {
        let s = Settings {
            database_url: Some("postgres://u:hunter2@h/db".into()),
            audit_signing_key: Some("c2VjcmV0".into()),
            sentry_dsn: Some("https://sentrykey@o1.ingest.example/7".into()),
            ..Settings::default()
        };
        let shown = format!("{}{:?}", s.render_masked(), s);
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("c2VjcmV0"));
        assert!(!shown.contains("sentrykey"));
        assert!(shown.contains("********"));
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("pebble.toml", "no_such_setting = 1\n")?;
            let r: Result<Settings, _> =
                Settings::figment(Some(Path::new("pebble.toml"))).extract();
            assert!(r.is_err());
            Ok(())
        });
    }
}
