//! Unit tests with real-shaped identifiers. Check characters of made-up
//! GSTINs come from `luhn36` below, an independent right-to-left
//! formulation of GSTN's Luhn mod 36, so the validator is not tested against
//! itself.

use super::*;

const YEAR: i32 = 2025;

/// Luhn mod 36 generation as usually stated: from the rightmost body
/// character leftwards, doubling every other one starting with it.
fn luhn36(body: &str) -> char {
    const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut sum = 0;
    for (i, c) in body.chars().rev().enumerate() {
        let v = ALPHABET.find(c).expect("body in alphabet");
        let v = if i % 2 == 0 { v * 2 } else { v };
        sum += v / 36 + v % 36;
    }
    ALPHABET
        .chars()
        .nth((36 - sum % 36) % 36)
        .expect("index below 36")
}

fn with_check(body: &str) -> String {
    format!("{body}{}", luhn36(body))
}

fn errors(v: &Validation) -> Vec<String> {
    v.errors.iter().map(ToString::to_string).collect()
}

// ---- GSTIN ---------------------------------------------------------------

#[test]
fn the_independent_luhn_agrees_with_published_gstins() {
    for real in [
        "27AAPFU0939F1ZV",
        "9917SGP29001OST",
        "9917IRL29003OSG",
        "0717UNO00157UNO",
    ] {
        assert_eq!(with_check(&real[..14]), real);
    }
}

#[test]
fn a_regular_gstin_is_valid_and_decodes_state_pan_and_holder_type() {
    let v = validate_gstin("27AAPFU0939F1ZV");
    assert!(v.valid, "{:?}", v.errors);
    assert_eq!(v.kind, IdKind::Gstin);
    assert_eq!(v.normalized, "27AAPFU0939F1ZV");
    assert_eq!(v.info.registration_type, Some(GstinKind::Regular));
    assert_eq!(v.info.state, Some("Maharashtra"));
    assert_eq!(v.info.state_code.as_deref(), Some("27"));
    assert_eq!(v.info.pan.as_deref(), Some("AAPFU0939F"));
    assert_eq!(
        v.info.holder_type,
        Some("Firm or Limited Liability Partnership")
    );
    assert_eq!(v.info.entity_number, Some(1));
}

#[test]
fn the_parsed_gstin_exposes_its_parts_without_allocating_a_report() {
    let g = Gstin::parse("27aapfu0939f1zv").expect("valid");
    assert_eq!(g.as_str(), "27AAPFU0939F1ZV");
    assert_eq!(g.kind(), GstinKind::Regular);
    assert_eq!(g.state().code, 27);
    assert_eq!(
        g.pan().map(|p| p.to_string()).as_deref(),
        Some("AAPFU0939F")
    );
    assert_eq!(g.tan(), None);
    assert_eq!("27AAPFU0939F1ZV".parse::<Gstin>(), Ok(g));
}

#[test]
fn state_codes_38_97_and_99_are_accepted() {
    for body in ["38AAPFU0939F1Z", "97AAPFU0939F1Z", "99AAPFU0939F1Z"] {
        let v = validate_gstin(&with_check(body));
        assert!(v.valid, "{body}: {:?}", v.errors);
    }
    assert_eq!(
        validate_gstin(&with_check("38AAPFU0939F1Z")).info.state,
        Some("Ladakh")
    );
}

#[test]
fn a_tds_deductor_registered_on_a_tan_is_valid_and_reports_the_tan() {
    let v = validate_gstin(&with_check("07DELA12345B1D"));
    assert!(v.valid, "{:?}", v.errors);
    assert_eq!(v.info.registration_type, Some(GstinKind::Tds));
    assert_eq!(v.info.tan.as_deref(), Some("DELA12345B"));
    assert_eq!(v.info.pan, None);
    let g = Gstin::parse(&with_check("07DELA12345B1D")).expect("valid");
    assert_eq!(g.tan(), Some("DELA12345B"));
    assert_eq!(g.pan(), None);
}

#[test]
fn a_tds_deductor_registered_on_a_pan_is_valid() {
    let v = validate_gstin(&with_check("07AAAGD1234E1D"));
    assert!(v.valid, "{:?}", v.errors);
    assert_eq!(v.info.registration_type, Some(GstinKind::Tds));
    assert_eq!(v.info.holder_type, Some("Government"));
}

