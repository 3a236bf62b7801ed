-- The pipeline's extract, link and enrich steps (SPEC §2 steps 3–5) each
-- keep one record per email, written once: a step run again after a crash
-- finds its record and writes nothing. The draft step reads the enrichment.
-- JSON columns are text, as elsewhere. Times in µs since the epoch.

-- What a step said when it completed ("draft …", "2 product(s): 2 live",
-- "no lead for spam"): the outcome beside the latency.
alter table pipeline_jobs add column note text;

-- Where the sender asked replies to go (the Reply-To header), when given.
alter table emails add column reply_to text;

-- Identifiers, phone numbers and catalogue products found in an email.
create table email_extractions (
    email_id text primary key references emails (id),
    identifiers text not null,             -- JSON [{kind, value, normalized, valid, errors}]
    phones text not null,                  -- JSON array of E.164 numbers
    products text not null,                -- JSON [{sku, name, qty, unit}] (the classifier's matches)
    created_at bigint not null
);

-- What the link step did in the CRM for an email. Written in the same
-- transaction as the CRM changes and their events, so they happen once.
create table email_links (
    email_id text primary key references emails (id),
    company_id text,
    identifiers text not null,             -- JSON [{kind, value, valid, errors, attached}]
    lead_id text,
    lead_from text,                        -- the lead's stage before (null: created)
    lead_to text,                          -- and after; null when no lead was touched
    note text not null,                    -- what was done, for the step's outcome
    created_at bigint not null
);

-- Stock and rate per product (live from Tally, or the cache with its age)
-- and the customer's CRM history, as the draft step will use them.
create table email_enrichments (
    email_id text primary key references emails (id),
    stock text not null,                   -- JSON [{product, sku, item, source, as_of, tally_error}]
    history text not null,                 -- JSON: previous emails, open leads, last reply and order
    created_at bigint not null
);
