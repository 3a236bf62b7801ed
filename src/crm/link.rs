//! Linking an e-mail sender to a contact and a company, for ingestion.
//!
//! The sender's domain finds (or founds) the company, except for free-mail
//! domains: thousands of unrelated people write from gmail.com, and grouping
//! them into one "company" would merge strangers' histories.

use crate::store::crm::{self as sql, Company, Contact};
use crate::store::Tx;

use super::input::{domain, email};
use super::{new_id, CrmError};

/// Consumer mailbox providers common in India and worldwide.
const FREE_MAIL: &[&str] = &[
    "aol.com",
    "gmail.com",
    "gmx.com",
    "googlemail.com",
    "hotmail.co.in",
    "hotmail.co.uk",
    "hotmail.com",
    "icloud.com",
    "in.com",
    "indiatimes.com",
    "live.com",
    "live.in",
    "mac.com",
    "mail.com",
    "me.com",
    "msn.com",
    "outlook.com",
    "outlook.in",
    "proton.me",
    "protonmail.com",
    "rediff.com",
    "rediffmail.com",
    "rocketmail.com",
    "sify.com",
    "tutanota.com",
    "yahoo.co.in",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.in",
    "yandex.com",
    "ymail.com",
    "zohomail.com",
    "zohomail.in",
];

/// Whether `domain` (lower case) is a free-mail provider.
pub fn is_free_mail(domain: &str) -> bool {
    FREE_MAIL.binary_search(&domain).is_ok()
}

/// The contact (and company, unless free-mail) a sender belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linked {
    pub contact_id: String,
    pub company_id: Option<String>,
    pub created_contact: bool,
    pub created_company: bool,
}

/// Find or create the contact for `address` and, for a business domain, the
/// company owning that domain; inside the caller's transaction. A contact
/// merged away resolves to its survivor. `now` is µs since the epoch.
///
/// Two transactions linking the first senders of a new domain at once race
/// on the domain's (or address's) unique key: the loser gets `Conflict` and
/// retries, and then finds the winner's records.
pub async fn link_sender(
    tx: &mut Tx,
    address: &str,
    display_name: &str,
    now: i64,
) -> Result<Linked, CrmError> {
    let address = email("email", address)?;
    let host = address.rsplit_once('@').map(|(_, h)| h).unwrap_or_default();
    let host = domain("email", host)?;
    let name: String = display_name
        .trim()
        .chars()
        .filter(|c| *c != '\0')
        .take(super::input::MAX_NAME)
        .collect();

    if let Some(mut contact) = sql::contact_by_email(tx, &address).await? {
        // Follow merges to the live record (bounded: merges cannot cycle).
        for _ in 0..16 {
            match contact.merged_into.clone() {
                Some(next) => match sql::contact_tx(tx, &next).await? {
                    Some(c) => contact = c,
                    None => break,
                },
                None => break,
            }
        }
        return Ok(Linked {
            contact_id: contact.id,
            company_id: contact.company_id,
            created_contact: false,
            created_company: false,
        });
    }

    let (company_id, created_company) = if is_free_mail(&host) {
        (None, false)
    } else if let Some(id) = sql::company_by_domain(tx, &host).await? {
        (Some(id), false)
    } else {
        let company = Company {
            id: new_id(),
            name: host.clone(),
            domains: vec![host.clone()],
            gstins: Vec::new(),
            pan: None,
            cin: None,
            address: None,
            state: None,
            validation_status: "unchecked".into(),
            validation_errors: Vec::new(),
            merged_into: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        sql::insert_company(tx, &company).await?;
        (Some(company.id), true)
    };
    let contact = Contact {
        id: new_id(),
        email: address,
        name,
        phone: None,
        company_id: company_id.clone(),
        merged_into: None,
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    sql::insert_contact(tx, &contact).await?;
    Ok(Linked {
        contact_id: contact.id,
        company_id,
        created_contact: true,
        created_company,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_free_mail_list_is_sorted_so_the_binary_search_finds_every_entry() {
        assert!(FREE_MAIL.windows(2).all(|w| w[0] < w[1]));
        for d in FREE_MAIL {
            assert!(is_free_mail(d), "{d}");
        }
    }

    #[test]
    fn free_mail_providers_are_never_companies_but_business_domains_are() {
        for d in [
            "gmail.com",
            "yahoo.co.in",
            "rediffmail.com",
            "outlook.com",
            "hotmail.com",
        ] {
            assert!(is_free_mail(d), "{d}");
        }
        for d in [
            "acme.co.in",
            "tata.com",
            "gmail.com.evil.in",
            "mail.gmail.co",
        ] {
            assert!(!is_free_mail(d), "{d}");
        }
    }
}
