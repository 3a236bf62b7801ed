//! The activity stream's rules: event types, retention, the canonical hash
//! chain and its verification.
//!
//! The byte layout hashed here is the contract written down in
//! `docs/audit-format.md`; a third party recomputes it from an export, so any
//! change to it is a format version change, never a refactor.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Months, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev_hash` of the first event: 32 zero bytes.
pub const GENESIS_HASH: Hash = [0u8; 32];

/// Who caused an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    AiAgent,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::AiAgent => "ai_agent",
            ActorKind::System => "system",
        }
    }
}

impl FromStr for ActorKind {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(ActorKind::User),
            "ai_agent" => Ok(ActorKind::AiAgent),
            "system" => Ok(ActorKind::System),
            _ => Err(UnknownValue::new("actor_kind", s)),
        }
    }
}

/// The actor of an event: a kind and an id such as a user id or
/// `classifier:intent-v7`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
}

impl Actor {
    pub fn user(id: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::User,
            id: id.into(),
        }
    }
    pub fn ai_agent(id: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::AiAgent,
            id: id.into(),
        }
    }
    pub fn system(id: impl Into<String>) -> Self {
        Actor {
            kind: ActorKind::System,
            id: id.into(),
        }
    }
}

/// How long an event's payload must be kept before it may be redacted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RetentionClass {
    #[serde(rename = "7y")]
    SevenYears,
    #[serde(rename = "1y")]
    OneYear,
}

impl RetentionClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionClass::SevenYears => "7y",
            RetentionClass::OneYear => "1y",
        }
    }

    fn months(self) -> u32 {
        match self {
            RetentionClass::SevenYears => 7 * 12,
            RetentionClass::OneYear => 12,
        }
    }

    /// The instant from which an event that occurred at `occurred_at` may be
    /// redacted. Calendar arithmetic, so a leap day does not shorten it.
    pub fn expires_at(self, occurred_at: DateTime<Utc>) -> DateTime<Utc> {
        occurred_at
            .checked_add_months(Months::new(self.months()))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Events that occurred before this instant are past retention at `now`.
    pub fn cutoff(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now.checked_sub_months(Months::new(self.months()))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    pub const ALL: [RetentionClass; 2] = [RetentionClass::SevenYears, RetentionClass::OneYear];
}

impl FromStr for RetentionClass {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "7y" => Ok(RetentionClass::SevenYears),
            "1y" => Ok(RetentionClass::OneYear),
            _ => Err(UnknownValue::new("retention_class", s)),
        }
    }
}

macro_rules! event_types {
    ($($name:ident => $class:ident),+ $(,)?) => {
        /// Every business event Pebble records (SPEC §3).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum EventType { $($name),+ }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$name),+];

            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$name => stringify!($name)),+ }
            }

            pub fn retention_class(self) -> RetentionClass {
                match self { $(EventType::$name => RetentionClass::$class),+ }
            }
        }

        impl FromStr for EventType {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $(stringify!($name) => Ok(EventType::$name),)+
                    _ => Err(UnknownValue::new("event_type", s)),
                }
            }
        }
    };
}

event_types! {
    EmailReceived => SevenYears,
    LeadClassified => SevenYears,
    LeadCreated => SevenYears,
    LeadStageChanged => SevenYears,
    DraftGenerated => SevenYears,
    DraftApproved => SevenYears,
    DraftRejected => SevenYears,
    EmailSent => SevenYears,
    TallyLookup => OneYear,
    TallySyncCompleted => OneYear,
    CompanyValidated => SevenYears,
    UserLoggedIn => OneYear,
    LoginFailed => OneYear,
    SessionExpired => OneYear,
    UserCreated => SevenYears,
    RoleChanged => SevenYears,
    UserDisabled => SevenYears,
    DataExported => SevenYears,
    SubjectExportRequested => SevenYears,
    SubjectErasureRequested => SevenYears,
    SubjectErasureApproved => SevenYears,
    SubjectErasureRejected => SevenYears,
    SubjectErased => SevenYears,
    ModelTrained => SevenYears,
    ModelPromoted => SevenYears,
    DriftAlertRaised => SevenYears,
    BackupCreated => SevenYears,
    BackupVerified => SevenYears,
    RestorePerformed => SevenYears,
    AuditCheckpointSigned => SevenYears,
    RetentionApplied => SevenYears,
    CompanyMerged => SevenYears,
    ContactMerged => SevenYears,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of a closed set of values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {field} {value:?}")]
pub struct UnknownValue {
    pub field: &'static str,
    pub value: String,
}

impl UnknownValue {
    fn new(field: &'static str, value: &str) -> Self {
        UnknownValue {
            field,
            value: value.chars().take(64).collect(),
        }
    }
}

/// An event as a caller asks for it to be recorded; the store assigns
/// `seq`, `id`, `recorded_at` and the hashes.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub event_type: EventType,
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    pub entity_type: String,
    pub entity_id: String,
    pub payload: serde_json::Value,
}

