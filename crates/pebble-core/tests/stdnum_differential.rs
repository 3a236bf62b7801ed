//! Differential test against python-stdnum, the reference implementation of
//! GSTIN and PAN validation.
//!
//! Generates tens of thousands of identifiers deterministically — valid ones,
//! near misses and mutations of both — asks `tests/stdnum_check.py` for
//! stdnum's verdict on each, and requires agreement except where one of the
//! differences documented in `src/identifiers/mod.rs` applies. Each
//! disagreement is classified; an unclassified one fails the test.
//!
//! Without python3 or python-stdnum the test prints "skipping: …" and passes,
//! unless `PEBBLE_REQUIRE_SERVICES=1` (as in CI), where it fails instead.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::Command;

use pebble_core::identifiers::{normalize, validate_gstin, validate_pan, Gstin, GstinKind, Pan};

const INPUTS_PER_KIND: usize = 12_000;

/// SplitMix64: tiny, seedable and good enough to spread inputs around.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times out of a hundred.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick(&mut self, from: &str) -> char {
        let chars: Vec<char> = from.chars().collect();
        chars[self.below(chars.len())]
    }

    fn string(&mut self, from: &str, len: usize) -> String {
        (0..len).map(|_| self.pick(from)).collect()
    }
}

const LETTERS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const ALNUM: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const HOLDERS: &str = "ABCFGHJLPT";

/// Luhn mod 36 from the right, written independently of the library.
fn luhn36(body: &str) -> char {
    let mut sum = 0;
    for (i, c) in body.chars().rev().enumerate() {
        let v = ALNUM.find(c).unwrap_or(0);
        let v = if i % 2 == 0 { v * 2 } else { v };
        sum += v / 36 + v % 36;
    }
    ALNUM.chars().nth((36 - sum % 36) % 36).unwrap_or('0')
}

fn state(rng: &mut Rng) -> String {
    match rng.below(100) {
        0..=84 => format!("{:02}", 1 + rng.below(37)),
        85..=94 => ["38", "97", "99"][rng.below(3)].to_owned(),
        _ => rng.string(DIGITS, 2),
    }
}

fn pan(rng: &mut Rng) -> String {
    let holder = match rng.below(100) {
        0..=92 => rng.pick(HOLDERS),
        93..=97 => 'K',
        _ => rng.pick(LETTERS),
    };
    let serial = if rng.chance(2) {
        "0000".to_owned()
    } else {
        format!("{:04}", 1 + rng.below(9999))
    };
    format!(
        "{}{holder}{}{serial}{}",
        rng.string(LETTERS, 3),
        rng.pick(LETTERS),
        rng.pick(LETTERS)
    )
}

fn gstin(rng: &mut Rng) -> String {
    let body = match rng.below(100) {
        // PAN-based: regular, TDS, TCS and a few unknown 14th characters.
        0..=79 => {
            let entity = if rng.chance(5) {
                '0'
            } else {
                rng.pick(&ALNUM[1..])
            };
            let kind = match rng.below(100) {
                0..=84 => 'Z',
                85..=90 => 'D',
                91..=96 => 'C',
                _ => rng.pick(ALNUM),
            };
            format!("{}{}{entity}{kind}", state(rng), pan(rng))
        }
        // TDS deductor on a TAN.
        80..=87 => format!(
            "{}{}{}{}{}D",
            state(rng),
            rng.string(LETTERS, 4),
            rng.string(DIGITS, 5),
            rng.pick(LETTERS),
            rng.pick(&ALNUM[1..])
        ),
        // Non-resident, OIDAR and UIN.
        _ => {
            let marker = ["NR", "NF", "OS", "UN", "ON", "XY"][rng.below(6)];
            let state = if marker == "OS" && rng.chance(80) {
                "99".to_owned()
            } else {
                state(rng)
            };
            format!(
                "{state}{}{}{}{marker}",
                rng.string(DIGITS, 2),
                rng.string(LETTERS, 3),
                rng.string(DIGITS, 5)
            )
        }
    };
    let check = if rng.chance(90) {
        luhn36(&body)
    } else {
        rng.pick(ALNUM)
    };
    format!("{body}{check}")
}