#[test]
fn a_tcs_collector_is_valid() {
    let v = validate_gstin(&with_check("29AABCA1234B1C"));
    assert!(v.valid, "{:?}", v.errors);
    assert_eq!(v.info.registration_type, Some(GstinKind::Tcs));
}

#[test]
fn non_resident_oidar_and_uin_registrations_are_valid_by_their_own_rules() {
    let cases = [
        (with_check("0718USA00001NR"), GstinKind::Nrtp),
        (with_check("0718USA00001NF"), GstinKind::Nrtp),
        ("9917SGP29001OST".to_owned(), GstinKind::Oidar),
        ("9922JPN29001OSU".to_owned(), GstinKind::Oidar),
        ("0717UNO00157UNO".to_owned(), GstinKind::Uin),
        (with_check("0717USA12345ON"), GstinKind::Uin),
    ];
    for (gstin, kind) in cases {
        let v = validate_gstin(&gstin);
        assert!(v.valid, "{gstin}: {:?}", v.errors);
        assert_eq!(v.info.registration_type, Some(kind), "{gstin}");
        assert_eq!(v.info.pan, None);
    }
    let v = validate_gstin("9917SGP29001OST");
    assert_eq!(v.info.country.as_deref(), Some("SGP"));
    assert_eq!(v.info.year, Some(2017));
    assert_eq!(v.info.state, Some("Centre Jurisdiction"));
}

#[test]
fn the_oidar_example_from_the_issue_has_a_wrong_check_character() {
    // "9917USA29002OSB" was given as an example of the shape; its real check
    // character would be F.
    let v = validate_gstin("9917USA29002OSB");
    assert_eq!(
        errors(&v),
        ["check character mismatch at position 15: expected 'F', found 'B'"]
    );
}

#[test]
fn a_wrong_check_character_names_the_expected_and_found_characters() {
    let v = validate_gstin("27AAPFU0939F1ZO");
    assert!(!v.valid);
    assert_eq!(
        v.errors,
        [IdError::CheckCharacter {
            position: 15,
            expected: 'V',
            found: 'O'
        }]
    );
    assert_eq!(
        errors(&v),
        ["check character mismatch at position 15: expected 'V', found 'O'"]
    );
    assert_eq!(
        Gstin::parse("27AAPFU0939F1ZO"),
        Err(IdError::CheckCharacter {
            position: 15,
            expected: 'V',
            found: 'O'
        })
    );
}

#[test]
fn an_unknown_state_code_is_named() {
    let v = validate_gstin(&with_check("40AAPFU0939F1Z"));
    assert_eq!(
        errors(&v),
        ["unknown state code 40: GSTIN state codes are 01-38, 97 and 99"]
    );
    let v = validate_gstin(&with_check("00AAPFU0939F1Z"));
    assert_eq!(v.errors, [IdError::UnknownStateCode { code: Code(*b"00") }]);
}

#[test]
fn an_oidar_registration_outside_state_99_is_rejected() {
    let v = validate_gstin(&with_check("0717SGP29001OS"));
    assert_eq!(
        errors(&v),
        ["OIDAR registrations (OS at positions 13-14) carry state code 99, found 07"]
    );
}

#[test]
fn an_unknown_special_registration_marker_is_named() {
    let v = validate_gstin(&with_check("0718USA00001XX"));
    assert_eq!(
        v.errors,
        [IdError::SpecialRegistrationType {
            found: Code(*b"XX")
        }]
    );
}

#[test]
fn an_unknown_fourteenth_character_is_named() {
    let v = validate_gstin(&with_check("27AAPFU0939F1A"));
    assert_eq!(v.errors, [IdError::RegistrationType { found: 'A' }]);
    assert!(errors(&v)[0].contains("expected Z (regular), D (TDS deductor) or C (TCS collector)"));
}

#[test]
fn an_entity_number_of_zero_is_rejected() {
    let v = validate_gstin(&with_check("27AAPFU0939F0Z"));
    assert_eq!(v.errors, [IdError::EntityNumberZero]);
}

