-- Ingestion (SPEC §2): every email received, its attachments, the mailboxes
-- it came from, and the durable job queue that carries it through the
-- pipeline. Raw bytes live in the object store by SHA-256 (raw_sha256);
-- nothing here is the only copy of a message. Times in µs since the epoch.

create table emails (
    id text primary key,
    stream text not null,
    source text not null,                  -- api | import | imap:<mailbox>
    message_id text not null,              -- without angle brackets
    message_id_derived boolean not null,   -- no header: derived from content_hash
    raw_sha256 text not null,              -- object-store key of the exact bytes received
    raw_size bigint not null,
    content_hash text not null,            -- SHA-256 of the line-ending-normalised bytes
    conflict boolean not null,             -- same Message-ID as another email, other content
    status text not null,                  -- ready | quarantined
    quarantine_reason text,                -- fixed code
    quarantine_detail text,
    from_addr text,
    from_name text,
    to_addrs text not null,                -- JSON array
    cc_addrs text not null,                -- JSON array
    subject text not null,
    sent_at bigint,                        -- the Date header
    received_at bigint not null,
    body_text text not null,
    body_html text,                        -- as sent; sanitised when shown
    in_reply_to text,
    refs text not null,                    -- JSON array of Message-IDs
    thread_id text not null,
    contact_id text,
    company_id text,
    erased_at bigint
);

create unique index emails_identity on emails (message_id, content_hash);
create index emails_stream_received on emails (stream, received_at, id);
create index emails_received on emails (received_at, id);
create index emails_thread on emails (thread_id);
create index emails_from on emails (from_addr);
create index emails_company on emails (company_id);
create index emails_status on emails (status);

create table email_attachments (
    email_id text not null references emails (id),
    position integer not null,
    filename text not null,                -- made path-safe
    content_type text not null,
    size bigint not null,
    sha256 text not null,                  -- object-store key
    primary key (email_id, position)
);

-- Mailboxes added through the API; those in the configuration file are
-- merged in at start.
create table mailboxes (
    name text primary key,
    stream text not null,
    host text not null,
    port integer not null,
    tls boolean not null,
    username text not null,
    password_env text not null,            -- the variable holding the password, never the password
    folder text not null,
    enabled boolean not null,
    created_at bigint not null,
    updated_at bigint not null
);

-- Where each mailbox's fetch got to: a new UIDVALIDITY means start over
-- (dedup by Message-ID keeps that from doubling anything).
create table mailbox_state (
    mailbox text primary key,
    uidvalidity bigint not null,
    last_uid bigint not null,
    last_poll_at bigint,
    last_error text
);

-- One row per (email, step). A worker claims a queued row whose run_after
-- has come (or a running one whose lease expired), runs the step, and in
-- the same transaction marks it done and queues the next step.
create table pipeline_jobs (
    id integer primary key autoincrement,
    email_id text not null references emails (id),
    step text not null,
    state text not null,                   -- queued | running | done | dead
    attempts integer not null,
    run_after bigint not null,
    locked_by text,
    locked_until bigint,
    last_error text,
    duration_us bigint,
    created_at bigint not null,
    updated_at bigint not null,
    unique (email_id, step)
);

create index pipeline_jobs_ready on pipeline_jobs (state, run_after, id);
