//! Indian states and union territories as the three identifier systems code
//! them.
//!
//! * GST uses the two-digit census codes published by GSTN (01–38), plus 97
//!   ("Other Territory", the offshore areas) and 99 ("Centre Jurisdiction",
//!   used for OIDAR suppliers registered with the centre).
//! * CINs use the two-letter codes of the Registrar of Companies, which follow
//!   the pre-2019 ISO 3166-2:IN letters (`CT` Chhattisgarh, `OR` Odisha, `UR`
//!   or `UT` Uttarakhand, `TG` Telangana, `PY` Puducherry) plus `TZ` for the
//!   RoC at Coimbatore. Source: the codes found in CIN datasets built from the
//!   MCA company master data. Ladakh has no code of its own: its companies
//!   are registered with the RoC for Jammu and Kashmir (`JK`).
//! * Addresses use names, old names and abbreviations, so [`state_from_address`]
//!   accepts all of those.

/// A GST state or territory code with its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GstState {
    pub code: u8,
    pub name: &'static str,
}

/// GSTN state codes. 25 (Daman and Diu) and 28 (undivided Andhra Pradesh) are
/// no longer issued but GSTINs carrying them still exist.
const GST_STATES: [GstState; 40] = [
    GstState {
        code: 1,
        name: "Jammu and Kashmir",
    },
    GstState {
        code: 2,
        name: "Himachal Pradesh",
    },
    GstState {
        code: 3,
        name: "Punjab",
    },
    GstState {
        code: 4,
        name: "Chandigarh",
    },
    GstState {
        code: 5,
        name: "Uttarakhand",
    },
    GstState {
        code: 6,
        name: "Haryana",
    },
    GstState {
        code: 7,
        name: "Delhi",
    },
    GstState {
        code: 8,
        name: "Rajasthan",
    },
    GstState {
        code: 9,
        name: "Uttar Pradesh",
    },
    GstState {
        code: 10,
        name: "Bihar",
    },
    GstState {
        code: 11,
        name: "Sikkim",
    },
    GstState {
        code: 12,
        name: "Arunachal Pradesh",
    },
    GstState {
        code: 13,
        name: "Nagaland",
    },
    GstState {
        code: 14,
        name: "Manipur",
    },
    GstState {
        code: 15,
        name: "Mizoram",
    },
    GstState {
        code: 16,
        name: "Tripura",
    },
    GstState {
        code: 17,
        name: "Meghalaya",
    },
    GstState {
        code: 18,
        name: "Assam",
    },
    GstState {
        code: 19,
        name: "West Bengal",
    },
    GstState {
        code: 20,
        name: "Jharkhand",
    },
    GstState {
        code: 21,
        name: "Odisha",
    },
    GstState {
        code: 22,
        name: "Chhattisgarh",
    },
    GstState {
        code: 23,
        name: "Madhya Pradesh",
    },
    GstState {
        code: 24,
        name: "Gujarat",
    },
    GstState {
        code: 25,
        name: "Daman and Diu",
    },
    GstState {
        code: 26,
        name: "Dadra and Nagar Haveli and Daman and Diu",
    },
    GstState {
        code: 27,
        name: "Maharashtra",
    },
    GstState {
        code: 28,
        name: "Andhra Pradesh (before division)",
    },
    GstState {
        code: 29,
        name: "Karnataka",
    },
    GstState {
        code: 30,
        name: "Goa",
    },
    GstState {
        code: 31,
        name: "Lakshadweep",
    },
    GstState {
        code: 32,
        name: "Kerala",
    },
    GstState {
        code: 33,
        name: "Tamil Nadu",
    },
    GstState {
        code: 34,
        name: "Puducherry",
    },
    GstState {
        code: 35,
        name: "Andaman and Nicobar Islands",
    },
    GstState {
        code: 36,
        name: "Telangana",
    },
    GstState {
        code: 37,
        name: "Andhra Pradesh",
    },
    GstState {
        code: 38,
        name: "Ladakh",
    },
    GstState {
        code: 97,
        name: "Other Territory",
    },
    GstState {
        code: 99,
        name: "Centre Jurisdiction",
    },
];

/// Looks up a GST state code given as two ASCII digits.
pub(crate) fn gst_state(digits: [u8; 2]) -> Option<GstState> {
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = (digits[0] - b'0') * 10 + (digits[1] - b'0');
    gst_state_by_code(code)
}

pub(crate) fn gst_state_by_code(code: u8) -> Option<GstState> {
    GST_STATES.iter().copied().find(|s| s.code == code)
}