#[test]
fn the_pan_inside_a_gstin_is_checked_with_gstin_positions() {
    let v = validate_gstin(&with_check("27AAPXU0939F1Z"));
    assert_eq!(
        v.errors,
        [IdError::PanHolderType {
            position: 6,
            found: 'X'
        }]
    );
    let v = validate_gstin(&with_check("27AAPFU0000F1Z"));
    assert_eq!(v.errors, [IdError::PanSerialZero { position: 8 }]);
    assert_eq!(errors(&v), ["PAN serial number at positions 8-11 is 0000"]);
}

#[test]
fn a_gstin_with_a_digit_where_a_letter_belongs_reports_the_position_and_class() {
    let v = validate_gstin("27AAPF10939F1ZV");
    assert_eq!(
        v.errors[0],
        IdError::BadCharacter {
            position: 7,
            found: Shown('1'),
            expected: CharClass::Letter
        }
    );
    assert_eq!(
        errors(&v)[0],
        "bad character '1' at position 7: expected a letter"
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let v = validate_gstin("40AAPXU0939F0AV");
    let found: Vec<_> = v.errors.iter().map(std::mem::discriminant).collect();
    for expected in [
        IdError::UnknownStateCode { code: Code(*b"40") },
        IdError::PanHolderType {
            position: 6,
            found: 'X',
        },
        IdError::EntityNumberZero,
        IdError::RegistrationType { found: 'A' },
    ] {
        assert!(
            found.contains(&std::mem::discriminant(&expected)),
            "{expected}"
        );
    }
    assert!(matches!(
        v.errors.last(),
        Some(IdError::CheckCharacter { .. })
    ));
}

#[test]
fn the_fast_path_and_the_report_agree_on_validity() {
    for s in [
        "27AAPFU0939F1ZV",
        "27AAPFU0939F1ZO",
        "9917SGP29001OST",
        "",
        "27AAPFU0939F1Z",
        "40AAPFU0939F1ZV",
    ] {
        assert_eq!(Gstin::parse(s).is_ok(), validate_gstin(s).valid, "{s}");
        if let Err(first) = Gstin::parse(s) {
            assert_eq!(Some(&first), validate_gstin(s).errors.first(), "{s}");
        }
    }
}

// ---- PAN -------------------------------------------------------------------

#[test]
fn a_pan_is_valid_and_reports_its_holder_type() {
    let v = validate_pan("AAPFU0939F");
    assert!(v.valid);
    assert_eq!(
        v.info.holder_type,
        Some("Firm or Limited Liability Partnership")
    );
    let p = Pan::parse("aaacr5055k").expect("valid");
    assert_eq!(p.as_str(), "AAACR5055K");
    assert_eq!(p.holder_type(), HolderType::Company);
    assert_eq!(p.holder_type().code(), 'C');
}

#[test]
fn every_listed_holder_type_is_accepted_and_k_is_not() {
    for (code, meaning) in [
        ('A', "Association of Persons (AOP)"),
        ('B', "Body of Individuals (BOI)"),
        ('C', "Company"),
        ('F', "Firm or Limited Liability Partnership"),
        ('G', "Government"),
        ('H', "Hindu Undivided Family (HUF)"),
        ('J', "Artificial Juridical Person"),
        ('L', "Local Authority"),
        ('P', "Individual"),
        ('T', "Trust"),
    ] {
        let v = validate_pan(&format!("ABC{code}D1234E"));
        assert!(v.valid, "{code}");
        assert_eq!(v.info.holder_type, Some(meaning));
    }
    let v = validate_pan("ABCKD1234E");
    assert_eq!(
        errors(&v),
        ["unknown PAN holder type 'K' at position 4: expected one of A B C F G H J L P T"]
    );
}

#[test]
fn a_pan_serial_of_0000_is_rejected() {
    assert_eq!(
        Pan::parse("ABCPD0000E"),
        Err(IdError::PanSerialZero { position: 6 })
    );
}

#[test]
fn a_pan_of_the_wrong_shape_reports_each_bad_position() {
    let v = validate_pan("ABMPA32111");
    assert_eq!(
        errors(&v),
        ["bad character '1' at position 10: expected a letter"]
    );
    let v = validate_pan("12345ABCDE");
    assert_eq!(
        v.errors.len(),
        9,
        "five letters and four digits are misplaced"
    );
}

// ---- CIN and LLPIN -------------------------------------------------------------

#[test]
fn real_cins_are_valid_and_decoded() {
    for cin in [
        "L17110MH1973PLC019786",
        "L85110KA1981PLC013115",
        "L85195TG1984PLC004507",
        "L27100MH1907PLC000260",
        "L23109WB1973GOI028844",
        "U72900KA2010PTC123456",
    ] {
        let v = validate_cin(cin, YEAR);
        assert!(v.valid, "{cin}: {:?}", v.errors);
    }
    let v = validate_cin("l17110-mh-1973-plc-019786", YEAR);
    assert!(v.valid);
    assert_eq!(v.normalized, "L17110MH1973PLC019786");
    assert_eq!(v.info.listed, Some(true));
    assert_eq!(v.info.industry_code.as_deref(), Some("17110"));
    assert_eq!(v.info.state, Some("Maharashtra"));
    assert_eq!(v.info.state_code.as_deref(), Some("MH"));
    assert_eq!(v.info.year, Some(1973));
    assert_eq!(v.info.ownership, Some("Public limited company"));
    assert_eq!(v.info.ownership_code, Some("PLC"));
    assert_eq!(v.info.registration_number.as_deref(), Some("019786"));
    let c = Cin::parse("U72900KA2010PTC123456", YEAR).expect("valid");
    assert!(!c.listed());
    assert_eq!(c.industry_code(), "72900");
    assert_eq!(c.state().map(|s| s.code), Some(29));
    assert_eq!(c.year(), 2010);
    assert_eq!(c.ownership(), Some(Ownership::PrivateLimited));
    assert_eq!(c.registration_number(), "123456");
}

#[test]
fn every_ownership_code_is_accepted() {
    for code in [
        "PLC", "PTC", "GOI", "SGC", "FLC", "FTC", "GAP", "GAT", "NPL", "ULL", "ULT", "OPC",
    ] {
        let cin = format!("U72900KA2010{code}123456");
        assert!(validate_cin(&cin, YEAR).valid, "{code}");
        assert_eq!(Ownership::from_code(code).map(Ownership::code), Some(code));
    }
}

#[test]
fn an_unknown_ownership_code_is_named() {
    let v = validate_cin("U72900KA2010XYZ123456", YEAR);
    assert_eq!(
        v.errors,
        [IdError::UnknownOwnershipCode {
            code: Code(*b"XYZ")
        }]
    );
    assert!(errors(&v)[0].starts_with("unknown CIN ownership code XYZ at positions 13-15"));
}

#[test]
fn a_cin_year_after_the_current_year_is_in_the_future() {
    let v = validate_cin("U72900KA2026PTC123456", YEAR);
    assert_eq!(
        errors(&v),
        ["CIN year 2026 is in the future (current year 2025)"]
    );
    assert!(validate_cin("U72900KA2026PTC123456", 2026).valid);
}

#[test]
fn a_cin_year_before_company_registration_existed_is_rejected() {
    let v = validate_cin("U72900KA0201PTC123456", YEAR);
    assert_eq!(
        v.errors,
        [IdError::CinYearTooEarly {
            year: 201,
            earliest: 1850
        }]
    );
}

#[test]
fn an_unknown_cin_state_is_named() {
    let v = validate_cin("U72900XX2010PTC123456", YEAR);
    assert_eq!(errors(&v), ["unknown CIN state code XX at positions 7-8"]);
}

#[test]
fn a_cin_listing_status_other_than_l_or_u_is_rejected() {
    let v = validate_cin("X72900KA2010PTC123456", YEAR);
    assert_eq!(
        errors(&v),
        ["bad character 'X' at position 1: expected L (listed) or U (unlisted)"]
    );
}

#[test]
fn an_llpin_is_recognised_as_its_own_kind_and_keeps_its_dash() {
    let v = validate_auto("aab-1234", YEAR);
    assert_eq!(v.kind, IdKind::Llpin);
    assert!(v.valid);
    assert_eq!(v.normalized, "AAB-1234");
    assert_eq!(
        Llpin::parse("AAB 1234").map(|l| l.to_string()).as_deref(),
        Ok("AAB-1234")
    );
    let v = validate_llpin("AA1-1234");
    assert_eq!(
        errors(&v),
        ["bad character '1' at position 3: expected a letter"]
    );
}

// ---- normalisation and bad input ----------------------------------------------

#[test]
fn lower_case_spaced_and_dashed_input_is_normalised_not_rejected() {
    let v = validate_gstin(" 27 aapfu-0939.f1zv ");
    assert!(v.valid);
    assert_eq!(v.normalized, "27AAPFU0939F1ZV");
    assert_eq!(v.value, " 27 aapfu-0939.f1zv ");
}

#[test]
fn empty_input_is_reported_as_empty() {
    for s in ["", "   ", " - . "] {
        assert_eq!(validate_gstin(s).errors, [IdError::Empty], "{s:?}");
        assert_eq!(validate_auto(s, YEAR).errors, [IdError::Empty], "{s:?}");
        assert_eq!(Pan::parse(s), Err(IdError::Empty));
    }
}

#[test]
fn a_cyrillic_look_alike_is_a_bad_character_at_its_position() {
    let v = validate_gstin("27\u{410}APFU0939F1ZV");
    assert!(!v.valid);
    assert_eq!(
        errors(&v),
        ["bad character '\u{410}' (U+0410) at position 3: expected a letter"]
    );
    assert!(Gstin::parse("27\u{410}APFU0939F1ZV").is_err());
}

#[test]
fn full_width_digits_are_bad_characters() {
    let v = validate_auto("\u{ff12}\u{ff17}AAPFU0939F1ZV", YEAR);
    assert_eq!(v.kind, IdKind::Gstin);
    assert_eq!(
        v.errors[0],
        IdError::BadCharacter {
            position: 1,
            found: Shown('\u{ff12}'),
            expected: CharClass::Digit
        }
    );
}

#[test]
fn a_nul_byte_is_a_bad_character_shown_by_its_code_point() {
    let v = validate_pan("AAPFU\u{0}939F");
    assert_eq!(
        errors(&v),
        ["bad character U+0000 at position 6: expected a digit"]
    );
}

#[test]
fn ten_kilobytes_of_input_is_a_clear_length_error() {
    let long = "27AAPFU0939F1ZV".repeat(700);
    let v = validate_gstin(&long);
    assert_eq!(
        errors(&v),
        ["wrong length: expected 15 characters, found 10500"]
    );
    let v = validate_auto(&long, YEAR);
    assert_eq!(v.kind, IdKind::Unknown);
    assert_eq!(v.errors, [IdError::Unrecognised { length: 10500 }]);
    let nuls = "\u{0}".repeat(10_240);
    let v = validate_gstin(&nuls);
    assert_eq!(v.errors.len(), 2);
    assert!(errors(&v)[0].starts_with("bad character U+0000 at position 1"));
}

#[test]
fn a_length_error_names_expected_and_found() {
    assert_eq!(
        Gstin::parse("27AAPFU0939F1Z"),
        Err(IdError::Length {
            expected: 15,
            found: 14
        })
    );
}

// ---- detection and JSON -----------------------------------------------------------

#[test]
fn auto_detection_picks_the_kind_by_length_and_shape() {
    assert_eq!(detect("27AAPFU0939F1ZV"), IdKind::Gstin);
    assert_eq!(detect("AAPFU0939F"), IdKind::Pan);
    assert_eq!(detect("L17110MH1973PLC019786"), IdKind::Cin);
    assert_eq!(detect("AAB-1234"), IdKind::Llpin);
    assert_eq!(detect("27AAPFU0939F1Z"), IdKind::Gstin);
    assert_eq!(detect("AAPFU0939"), IdKind::Pan);
    assert_eq!(detect("L17110MH1973PLC01978"), IdKind::Cin);
    assert_eq!(detect("hello"), IdKind::Unknown);
    assert_eq!(detect(""), IdKind::Unknown);
    let v = validate_auto("27AAPFU0939F1Z", YEAR);
    assert_eq!(v.kind, IdKind::Gstin);
    assert_eq!(
        errors(&v),
        ["wrong length: expected 15 characters, found 14"]
    );
    let v = validate_auto("hello", YEAR);
    assert_eq!(
        errors(&v),
        ["not a GSTIN, PAN, CIN or LLPIN: 5 characters after removing spaces, dashes and dots"]
    );
    assert_eq!(
        validate(IdKind::Unknown, "AAPFU0939F", YEAR).kind,
        IdKind::Pan
    );
}

#[test]
fn a_validation_serialises_to_the_documented_json_shape() {
    let json = serde_json::to_value(validate_auto("27aapfu0939f1zo", YEAR)).expect("serialises");
    assert_eq!(
        json,
        serde_json::json!({
            "value": "27aapfu0939f1zo",
            "kind": "gstin",
            "valid": false,
            "normalized": "27AAPFU0939F1ZO",
            "errors": ["check character mismatch at position 15: expected 'V', found 'O'"],
            "info": {
                "registration_type": "regular",
                "state": "Maharashtra",
                "state_code": "27",
                "holder_type": "Firm or Limited Liability Partnership",
                "pan": "AAPFU0939F",
                "entity_number": 1
            }
        })
    );
    let unknown = serde_json::to_value(validate_auto("??", YEAR)).expect("serialises");
    assert_eq!(unknown["kind"], "unknown");
    assert_eq!(unknown["info"], serde_json::json!({}));
}

// ---- cross-checks ---------------------------------------------------------------

fn company(pan: &str, gstins: &[&str], cin: &str, state: &str) -> CompanyIdentifiers {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    CompanyIdentifiers {
        pan: some(pan),
        gstins: gstins.iter().map(|g| (*g).to_owned()).collect(),
        cin: some(cin),
        state: some(state),
    }
}

#[test]
fn consistent_company_identifiers_raise_no_issue() {
    let c = company(
        "AAACR5055K",
        &["27AAACR5055K1Z7", "27AAACR5055K2Z6"],
        "L17110MH1973PLC019786",
        "Maharashtra",
    );
    assert_eq!(cross_check(&c, YEAR), []);
    let llp = company("AAPFU0939F", &["27AAPFU0939F1ZV"], "AAB-1234", "MH");
    assert_eq!(cross_check(&llp, YEAR), []);
}

#[test]
fn a_gstin_carrying_another_pan_is_reported() {
    let c = company("AAACR5055K", &["27AAPFU0939F1ZV"], "", "27");
    let issues = cross_check(&c, YEAR);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(
        issues[0].to_string(),
        "GSTIN 27AAPFU0939F1ZV carries PAN AAPFU0939F, but the company's PAN is AAACR5055K"
    );
}

#[test]
fn a_gstin_from_another_state_is_reported() {
    let c = company("AAACR5055K", &["29AAACR5055K1Z3"], "", "Maharashtra");
    let issues = cross_check(&c, YEAR);
    assert_eq!(
        issues.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["GSTIN 29AAACR5055K1Z3 is registered in Karnataka, but the company's state is Maharashtra"]
    );
}

#[test]
fn a_personal_pan_on_a_company_is_reported() {
    let c = company("ABCPK1234D", &[], "", "");
    assert_eq!(
        cross_check(&c, YEAR),
        [CrossCheckIssue::PanNotCompany {
            pan: "ABCPK1234D".into(),
            holder_type: HolderType::Individual
        }]
    );
    let with_cin = company("AAPFU0939F", &[], "L17110MH1973PLC019786", "");
    assert_eq!(
        cross_check(&with_cin, YEAR)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["PAN AAPFU0939F has holder type F (Firm or Limited Liability Partnership), but a company with a CIN has holder type C (Company)"]
    );
}

#[test]
fn invalid_identifiers_and_unknown_states_are_reported_with_their_errors() {
    let c = company(
        "AAACR5055",
        &["27AAACR5055K1Z8"],
        "U72900KA2030PTC123456",
        "Atlantis",
    );
    let issues: Vec<String> = cross_check(&c, YEAR)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        issues,
        [
            "PAN \"AAACR5055\" is invalid: wrong length: expected 10 characters, found 9",
            "CIN \"U72900KA2030PTC123456\" is invalid: CIN year 2030 is in the future (current year 2025)",
            "GSTIN \"27AAACR5055K1Z8\" is invalid: check character mismatch at position 15: expected '7', found '8'",
            "company state \"Atlantis\" is not a known Indian state or union territory",
        ]
    );
    let json = serde_json::to_value(cross_check(&c, YEAR)).expect("serialises");
    assert_eq!(
        json[3],
        "company state \"Atlantis\" is not a known Indian state or union territory"
    );
}

