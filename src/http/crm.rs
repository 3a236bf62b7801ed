//! `/api/v1/companies`, `/api/v1/contacts`, `/api/v1/leads`, `/api/v1/notes`:
//! the CRM. Lists are keyset-paginated (`limit`, `cursor`), sortable
//! (`sort=name|created_at|updated_at`, `-` for descending) and searchable
//! (`q`: name, GSTIN, PAN, CIN, domain; for contacts e-mail, name, phone).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use base64::Engine;
use pebble_core::audit::canonical_time;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::activity::EventView;
use super::error::Problem;
use super::json::Json;
use super::query::param;
use super::{ApiError, AppState};
use crate::auth::Principal;
use crate::crm::{
    CompanyInput, ContactInput, CrmError, Detail, LeadInput, NoteInput, Stage, StageChange,
};
use crate::store::crm::{
    sort_value_company, sort_value_contact, sort_value_lead, After, Company, Contact, Lead,
    ListQuery, Note, SortKey, Value,
};
use pebble_core::access::Role;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_companies, create_company))
        .routes(routes!(get_company, update_company))
        .routes(routes!(merge_company))
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(get_contact, update_contact))
        .routes(routes!(merge_contact))
        .routes(routes!(list_leads, create_lead))
        .routes(routes!(get_lead))
        .routes(routes!(change_stage))
        .routes(routes!(add_note))
}

impl From<CrmError> for ApiError {
    fn from(e: CrmError) -> Self {
        match e {
            CrmError::BadInput { field, detail } => ApiError::bad(field, detail),
            CrmError::NotFound => ApiError::NotFound,
            CrmError::Conflict(m) => ApiError::Conflict(m),
            CrmError::Store(s) => s.into(),
            CrmError::Audit(a) => a.into(),
        }
    }
}

// ---------------------------------------------------------------- views