impl NewEvent {
    pub fn new(
        event_type: EventType,
        actor: Actor,
        entity_type: impl Into<String>,
        entity_id: impl Into<String>,
        payload: serde_json::Value,
        occurred_at: DateTime<Utc>,
    ) -> Self {
        NewEvent {
            event_type,
            occurred_at,
            actor,
            entity_type: entity_type.into(),
            entity_id: entity_id.into(),
            payload,
        }
    }
}

/// One row of the activity stream as stored. Times are microseconds since
/// the Unix epoch (UTC) so that both backends store, sort and hash them
/// identically.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub id: String,
    pub occurred_at: i64,
    pub recorded_at: i64,
    pub event_type: String,
    pub actor_kind: String,
    pub actor_id: String,
    pub entity_type: String,
    pub entity_id: String,
    pub retention_class: String,
    /// The canonical JSON text, or `None` once redacted.
    pub payload: Option<String>,
    pub payload_hash: String,
    pub prev_hash: String,
    pub hash: String,
    /// When the payload was redacted, if it was.
    pub redacted_at: Option<i64>,
}

/// Serialise a payload the one way it is ever hashed: object keys sorted by
/// their UTF-8 bytes at every depth, no insignificant whitespace, strings and
/// numbers as serde_json writes them.
///
/// Written out by hand because serde_json's map order depends on a cargo
/// feature (`preserve_order`) that any crate in the build may switch on.
pub fn canonical_payload(payload: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(payload, &mut out);
    out
}

fn write_canonical(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// Fixed-width UTC timestamp text used inside the hash:
/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn canonical_time(micros: i64) -> String {
    let mut buf = [0u8; 27];
    match write_canonical_time(micros, &mut buf) {
        Some(text) => text.to_owned(),
        None => format!("invalid:{micros}"),
    }
}

/// `n` as decimal text in a caller's buffer (a stack array, not a String:
/// this runs once per event while verifying millions).
fn write_decimal(n: i64, buf: &mut [u8; 20]) -> &str {
    let mut v = n.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

/// The same text written into a caller's buffer: verification formats two
/// times per event, and chrono's general formatter would dominate its cost.
fn write_canonical_time(micros: i64, buf: &mut [u8; 27]) -> Option<&str> {
    use chrono::{Datelike, Timelike};
    let t = Utc.timestamp_micros(micros).single()?;
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let mut put = |at: usize, value: u32, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    put(20, t.nanosecond() / 1000 % 1_000_000, 6);
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        buf[at] = c;
    }
    std::str::from_utf8(buf).ok()
}

/// The fields of an event covered by its chain hash, besides the two hashes.
pub struct ChainFields<'a> {
    pub seq: i64,
    pub id: &'a str,
    pub occurred_at: i64,
    pub recorded_at: i64,
    pub event_type: &'a str,
    pub actor_kind: &'a str,
    pub actor_id: &'a str,
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    pub retention_class: &'a str,
}

impl<'a> ChainFields<'a> {
    pub fn of(e: &'a StoredEvent) -> Self {
        ChainFields {
            seq: e.seq,
            id: &e.id,
            occurred_at: e.occurred_at,
            recorded_at: e.recorded_at,
            event_type: &e.event_type,
            actor_kind: &e.actor_kind,
            actor_id: &e.actor_id,
            entity_type: &e.entity_type,
            entity_id: &e.entity_id,
            retention_class: &e.retention_class,
        }
    }
}