#[test]
fn merged_and_divided_states_count_as_the_same_state() {
    let daman = company(
        "AAACR5055K",
        &[&with_check("25AAACR5055K1Z")],
        "",
        "Dadra and Nagar Haveli and Daman and Diu",
    );
    assert_eq!(cross_check(&daman, YEAR), []);
    let oidar = company("", &["9917SGP29001OST"], "", "Karnataka");
    assert_eq!(cross_check(&oidar, YEAR), []);
}

// ---- extraction ---------------------------------------------------------------------

const SIGNATURE: &str = "Thanks & Regards,\n\
Ramesh Kumar | Sharma Traders Pvt Ltd\n\
GSTIN: 27aapfu0939f1zv  PAN: AAPFU0939F\n\
CIN No. U72900KA2010PTC123456\n\
Mob: +91 98765 43210 | Tel: (022) 2345 6789\n\
Ref INV-2024-000123 dated 12/03/2024, amount Rs. 1,23,456.00";

#[test]
fn a_signature_yields_its_identifiers_and_phones_with_spans() {
    let x = extract(SIGNATURE, YEAR);
    assert_eq!(x.gstin.len(), 1);
    let g = &x.gstin[0];
    assert!(g.valid);
    assert_eq!(g.normalized, "27AAPFU0939F1ZV");
    assert_eq!(&SIGNATURE[g.span.clone()], "27aapfu0939f1zv");
    assert_eq!(
        x.pan
            .iter()
            .map(|p| p.normalized.as_str())
            .collect::<Vec<_>>(),
        ["AAPFU0939F"]
    );
    assert_eq!(
        x.cin
            .iter()
            .map(|c| c.normalized.as_str())
            .collect::<Vec<_>>(),
        ["U72900KA2010PTC123456"]
    );
    assert_eq!(
        x.phone
            .iter()
            .map(|p| p.normalized.as_str())
            .collect::<Vec<_>>(),
        ["+919876543210", "+912223456789"]
    );
    for p in &x.phone {
        assert_eq!(&SIGNATURE[p.span.clone()], p.value);
    }
    assert!(x.llpin.is_empty());
}

