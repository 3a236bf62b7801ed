-- Accounts and server-side sessions (SPEC §1, §9). Times in µs since the epoch.

create table users (
    id text primary key,
    email text not null unique,            -- normalised login (lower case)
    display_name text not null,
    role text not null check (role in ('admin', 'sales', 'ops', 'read_only')),
    password_hash text not null,           -- argon2id PHC string
    disabled boolean not null default false,
    created_at bigint not null,
    updated_at bigint not null
);

-- Each login is one session; access and refresh tokens are bound to it, so
-- revoking the row ends both. Only a hash of the refresh token is stored.
create table sessions (
    id text primary key,
    user_id text not null references users (id),
    created_at bigint not null,
    last_seen_at bigint not null,
    expires_at bigint not null,            -- absolute lifetime
    refresh_hash text not null unique,
    revoked_at bigint,
    revoke_reason text
);

create index sessions_user on sessions (user_id) where revoked_at is null;
