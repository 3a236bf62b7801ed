//! The records the pipeline's extract, link and enrich steps keep, one per
//! email each, and the CRM history the enrich step reads. Inserts do
//! nothing when the email already has its record, so a step run again
//! after a crash writes nothing twice.

use super::crm::Lead;
use super::{check_text, on_db, on_tx, refused, Db, StoreError, Tx};
use sqlx::FromRow;

/// What the extract step found in an email. The lists are JSON text.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct ExtractionRow {
    pub email_id: String,
    pub identifiers: String,
    pub phones: String,
    pub products: String,
    pub created_at: i64,
}

/// What the link step did in the CRM for an email.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct LinkRow {
    pub email_id: String,
    pub company_id: Option<String>,
    /// JSON: each identifier with its verdict and whether it was attached.
    pub identifiers: String,
    pub lead_id: Option<String>,
    /// The lead's stage before (`None` with a `lead_to`: created).
    pub lead_from: Option<String>,
    pub lead_to: Option<String>,
    pub note: String,
    pub created_at: i64,
}

/// Stock answers and CRM history for an email, JSON text.
#[derive(Clone, Debug, PartialEq, Eq, FromRow)]
pub struct EnrichmentRow {
    pub email_id: String,
    pub stock: String,
    pub history: String,
    pub created_at: i64,
}

/// `false` when the email already has its extraction.
pub async fn insert_extraction(tx: &mut Tx, r: &ExtractionRow) -> Result<bool, StoreError> {
    for t in [&r.identifiers, &r.phones, &r.products] {
        check_text(t)?;
    }
    let n = on_tx!(tx, |c| sqlx::query(
        "insert into email_extractions (email_id, identifiers, phones, products, created_at) \
         values ($1, $2, $3, $4, $5) on conflict do nothing"
    )
    .bind(&r.email_id)
    .bind(&r.identifiers)
    .bind(&r.phones)
    .bind(&r.products)
    .bind(r.created_at)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected());
    Ok(n == 1)
}

pub async fn extraction(db: &Db, email_id: &str) -> Result<Option<ExtractionRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select * from email_extractions where email_id = $1"
    )
    .bind(email_id)
    .fetch_optional(p)
    .await?))
}

/// `false` when the email was already linked (by this run's twin).
pub async fn insert_link(tx: &mut Tx, r: &LinkRow) -> Result<bool, StoreError> {
    check_text(&r.identifiers)?;
    check_text(&r.note)?;
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "insert into email_links (email_id, company_id, identifiers, lead_id, lead_from, lead_to, \
         note, created_at) values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict do nothing"
    )
    .bind(&r.email_id)
    .bind(&r.company_id)
    .bind(&r.identifiers)
    .bind(&r.lead_id)
    .bind(&r.lead_from)
    .bind(&r.lead_to)
    .bind(&r.note)
    .bind(r.created_at)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected()
    });
    Ok(n == 1)
}

pub async fn link(db: &Db, email_id: &str) -> Result<Option<LinkRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select * from email_links where email_id = $1"
    )
    .bind(email_id)
    .fetch_optional(p)
    .await?))
}

/// `false` when the email was already enriched.
pub async fn insert_enrichment(tx: &mut Tx, r: &EnrichmentRow) -> Result<bool, StoreError> {
    check_text(&r.stock)?;
    check_text(&r.history)?;
    let n = on_tx!(tx, |c| sqlx::query(
        "insert into email_enrichments (email_id, stock, history, created_at) \
         values ($1, $2, $3, $4) on conflict do nothing"
    )
    .bind(&r.email_id)
    .bind(&r.stock)
    .bind(&r.history)
    .bind(r.created_at)
    .execute(c)
    .await
    .map_err(refused)?
    .rows_affected());
    Ok(n == 1)
}

pub async fn enrichment(db: &Db, email_id: &str) -> Result<Option<EnrichmentRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select * from email_enrichments where email_id = $1"
    )
    .bind(email_id)
    .fetch_optional(p)
    .await?))
}

