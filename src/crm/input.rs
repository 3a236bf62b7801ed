//! Request bodies for the CRM and their checks: bounded lengths, no NUL
//! bytes, normalised e-mail addresses and domains. Errors name the field.

use serde::Deserialize;
use utoipa::ToSchema;

use super::{bad, CrmError, Stage};

pub const MAX_NAME: usize = 300;
pub const MAX_TEXT: usize = 2000;
pub const MAX_NOTE: usize = 8000;
pub const MAX_ID: usize = 64;
pub const MAX_LIST: usize = 50;

/// Text bounded in characters, free of NUL bytes; surrounding space kept
/// (stored verbatim).
fn text(field: &str, value: String, max: usize) -> Result<String, CrmError> {
    if value.contains('\0') {
        return Err(bad(field, "must not contain NUL bytes"));
    }
    if value.chars().count() > max {
        return Err(bad(field, format!("longer than {max} characters")));
    }
    Ok(value)
}

fn required(field: &str, value: String, max: usize) -> Result<String, CrmError> {
    let value = text(field, value, max)?;
    if value.trim().is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    Ok(value)
}

/// Empty means absent.
fn optional(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, CrmError> {
    value
        .map(|v| text(field, v, max))
        .transpose()
        .map(|v| v.filter(|v| !v.trim().is_empty()))
}

/// A host name as found after the `@`: lower case, letters, digits, dots and
/// hyphens, at least one dot.
pub fn domain(field: &str, value: &str) -> Result<String, CrmError> {
    let d = value
        .trim()
        .trim_start_matches('@')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(d)
    } else {
        Err(bad(field, "must be a domain such as example.co.in"))
    }
}

/// An e-mail address, lower-cased: a local part and a valid domain.
pub fn email(field: &str, value: &str) -> Result<String, CrmError> {
    let v = value.trim();
    if v.len() > 254 || v.contains('\0') {
        return Err(bad(field, "must be an e-mail address of at most 254 bytes"));
    }
    let Some((local, host)) = v.rsplit_once('@') else {
        return Err(bad(field, "must be an e-mail address"));
    };
    if local.is_empty()
        || local.len() > 64
        || local.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad(field, "must be an e-mail address"));
    }
    let host = domain(field, host)?;
    Ok(format!("{}@{host}", local.to_lowercase()))
}

fn id(field: &str, value: Option<String>) -> Result<Option<String>, CrmError> {
    match value {
        Some(v) if v.is_empty() || v.len() > MAX_ID || v.contains('\0') => {
            Err(bad(field, "must be an id"))
        }
        other => Ok(other),
    }
}

fn list(field: &str, values: Vec<String>, max_len: usize) -> Result<Vec<String>, CrmError> {
    if values.len() > MAX_LIST {
        return Err(bad(field, format!("at most {MAX_LIST} entries")));
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| required(&format!("{field}[{i}]"), v, max_len))
        .collect()
}

/// A company: name, e-mail domains, identifiers, address.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyInput {
    #[schema(max_length = 300)]
    pub name: String,
    /// E-mail domains the company's people write from (never free-mail).
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub gstins: Vec<String>,
    pub pan: Option<String>,
    /// CIN or LLPIN.
    pub cin: Option<String>,
    pub address: Option<String>,
    /// Name, abbreviation or GST code of the registered address's state.
    pub state: Option<String>,
}

impl CompanyInput {
    pub(super) fn checked(self) -> Result<CompanyInput, CrmError> {
        let mut domains = Vec::new();
        for (i, d) in list("domains", self.domains, 253)?.iter().enumerate() {
            let d = domain(&format!("domains[{i}]"), d)?;
            if super::is_free_mail(&d) {
                return Err(bad(
                    format!("domains[{i}]"),
                    "is a free-mail domain shared by unrelated people",
                ));
            }
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        Ok(CompanyInput {
            name: required("name", self.name, MAX_NAME)?,
            domains,
            gstins: list("gstins", self.gstins, MAX_ID)?,
            pan: optional("pan", self.pan, MAX_ID)?,
            cin: optional("cin", self.cin, MAX_ID)?,
            address: optional("address", self.address, MAX_TEXT)?,
            state: optional("state", self.state, MAX_NAME)?,
        })
    }
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    #[schema(max_length = 254)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    pub phone: Option<String>,
    pub company_id: Option<String>,
}

impl ContactInput {
    pub(super) fn checked(self) -> Result<ContactInput, CrmError> {
        Ok(ContactInput {
            email: email("email", &self.email)?,
            name: text("name", self.name, MAX_NAME)?,
            phone: optional("phone", self.phone, MAX_ID)?,
            company_id: id("company_id", self.company_id)?,
        })
    }
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadInput {
    #[schema(max_length = 300)]
    pub title: String,
    pub company_id: String,
    pub contact_id: Option<String>,
    /// A Sales user; defaults to the creator when they are one.
    pub owner_id: Option<String>,
    /// The e-mail the lead came from.
    pub source_email_id: Option<String>,
}

impl LeadInput {
    pub(super) fn checked(self) -> Result<LeadInput, CrmError> {
        Ok(LeadInput {
            title: required("title", self.title, MAX_NAME)?,
            company_id: id("company_id", Some(self.company_id))?.unwrap_or_default(),
            contact_id: id("contact_id", self.contact_id)?,
            owner_id: id("owner_id", self.owner_id)?,
            source_email_id: optional("source_email_id", self.source_email_id, 200)?,
        })
    }
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageChange {
    /// new, contacted, qualified, quoted, won or lost
    pub stage: String,
    /// Required when the stage is lost.
    pub reason: Option<String>,
}

impl StageChange {
    pub(super) fn checked(self) -> Result<(Stage, Option<String>), CrmError> {
        let stage: Stage = self.stage.parse().map_err(|_| {
            bad(
                "stage",
                "must be new, contacted, qualified, quoted, won or lost",
            )
        })?;
        let reason = optional("reason", self.reason, MAX_TEXT)?;
        match (stage, reason) {
            (Stage::Lost, None) => Err(bad("reason", "a lost lead needs a reason")),
            (Stage::Lost, reason) => Ok((stage, reason)),
            (_, Some(_)) => Err(bad("reason", "only a lost lead takes a reason")),
            (_, None) => Ok((stage, None)),
        }
    }
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// company, contact or lead
    pub entity_type: String,
    pub entity_id: String,
    #[schema(max_length = 8000)]
    pub body: String,
}

impl NoteInput {
    pub(super) fn checked(self) -> Result<NoteInput, CrmError> {
        if !matches!(self.entity_type.as_str(), "company" | "contact" | "lead") {
            return Err(bad("entity_type", "must be company, contact or lead"));
        }
        Ok(NoteInput {
            entity_type: self.entity_type,
            entity_id: id("entity_id", Some(self.entity_id))?.unwrap_or_default(),
            body: required("body", self.body, MAX_NOTE)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_domains_are_lower_cased_and_junk_is_refused() {
        assert_eq!(email("e", " Ravi@Acme.CO.IN ").unwrap(), "ravi@acme.co.in");
        assert_eq!(email("e", "o'brien@x.in").unwrap(), "o'brien@x.in");
        for junk in ["", "no-at", "@x.in", "a@", "a b@x.in", "a@x", "a@<b>.in"] {
            assert!(email("e", junk).is_err(), "{junk}");
        }
        assert_eq!(domain("d", "@Example.In.").unwrap(), "example.in");
        assert!(domain("d", "exa mple.in").is_err());
    }
}
