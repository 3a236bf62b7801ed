-- The intent model in production (SPEC §4): the model registry, its
-- promotion history, every classification decision, and people's overrides.
-- Times in µs since the epoch.

-- Every model Pebble trained: the training-data snapshot it came from, its
-- evaluation on the held-out split, the baseline drift is measured against,
-- and the model file itself (about 1 MB), so that every instance sharing
-- this database serves the same promoted model.
create table intent_models (
    version text primary key,                 -- intent-<first 12 hex of the weights' hash>
    created_at bigint not null,
    created_by text not null,                 -- actor id of the training run
    training_snapshot text not null,          -- SHA-256 over corpus + corrections
    corpus_examples bigint not null,
    correction_examples bigint not null,
    macro_f1 double precision not null,
    ece double precision not null,
    evaluation text not null,                 -- JSON: per-class P/R/F1, accuracy, confusion matrix
    baseline text not null,                   -- JSON: decision profile on the held-out split
    model_sha256 text not null,
    model blob not null,
    state text not null check (state in ('candidate', 'promoted', 'retired')),
    promoted_at bigint
);

-- At most one model serves; none means the model shipped in the binary.
create unique index intent_models_one_promoted on intent_models (state) where state = 'promoted';
create index intent_models_created on intent_models (created_at);

-- Promotions and rollbacks in order. Replayed as a stack (a promotion
-- pushes, a rollback pops), it says what a rollback returns to; a null
-- version is the shipped model.
create table intent_model_promotions (
    seq integer primary key,
    action text not null check (action in ('promote', 'rollback')),
    version text references intent_models (version),
    actor_id text not null,
    at bigint not null
);

-- One decision per email: what was read, what the model (and the LLM, when
-- it was asked) said, and the label that stands now. `subject` and `body`
-- are the decision's input, kept so that corrections can be trained on.
create table classifications (
    email_id text primary key,
    subject text not null,
    body text not null,
    intent text not null,                     -- the label now: the decision, or a person's override
    ai_intent text not null,                  -- what the deciding actor said
    confidence double precision not null,     -- the deciding actor's confidence
    decided_by text not null,                 -- classifier:<version> or llm:<model>
    model_version text not null,              -- the local model consulted
    model_intent text not null,               -- the local model's own answer
    model_confidence double precision not null,
    evidence text not null,                   -- JSON array of {phrase, weight}
    entities text not null,                   -- JSON: products, gstin, pan, cin, phone
    llm_error text,                           -- why the LLM's answer was not used, when it was asked
    created_at bigint not null,
    reviewed_at bigint,                       -- a person confirmed or overrode it
    reviewed_by text,
    overridden boolean not null default false
);

create index classifications_queue on classifications (reviewed_at, created_at, email_id);
create index classifications_model on classifications (model_version, created_at);

-- Every override with its justification, newest last.
create table classification_overrides (
    id text primary key,
    email_id text not null references classifications (email_id),
    previous_intent text not null,
    intent text not null,
    justification text not null,
    user_id text not null,
    created_at bigint not null
);

create index classification_overrides_email on classification_overrides (email_id, created_at);
