//! Data-subject request SQL: find everything held about an e-mail address or
//! a company, and scrub a person's data out of the CRM. The activity stream
//! is never changed here; its payloads are redacted through
//! `store::activity::redact`, which keeps the chain verifiable.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;

use super::crm::{Company, Contact, Lead, Note};
use super::drafts::Draft;
use super::emails::{AttachmentRow, EmailRow};
use super::intent::{DecisionRow, OverrideRow};
use super::steps::{EnrichmentRow, ExtractionRow, LinkRow};
use super::{on_db, on_tx, refused, Db, StoreError, Tx};

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every contact with this address, merged and deleted ones included.
pub async fn contacts_by_email(db: &Db, email: &str) -> Result<Vec<Contact>, StoreError> {
    on_db!(db, |p| {
        let rows = sqlx::query("select * from contacts where email = $1 order by created_at, id")
            .bind(email)
            .fetch_all(p)
            .await?;
        Ok(rows
            .iter()
            .map(Contact::from_row)
            .collect::<Result<_, _>>()?)
    })
}

pub async fn contacts_by_company(db: &Db, company_id: &str) -> Result<Vec<Contact>, StoreError> {
    on_db!(db, |p| {
        let rows =
            sqlx::query("select * from contacts where company_id = $1 order by created_at, id")
                .bind(company_id)
                .fetch_all(p)
                .await?;
        Ok(rows
            .iter()
            .map(Contact::from_row)
            .collect::<Result<_, _>>()?)
    })
}

pub async fn companies(db: &Db, ids: &[String]) -> Result<Vec<Company>, StoreError> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(c) = super::crm::company(db, id).await? {
            out.push(c);
        }
    }
    Ok(out)
}

/// Leads whose `column` (contact_id or company_id, from code) is one of `ids`.
pub async fn leads_where(
    db: &Db,
    column: &'static str,
    ids: &[String],
) -> Result<Vec<Lead>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "select * from leads where {column} in ({}) order by created_at, id",
        placeholders(1, ids.len())
    );
    on_db!(db, |p| {
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(p).await?;
        Ok(rows.iter().map(Lead::from_row).collect::<Result<_, _>>()?)
    })
}

pub async fn notes_on(db: &Db, entity_type: &str, ids: &[String]) -> Result<Vec<Note>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "select * from notes where entity_type = $1 and entity_id in ({}) order by created_at, id",
        placeholders(2, ids.len())
    );
    on_db!(db, |p| {
        let mut q = sqlx::query(&sql).bind(entity_type);
        for id in ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(p).await?;
        Ok(rows.iter().map(Note::from_row).collect::<Result<_, _>>()?)
    })
}

/// Emails from the address, or to or copied to it (address lists are JSON
/// text: a lower-cased substring match, exact enough for an address).
pub async fn emails_of_address(db: &Db, email: &str) -> Result<Vec<EmailRow>, StoreError> {
    let quoted = format!("\"{email}\"");
    let sql = match db {
        Db::Sqlite(_) => {
            "select * from emails where lower(from_addr) = $1 or instr(lower(to_addrs), $2) > 0 \
             or instr(lower(cc_addrs), $2) > 0 order by received_at, id"
        }
        Db::Postgres(_) => {
            "select * from emails where lower(from_addr) = $1 or strpos(lower(to_addrs), $2) > 0 \
             or strpos(lower(cc_addrs), $2) > 0 order by received_at, id"
        }
    };
    on_db!(db, |p| Ok(sqlx::query_as(sql)
        .bind(email)
        .bind(&quoted)
        .fetch_all(p)
        .await?))
}

pub async fn emails_of_company(db: &Db, company_id: &str) -> Result<Vec<EmailRow>, StoreError> {
    on_db!(db, |p| Ok(sqlx::query_as(
        "select * from emails where company_id = $1 order by received_at, id"
    )
    .bind(company_id)
    .fetch_all(p)
    .await?))
}

pub async fn attachments_of(
    db: &Db,
    email_ids: &[String],
) -> Result<Vec<AttachmentRow>, StoreError> {
    if email_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "select email_id, position, filename, content_type, size, sha256 from email_attachments \
         where email_id in ({}) order by email_id, position",
        placeholders(1, email_ids.len())
    );
    on_db!(db, |p| {
        let mut q = sqlx::query_as(&sql);
        for id in email_ids {
            q = q.bind(id);
        }
        Ok(q.fetch_all(p).await?)
    })
}

