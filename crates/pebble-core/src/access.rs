//! Who may do what: the four roles of SPEC §1.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::audit::UnknownValue;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Owner, IT lead: everything.
    Admin,
    /// Sales staff: inbox, leads, companies, drafts.
    Sales,
    /// Operations, accounts, IT ops: sources, Tally, backups, audit export.
    Ops,
    /// Auditor, chartered accountant: read what they may, no writes, no exports of personal data.
    ReadOnly,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Sales, Role::Ops, Role::ReadOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Sales => "sales",
            Role::Ops => "ops",
            Role::ReadOnly => "read_only",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownValue {
                field: "role",
                value: s.chars().take(64).collect(),
            })
    }
}

/// An e-mail address as a login name: trimmed, lower-cased, one `@` with text
/// on both sides, no spaces or control characters, at most 254 bytes.
pub fn normalize_login(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && e.len() <= 254
        && !domain.contains('@')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn logins_are_normalised_and_junk_is_refused() {
        assert_eq!(
            normalize_login("  Ravi@Example.IN "),
            Some("ravi@example.in".into())
        );
        for bad in [
            "",
            "ravi",
            "@x.in",
            "ravi@",
            "ravi@localhost",
            "a b@x.in",
            "a@b@x.in",
            "a\0@x.in",
            "a@.in",
        ] {
            assert_eq!(normalize_login(bad), None, "{bad:?}");
        }
    }
}
