-- The activity stream: one immutable row per business event (SPEC §3).
-- Times are microseconds since the Unix epoch, UTC; hashes are lower-case hex.

create table pebble_meta (
    key text primary key,
    value text not null
);
insert into pebble_meta (key, value) values ('application', 'pebble');

create table activity_stream (
    seq integer primary key,            -- gap-free: assigned under the write lock, never reused
    id text not null unique,
    occurred_at integer not null,
    recorded_at integer not null,
    event_type text not null,
    actor_kind text not null check (actor_kind in ('user', 'ai_agent', 'system')),
    actor_id text not null,
    entity_type text not null,
    entity_id text not null,
    retention_class text not null check (retention_class in ('7y', '1y')),
    payload text,                       -- canonical JSON; null only after a recorded redaction
    payload_hash text not null,
    prev_hash text not null,
    hash text not null
);

create index activity_stream_entity on activity_stream (entity_type, entity_id, seq);
create index activity_stream_type on activity_stream (event_type, seq);
create index activity_stream_actor on activity_stream (actor_id, seq);
create index activity_stream_occurred on activity_stream (occurred_at, seq);

-- A redaction (retention expiry or data-subject erasure) is itself recorded,
-- append-only, before the payload may be emptied.
create table activity_redaction (
    seq integer primary key references activity_stream (seq),
    redacted_at integer not null,
    reason text not null check (reason in ('retention', 'erasure'))
);

-- The one change the database allows on an event: emptying its payload once a
-- redaction is on record. Everything else is refused, whoever asks.
create trigger activity_stream_no_update before update on activity_stream
when not (
    new.payload is null and old.payload is not null
    and new.seq is old.seq and new.id is old.id
    and new.occurred_at is old.occurred_at and new.recorded_at is old.recorded_at
    and new.event_type is old.event_type and new.actor_kind is old.actor_kind
    and new.actor_id is old.actor_id and new.entity_type is old.entity_type
    and new.entity_id is old.entity_id and new.retention_class is old.retention_class
    and new.payload_hash is old.payload_hash and new.prev_hash is old.prev_hash
    and new.hash is old.hash
    and exists (select 1 from activity_redaction r where r.seq = old.seq)
)
begin
    select raise(abort, 'activity_stream is append-only');
end;

create trigger activity_stream_no_delete before delete on activity_stream
begin
    select raise(abort, 'activity_stream is append-only');
end;

create trigger activity_redaction_no_update before update on activity_redaction
begin
    select raise(abort, 'activity_redaction is append-only');
end;

create trigger activity_redaction_no_delete before delete on activity_redaction
begin
    select raise(abort, 'activity_redaction is append-only');
end;

-- Signed checkpoints of the chain head (and Merkle root over it).
create table audit_checkpoint (
    id integer primary key autoincrement,
    tree_size integer not null,
    merkle_root text not null,
    chain_head text not null,
    created_at integer not null,
    key_id text not null,
    public_key text not null,
    signature text not null
);

create trigger audit_checkpoint_no_update before update on audit_checkpoint
begin
    select raise(abort, 'audit_checkpoint is append-only');
end;

create trigger audit_checkpoint_no_delete before delete on audit_checkpoint
begin
    select raise(abort, 'audit_checkpoint is append-only');
end;