/// Rows of `table` (from code) about the emails `email_ids`, in the
/// order of `order` (from code).
async fn of_emails<T>(
    db: &Db,
    table: &'static str,
    order: &'static str,
    email_ids: &[String],
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
{
    if email_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "select * from {table} where email_id in ({}) order by {order}",
        placeholders(1, email_ids.len())
    );
    on_db!(db, |p| {
        let mut q = sqlx::query_as(&sql);
        for id in email_ids {
            q = q.bind(id);
        }
        Ok(q.fetch_all(p).await?)
    })
}

/// The classification decisions on these emails.
pub async fn decisions_of(db: &Db, email_ids: &[String]) -> Result<Vec<DecisionRow>, StoreError> {
    of_emails(db, "classifications", "created_at, email_id", email_ids).await
}

/// People's overrides of those decisions, with their justifications.
pub async fn overrides_of(db: &Db, email_ids: &[String]) -> Result<Vec<OverrideRow>, StoreError> {
    of_emails(db, "classification_overrides", "created_at, id", email_ids).await
}

/// Reply drafts of these emails (the pipeline's and those people asked for).
pub async fn drafts_of(db: &Db, email_ids: &[String]) -> Result<Vec<Draft>, StoreError> {
    of_emails(db, "drafts", "created_at, id", email_ids).await
}

pub async fn extractions_of(
    db: &Db,
    email_ids: &[String],
) -> Result<Vec<ExtractionRow>, StoreError> {
    of_emails(db, "email_extractions", "created_at, email_id", email_ids).await
}

pub async fn links_of(db: &Db, email_ids: &[String]) -> Result<Vec<LinkRow>, StoreError> {
    of_emails(db, "email_links", "created_at, email_id", email_ids).await
}

pub async fn enrichments_of(
    db: &Db,
    email_ids: &[String],
) -> Result<Vec<EnrichmentRow>, StoreError> {
    of_emails(db, "email_enrichments", "created_at, email_id", email_ids).await
}

