-- Companies, contacts, the lead funnel and notes (SPEC §5). Times in µs since
-- the epoch. `search_text` is the lower-cased text that search matches
-- (written by the application, so both backends fold case identically);
-- `sort_name` the lower-cased name for ordering.

create table companies (
    id text primary key,
    name text not null,
    sort_name text not null,
    domains text not null default '[]',        -- JSON array of lower-case domains
    gstins text not null default '[]',         -- JSON array
    pan text,
    cin text,                                  -- CIN or LLPIN
    address text,
    state text,
    validation_status text not null check (validation_status in ('unchecked', 'valid', 'failed')),
    validation_errors text not null default '[]',  -- JSON array of messages
    search_text text not null,
    merged_into text references companies (id),
    created_at integer not null,
    updated_at integer not null,
    deleted_at integer
);

create index companies_sort_name on companies (sort_name, id);
create index companies_updated on companies (updated_at, id);
create index companies_validation on companies (validation_status, id);

-- One owner per e-mail domain, so a sender's domain finds its company.
create table company_domains (
    domain text primary key,
    company_id text not null references companies (id)
);

create table contacts (
    id text primary key,
    email text not null,                       -- lower case
    name text not null,
    sort_name text not null,
    phone text,
    company_id text references companies (id),
    search_text text not null,
    merged_into text references contacts (id),
    created_at integer not null,
    updated_at integer not null,
    deleted_at integer
);

create unique index contacts_live_email on contacts (email) where merged_into is null and deleted_at is null;
create index contacts_email on contacts (email);
create index contacts_company on contacts (company_id);
create index contacts_sort_name on contacts (sort_name, id);

create table leads (
    id text primary key,
    title text not null,
    sort_name text not null,
    company_id text not null references companies (id),
    contact_id text references contacts (id),
    stage text not null check (stage in ('new', 'contacted', 'qualified', 'quoted', 'won', 'lost')),
    lost_reason text,
    owner_id text references users (id),
    source_email_id text,
    created_at integer not null,
    updated_at integer not null
);

create index leads_company on leads (company_id);
create index leads_stage on leads (stage, id);
create index leads_updated on leads (updated_at, id);

create table notes (
    id text primary key,
    entity_type text not null check (entity_type in ('company', 'contact', 'lead')),
    entity_id text not null,
    author_id text not null references users (id),
    body text not null,
    created_at integer not null
);

create index notes_entity on notes (entity_type, entity_id, created_at);
