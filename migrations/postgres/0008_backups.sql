-- Backups and restore drills (SPEC §10): a catalogue of every backup taken
-- from this database and every drill run against them. Times in µs since the
-- epoch. A row is written as `running` before the snapshot, so the snapshot
-- holds its own row; a restore marks it `created` from the manifest.

create table backups (
    id text primary key,                   -- UUIDv7, also in the manifest
    kind text not null check (kind in ('full', 'activity')),
    status text not null check (status in ('running', 'created', 'failed')),
    file text,                             -- path of the archive once written
    started_at bigint not null,
    finished_at bigint,
    size_bytes bigint,
    sha256 text,                           -- of the whole archive file
    schema_version bigint,
    chain_seq bigint,                     -- last activity-stream seq inside
    chain_hash text,
    from_seq bigint,                      -- activity backups: first seq inside is from_seq + 1
    encrypted boolean not null default false,
    error text,
    verified_at bigint,
    verify_ok boolean,
    verify_error text,
    deleted_at integer                     -- file removed by retention
);

create index backups_kind_started on backups (kind, started_at);

create table dr_drills (
    id text primary key,
    started_at bigint not null,
    finished_at bigint not null,
    ok boolean not null,
    backup_ids text not null,              -- JSON array, the full first
    rto_ms bigint,
    rpo_ms bigint,
    events_behind bigint,
    error text
);

create index dr_drills_started on dr_drills (started_at);