/// Empty an email of everything personal; the row stays (with its ids and
/// hashes) so threads, jobs and the audit trail still resolve.
pub async fn scrub_email(tx: &mut Tx, id: &str, now: i64) -> Result<(), StoreError> {
    on_tx!(tx, |c| {
        sqlx::query(
        "update emails set from_addr = null, from_name = null, reply_to = null, to_addrs = '[]', \
         cc_addrs = '[]', subject = '(erased)', body_text = '', body_html = null, quarantine_detail = null, \
         erased_at = coalesce(erased_at, $2) where id = $1"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?
    });
    on_tx!(tx, |c| sqlx::query(
        "update email_attachments set filename = '(erased)' where email_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    // The classify step copied the email's text, and the phone numbers and
    // tax ids found in it, into its decision. The label and scores stay:
    // they say nothing about the person and drift is measured on them.
    on_tx!(tx, |c| sqlx::query(
        "update classifications set subject = '(erased)', body = '', evidence = '[]', \
         entities = '{\"products\":[],\"gstin\":[],\"pan\":[],\"cin\":[],\"phone\":[]}', \
         llm_error = null where email_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    // The pipeline's records of the email: identifiers and phone numbers
    // found in it, the products the person asked for, what the CRM made of
    // them and the customer's history. Times and the lead id stay.
    on_tx!(tx, |c| sqlx::query(
        "update email_extractions set identifiers = '[]', phones = '[]', products = '[]' \
         where email_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    on_tx!(tx, |c| sqlx::query(
        "update email_links set identifiers = '[]', note = '(erased)' where email_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    on_tx!(tx, |c| sqlx::query(
        "update email_enrichments set stock = '[]', history = 'null' where email_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    // A reply not yet handed to the SMTP server is not sent to an erased
    // person: without the lease the sender's next conditional update fails
    // and it stops. A reply at its final dot may be delivered; it keeps its
    // status and loses its text like every other.
    on_tx!(tx, |c| sqlx::query(
        "update outbox set status = 'dead', last_error = 'the recipient was erased', \
         lease_owner = null, lease_until = null, updated_at = $2 \
         where status in ('queued', 'attempting') \
         and draft_id in (select id from drafts where email_id = $1)"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    on_tx!(tx, |c| sqlx::query(
        "update outbox set to_addr = '(erased)', message = '' \
         where draft_id in (select id from drafts where email_id = $1)"
    )
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    // A reviewer's edit is a diff of the reply's text.
    on_tx!(tx, |c| sqlx::query(
        "update draft_edits set diff = '' \
         where draft_id in (select id from drafts where email_id = $1)"
    )
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    // A draft repeats the sender's name, address and words, and its facts
    // name the customer. Intent, status and times stay for the response-time
    // figures; a draft still waiting for review or sending never will be.
    on_tx!(tx, |c| sqlx::query(
        "update drafts set to_addr = '(erased)', to_name = null, subject = '(erased)', \
         body = '', final_body = case when final_body is null then null else '' end, \
         facts = '{}', \
         reject_reason = case when status = 'pending' then 'the sender was erased' \
                              when reject_reason is null then null else '(erased)' end, \
         status = case status when 'pending' then 'rejected' \
                              when 'approved' then 'failed' else status end \
         where email_id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

/// Whether an object is still needed by an email that was not erased (the
/// store is content-addressed: two emails may share an attachment).
pub async fn object_in_use(db: &Db, key: &str) -> Result<bool, StoreError> {
    let n: i64 = on_db!(db, |p| sqlx::query_scalar(
        "select count(*) from emails e where e.erased_at is null and (e.raw_sha256 = $1 \
         or exists (select 1 from email_attachments a where a.email_id = e.id and a.sha256 = $1))"
    )
    .bind(key)
    .fetch_one(p)
    .await?);
    Ok(n > 0)
}

/// Seqs of events whose payload mentions `needle` (lower case) or that are
/// about one of `entities`, oldest first. A full pass over the stream: data-
/// subject requests are rare and must not miss anything.
pub async fn events_about(
    tx: &mut Tx,
    needle: &str,
    entities: &[(&str, String)],
) -> Result<Vec<i64>, StoreError> {
    let mut clauses = vec![match tx {
        Tx::Sqlite(_) => "instr(lower(payload), $1) > 0".to_owned(),
        Tx::Postgres(_) => "strpos(lower(payload), $1) > 0".to_owned(),
    }];
    for i in 0..entities.len() {
        clauses.push(format!(
            "(entity_type = ${} and entity_id = ${})",
            2 + 2 * i,
            3 + 2 * i
        ));
    }
    let sql = format!(
        "select seq from activity_stream where {} order by seq",
        clauses.join(" or ")
    );
    on_tx!(tx, |c| {
        let mut q = sqlx::query_scalar(&sql).bind(needle);
        for (t, id) in entities {
            q = q.bind(*t).bind(id);
        }
        Ok(q.fetch_all(c).await?)
    })
}

/// Empty a contact of personal data and soft-delete it. The address becomes
/// a placeholder unique to the row, so the live-address index stays happy.
pub async fn scrub_contact(tx: &mut Tx, id: &str, now: i64) -> Result<(), StoreError> {
    on_tx!(tx, |c| sqlx::query(
        "update contacts set email = $2, name = '', sort_name = '', phone = null, \
         search_text = '', deleted_at = coalesce(deleted_at, $3), updated_at = $3 where id = $1"
    )
    .bind(id)
    .bind(format!("erased-{id}@erased.invalid"))
    .bind(now)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

/// A lead's title may name the person; its stage and dates stay for the funnel.
pub async fn scrub_lead(tx: &mut Tx, id: &str, now: i64) -> Result<(), StoreError> {
    on_tx!(tx, |c| sqlx::query(
        "update leads set title = '(erased)', sort_name = '(erased)', lost_reason = null, \
         updated_at = $2 where id = $1"
    )
    .bind(id)
    .bind(now)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}

pub async fn scrub_note(tx: &mut Tx, id: &str) -> Result<(), StoreError> {
    on_tx!(tx, |c| sqlx::query(
        "update notes set body = '(erased)' where id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map_err(refused)
    .map(|_| ())?);
    Ok(())
}