/// Look-alikes and separators that the two implementations treat
/// differently on purpose (difference 4 in the module documentation).
const EXOTIC: [char; 12] = [
    '\u{410}',  // Cyrillic capital A
    '\u{430}',  // Cyrillic small a
    '\u{ff12}', // full-width 2, folded to 2 by stdnum
    '\u{131}',  // dotless i, which Python upper-cases to I
    '\u{17f}',  // long s, which Python upper-cases to S
    '\u{a0}',   // no-break space
    '.',
    '\t',
    '\u{0}',
    '\u{1c}',    // file separator, stripped by Python's str.strip()
    '\u{2013}',  // en dash, a separator for both
    '\u{1d7d0}', // mathematical bold digit two, folded to 2 by stdnum
];

fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let at = |rng: &mut Rng, len: usize| rng.below(len.max(1));
    match rng.below(9) {
        0 if !chars.is_empty() => {
            let i = at(rng, chars.len());
            chars[i] = rng.pick(ALNUM);
        }
        1 if chars.len() > 1 => {
            let i = rng.below(chars.len() - 1);
            chars.swap(i, i + 1);
        }
        2 if !chars.is_empty() => {
            let i = at(rng, chars.len());
            chars.remove(i);
        }
        3 => {
            let i = rng.below(chars.len() + 1);
            chars.insert(i, rng.pick(ALNUM));
        }
        4 => return s.to_lowercase(),
        5 => {
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(chars.len() + 1);
                chars.insert(i, if rng.chance(50) { ' ' } else { '-' });
            }
        }
        6 if !chars.is_empty() => {
            let i = at(rng, chars.len());
            chars[i] = EXOTIC[rng.below(EXOTIC.len())];
        }
        7 => {
            let i = rng.below(chars.len() + 1);
            chars.insert(i, EXOTIC[rng.below(EXOTIC.len())]);
        }
        _ => return format!("  {s} "),
    }
    chars.into_iter().collect()
}

fn random_string(rng: &mut Rng) -> String {
    let len = rng.below(18);
    rng.string("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcz -", len)
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Gstin,
    Pan,
}

fn generate() -> Vec<(Kind, String)> {
    let mut rng = Rng(0x5EED_0FBE_BB1E);
    let mut inputs = Vec::with_capacity(2 * INPUTS_PER_KIND);
    for kind in [Kind::Gstin, Kind::Pan] {
        for _ in 0..INPUTS_PER_KIND {
            let base = match kind {
                Kind::Gstin => gstin(&mut rng),
                Kind::Pan => pan(&mut rng),
            };
            let value = match rng.below(10) {
                0..=4 => base,
                5..=8 => mutate(&mut rng, &base),
                _ => random_string(&mut rng),
            };
            inputs.push((kind, value));
        }
    }
    inputs
}

fn ours(kind: Kind, value: &str) -> bool {
    let (fast, report) = match kind {
        Kind::Gstin => (Gstin::parse(value).is_ok(), validate_gstin(value).valid),
        Kind::Pan => (Pan::parse(value).is_ok(), validate_pan(value).valid),
    };
    assert_eq!(fast, report, "parse and validate disagree on {value:?}");
    fast
}