/// RoC state letters used in CINs, with the GST code of the same state so
/// that a CIN and a GSTIN can be compared.
const CIN_STATES: [(&[u8; 2], u8); 38] = [
    (b"AN", 35),
    (b"AP", 37),
    (b"AR", 12),
    (b"AS", 18),
    (b"BR", 10),
    (b"CH", 4),
    (b"CT", 22),
    (b"DD", 25),
    (b"DL", 7),
    (b"DN", 26),
    (b"GA", 30),
    (b"GJ", 24),
    (b"HP", 2),
    (b"HR", 6),
    (b"JH", 20),
    (b"JK", 1),
    (b"KA", 29),
    (b"KL", 32),
    (b"LD", 31),
    (b"MH", 27),
    (b"ML", 17),
    (b"MN", 14),
    (b"MP", 23),
    (b"MZ", 15),
    (b"NL", 13),
    (b"OR", 21),
    (b"PB", 3),
    (b"PY", 34),
    (b"RJ", 8),
    (b"SK", 11),
    (b"TG", 36),
    (b"TN", 33),
    (b"TR", 16),
    (b"TZ", 33),
    (b"UP", 9),
    (b"UR", 5),
    (b"UT", 5),
    (b"WB", 19),
];

/// Looks up the state of a CIN's RoC letters.
pub(crate) fn cin_state(letters: [u8; 2]) -> Option<GstState> {
    CIN_STATES
        .iter()
        .find(|(l, _)| **l == letters)
        .and_then(|&(_, code)| gst_state_by_code(code))
}

/// Other ways addresses name a state: vehicle and ISO abbreviations, old names
/// and common spellings. Matched case-insensitively after collapsing spaces
/// and turning `&` into `and`.
const ALIASES: [(&str, u8); 50] = [
    ("jk", 1),
    ("j and k", 1),
    ("hp", 2),
    ("pb", 3),
    ("ch", 4),
    ("uk", 5),
    ("ua", 5),
    ("uttaranchal", 5),
    ("hr", 6),
    ("dl", 7),
    ("new delhi", 7),
    ("nct of delhi", 7),
    ("national capital territory of delhi", 7),
    ("rj", 8),
    ("up", 9),
    ("br", 10),
    ("sk", 11),
    ("ar", 12),
    ("nl", 13),
    ("mn", 14),
    ("mz", 15),
    ("tr", 16),
    ("ml", 17),
    ("as", 18),
    ("wb", 19),
    ("jh", 20),
    ("od", 21),
    ("or", 21),
    ("orissa", 21),
    ("cg", 22),
    ("ct", 22),
    ("chattisgarh", 22),
    ("mp", 23),
    ("gj", 24),
    ("dadra and nagar haveli", 26),
    ("dnh", 26),
    ("mh", 27),
    ("ka", 29),
    ("ga", 30),
    ("ld", 31),
    ("kl", 32),
    ("tn", 33),
    ("py", 34),
    ("pondicherry", 34),
    ("an", 35),
    ("andaman and nicobar", 35),
    ("ts", 36),
    ("tg", 36),
    ("ap", 37),
    ("la", 38),
];

/// Resolves a state as written in an address — a name, an abbreviation, or
/// a GST code — to its GST state. Returns `None` for anything unknown rather
/// than guessing.
pub fn state_from_address(state: &str) -> Option<GstState> {
    let cleaned: String = state
        .trim()
        .replace('&', " and ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    if cleaned.is_empty() {
        return None;
    }
    if cleaned.len() <= 2 && cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return cleaned.parse().ok().and_then(gst_state_by_code);
    }
    if let Some(s) = GST_STATES
        .iter()
        .copied()
        .find(|s| s.name.eq_ignore_ascii_case(&cleaned))
    {
        return Some(s);
    }
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == cleaned)
        .and_then(|&(_, code)| gst_state_by_code(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gst_state_codes_cover_01_to_38_and_97_and_99_only() {
        for code in 0..=100u8 {
            let known = gst_state_by_code(code).is_some();
            let expected = (1..=38).contains(&code) || code == 97 || code == 99;
            assert_eq!(known, expected, "code {code}");
        }
    }

    #[test]
    fn every_cin_state_maps_to_a_gst_state() {
        for (letters, _) in CIN_STATES {
            assert!(cin_state(*letters).is_some(), "{letters:?}");
        }
    }

    #[test]
    fn addresses_name_states_by_name_alias_or_code() {
        assert_eq!(state_from_address("Maharashtra").map(|s| s.code), Some(27));
        assert_eq!(
            state_from_address(" maharashtra ").map(|s| s.code),
            Some(27)
        );
        assert_eq!(state_from_address("MH").map(|s| s.code), Some(27));
        assert_eq!(state_from_address("27").map(|s| s.code), Some(27));
        assert_eq!(state_from_address("7").map(|s| s.code), Some(7));
        assert_eq!(state_from_address("Orissa").map(|s| s.code), Some(21));
        assert_eq!(
            state_from_address("Jammu & Kashmir").map(|s| s.code),
            Some(1)
        );
        assert_eq!(state_from_address("New  Delhi").map(|s| s.code), Some(7));
        assert_eq!(state_from_address("Atlantis"), None);
        assert_eq!(state_from_address(""), None);
        assert_eq!(state_from_address("42"), None);
    }
}
