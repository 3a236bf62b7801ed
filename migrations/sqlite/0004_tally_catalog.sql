-- The local copy of Tally's stock items (SPEC §6), so that lookups keep
-- answering while Tally is slow or down. Rates and quantities are exact
-- decimal text, never floats. Times in µs since the epoch.

create table tally_catalog (
    tally_name text primary key,           -- byte for byte as in Tally
    sku text not null,                     -- part number, else the name
    aliases text not null,                 -- JSON array of strings
    part_number text,
    unit text,
    rate text,                             -- rupees per unit, decimal text
    closing_qty text not null,             -- in the base unit, decimal text
    stock_group text,
    alter_id bigint,
    synced_at bigint not null
);

-- Every lower-cased name an item answers to (its name, aliases, SKU), for
-- exact lookups and substring search.
create table tally_catalog_keys (
    search_key text not null,
    tally_name text not null references tally_catalog (tally_name) on delete cascade,
    primary key (search_key, tally_name)
);

create index tally_catalog_keys_item on tally_catalog_keys (tally_name);

-- One row: where the last sync got to.
create table tally_sync_state (
    id integer primary key check (id = 1),
    last_attempt_at bigint,
    last_success_at bigint,
    last_full_at bigint,
    last_error text,
    items bigint not null default 0
);

insert into tally_sync_state (id) values (1);