/// `hash = SHA-256(prev_hash ‖ fields ‖ payload_hash)`, where each field is
/// its UTF-8 text prefixed by its byte length as a 4-byte big-endian integer,
/// so that no two different field lists can produce the same bytes.
pub fn chain_hash(prev_hash: &Hash, fields: &ChainFields<'_>, payload_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(prev_hash);
    let mut seq_buf = [0u8; 20];
    let seq = write_decimal(fields.seq, &mut seq_buf);
    let (mut occurred_buf, mut recorded_buf) = ([0u8; 27], [0u8; 27]);
    let occurred_fallback;
    let occurred = match write_canonical_time(fields.occurred_at, &mut occurred_buf) {
        Some(t) => t,
        None => {
            occurred_fallback = canonical_time(fields.occurred_at);
            occurred_fallback.as_str()
        }
    };
    let recorded_fallback;
    let recorded = match write_canonical_time(fields.recorded_at, &mut recorded_buf) {
        Some(t) => t,
        None => {
            recorded_fallback = canonical_time(fields.recorded_at);
            recorded_fallback.as_str()
        }
    };
    for part in [
        seq,
        fields.id,
        occurred,
        recorded,
        fields.event_type,
        fields.actor_kind,
        fields.actor_id,
        fields.entity_type,
        fields.entity_id,
        fields.retention_class,
    ] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(payload_hash);
    h.finalize().into()
}

/// Build the stored form of a new event that follows `prev` in the chain.
pub fn seal(
    new: &NewEvent,
    seq: i64,
    id: String,
    recorded_at: DateTime<Utc>,
    prev_hash: &Hash,
) -> StoredEvent {
    let payload = canonical_payload(&new.payload);
    let payload_hash = sha256(payload.as_bytes());
    let mut event = StoredEvent {
        seq,
        id,
        occurred_at: new.occurred_at.timestamp_micros(),
        recorded_at: recorded_at.timestamp_micros(),
        event_type: new.event_type.as_str().to_owned(),
        actor_kind: new.actor.kind.as_str().to_owned(),
        actor_id: new.actor.id.clone(),
        entity_type: new.entity_type.clone(),
        entity_id: new.entity_id.clone(),
        retention_class: new.event_type.retention_class().as_str().to_owned(),
        payload: Some(payload),
        payload_hash: hex::encode(payload_hash),
        prev_hash: hex::encode(prev_hash),
        hash: String::new(),
        redacted_at: None,
    };
    event.hash = hex::encode(chain_hash(
        prev_hash,
        &ChainFields::of(&event),
        &payload_hash,
    ));
    event
}

/// What is wrong at the first bad position of a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ChainBreak {
    #[error("seq {expected} is missing (next present is {found})")]
    Missing { expected: i64, found: i64 },
    #[error("seq {found} appears where seq {expected} was expected: rows reordered or duplicated")]
    Reordered { expected: i64, found: i64 },
    #[error("seq {seq}: prev_hash does not match the hash of seq {}: an event was inserted, removed or reordered", seq - 1)]
    BrokenLink { seq: i64 },
    #[error("seq {seq}: the stored hash does not match its fields: the event was changed")]
    Changed { seq: i64 },
    #[error("seq {seq}: the payload does not match payload_hash: the payload was changed")]
    PayloadChanged { seq: i64 },
    #[error("seq {seq}: the payload is missing without a recorded redaction")]
    PayloadMissing { seq: i64 },
    #[error("seq {seq}: a hash column is not 64 hex characters")]
    Malformed { seq: i64 },
    #[error("the chain ends at seq {last} but a signed checkpoint covers seq {checkpoint}: events were truncated")]
    Truncated { last: i64, checkpoint: i64 },
    #[error("seq {seq}: the chain hash differs from the signed checkpoint's head")]
    CheckpointMismatch { seq: i64 },
}

impl ChainBreak {
    /// The first sequence number that is not trustworthy.
    pub fn seq(&self) -> i64 {
        match self {
            ChainBreak::Missing { expected, .. } | ChainBreak::Reordered { expected, .. } => {
                *expected
            }
            ChainBreak::BrokenLink { seq }
            | ChainBreak::Changed { seq }
            | ChainBreak::PayloadChanged { seq }
            | ChainBreak::PayloadMissing { seq }
            | ChainBreak::Malformed { seq }
            | ChainBreak::CheckpointMismatch { seq } => *seq,
            ChainBreak::Truncated { last, .. } => last + 1,
        }
    }
}

fn parse_hash(text: &str) -> Option<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// Walks a chain in `seq` order, one event at a time, so that a verifier can
/// stream millions of rows in constant memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: i64,
    prev_hash: Hash,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            next_seq: 1,
            prev_hash: GENESIS_HASH,
        }
    }
}