/// Characters stdnum deletes as separators after folding them: space, the
/// Unicode spaces it maps to a space, and U+1680 which it maps to a dash.
fn stdnum_deletes(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// Which documented difference explains a disagreement, if any.
fn documented(kind: Kind, value: &str, ours: bool) -> Option<&'static str> {
    // A character is one of our separators exactly when normalising drops it.
    let exotic = value
        .chars()
        .any(|c| !c.is_ascii_alphanumeric() && !normalize(&c.to_string()).is_empty());
    if exotic {
        // We reject every such input; stdnum folds some look-alikes to ASCII
        // or strips them.
        let folded = value.chars().any(|c| {
            ('\u{1c}'..='\u{1f}').contains(&c)
                || (!c.is_ascii()
                    && (c.is_numeric() || c.to_uppercase().all(|u| u.is_ascii_alphanumeric())))
        });
        return (!ours && folded).then_some("4b: stdnum folds look-alikes to ASCII");
    }
    let compact = normalize(value).replace('-', "");
    let b = compact.as_bytes();
    let reason = match (kind, ours) {
        (Kind::Gstin, true) => Gstin::parse(value).ok().and_then(|gstin| {
            if gstin.kind() != GstinKind::Regular {
                Some("2: special registration (TDS, TCS, NRTP, OIDAR, UIN)")
            } else if matches!(gstin.state().code, 38 | 97 | 99) {
                Some("1: state code 38, 97 or 99")
            } else {
                None
            }
        }),
        // Rejected here, accepted by stdnum: only the holder type K may
        // explain it, and replacing it must leave nothing else wrong.
        (Kind::Gstin, false) if b.len() == 15 && b[5] == b'K' => {
            let fixed = format!("{}C{}", &compact[..5], &compact[6..]);
            validate_gstin(&fixed)
                .errors
                .iter()
                .all(|e| e.to_string().starts_with("check character"))
                .then_some("3: PAN holder type K")
        }
        (Kind::Pan, false) if b.len() == 10 && b[3] == b'K' => {
            let fixed = format!("{}C{}", &compact[..3], &compact[4..]);
            validate_pan(&fixed).valid.then_some("3: PAN holder type K")
        }
        _ => None,
    };
    reason.or_else(|| {
        let extra_separator = value
            .chars()
            .any(|c| c == '.' || (c.is_whitespace() && !stdnum_deletes(c)));
        (ours && extra_separator).then_some("4a: dots and other whitespace are separators here")
    })
}

fn skip(reason: &str) {
    if std::env::var("PEBBLE_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("PEBBLE_REQUIRE_SERVICES=1 but the stdnum differential test cannot run: {reason}");
    }
    println!("skipping: {reason}");
}

#[test]
fn gstin_and_pan_validation_agrees_with_python_stdnum_except_documented_differences() {
    let inputs = generate();
    assert!(inputs.len() >= 20_000);

    let file: PathBuf =
        std::env::temp_dir().join(format!("pebble-stdnum-{}.tsv", std::process::id()));
    let mut body = String::new();
    for (kind, value) in &inputs {
        assert!(!value.contains('\n'));
        let kind = match kind {
            Kind::Gstin => "gstin",
            Kind::Pan => "pan",
        };
        body.push_str(&format!("{kind}\t{value}\n"));
    }
    std::fs::write(&file, body).expect("write the inputs to the temp dir");

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/stdnum_check.py");
    let output = Command::new("python3").arg(&script).arg(&file).output();
    let _ = std::fs::remove_file(&file);
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return skip("python3 is not installed");
        }
        Err(e) => panic!("could not run {}: {e}", script.display()),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => {}
        Some(3) => return skip(stderr.trim()),
        _ => panic!("{} failed ({}): {stderr}", script.display(), output.status),
    }
    let verdicts: Vec<bool> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| match l {
            "valid" => true,
            "invalid" => false,
            other => panic!("unexpected line from stdnum_check.py: {other:?}"),
        })
        .collect();
    assert_eq!(verdicts.len(), inputs.len(), "one verdict per input");

    let mut agreed = 0;
    let mut valid_both = 0;
    let mut differences: BTreeMap<&str, usize> = BTreeMap::new();
    let mut undocumented = Vec::new();
    for ((kind, value), &theirs) in inputs.iter().zip(&verdicts) {
        let ours = ours(*kind, value);
        if ours == theirs {
            agreed += 1;
            valid_both += usize::from(ours);
            continue;
        }
        match documented(*kind, value, ours) {
            Some(reason) => *differences.entry(reason).or_default() += 1,
            None => undocumented.push(format!("{kind:?} {value:?}: ours {ours}, stdnum {theirs}")),
        }
    }

    println!(
        "compared {} inputs with python-stdnum: {agreed} agree ({valid_both} valid for both), {} documented differences",
        inputs.len(),
        differences.values().sum::<usize>()
    );
    for (reason, count) in &differences {
        println!("  difference {reason}: {count}");
    }
    assert!(
        undocumented.is_empty(),
        "{} undocumented disagreements, first ones:\n{}",
        undocumented.len(),
        undocumented
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The generator must exercise both the agreements and every difference.
    assert!(valid_both > 2_000, "too few valid inputs: {valid_both}");
    assert_eq!(differences.len(), 5, "every documented difference occurs");
}
