//! Companies, contacts, leads and notes SQL. Lists are keyset-paginated on
//! (sort key, id) so a page never skips or repeats a row while others write.

use sqlx::{FromRow, Row};

use super::{check_text, on_db, on_tx, refused, Db, StoreError, Tx};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Company {
    pub id: String,
    pub name: String,
    pub domains: Vec<String>,
    pub gstins: Vec<String>,
    pub pan: Option<String>,
    pub cin: Option<String>,
    pub address: Option<String>,
    pub state: Option<String>,
    pub validation_status: String,
    pub validation_errors: Vec<String>,
    pub merged_into: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Contact {
    pub id: String,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub company_id: Option<String>,
    pub merged_into: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Lead {
    pub id: String,
    pub title: String,
    pub company_id: String,
    pub contact_id: Option<String>,
    pub stage: String,
    pub lost_reason: Option<String>,
    pub owner_id: Option<String>,
    pub source_email_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Note {
    pub id: String,
    pub entity_type: String,
    pub entity_id: String,
    pub author_id: String,
    pub body: String,
    pub created_at: i64,
}

fn json_list(text: &str) -> Result<Vec<String>, sqlx::Error> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn to_json(list: &[String]) -> String {
    serde_json::Value::from(list).to_string()
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

macro_rules! company_from_row {
    ($r:expr) => {{
        let r = $r;
        (|| -> Result<Company, sqlx::Error> {
            Ok(Company {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                domains: json_list(&r.try_get::<String, _>("domains")?)?,
                gstins: json_list(&r.try_get::<String, _>("gstins")?)?,
                pan: r.try_get("pan")?,
                cin: r.try_get("cin")?,
                address: r.try_get("address")?,
                state: r.try_get("state")?,
                validation_status: r.try_get("validation_status")?,
                validation_errors: json_list(&r.try_get::<String, _>("validation_errors")?)?,
                merged_into: r.try_get("merged_into")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
                deleted_at: r.try_get("deleted_at")?,
            })
        })()
    }};
}

fn company_search_text(c: &Company) -> String {
    let mut parts = vec![c.name.as_str()];
    parts.extend(c.gstins.iter().map(String::as_str));
    parts.extend(c.domains.iter().map(String::as_str));
    parts.extend(c.pan.as_deref());
    parts.extend(c.cin.as_deref());
    lower(&parts.join("\n"))
}

fn contact_search_text(c: &Contact) -> String {
    let mut parts = vec![c.email.as_str(), c.name.as_str()];
    parts.extend(c.phone.as_deref());
    lower(&parts.join("\n"))
}

fn check_company(c: &Company) -> Result<(), StoreError> {
    for s in [&c.name]
        .into_iter()
        .chain(&c.domains)
        .chain(&c.gstins)
        .chain(c.pan.iter())
        .chain(c.cin.iter())
        .chain(c.address.iter())
        .chain(c.state.iter())
    {
        check_text(s)?;
    }
    Ok(())
}

// ---------------------------------------------------------------- companies

pub async fn insert_company(tx: &mut Tx, c: &Company) -> Result<(), StoreError> {
    check_company(c)?;
    on_tx!(tx, |conn| {
        sqlx::query(
        "insert into companies (id, name, sort_name, domains, gstins, pan, cin, address, state, \
         validation_status, validation_errors, search_text, merged_into, created_at, updated_at, deleted_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(lower(&c.name))
    .bind(to_json(&c.domains))
    .bind(to_json(&c.gstins))
    .bind(&c.pan)
    .bind(&c.cin)
    .bind(&c.address)
    .bind(&c.state)
    .bind(&c.validation_status)
    .bind(to_json(&c.validation_errors))
    .bind(company_search_text(c))
    .bind(&c.merged_into)
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(c.deleted_at)
    .execute(conn)
    .await
    .map_err(refused)
    .map(|_| ())?
    });
    set_domains(tx, &c.id, &c.domains).await
}

/// Writes every column but `id` and `created_at`.
pub async fn update_company(tx: &mut Tx, c: &Company) -> Result<(), StoreError> {
    check_company(c)?;
    let n = on_tx!(tx, |conn| sqlx::query(
        "update companies set name = $2, sort_name = $3, domains = $4, gstins = $5, pan = $6, \
         cin = $7, address = $8, state = $9, validation_status = $10, validation_errors = $11, \
         search_text = $12, merged_into = $13, updated_at = $14, deleted_at = $15 where id = $1"
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(lower(&c.name))
    .bind(to_json(&c.domains))
    .bind(to_json(&c.gstins))
    .bind(&c.pan)
    .bind(&c.cin)
    .bind(&c.address)
    .bind(&c.state)
    .bind(&c.validation_status)
    .bind(to_json(&c.validation_errors))
    .bind(company_search_text(c))
    .bind(&c.merged_into)
    .bind(c.updated_at)
    .bind(c.deleted_at)
    .execute(conn)
    .await
    .map_err(refused)?
    .rows_affected());
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    set_domains(tx, &c.id, &c.domains).await
}

/// Make `domains` exactly the domains this company owns; a domain owned by
/// another company is a conflict.
async fn set_domains(tx: &mut Tx, company_id: &str, domains: &[String]) -> Result<(), StoreError> {
    on_tx!(tx, |conn| sqlx::query(
        "delete from company_domains where company_id = $1"
    )
    .bind(company_id)
    .execute(&mut *conn)
    .await
    .map_err(refused)
    .map(|_| ())?);
    for d in domains {
        on_tx!(tx, |conn| sqlx::query(
            "insert into company_domains (domain, company_id) values ($1, $2)"
        )
        .bind(d)
        .bind(company_id)
        .execute(conn)
        .await
        .map_err(refused)
        .map(|_| ())?);
    }
    Ok(())
}

pub async fn company_tx(tx: &mut Tx, id: &str) -> Result<Option<Company>, StoreError> {
    on_tx!(tx, |c| {
        let row = sqlx::query("select * from companies where id = $1")
            .bind(id)
            .fetch_optional(c)
            .await?;
        Ok(row.map(|r| company_from_row!(&r)).transpose()?)
    })
}

pub async fn company(db: &Db, id: &str) -> Result<Option<Company>, StoreError> {
    on_db!(db, |p| {
        let row = sqlx::query("select * from companies where id = $1")
            .bind(id)
            .fetch_optional(p)
            .await?;
        Ok(row.map(|r| company_from_row!(&r)).transpose()?)
    })
}

pub async fn company_by_domain(tx: &mut Tx, domain: &str) -> Result<Option<String>, StoreError> {
    on_tx!(tx, |c| Ok(sqlx::query_scalar(
        "select company_id from company_domains where domain = $1"
    )
    .bind(domain)
    .fetch_optional(c)
    .await?))
}

/// Ids of the companies merged into `id` (directly).
pub async fn absorbed_companies(db: &Db, id: &str) -> Result<Vec<String>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_scalar(
        "select id from companies where merged_into = $1 order by id"
    )
    .bind(id)
    .fetch_all(p)
    .await?))
}

/// Re-point a merged company's contacts, leads and notes at the survivor.
pub async fn move_company_links(tx: &mut Tx, from: &str, to: &str) -> Result<(), StoreError> {
    for sql in [
        "update contacts set company_id = $2 where company_id = $1",
        "update leads set company_id = $2 where company_id = $1",
        "update notes set entity_id = $2 where entity_type = 'company' and entity_id = $1",
    ] {
        on_tx!(tx, |c| sqlx::query(sql)
            .bind(from)
            .bind(to)
            .execute(c)
            .await
            .map_err(refused)
            .map(|_| ())?);
    }
    Ok(())
}

// ---------------------------------------------------------------- contacts

pub async fn insert_contact(tx: &mut Tx, c: &Contact) -> Result<(), StoreError> {
    for s in [&c.email, &c.name].into_iter().chain(c.phone.iter()) {
        check_text(s)?;
    }
    on_tx!(tx, |conn| sqlx::query(
        "insert into contacts (id, email, name, sort_name, phone, company_id, search_text, \
         merged_into, created_at, updated_at, deleted_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )
    .bind(&c.id)
    .bind(&c.email)
    .bind(&c.name)
    .bind(lower(&c.name))
    .bind(&c.phone)
    .bind(&c.company_id)
    .bind(contact_search_text(c))
    .bind(&c.merged_into)
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(c.deleted_at)
    .execute(conn)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

pub async fn update_contact(tx: &mut Tx, c: &Contact) -> Result<(), StoreError> {
    for s in [&c.email, &c.name].into_iter().chain(c.phone.iter()) {
        check_text(s)?;
    }
    let n = on_tx!(tx, |conn| {
        sqlx::query(
        "update contacts set email = $2, name = $3, sort_name = $4, phone = $5, company_id = $6, \
         search_text = $7, merged_into = $8, updated_at = $9, deleted_at = $10 where id = $1"
    )
    .bind(&c.id)
    .bind(&c.email)
    .bind(&c.name)
    .bind(lower(&c.name))
    .bind(&c.phone)
    .bind(&c.company_id)
    .bind(contact_search_text(c))
    .bind(&c.merged_into)
    .bind(c.updated_at)
    .bind(c.deleted_at)
    .execute(conn)
    .await
    .map_err(refused)?
    .rows_affected()
    });
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn contact_tx(tx: &mut Tx, id: &str) -> Result<Option<Contact>, StoreError> {
    on_tx!(tx, |c| {
        let row = sqlx::query("select * from contacts where id = $1")
            .bind(id)
            .fetch_optional(c)
            .await?;
        Ok(row.map(|r| Contact::from_row(&r)).transpose()?)
    })
}

pub async fn contact(db: &Db, id: &str) -> Result<Option<Contact>, StoreError> {
    on_db!(db, |p| {
        let row = sqlx::query("select * from contacts where id = $1")
            .bind(id)
            .fetch_optional(p)
            .await?;
        Ok(row.map(|r| Contact::from_row(&r)).transpose()?)
    })
}

/// The contact with this e-mail address, the live one first.
pub async fn contact_by_email(tx: &mut Tx, email: &str) -> Result<Option<Contact>, StoreError> {
    on_tx!(tx, |c| {
        let row = sqlx::query(
            "select * from contacts where email = $1 and deleted_at is null \
             order by case when merged_into is null then 0 else 1 end, created_at limit 1",
        )
        .bind(email)
        .fetch_optional(c)
        .await?;
        Ok(row.map(|r| Contact::from_row(&r)).transpose()?)
    })
}

pub async fn absorbed_contacts(db: &Db, id: &str) -> Result<Vec<String>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_scalar(
        "select id from contacts where merged_into = $1 order by id"
    )
    .bind(id)
    .fetch_all(p)
    .await?))
}

pub async fn move_contact_links(tx: &mut Tx, from: &str, to: &str) -> Result<(), StoreError> {
    for sql in [
        "update leads set contact_id = $2 where contact_id = $1",
        "update notes set entity_id = $2 where entity_type = 'contact' and entity_id = $1",
    ] {
        on_tx!(tx, |c| sqlx::query(sql)
            .bind(from)
            .bind(to)
            .execute(c)
            .await
            .map_err(refused)
            .map(|_| ())?);
    }
    Ok(())
}

// ---------------------------------------------------------------- leads

pub async fn insert_lead(tx: &mut Tx, l: &Lead) -> Result<(), StoreError> {
    for s in [&l.title]
        .into_iter()
        .chain(l.lost_reason.iter())
        .chain(l.source_email_id.iter())
    {
        check_text(s)?;
    }
    on_tx!(tx, |conn| sqlx::query(
        "insert into leads (id, title, sort_name, company_id, contact_id, stage, lost_reason, \
         owner_id, source_email_id, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )
    .bind(&l.id)
    .bind(&l.title)
    .bind(lower(&l.title))
    .bind(&l.company_id)
    .bind(&l.contact_id)
    .bind(&l.stage)
    .bind(&l.lost_reason)
    .bind(&l.owner_id)
    .bind(&l.source_email_id)
    .bind(l.created_at)
    .bind(l.updated_at)
    .execute(conn)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

/// Moves the stage only if it is still `from`: two concurrent changes
/// cannot both apply.
pub async fn set_lead_stage(
    tx: &mut Tx,
    id: &str,
    from: &str,
    to: &str,
    lost_reason: Option<&str>,
    now: i64,
) -> Result<bool, StoreError> {
    if let Some(r) = lost_reason {
        check_text(r)?;
    }
    on_tx!(tx, |c| {
        Ok(sqlx::query(
        "update leads set stage = $3, lost_reason = $4, updated_at = $5 where id = $1 and stage = $2"
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(lost_reason)
    .bind(now)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected()
        == 1)
    })
}

pub async fn lead_tx(tx: &mut Tx, id: &str) -> Result<Option<Lead>, StoreError> {
    on_tx!(tx, |c| {
        let row = sqlx::query("select * from leads where id = $1")
            .bind(id)
            .fetch_optional(c)
            .await?;
        Ok(row.map(|r| Lead::from_row(&r)).transpose()?)
    })
}

pub async fn lead(db: &Db, id: &str) -> Result<Option<Lead>, StoreError> {
    on_db!(db, |p| {
        let row = sqlx::query("select * from leads where id = $1")
            .bind(id)
            .fetch_optional(p)
            .await?;
        Ok(row.map(|r| Lead::from_row(&r)).transpose()?)
    })
}

/// Whether `id` is an enabled user with the given role.
pub async fn user_has_role(tx: &mut Tx, id: &str, role: &str) -> Result<bool, StoreError> {
    on_tx!(tx, |c| {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from users where id = $1 and role = $2 and not disabled",
        )
        .bind(id)
        .bind(role)
        .fetch_one(c)
        .await?;
        Ok(n == 1)
    })
}

// ---------------------------------------------------------------- notes

pub async fn insert_note(tx: &mut Tx, n: &Note) -> Result<(), StoreError> {
    check_text(&n.body)?;
    on_tx!(tx, |c| sqlx::query(
        "insert into notes (id, entity_type, entity_id, author_id, body, created_at) \
         values ($1, $2, $3, $4, $5, $6)"
    )
    .bind(&n.id)
    .bind(&n.entity_type)
    .bind(&n.entity_id)
    .bind(&n.author_id)
    .bind(&n.body)
    .bind(n.created_at)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

pub async fn notes(db: &Db, entity_type: &str, entity_id: &str) -> Result<Vec<Note>, StoreError> {
    on_db!(db, |p| {
        let rows = sqlx::query(
            "select * from notes where entity_type = $1 and entity_id = $2 order by created_at, id",
        )
        .bind(entity_type)
        .bind(entity_id)
        .fetch_all(p)
        .await?;
        Ok(rows.iter().map(Note::from_row).collect::<Result<_, _>>()?)
    })
}

// ---------------------------------------------------------------- lists

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
}

/// A column to order by; the id breaks ties so the order is total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Name,
    CreatedAt,
    UpdatedAt,
}

impl SortKey {
    fn column(self) -> &'static str {
        match self {
            SortKey::Name => "sort_name",
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
        }
    }
}

/// Where a page starts: the (sort key, id) of the last row of the previous one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct After {
    pub key: Value,
    pub id: String,
}

#[derive(Clone, Debug)]
pub struct ListQuery {
    pub sort: SortKey,
    pub descending: bool,
    pub after: Option<After>,
    pub limit: i64,
    /// Lower-case text that must occur in the row's search text.
    pub search: Option<String>,
    /// Exact-match filters (column, value); columns come from code, never input.
    pub equals: Vec<(&'static str, String)>,
}

/// The sort key's value for a row, to build the next cursor from.
pub fn sort_value_company(c: &Company, key: SortKey) -> Value {
    match key {
        SortKey::Name => Value::Text(lower(&c.name)),
        SortKey::CreatedAt => Value::Int(c.created_at),
        SortKey::UpdatedAt => Value::Int(c.updated_at),
    }
}

pub fn sort_value_contact(c: &Contact, key: SortKey) -> Value {
    match key {
        SortKey::Name => Value::Text(lower(&c.name)),
        SortKey::CreatedAt => Value::Int(c.created_at),
        SortKey::UpdatedAt => Value::Int(c.updated_at),
    }
}

pub fn sort_value_lead(l: &Lead, key: SortKey) -> Value {
    match key {
        SortKey::Name => Value::Text(lower(&l.title)),
        SortKey::CreatedAt => Value::Int(l.created_at),
        SortKey::UpdatedAt => Value::Int(l.updated_at),
    }
}

/// `like` pattern matching `text` anywhere, with `\` escaping the wildcards.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

fn list_sql(table: &str, live_only: bool, q: &ListQuery) -> (String, Vec<Value>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    if live_only {
        clauses.push("merged_into is null and deleted_at is null".to_owned());
    }
    for (column, value) in &q.equals {
        params.push(Value::Text(value.clone()));
        clauses.push(format!("{column} = ${}", params.len()));
    }
    if let Some(s) = &q.search {
        params.push(Value::Text(contains_pattern(s)));
        clauses.push(format!("search_text like ${} escape '\\'", params.len()));
    }
    let column = q.sort.column();
    let (cmp, dir) = if q.descending {
        ("<", "desc")
    } else {
        (">", "asc")
    };
    if let Some(after) = &q.after {
        params.push(after.key.clone());
        params.push(Value::Text(after.id.clone()));
        let (k, i) = (params.len() - 1, params.len());
        clauses.push(format!(
            "({column} {cmp} ${k} or ({column} = ${k} and id {cmp} ${i}))"
        ));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" where {}", clauses.join(" and "))
    };
    let sql = format!(
        "select * from {table}{filter} order by {column} {dir}, id {dir} limit {}",
        q.limit.clamp(1, 500)
    );
    (sql, params)
}

macro_rules! bind_values {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                Value::Int(v) => q.bind(*v),
                Value::Text(v) => q.bind(v.clone()),
            };
        }
        q
    }};
}

pub async fn list_companies(db: &Db, q: &ListQuery) -> Result<Vec<Company>, StoreError> {
    let (sql, params) = list_sql("companies", true, q);
    on_db!(db, |p| {
        let rows = bind_values!(sqlx::query(&sql), &params)
            .fetch_all(p)
            .await?;
        Ok(rows
            .iter()
            .map(|r| company_from_row!(r))
            .collect::<Result<_, _>>()?)
    })
}

pub async fn list_contacts(db: &Db, q: &ListQuery) -> Result<Vec<Contact>, StoreError> {
    let (sql, params) = list_sql("contacts", true, q);
    on_db!(db, |p| {
        let rows = bind_values!(sqlx::query(&sql), &params)
            .fetch_all(p)
            .await?;
        Ok(rows
            .iter()
            .map(Contact::from_row)
            .collect::<Result<_, _>>()?)
    })
}

pub async fn list_leads(db: &Db, q: &ListQuery) -> Result<Vec<Lead>, StoreError> {
    let (sql, params) = list_sql("leads", false, q);
    on_db!(db, |p| {
        let rows = bind_values!(sqlx::query(&sql), &params)
            .fetch_all(p)
            .await?;
        Ok(rows.iter().map(Lead::from_row).collect::<Result<_, _>>()?)
    })
}