impl ChainVerifier {
    /// Continue a chain already trusted up to `seq` with head `hash` (an
    /// incremental backup checked against the backup it extends).
    pub fn resume(seq: i64, hash: Hash) -> Self {
        ChainVerifier {
            next_seq: seq + 1,
            prev_hash: hash,
        }
    }

    /// Check the next event. `redacted` says whether a redaction is on record
    /// for it (a payload may only be absent then).
    pub fn check(&mut self, e: &StoredEvent) -> Result<Hash, ChainBreak> {
        if e.seq > self.next_seq {
            return Err(ChainBreak::Missing {
                expected: self.next_seq,
                found: e.seq,
            });
        }
        if e.seq < self.next_seq {
            return Err(ChainBreak::Reordered {
                expected: self.next_seq,
                found: e.seq,
            });
        }
        let (Some(prev), Some(payload_hash), Some(hash)) = (
            parse_hash(&e.prev_hash),
            parse_hash(&e.payload_hash),
            parse_hash(&e.hash),
        ) else {
            return Err(ChainBreak::Malformed { seq: e.seq });
        };
        if prev != self.prev_hash {
            return Err(ChainBreak::BrokenLink { seq: e.seq });
        }
        match &e.payload {
            Some(p) if sha256(p.as_bytes()) != payload_hash => {
                return Err(ChainBreak::PayloadChanged { seq: e.seq })
            }
            None if e.redacted_at.is_none() => {
                return Err(ChainBreak::PayloadMissing { seq: e.seq })
            }
            _ => {}
        }
        if chain_hash(&prev, &ChainFields::of(e), &payload_hash) != hash {
            return Err(ChainBreak::Changed { seq: e.seq });
        }
        self.prev_hash = hash;
        self.next_seq += 1;
        Ok(hash)
    }

    /// The number of events verified so far.
    pub fn verified(&self) -> i64 {
        self.next_seq - 1
    }

    /// The hash of the last verified event (the genesis hash when none).
    pub fn head(&self) -> Hash {
        self.prev_hash
    }
}

/// A chain head as anchored by a signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
}

/// Compare a verified chain with the checkpoint that anchors it.
/// `hash_at` gives the verified hash at a seq.
pub fn check_anchor(
    verified: i64,
    anchor: &Anchor,
    hash_at_anchor: Option<&Hash>,
) -> Result<(), ChainBreak> {
    if anchor.seq > verified {
        return Err(ChainBreak::Truncated {
            last: verified,
            checkpoint: anchor.seq,
        });
    }
    match (hash_at_anchor, parse_hash(&anchor.hash)) {
        (Some(h), Some(a)) if *h == a => Ok(()),
        _ if anchor.seq == 0 => Ok(()),
        _ => Err(ChainBreak::CheckpointMismatch { seq: anchor.seq }),
    }
}

/// The byte string a checkpoint's Ed25519 signature covers. Plain text,
/// one field per line, so that anyone can rebuild it from the JSON.
pub fn checkpoint_message(
    origin: &str,
    tree_size: i64,
    merkle_root: &str,
    chain_head: &str,
    created_at: i64,
) -> String {
    format!(
        "pebble-audit-checkpoint/v1\n{origin}\n{tree_size}\n{merkle_root}\n{chain_head}\n{}\n",
        canonical_time(created_at)
    )
}

