-- Reply drafts, their review and their sending (SPEC §2 steps 6–8). Times in
-- µs since the epoch. `email_id` is the ingested email's id (no foreign key:
-- the draft outlives a GDPR scrub of the email body, and keeps its facts).

create table drafts (
    id text primary key,
    email_id text not null,
    stream text not null,
    intent text not null,
    status text not null check (status in ('pending', 'approved', 'rejected', 'sent', 'failed')),
    generator text not null,                  -- template (llm later)
    template_version bigint not null,         -- 0 = the built-in template
    to_addr text not null,
    to_name text,
    subject text not null,                    -- the reply's subject (Re: …)
    in_reply_to text,                         -- the original's Message-ID, without <>
    refs text not null default '[]',          -- JSON array: the reply's References
    body text not null,                       -- as generated
    final_body text,                          -- as approved (edited or not)
    facts text not null,                      -- JSON: every fact the text used, with its source
    latency_us bigint not null,
    company_id text,
    contact_id text,
    assignee_id text,                         -- who should review it (the lead's owner), if known
    requested_by text,                        -- a user who asked for it; null = the pipeline
    received_at bigint not null,              -- the email's receipt, for response time
    created_at bigint not null,
    reviewed_by text,
    reviewed_at bigint,
    reject_reason text,
    edits_made text,                          -- JSON summary of the reviewer's edits
    sent_at bigint
);

-- The pipeline drafts an email once, however often its step is retried.
create unique index drafts_pipeline_once on drafts (email_id) where requested_by is null;
create index drafts_status on drafts (status, created_at, id);
create index drafts_stream on drafts (stream, status, created_at);
create index drafts_email on drafts (email_id);
create index drafts_sent on drafts (sent_at) where sent_at is not null;

-- A reviewer's edit, kept as a unified diff of the generated text.
create table draft_edits (
    id text primary key,
    draft_id text not null references drafts (id),
    user_id text not null,
    diff text not null,
    lines_added bigint not null,
    lines_removed bigint not null,
    created_at bigint not null
);

create index draft_edits_draft on draft_edits (draft_id);

-- Admin's templates, one version per change; the highest version is in force.
-- A null body restores the built-in template.
create table draft_templates (
    intent text not null,
    version bigint not null,
    body text,
    updated_by text not null,
    updated_at bigint not null,
    primary key (intent, version)
);

-- The durable SMTP outbox. `message` is the exact RFC 5322 text sent on every
-- attempt (its Message-ID fixed before the first). Delivery protocol, see
-- src/outbox/mod.rs: queued → attempting (lease) → committing (the final
-- "." is about to be written) → sent | queued (retry) | dead; a committing
-- row whose lease ran out becomes `unknown` and is never resent by itself.
create table outbox (
    id text primary key,
    draft_id text not null unique references drafts (id),
    message_id text not null unique,
    from_addr text not null,
    to_addr text not null,
    message text not null,
    status text not null check (status in ('queued', 'attempting', 'committing', 'sent', 'dead', 'unknown')),
    attempts bigint not null default 0,
    next_attempt_at bigint not null,
    lease_owner text,
    lease_until bigint,
    last_error text,
    created_at bigint not null,
    updated_at bigint not null,
    sent_at bigint
);

create index outbox_due on outbox (status, next_attempt_at);