#[test]
fn labels_in_their_usual_forms_are_recognised() {
    for text in [
        "GSTIN: 27 AAPFU 0939 F1ZV",
        "GST No. 27-AAPFU-0939-F1ZV",
        "GST#27AAPFU0939F1ZV",
        "GST Reg No: 27AAPFU0939F1ZV",
        "GSTIN/UIN: 27AAPFU0939F1ZV",
        "our gstin is 27AAPFU0939F1ZV.",
    ] {
        let x = extract(text, YEAR);
        assert_eq!(x.gstin.len(), 1, "{text}");
        assert!(x.gstin[0].valid, "{text}");
    }
    let x = extract("Permanent Account Number: AAPFU 0939 F", YEAR);
    assert_eq!(x.pan.len(), 1);
    let x = extract("Corporate Identity Number: U72900 KA 2010 PTC 123456", YEAR);
    assert_eq!(x.cin.len(), 1);
    let x = extract("LLPIN: AAB-1234, LLP ID AAC 5678", YEAR);
    assert_eq!(
        x.llpin
            .iter()
            .map(|l| l.normalized.as_str())
            .collect::<Vec<_>>(),
        ["AAB-1234", "AAC-5678"]
    );
}

#[test]
fn a_gstin_shaped_token_with_a_wrong_check_character_is_found_but_invalid() {
    let x = extract("Please bill to 27AAPFU0939F1ZO as before.", YEAR);
    assert_eq!(x.gstin.len(), 1);
    assert!(!x.gstin[0].valid);
    assert_eq!(
        x.gstin[0].errors,
        [IdError::CheckCharacter {
            position: 15,
            expected: 'V',
            found: 'O'
        }]
    );
}