#[derive(Serialize, ToSchema)]
pub struct CompanyView {
    id: String,
    name: String,
    domains: Vec<String>,
    gstins: Vec<String>,
    pan: Option<String>,
    /// CIN or LLPIN
    cin: Option<String>,
    address: Option<String>,
    state: Option<String>,
    /// unchecked, valid or failed
    validation_status: String,
    validation_errors: Vec<String>,
    /// Set when this company was merged into another (the survivor).
    merged_into: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<Company> for CompanyView {
    fn from(c: Company) -> Self {
        CompanyView {
            id: c.id,
            name: c.name,
            domains: c.domains,
            gstins: c.gstins,
            pan: c.pan,
            cin: c.cin,
            address: c.address,
            state: c.state,
            validation_status: c.validation_status,
            validation_errors: c.validation_errors,
            merged_into: c.merged_into,
            created_at: canonical_time(c.created_at),
            updated_at: canonical_time(c.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ContactView {
    id: String,
    email: String,
    name: String,
    phone: Option<String>,
    company_id: Option<String>,
    merged_into: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<Contact> for ContactView {
    fn from(c: Contact) -> Self {
        ContactView {
            id: c.id,
            email: c.email,
            name: c.name,
            phone: c.phone,
            company_id: c.company_id,
            merged_into: c.merged_into,
            created_at: canonical_time(c.created_at),
            updated_at: canonical_time(c.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LeadView {
    id: String,
    title: String,
    company_id: String,
    contact_id: Option<String>,
    /// new, contacted, qualified, quoted, won or lost
    stage: String,
    lost_reason: Option<String>,
    owner_id: Option<String>,
    source_email_id: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<Lead> for LeadView {
    fn from(l: Lead) -> Self {
        LeadView {
            id: l.id,
            title: l.title,
            company_id: l.company_id,
            contact_id: l.contact_id,
            stage: l.stage,
            lost_reason: l.lost_reason,
            owner_id: l.owner_id,
            source_email_id: l.source_email_id,
            created_at: canonical_time(l.created_at),
            updated_at: canonical_time(l.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NoteView {
    id: String,
    entity_type: String,
    entity_id: String,
    author_id: String,
    body: String,
    created_at: String,
}

impl From<Note> for NoteView {
    fn from(n: Note) -> Self {
        NoteView {
            id: n.id,
            entity_type: n.entity_type,
            entity_id: n.entity_id,
            author_id: n.author_id,
            body: n.body,
            created_at: canonical_time(n.created_at),
        }
    }
}

/// One record with its notes and its history from the activity stream.
#[derive(Serialize, ToSchema)]
pub struct DetailView<T: ToSchema> {
    #[serde(flatten)]
    record: T,
    /// Ids of the records merged into this one; their events are in `history`.
    absorbed: Vec<String>,
    notes: Vec<NoteView>,
    history: Vec<EventView>,
}

fn detail<S, T: ToSchema + From<S>>(d: Detail<S>) -> DetailView<T> {
    DetailView {
        record: T::from(d.record),
        absorbed: d.absorbed,
        notes: d.notes.into_iter().map(NoteView::from).collect(),
        history: d.history.into_iter().map(EventView::from).collect(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ListPage<T: ToSchema> {
    items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

// ---------------------------------------------------------------- lists

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The id of the duplicate to fold into the record in the path.
    duplicate: String,
}

const LIST_FIELDS: [&str; 4] = ["limit", "cursor", "sort", "q"];

pub(crate) fn encode_cursor(sort: SortKey, key: Value, id: &str) -> String {
    let key = match key {
        Value::Int(n) => serde_json::Value::from(n),
        Value::Text(s) => serde_json::Value::from(s),
    };
    let json = serde_json::json!([sort_name(sort), key, id]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn sort_name(s: SortKey) -> &'static str {
    match s {
        SortKey::Name => "name",
        SortKey::CreatedAt => "created_at",
        SortKey::UpdatedAt => "updated_at",
    }
}

fn decode_cursor(text: &str, sort: SortKey) -> Result<After, ApiError> {
    let wrong = || ApiError::bad("cursor", "not a cursor from this list and sort order");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| wrong())?;
    let v: (String, serde_json::Value, String) =
        serde_json::from_slice(&bytes).map_err(|_| wrong())?;
    if v.0 != sort_name(sort) || v.2.contains('\0') {
        return Err(wrong());
    }
    let key = match (sort, v.1) {
        (SortKey::Name, serde_json::Value::String(s)) if !s.contains('\0') => Value::Text(s),
        (SortKey::CreatedAt | SortKey::UpdatedAt, serde_json::Value::Number(n)) => {
            Value::Int(n.as_i64().ok_or_else(wrong)?)
        }
        _ => return Err(wrong()),
    };
    Ok(After { key, id: v.2 })
}

/// Parse the shared list parameters plus the list's own filters (`filters`
/// maps a parameter to its column); unknown parameters are errors, so a
/// misspelt filter never silently matches everything.
pub(crate) fn list_query(
    q: &HashMap<String, String>,
    filters: &[(&str, &'static str)],
    searchable: bool,
    default_sort: (SortKey, bool),
) -> Result<ListQuery, ApiError> {
    if let Some(k) = q
        .keys()
        .find(|k| !LIST_FIELDS.contains(&k.as_str()) && !filters.iter().any(|(name, _)| name == k))
    {
        return Err(ApiError::bad(k.clone(), "unknown parameter"));
    }
    let limit = match param(q, "limit", 8)? {
        None => 50,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| ApiError::bad("limit", "must be an integer from 1 to 200"))?,
    };
    let (sort, descending) = match param(q, "sort", 16)? {
        None => default_sort,
        Some(s) => {
            let (desc, name) = match s.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, s),
            };
            let key = match name {
                "name" => SortKey::Name,
                "created_at" => SortKey::CreatedAt,
                "updated_at" => SortKey::UpdatedAt,
                _ => {
                    return Err(ApiError::bad(
                        "sort",
                        "must be name, created_at or updated_at, optionally prefixed with -",
                    ))
                }
            };
            (key, desc)
        }
    };
    let after = param(q, "cursor", 2048)?
        .map(|c| decode_cursor(c, sort))
        .transpose()?;
    let search = match param(q, "q", 200)? {
        Some(_) if !searchable => return Err(ApiError::bad("q", "this list is not searchable")),
        Some(s) => Some(s.trim().to_lowercase()),
        None => None,
    };
    let mut equals = Vec::new();
    for (name, column) in filters {
        if let Some(v) = param(q, name, 64)? {
            equals.push((*column, v.to_owned()));
        }
    }
    Ok(ListQuery {
        sort,
        descending,
        after,
        limit,
        search,
        equals,
    })
}

fn page<S, T: ToSchema + From<S>>(
    rows: Vec<S>,
    q: &ListQuery,
    key: impl Fn(&S) -> (Value, String),
) -> ListPage<T> {
    let next_cursor = if rows.len() as i64 == q.limit {
        rows.last().map(|r| {
            let (k, id) = key(r);
            encode_cursor(q.sort, k, &id)
        })
    } else {
        None
    };
    ListPage {
        items: rows.into_iter().map(T::from).collect(),
        next_cursor,
    }
}

fn record_id(id: &str) -> Result<&str, ApiError> {
    if id.len() > 64 || id.contains('\0') {
        return Err(ApiError::NotFound);
    }
    Ok(id)
}

// ---------------------------------------------------------------- companies

/// Companies, live ones only (merged companies are reached through their survivor).
#[utoipa::path(get, path = "/api/v1/companies", tag = "crm", security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("sort" = Option<String>, Query, description = "name (default), created_at or updated_at; prefix - for descending"),
        ("q" = Option<String>, Query, description = "text in the name, a GSTIN, the PAN, CIN or a domain"),
        ("validation" = Option<String>, Query, description = "unchecked, valid or failed")),
    responses((status = 200, body = ListPage<CompanyView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_companies(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<ListPage<CompanyView>>, ApiError> {
    if let Some(v) = q.get("validation") {
        if !matches!(v.as_str(), "unchecked" | "valid" | "failed") {
            return Err(ApiError::bad(
                "validation",
                "must be unchecked, valid or failed",
            ));
        }
    }
    let lq = list_query(
        &q,
        &[("validation", "validation_status")],
        true,
        (SortKey::Name, false),
    )?;
    let rows = state.crm.list_companies(&lq).await?;
    Ok(axum::Json(page(rows, &lq, |c| {
        (sort_value_company(c, lq.sort), c.id.clone())
    })))
}

/// Create a company; its identifiers are validated (CompanyValidated).
#[utoipa::path(post, path = "/api/v1/companies", tag = "crm", request_body = CompanyInput,
    security(("bearer" = [])),
    responses((status = 201, body = CompanyView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 409, body = Problem), (status = 415, body = Problem)))]
async fn create_company(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CompanyInput>,
) -> Result<(StatusCode, axum::Json<CompanyView>), ApiError> {
    let c = state.crm.create_company(principal.actor(), body).await?;
    Ok((StatusCode::CREATED, axum::Json(c.into())))
}

/// One company with its notes and history.
#[utoipa::path(get, path = "/api/v1/companies/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = String, Path, description = "company id")),
    responses((status = 200, body = DetailView<CompanyView>), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_company(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<DetailView<CompanyView>>, ApiError> {
    Ok(axum::Json(detail(
        state.crm.company(record_id(&id)?).await?,
    )))
}

/// Replace a company's fields; its identifiers are validated again.
#[utoipa::path(put, path = "/api/v1/companies/{id}", tag = "crm", request_body = CompanyInput,
    params(("id" = String, Path, description = "company id")), security(("bearer" = [])),
    responses((status = 200, body = CompanyView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn update_company(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<CompanyInput>,
) -> Result<axum::Json<CompanyView>, ApiError> {
    let c = state
        .crm
        .update_company(principal.actor(), record_id(&id)?, body)
        .await?;
    Ok(axum::Json(c.into()))
}

/// Fold a duplicate company into this one, keeping both histories.
#[utoipa::path(post, path = "/api/v1/companies/{id}/merge", tag = "crm", request_body = MergeRequest,
    params(("id" = String, Path, description = "the surviving company")), security(("bearer" = [])),
    responses((status = 200, body = CompanyView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn merge_company(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<MergeRequest>,
) -> Result<axum::Json<CompanyView>, ApiError> {
    let c = state
        .crm
        .merge_companies(principal.actor(), record_id(&id)?, &body.duplicate)
        .await?;
    Ok(axum::Json(c.into()))
}

// ---------------------------------------------------------------- contacts

/// Contacts, live ones only.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "crm", security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("sort" = Option<String>, Query, description = "name (default), created_at or updated_at; prefix - for descending"),
        ("q" = Option<String>, Query, description = "text in the e-mail address, name or phone"),
        ("company_id" = Option<String>, Query, description = "only this company's contacts")),
    responses((status = 200, body = ListPage<ContactView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_contacts(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<ListPage<ContactView>>, ApiError> {
    let lq = list_query(
        &q,
        &[("company_id", "company_id")],
        true,
        (SortKey::Name, false),
    )?;
    let rows = state.crm.list_contacts(&lq).await?;
    Ok(axum::Json(page(rows, &lq, |c| {
        (sort_value_contact(c, lq.sort), c.id.clone())
    })))
}

/// Create a contact (e-mail addresses are unique among live contacts).
#[utoipa::path(post, path = "/api/v1/contacts", tag = "crm", request_body = ContactInput,
    security(("bearer" = [])),
    responses((status = 201, body = ContactView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 409, body = Problem), (status = 415, body = Problem)))]
async fn create_contact(
    State(state): State<AppState>,
    Json(body): Json<ContactInput>,
) -> Result<(StatusCode, axum::Json<ContactView>), ApiError> {
    let c = state.crm.create_contact(body).await?;
    Ok((StatusCode::CREATED, axum::Json(c.into())))
}

/// One contact with its notes and history.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = String, Path, description = "contact id")),
    responses((status = 200, body = DetailView<ContactView>), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<DetailView<ContactView>>, ApiError> {
    Ok(axum::Json(detail(
        state.crm.contact(record_id(&id)?).await?,
    )))
}

/// Replace a contact's fields.
#[utoipa::path(put, path = "/api/v1/contacts/{id}", tag = "crm", request_body = ContactInput,
    params(("id" = String, Path, description = "contact id")), security(("bearer" = [])),
    responses((status = 200, body = ContactView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn update_contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<ContactInput>,
) -> Result<axum::Json<ContactView>, ApiError> {
    let c = state.crm.update_contact(record_id(&id)?, body).await?;
    Ok(axum::Json(c.into()))
}

/// Fold a duplicate contact into this one, keeping both histories.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/merge", tag = "crm", request_body = MergeRequest,
    params(("id" = String, Path, description = "the surviving contact")), security(("bearer" = [])),
    responses((status = 200, body = ContactView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn merge_contact(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<MergeRequest>,
) -> Result<axum::Json<ContactView>, ApiError> {
    let c = state
        .crm
        .merge_contacts(principal.actor(), record_id(&id)?, &body.duplicate)
        .await?;
    Ok(axum::Json(c.into()))
}

// ---------------------------------------------------------------- leads

/// Leads in the funnel.
#[utoipa::path(get, path = "/api/v1/leads", tag = "crm", security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
        ("sort" = Option<String>, Query, description = "name (the title), created_at or updated_at (default -updated_at)"),
        ("stage" = Option<String>, Query, description = "new, contacted, qualified, quoted, won or lost"),
        ("owner_id" = Option<String>, Query, description = "the owning Sales user"),
        ("company_id" = Option<String>, Query, description = "only this company's leads"),
        ("contact_id" = Option<String>, Query, description = "only this contact's leads")),
    responses((status = 200, body = ListPage<LeadView>), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn list_leads(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::Json<ListPage<LeadView>>, ApiError> {
    if let Some(s) = q.get("stage") {
        s.parse::<Stage>().map_err(|_| {
            ApiError::bad(
                "stage",
                "must be new, contacted, qualified, quoted, won or lost",
            )
        })?;
    }
    let lq = list_query(
        &q,
        &[
            ("stage", "stage"),
            ("owner_id", "owner_id"),
            ("company_id", "company_id"),
            ("contact_id", "contact_id"),
        ],
        false,
        (SortKey::UpdatedAt, true),
    )?;
    let rows = state.crm.list_leads(&lq).await?;
    Ok(axum::Json(page(rows, &lq, |l| {
        (sort_value_lead(l, lq.sort), l.id.clone())
    })))
}

/// Open a lead at stage `new` (LeadCreated).
#[utoipa::path(post, path = "/api/v1/leads", tag = "crm", request_body = LeadInput,
    security(("bearer" = [])),
    responses((status = 201, body = LeadView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 415, body = Problem)))]
async fn create_lead(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<LeadInput>,
) -> Result<(StatusCode, axum::Json<LeadView>), ApiError> {
    let l = state
        .crm
        .create_lead(principal.actor(), principal.role == Role::Sales, body)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(l.into())))
}

/// One lead with its notes and history.
#[utoipa::path(get, path = "/api/v1/leads/{id}", tag = "crm", security(("bearer" = [])),
    params(("id" = String, Path, description = "lead id")),
    responses((status = 200, body = DetailView<LeadView>), (status = 401, body = Problem), (status = 404, body = Problem)))]
async fn get_lead(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<DetailView<LeadView>>, ApiError> {
    Ok(axum::Json(detail(state.crm.lead(record_id(&id)?).await?)))
}

/// Move a lead along the funnel (LeadStageChanged); lost needs a reason.
#[utoipa::path(post, path = "/api/v1/leads/{id}/stage", tag = "crm", request_body = StageChange,
    params(("id" = String, Path, description = "lead id")), security(("bearer" = [])),
    responses((status = 200, body = LeadView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 404, body = Problem),
               (status = 409, body = Problem, description = "not an allowed transition")))]
async fn change_stage(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<StageChange>,
) -> Result<axum::Json<LeadView>, ApiError> {
    let l = state
        .crm
        .change_stage(principal.actor(), record_id(&id)?, body)
        .await?;
    Ok(axum::Json(l.into()))
}

// ---------------------------------------------------------------- notes

/// Add a note to a company, contact or lead.
#[utoipa::path(post, path = "/api/v1/notes", tag = "crm", request_body = NoteInput,
    security(("bearer" = [])),
    responses((status = 201, body = NoteView), (status = 400, body = Problem), (status = 401, body = Problem),
               (status = 403, body = Problem), (status = 415, body = Problem)))]
async fn add_note(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<NoteInput>,
) -> Result<(StatusCode, axum::Json<NoteView>), ApiError> {
    let n = state.crm.add_note(&principal.user_id, body).await?;
    Ok((StatusCode::CREATED, axum::Json(n.into())))
}