/// A company's open leads (not won or lost), newest first, in the
/// caller's transaction.
pub async fn open_leads_tx(tx: &mut Tx, company_id: &str) -> Result<Vec<Lead>, StoreError> {
    on_tx!(tx, |c| {
        let rows = sqlx::query(
            "select * from leads where company_id = $1 and stage not in ('won', 'lost') \
             order by created_at desc, id desc",
        )
        .bind(company_id)
        .fetch_all(c)
        .await?;
        Ok(rows.iter().map(Lead::from_row).collect::<Result<_, _>>()?)
    })
}

// ---------------------------------------------------------------- history

/// Whose history: the company when the sender has one, else the contact
/// (free-mail senders have no company).
#[derive(Clone, Copy, Debug)]
pub enum Customer<'a> {
    Company(&'a str),
    Contact(&'a str),
}

impl Customer<'_> {
    fn column(&self) -> &'static str {
        match self {
            Customer::Company(_) => "company_id",
            Customer::Contact(_) => "contact_id",
        }
    }

    fn id(&self) -> &str {
        match self {
            Customer::Company(id) | Customer::Contact(id) => id,
        }
    }
}

/// Emails from the customer received before the email `(before, except)`
/// (receipt time in µs, then id: ids are time-ordered), erased and
/// quarantined ones not counted.
pub async fn earlier_emails(
    db: &Db,
    who: Customer<'_>,
    before: i64,
    except: &str,
) -> Result<i64, StoreError> {
    let sql = format!(
        "select count(*) from emails where {} = $1 \
         and (received_at < $2 or (received_at = $2 and id < $3)) \
         and status = 'ready' and erased_at is null",
        who.column()
    );
    Ok(on_db!(db, |p| sqlx::query_scalar(&sql)
        .bind(who.id())
        .bind(before)
        .bind(except)
        .fetch_one(p)
        .await?))
}

/// The company's open leads: (id, stage), newest first.
pub async fn open_leads(db: &Db, company_id: &str) -> Result<Vec<(String, String)>, StoreError> {
    Ok(on_db!(db, |p| sqlx::query_as(
        "select id, stage from leads where company_id = $1 and stage not in ('won', 'lost') \
         order by created_at desc, id desc"
    )
    .bind(company_id)
    .fetch_all(p)
    .await?))
}

/// The customer's latest reply a person approved (draft id, intent,
/// approval time), before `before`.
pub async fn last_approved_reply(
    db: &Db,
    who: Customer<'_>,
    before: i64,
) -> Result<Option<(String, String, i64)>, StoreError> {
    let sql = format!(
        "select id, intent, reviewed_at from drafts where {} = $1 \
         and status in ('approved', 'sent') and reviewed_at is not null and reviewed_at < $2 \
         order by reviewed_at desc, id desc limit 1",
        who.column()
    );
    Ok(on_db!(db, |p| sqlx::query_as(&sql)
        .bind(who.id())
        .bind(before)
        .fetch_optional(p)
        .await?))
}

/// The customer's latest email classified as a purchase order (email id,
/// receipt time), received before the email `(before, except)`.
pub async fn last_order(
    db: &Db,
    who: Customer<'_>,
    before: i64,
    except: &str,
) -> Result<Option<(String, i64)>, StoreError> {
    let sql = format!(
        "select e.id, e.received_at from emails e join classifications c on c.email_id = e.id \
         where e.{} = $1 and c.intent = 'purchase_order' \
         and (e.received_at < $2 or (e.received_at = $2 and e.id < $3)) \
         and e.erased_at is null order by e.received_at desc, e.id desc limit 1",
        who.column()
    );
    Ok(on_db!(db, |p| sqlx::query_as(&sql)
        .bind(who.id())
        .bind(before)
        .bind(except)
        .fetch_optional(p)
        .await?))
}
