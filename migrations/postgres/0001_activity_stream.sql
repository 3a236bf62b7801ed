-- The activity stream: one immutable row per business event (SPEC §3).
-- Times are microseconds since the Unix epoch, UTC; hashes are lower-case hex.

create table pebble_meta (
    key text primary key,
    value text not null
);
insert into pebble_meta (key, value) values ('application', 'pebble');

create table activity_stream (
    seq bigint primary key,             -- gap-free: assigned under the table lock, never a sequence
    id text not null unique,
    occurred_at bigint not null,
    recorded_at bigint not null,
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

create table activity_redaction (
    seq bigint primary key references activity_stream (seq),
    redacted_at bigint not null,
    reason text not null check (reason in ('retention', 'erasure'))
);

create table audit_checkpoint (
    id bigserial primary key,
    tree_size bigint not null,
    merkle_root text not null,
    chain_head text not null,
    created_at bigint not null,
    key_id text not null,
    public_key text not null,
    signature text not null
);

-- The one change the database allows on an event: emptying its payload once a
-- redaction is on record. Everything else is refused, whoever asks.
create function activity_stream_guard() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE'
        and new.payload is null and old.payload is not null
        and (new.seq, new.id, new.occurred_at, new.recorded_at, new.event_type,
             new.actor_kind, new.actor_id, new.entity_type, new.entity_id,
             new.retention_class, new.payload_hash, new.prev_hash, new.hash)
            is not distinct from
            (old.seq, old.id, old.occurred_at, old.recorded_at, old.event_type,
             old.actor_kind, old.actor_id, old.entity_type, old.entity_id,
             old.retention_class, old.payload_hash, old.prev_hash, old.hash)
        and exists (select 1 from activity_redaction r where r.seq = old.seq)
    then
        return new;
    end if;
    raise exception 'activity_stream is append-only' using errcode = 'P0001';
end;
$$;

create function append_only_guard() returns trigger language plpgsql as $$
begin
    raise exception '% is append-only', tg_table_name using errcode = 'P0001';
end;
$$;

create trigger activity_stream_no_update before update or delete on activity_stream
    for each row execute function activity_stream_guard();
create trigger activity_stream_no_truncate before truncate on activity_stream
    for each statement execute function append_only_guard();
create trigger activity_redaction_append_only before update or delete on activity_redaction
    for each row execute function append_only_guard();
create trigger activity_redaction_no_truncate before truncate on activity_redaction
    for each statement execute function append_only_guard();
create trigger audit_checkpoint_append_only before update or delete on audit_checkpoint
    for each row execute function append_only_guard();
create trigger audit_checkpoint_no_truncate before truncate on audit_checkpoint
    for each statement execute function append_only_guard();

-- Privileges as a second wall: nobody but the owner may even try.
revoke update, delete, truncate on activity_stream, activity_redaction, audit_checkpoint from public;