/// The Merkle leaf data for an event: its 32-byte chain hash. Using the chain
/// hash (not the payload) means a proof still verifies after redaction.
pub fn merkle_leaf(e: &StoredEvent) -> Option<Hash> {
    parse_hash(&e.hash).map(|h| crate::merkle::leaf_hash(&h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().unwrap()
    }

    fn chain(n: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS_HASH;
        (1..=n)
            .map(|seq| {
                let ev = NewEvent::new(
                    EventType::EmailReceived,
                    Actor::system("ingest"),
                    "email",
                    format!("e{seq}"),
                    json!({"subject": format!("hello {seq}"), "b": 1, "a": [1, 2]}),
                    at(1_700_000_000 + seq),
                );
                let stored = seal(
                    &ev,
                    seq,
                    format!("id-{seq}"),
                    at(1_700_000_100 + seq),
                    &prev,
                );
                prev = parse_hash(&stored.hash).unwrap();
                stored
            })
            .collect()
    }

    fn verify(events: &[StoredEvent]) -> Result<i64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in events {
            v.check(e)?;
        }
        Ok(v.verified())
    }

    #[test]
    fn decimals_are_written_like_to_string() {
        for n in [0, 7, -7, 10, 1_000_000, i64::MAX, i64::MIN + 1] {
            assert_eq!(write_decimal(n, &mut [0u8; 20]), n.to_string());
        }
    }

    #[test]
    fn canonical_time_matches_chronos_rfc3339_with_six_digits() {
        for micros in [
            0,
            1,
            999_999,
            1_768_469_400_123_456,
            253_402_300_799_999_999,
            -1_000_000,
        ] {
            let expected = Utc
                .timestamp_micros(micros)
                .single()
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            assert_eq!(canonical_time(micros), expected, "{micros}");
        }
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(50)), Ok(50));
    }

    #[test]
    fn canonical_payload_sorts_keys_and_drops_whitespace() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{ "z": 1, "a": {"y": true, "b": null} }"#).unwrap();
        assert_eq!(canonical_payload(&v), r#"{"a":{"b":null,"y":true},"z":1}"#);
    }

    #[test]
    fn a_changed_field_is_named_at_its_seq() {
        let mut c = chain(10);
        c[6].actor_id = "mallory".into();
        assert_eq!(verify(&c), Err(ChainBreak::Changed { seq: 7 }));
    }

    #[test]
    fn a_changed_payload_is_detected() {
        let mut c = chain(10);
        c[2].payload = Some(r#"{"subject":"forged"}"#.into());
        assert_eq!(verify(&c), Err(ChainBreak::PayloadChanged { seq: 3 }));
    }

    #[test]
    fn a_deleted_event_is_reported_missing() {
        let mut c = chain(10);
        c.remove(4);
        assert_eq!(
            verify(&c),
            Err(ChainBreak::Missing {
                expected: 5,
                found: 6
            })
        );
    }

    #[test]
    fn swapped_events_are_reported_reordered() {
        let mut c = chain(10);
        c.swap(3, 4);
        assert_eq!(
            verify(&c),
            Err(ChainBreak::Missing {
                expected: 4,
                found: 5
            })
        );
        let mut c = chain(10);
        let (a, b) = (c[3].seq, c[4].seq);
        c[3].seq = b;
        c[4].seq = a;
        c.swap(3, 4);
        // Renumbered to look gap-free: the links give it away.
        assert_eq!(verify(&c), Err(ChainBreak::BrokenLink { seq: 4 }));
    }

    #[test]
    fn a_redacted_payload_still_verifies_but_a_silently_missing_one_does_not() {
        let mut c = chain(5);
        c[1].payload = None;
        assert_eq!(verify(&c), Err(ChainBreak::PayloadMissing { seq: 2 }));
        c[1].redacted_at = Some(1);
        assert_eq!(verify(&c), Ok(5));
    }

    #[test]
    fn truncation_below_a_checkpoint_is_detected() {
        let c = chain(10);
        let anchor = Anchor {
            seq: 10,
            hash: c[9].hash.clone(),
        };
        let mut v = ChainVerifier::default();
        let mut at_anchor = None;
        for e in &c[..8] {
            let h = v.check(e).unwrap();
            if e.seq == anchor.seq {
                at_anchor = Some(h);
            }
        }
        assert_eq!(
            check_anchor(v.verified(), &anchor, at_anchor.as_ref()),
            Err(ChainBreak::Truncated {
                last: 8,
                checkpoint: 10
            })
        );
    }

    #[test]
    fn retention_uses_calendar_years() {
        let occurred = Utc.with_ymd_and_hms(2024, 2, 29, 12, 0, 0).unwrap();
        assert_eq!(
            RetentionClass::OneYear.expires_at(occurred),
            Utc.with_ymd_and_hms(2025, 2, 28, 12, 0, 0).unwrap()
        );
        assert_eq!(
            EventType::TallyLookup.retention_class(),
            RetentionClass::OneYear
        );
        assert_eq!(
            EventType::DraftApproved.retention_class(),
            RetentionClass::SevenYears
        );
    }

    #[test]
    fn every_event_type_round_trips_through_its_name() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>(), Ok(*t));
        }
        assert!("Nope".parse::<EventType>().is_err());
    }
}