#[test]
fn a_look_alike_gstin_is_found_but_never_valid() {
    let x = extract("GSTIN 27\u{410}APFU0939F1ZV", YEAR);
    assert_eq!(x.gstin.len(), 1);
    assert!(!x.gstin[0].valid);
    assert!(x.gstin[0].errors[0].to_string().contains("position 3"));
    let x = extract("see \u{ff12}\u{ff17}AAPFU0939F1ZV", YEAR);
    assert_eq!(x.gstin.len(), 1);
    assert!(!x.gstin[0].valid);
}

#[test]
fn a_labelled_value_of_the_wrong_length_is_reported_with_its_error() {
    let x = extract("GSTIN: 27AAPFU0939F1Z, thanks", YEAR);
    assert_eq!(x.gstin.len(), 1);
    assert_eq!(
        x.gstin[0].errors,
        [IdError::Length {
            expected: 15,
            found: 14
        }]
    );
    let x = extract("GST No: applied for", YEAR);
    assert!(x.gstin.is_empty());
}

#[test]
fn invoice_numbers_phone_numbers_and_product_codes_are_not_identifiers() {
    let text = "INV-2024-000123, PO 4500012345, batch 1234 a, Model ABCDE1234F? \
                Call 9876543210. Order ORD/2024/98765 43210 shipped 2024-01-15.";
    let x = extract(text, YEAR);
    assert!(x.gstin.is_empty(), "{:?}", x.gstin);
    assert!(x.cin.is_empty());
    assert!(x.llpin.is_empty());
    assert!(x.pan.is_empty(), "{:?}", x.pan);
    assert_eq!(
        x.phone
            .iter()
            .map(|p| p.normalized.as_str())
            .collect::<Vec<_>>(),
        ["+919876543210"]
    );
}

#[test]
fn an_unlabelled_valid_pan_is_found_but_a_spaced_one_is_not() {
    let x = extract("Our PAN AAACR5055K and also AAACR5055K alone.", YEAR);
    assert_eq!(x.pan.len(), 2);
    let x = extract("batch 1234 c", YEAR);
    assert!(x.pan.is_empty());
}

#[test]
fn the_pan_inside_a_gstin_is_not_reported_separately() {
    let x = extract("27AAPFU0939F1ZV", YEAR);
    assert_eq!(x.gstin.len(), 1);
    assert!(x.pan.is_empty());
}

#[test]
fn phones_in_common_indian_formats_are_normalised_to_e164() {
    let text =
        "M: 98765 43210 / 98765 12345, Ph 0120-4567890, WhatsApp +91-70123-45678, Mob-9988776655";
    let x = extract(text, YEAR);
    assert_eq!(
        x.phone
            .iter()
            .map(|p| p.normalized.as_str())
            .collect::<Vec<_>>(),
        [
            "+919876543210",
            "+919876512345",
            "+911204567890",
            "+917012345678",
            "+919988776655"
        ]
    );
}

#[test]
fn extraction_of_empty_or_hostile_text_finds_nothing_and_does_not_panic() {
    assert_eq!(extract("", YEAR), Extracted::default());
    let hostile = format!(
        "{}{}",
        "a.".repeat(50_000),
        "\u{0}\u{410}\u{ff12}".repeat(1000)
    );
    let x = extract(&hostile, YEAR);
    assert!(x.gstin.is_empty() && x.pan.is_empty() && x.phone.is_empty());
}

#[test]
fn identifiers_after_long_stretches_of_prose_are_still_found() {
    let prose = "lorem ipsum dolor sit amet consectetur ".repeat(20);
    let text = format!(
        "{prose}GSTIN: 27AAPFU0939F1ZV {prose}call +91 98765 43210 {prose}LLPIN AAB-1234 {prose}AAACR5055K"
    );
    let x = extract(&text, YEAR);
    assert_eq!(x.gstin.len(), 1);
    assert_eq!(x.phone.len(), 1);
    assert_eq!(x.llpin.len(), 1);
    assert_eq!(x.pan.len(), 1);
    assert_eq!(&text[x.pan[0].span.clone()], "AAACR5055K");
}
