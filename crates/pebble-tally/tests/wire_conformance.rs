//! Request → response → model conformance cases against fixtures in the byte
//! shape Tally sends.
//!
//! Response fixtures are kept as reviewable UTF-8 text with LF line ends;
//! [`response`] turns them into the bytes Tally puts on the wire: `{{U+XXXX}}`
//! becomes that (unprintable) character, LF becomes CRLF (DBL-tally strips
//! `\r\n` from Tally output, so Tally writes CRLF), and the text is encoded as
//! UTF-16LE with a BOM unless the case is about encoding.
//!
//! Source keys (DBL-tally, GUIDE, TC-…, ISS …) are those of
//! `shared/research/tally-wire-format.md` §0. Request golden files hold the
//! exact text Pebble sends; [`assert_request`] also checks the exact UTF-16LE
//! bytes and that the simulator's recogniser reads the request back.

use std::path::PathBuf;

use chrono::NaiveDate;
use pebble_tally::{
    decode, parse_companies, parse_ledger, parse_ledgers, parse_stock_item, parse_stock_items,
    recognise, Amount, Company, Decimal, Forex, GstRegistration, Ledger, Limits, Money, Period,
    Quantity, Query, Rate, Request, Scope, StockItem, TallyError, UnitPart, ValueError,
    WireEncoding,
};

#[derive(Clone, Copy)]
enum Wire {
    Utf16LeBom,
    Utf16Le,
    Utf16BeBom,
    Utf8,
}

fn fixture_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(relative)
}

fn response(name: &str, wire: Wire) -> Vec<u8> {
    let source = std::fs::read_to_string(fixture_path(&format!("responses/{name}")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    let mut text = String::new();
    let mut rest = source.as_str();
    while let Some(at) = rest.find("{{U+") {
        text.push_str(&rest[..at]);
        let end = rest[at..].find("}}").expect("closed {{U+…}}") + at;
        let code = u32::from_str_radix(&rest[at + 4..end], 16).expect("hex code point");
        text.push(char::from_u32(code).expect("a char"));
        rest = &rest[end + 2..];
    }
    text.push_str(rest);
    let text = text.replace('\n', "\r\n");
    match wire {
        Wire::Utf8 => text.into_bytes(),
        Wire::Utf16Le => utf16le(&text),
        Wire::Utf16LeBom => [vec![0xFF, 0xFE], utf16le(&text)].concat(),
        Wire::Utf16BeBom => {
            let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
            [vec![0xFE, 0xFF], be].concat()
        }
    }
}

fn tally(name: &str) -> Vec<u8> {
    response(name, Wire::Utf16LeBom)
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The request's text equals the golden file, its UTF-16LE body is exactly
/// those characters with no BOM, and the recogniser reads it back.
fn assert_request(golden: &str, request: &Request) {
    let expected = std::fs::read_to_string(fixture_path(&format!("requests/{golden}.xml")))
        .unwrap_or_else(|e| panic!("golden {golden}: {e}"));
    assert_eq!(
        request.xml(),
        expected,
        "request text differs from {golden}.xml"
    );
    let body = request.body(WireEncoding::Utf16Le);
    assert_eq!(
        body,
        utf16le(&expected),
        "UTF-16LE bytes differ from {golden}.xml"
    );
    assert_eq!(
        recognise(&body).as_ref(),
        Ok(request),
        "recogniser disagrees on {golden}"
    );
}

fn request(query: Query, scope: Scope) -> Request {
    Request::new(query, scope).expect("valid request")
}

fn limits() -> Limits {
    Limits::default()
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal literal")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn ram_and_shyam() -> Scope {
    Scope::company("Ram & Shyam Enterprises").expect("valid name")
}

fn debit(value: &str) -> Option<Amount> {
    Some(Amount::from_signed(dec(value)))
}

fn stock_items_request() -> Request {
    let fy = Period::new(date(2025, 4, 1), date(2026, 3, 31)).expect("valid period");
    request(
        Query::StockItems {
            changed_after: None,
        },
        ram_and_shyam().with_period(fy),
    )
}

fn coffee_request() -> Request {
    request(
        Query::StockItem {
            name: "Coffee Powder".into(),
        },
        Scope::company("Bhrama Enterprises").expect("valid name"),
    )
}

fn item(name: &str) -> StockItem {
    StockItem {
        name: name.into(),
        guid: None,
        aliases: vec![],
        part_number: None,
        group: None,
        unit: None,
        closing_qty: Quantity::zero(),
        rate: None,
        closing_value: None,
        alter_id: None,
    }
}

// ---------------------------------------------------------------- companies

/// Source: DBL-tally `fetchTallyCompanyList` (request: Company collection,
/// `IsActiveCompany` compute, `BooksFrom,AltMstId,AltVchId`); row shape
/// `<COMPANY NAME=…>` with typed leaves per research §2.1 and DBL's parser.
#[test]
fn company_list_reads_names_alter_ids_and_the_active_flag() {
    let req = request(Query::Companies, Scope::default());
    assert_request("companies", &req);
    let companies = parse_companies(&tally("companies_loaded.xml"), &limits()).unwrap();
    assert_eq!(
        companies,
        vec![
            Company {
                name: "Ram & Shyam Enterprises".into(),
                books_from: Some(date(2025, 4, 1)),
                last_master_alter_id: Some(1042),
                last_voucher_alter_id: Some(8871),
                is_active: true,
            },
            Company {
                name: "Krishna Sales Corporation (from 1-Apr-24)".into(),
                books_from: Some(date(2024, 4, 1)),
                last_master_alter_id: Some(311),
                last_voucher_alter_id: Some(0),
                is_active: false,
            },
        ]
    );
}

/// Source: DBL-tally `fetchTallyCompanyList` ("an empty list means no company open").
#[test]
fn empty_company_list_means_no_company_is_open() {
    assert_request("companies", &request(Query::Companies, Scope::default()));
    assert_eq!(
        parse_companies(&tally("companies_none_open.xml"), &limits()),
        Err(TallyError::NoCompanyOpen)
    );
}

// -------------------------------------------------------------- stock items

/// Source: research §1.2 request (DBL-json `stockitem` fields, DBL-tally
/// `generateCollectionRequestXMLPayload`, `SVFROMDATE TYPE="Date"` per ISS
/// DBL#5); response: research §2.1 (GUIDE collection structure, DBL-tally
/// line grammar), `&#4; Not Applicable` / `&#4; Primary` per GUIDE and TC-clean.
#[test]
fn stock_export_reads_group_unit_closing_rate_value_aliases_and_part_number() {
    assert_request("stock_items_fy", &stock_items_request());
    let items = parse_stock_items(&tally("stock_items_collection.xml"), &limits()).unwrap();
    assert_eq!(
        items,
        vec![
            StockItem {
                guid: Some("f0347998-2c19-4a5e-a4ed-01f589cb92a5-00000200".into()),
                aliases: vec!["WA-01".into()],
                part_number: Some("HW-WA-2291".into()),
                group: Some("Hardware".into()),
                unit: Some("Nos".into()),
                closing_qty: Quantity::new(dec("120"), "Nos"),
                rate: Some(Rate::new(dec("250.00"), "Nos")),
                closing_value: debit("-30000.00"),
                alter_id: Some(939),
                ..item("Widget A")
            },
            StockItem {
                guid: Some("f0347998-2c19-4a5e-a4ed-01f589cb92a5-00000201".into()),
                unit: Some("mtr".into()),
                closing_qty: Quantity::new(dec("200"), "mtr"),
                rate: Some(Rate::new(dec("42.50"), "mtr")),
                closing_value: debit("-8500.00"),
                alter_id: Some(940),
                ..item("PVC Pipe 1/2 inch")
            },
            StockItem {
                guid: Some("f0347998-2c19-4a5e-a4ed-01f589cb92a5-00000202".into()),
                aliases: vec!["2.5 sqmm wire".into(), "CW 2.5".into()],
                part_number: Some("CW-25".into()),
                group: Some("Wires & Cables".into()),
                unit: Some("coil".into()),
                closing_qty: Quantity::new(dec("10"), "coil"),
                rate: Some(Rate::new(dec("1850.00"), "coil")),
                closing_value: debit("-18500.00"),
                alter_id: Some(941),
                ..item("Copper Wire 2.5mm")
            },
        ]
    );
    let value = items[0].closing_value.as_ref().unwrap();
    assert!(value.is_debit, "stock value is a debit balance (MCP-def)");
    assert_eq!(value.value.to_scaled(2), Some(3_000_000), "exact paise");
}

/// Sources, per item: `" 18.00 PRS"` / `635.80/PRS` (research §2.3, UNATTR
/// real-data fixtures, "Campus Shoes"); `-23 nos` (GUIDE object export);
/// blank balance, rate and value (UNATTR real-data notes; TC
/// `TallyQuantityTests`/`TallyRateTests` `<QUANTITY></QUANTITY>`); compound
/// `2 Box 54 strips 5 tablets` (TC `TallyQuantityFieldTests`); additional unit
/// `" 1000 Nos =  100 Boxes"` (TC `TallyQuantityTests`).
#[test]
fn stock_export_value_grammar_covers_every_published_quantity_shape() {
    assert_request("stock_items_fy", &stock_items_request());
    let items = parse_stock_items(&tally("stock_items_value_grammar.xml"), &limits()).unwrap();
    let quantities: Vec<&Quantity> = items.iter().map(|i| &i.closing_qty).collect();
    assert_eq!(
        quantities,
        vec![
            &Quantity::new(dec("18.00"), "PRS"),
            &Quantity::new(dec("-23"), "nos"),
            &Quantity::zero(),
            &Quantity {
                value: dec("2"),
                unit: Some("Box".into()),
                tail: vec![
                    UnitPart {
                        value: dec("54"),
                        unit: "strips".into()
                    },
                    UnitPart {
                        value: dec("5"),
                        unit: "tablets".into()
                    },
                ],
                alternate: None,
            },
            &Quantity {
                alternate: Some(UnitPart {
                    value: dec("100"),
                    unit: "Boxes".into()
                }),
                ..Quantity::new(dec("1000"), "Nos")
            },
        ]
    );
    assert_eq!(items[0].rate, Some(Rate::new(dec("635.80"), "PRS")));
    assert!(items[1].closing_qty.is_negative());
    assert_eq!(
        items[1].closing_value,
        Some(Amount::from_signed(dec("1955000.00"))),
        "negative stock has a credit value"
    );
    assert_eq!(
        (
            &items[2].rate,
            &items[2].closing_value,
            items[2].closing_qty.is_blank()
        ),
        (&None, &None, true),
        "an item that never moved has blank balances, not errors"
    );
    assert_eq!(
        items[3].unit.as_deref(),
        Some("Box of 100 strips of 10 tablets")
    );
    assert_eq!(
        items[3].closing_qty.to_string(),
        "2 Box 54 strips 5 tablets"
    );
}

/// Sources: forex rate `$ 200.0000 = ₹ 8500.00/Nos` and forex amounts
/// `-$ 10000.0000 @  = -₹ 425000.00` (TC `XMLConverterHelpers/TallyRateTests`,
/// `TallyAmountTests`); DBL-tally `Rate`/`Amount` forex branches (value after `=`).
#[test]
fn stock_export_reads_forex_rates_and_values_in_home_currency() {
    assert_request("stock_items_fy", &stock_items_request());
    let items = parse_stock_items(&tally("stock_items_forex.xml"), &limits()).unwrap();
    let dollar = |amount: &str| Money {
        currency: Some("$".into()),
        amount: dec(amount),
    };
    let rupee = |amount: &str| Money {
        currency: Some("₹".into()),
        amount: dec(amount),
    };
    assert_eq!(
        items[0].rate,
        Some(Rate {
            amount: dec("830.00"),
            currency: Some("₹".into()),
            per_unit: Some("Nos".into()),
            forex: Some(dollar("10.00")),
        })
    );
    assert_eq!(
        items[0].closing_value,
        Some(Amount {
            value: dec("830.00"),
            is_debit: true,
            currency: Some("₹".into()),
            forex: Some(Forex {
                amount: dollar("10.00"),
                rate_of_exchange: Some(rupee("83.00")),
            }),
        })
    );
    let motor_value = items[1].closing_value.as_ref().unwrap();
    assert_eq!(
        (motor_value.value, motor_value.is_debit),
        (dec("425000"), true)
    );
    assert_eq!(motor_value.forex.as_ref().unwrap().rate_of_exchange, None);
    assert_eq!(items[1].rate.as_ref().unwrap().amount, dec("8500"));
}

/// Source: research §1.2 incremental sync (`FILTER` + `SYSTEM TYPE="Formulae"`
/// `$AlterID > N`; DBL-tally incremental path, MCP-chg v7); rows as §2.1.
#[test]
fn incremental_stock_export_filters_on_alter_id() {
    let req = request(
        Query::StockItems {
            changed_after: Some(12345),
        },
        ram_and_shyam(),
    );
    assert_request("stock_items_changed_since", &req);
    let items = parse_stock_items(&tally("stock_items_changed_since.xml"), &limits()).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].alter_id, Some(12346));
    assert_eq!(items[0].closing_qty, Quantity::new(dec("95"), "Nos"));
}

/// Source: research §1.3 option B (collection + `$$IsEqual:$Name:"…"` filter,
/// MCP-def `stock-item-account` filter style); response shape §2.1.
#[test]
fn single_item_lookup_by_name() {
    assert_request("stock_item_coffee", &coffee_request());
    let found = parse_stock_item(&tally("stock_item_one.xml"), &limits()).unwrap();
    assert_eq!(
        found,
        Some(StockItem {
            guid: Some("7c1d0a55-0f7e-4d0b-9a55-3f4b1e2c9d10-00000031".into()),
            aliases: vec!["Filter Coffee".into()],
            group: Some("Beverages".into()),
            unit: Some("kg".into()),
            closing_qty: Quantity::new(dec("42.500"), "kg"),
            rate: Some(Rate::new(dec("640.00"), "kg")),
            closing_value: debit("-27200.00"),
            alter_id: Some(87),
            ..item("Coffee Powder")
        })
    );
}

/// Source: research §2.1 (`CMPINFO` counters of a live company); a filter
/// that matches nothing leaves the collection empty.
#[test]
fn single_item_lookup_that_matches_nothing_is_none_for_a_live_company() {
    assert_request("stock_item_coffee", &coffee_request());
    assert_eq!(
        parse_stock_item(&tally("stock_item_not_found.xml"), &limits()),
        Ok(None)
    );
}

/// Sources: ISS DBL#28 (unescaped `&` in SVCURRENTCOMPANY); UNATTR "Could
/// not set" reports for `( )` in `Krishna Sales Corporation (from 1-Apr-24)`;
/// DBL-tally `'"'` single-quoted TDL strings; TC-fixture `&amp;` in names.
#[test]
fn names_with_ampersand_quotes_and_brackets_are_escaped_both_ways() {
    let req = request(
        Query::StockItem {
            name: "Pipe <PVC> 1/2\" (Sam & Co)".into(),
        },
        Scope::company("Krishna Sales Corporation (from 1-Apr-24)").unwrap(),
    );
    assert_request("stock_item_special_chars", &req);
    let found = parse_stock_item(&tally("stock_item_special_chars.xml"), &limits())
        .unwrap()
        .unwrap();
    assert_eq!(found.name, "Pipe <PVC> 1/2\" (Sam & Co)");
    assert_eq!(found.group.as_deref(), Some("Pipes & Fittings"));
    assert_eq!(found.part_number.as_deref(), Some("P&C-12"));
    assert!(
        found.aliases.is_empty(),
        "the listed primary name is not an alias"
    );
}

/// Source: GUIDE object export (research §2.2, structure verbatim:
/// `DATA/TALLYMESSAGE`, `ID`/`REQNAME` attributes, unrequested methods,
/// `-23 nos`); OFF-tags `TYPE=Object`, `SUBTYPE`, `ID TYPE="Name"`; OFF-body `FETCHLIST`.
#[test]
fn name_with_both_quote_kinds_uses_an_object_export() {
    let req = request(
        Query::StockItem {
            name: "Sam's 3/4\" Elbow".into(),
        },
        ram_and_shyam(),
    );
    assert_request("stock_item_object_fallback", &req);
    let found = parse_stock_item(&tally("stock_item_object_export.xml"), &limits()).unwrap();
    assert_eq!(
        found,
        Some(StockItem {
            guid: Some("f0347998-2c19-4a5e-a4ed-01f589cb92a5-000000df".into()),
            group: Some("Fittings".into()),
            unit: Some("nos".into()),
            closing_qty: Quantity::new(dec("-23"), "nos"),
            rate: Some(Rate::new(dec("120.00"), "nos")),
            closing_value: Some(Amount::from_signed(dec("2760.00"))),
            alter_id: Some(4410),
            ..item("Sam's 3/4\" Elbow")
        }),
        "batch allocations and unrequested methods are ignored"
    );
}

/// Sources: TC-base `_xmlTextAsciiRegex` (raw C0 controls in text), TC-clean
/// (`&#4; ` removal), DBL-tally (`&#\d+;` removal, `&tab;`), GUIDE (`&#4; Primary`).
#[test]
fn control_characters_and_system_name_markers_are_cleaned_before_parsing() {
    let req = request(
        Query::StockItems {
            changed_after: None,
        },
        Scope::default(),
    );
    assert_request("stock_items_active_company", &req);
    let items = parse_stock_items(&tally("stock_items_control_chars.xml"), &limits()).unwrap();
    assert_eq!(
        items,
        vec![StockItem {
            aliases: vec!["Bolt M8 Zinc".into()],
            part_number: Some("HB-M8\tZN".into()),
            closing_qty: Quantity {
                value: dec("500"),
                ..Quantity::zero()
            },
            rate: Some(Rate {
                amount: dec("3.20"),
                currency: None,
                per_unit: None,
                forex: None,
            }),
            closing_value: debit("-1600.00"),
            alter_id: Some(2001),
            ..item("Hex Bolt M8")
        }]
    );
}

// ------------------------------------------------------------------ ledgers

/// Sources: research §1.4 (GSTIN moved to `LEDGSTREGDETAILS.LIST` in
/// TallyPrime 3.0; DBL-yaml/DBL-json/MCP-def take PartyGSTIN, else the
/// dated list); MCP-tpl `master-ledger.njk` list shapes (`LEDGSTREGDETAILS.LIST`,
/// `LEDMAILINGDETAILS.LIST`); ISS TallyConnector#28/#30 (`Unregistered/Consumer`).
#[test]
fn tallyprime3_ledgers_take_gstin_and_state_from_the_latest_dated_entry() {
    let req = request(
        Query::Ledgers {
            changed_after: None,
        },
        ram_and_shyam(),
    );
    assert_request("ledgers", &req);
    let ledgers = parse_ledgers(&tally("ledgers_tp3_dated_gst.xml"), &limits()).unwrap();
    assert_eq!(
        ledgers[0],
        Ledger {
            name: "Sharma Traders".into(),
            guid: Some("52889497-5b6b-403d-8f83-224e3c7759b4-00000ceb".into()),
            aliases: vec![],
            group: Some("Sundry Debtors".into()),
            gstin: Some("29AAACS1234A1ZY".into()),
            gst_registrations: vec![
                GstRegistration {
                    gstin: Some("27AAACS1234A1Z2".into()),
                    applicable_from: Some(date(2017, 7, 1)),
                    registration_type: Some("Regular".into()),
                    place_of_supply: Some("Maharashtra".into()),
                },
                GstRegistration {
                    gstin: Some("29AAACS1234A1ZY".into()),
                    applicable_from: Some(date(2023, 4, 1)),
                    registration_type: Some("Regular".into()),
                    place_of_supply: Some("Karnataka".into()),
                },
            ],
            state: Some("Karnataka".into()),
            closing_balance: debit("-15000.00"),
            alter_id: Some(12942),
        }
    );
    assert_eq!(
        ledgers[1],
        Ledger {
            name: "Walk-in Customer".into(),
            guid: Some("52889497-5b6b-403d-8f83-224e3c7759b4-00000cec".into()),
            aliases: vec!["Cash Sale".into()],
            group: Some("Sundry Debtors".into()),
            gstin: None,
            gst_registrations: vec![GstRegistration {
                gstin: None,
                applicable_from: Some(date(2023, 4, 1)),
                registration_type: Some("Unregistered/Consumer".into()),
                place_of_supply: Some("Karnataka".into()),
            }],
            state: Some("Karnataka".into()),
            closing_balance: None,
            alter_id: Some(12950),
        }
    );
}

/// Sources: DBL-json `ledger` fields (`partygstin`, `ledstatename`); TC-fixture
/// (alias `Oi` as second `NAME`, a second `LANGUAGENAME.LIST` with `LANGUAGEID`
/// 1098 that came back as `?????`).
#[test]
fn pre_tallyprime3_ledgers_use_the_flat_gstin_and_drop_lossy_names() {
    let req = request(
        Query::Ledgers {
            changed_after: None,
        },
        ram_and_shyam(),
    );
    assert_request("ledgers", &req);
    let ledgers = parse_ledgers(&tally("ledgers_flat_gstin.xml"), &limits()).unwrap();
    assert_eq!(ledgers[0].gstin.as_deref(), Some("27AAECA5678B1ZQ"));
    assert_eq!(ledgers[0].state.as_deref(), Some("Maharashtra"));
    assert_eq!(ledgers[0].aliases, vec!["Oi".to_string()]);
    assert!(ledgers[0].gst_registrations.is_empty());
    assert_eq!(ledgers[1].gstin.as_deref(), Some("29AABCA9012C1Z3"));
    assert_eq!(
        ledgers[1].closing_balance,
        Some(Amount::from_signed(dec("24261144.00"))),
        "a creditor's balance is positive: credit"
    );
}

/// Source: research §1.4 party lookup (collection of type Ledger with a name filter).
#[test]
fn ledger_lookup_by_name() {
    let req = request(
        Query::Ledger {
            name: "Sharma Traders".into(),
        },
        ram_and_shyam(),
    );
    assert_request("ledger_sharma", &req);
    let ledger = parse_ledger(&tally("ledger_one.xml"), &limits())
        .unwrap()
        .unwrap();
    assert_eq!(ledger.gstin.as_deref(), Some("29AAACS1234A1ZY"));
    assert_eq!(ledger.state.as_deref(), Some("Karnataka"));
    assert_eq!(ledger.gst_registrations.len(), 1);
}

// ---------------------------------------------------------------- encodings

/// Sources: OFF-prereq (UTF-8 accepted); DBL-ps1 (8-bit request body);
/// research §3 inference that Tally answers in the request's encoding (open point 1).
#[test]
fn utf8_request_and_utf8_response_without_bom() {
    let req = stock_items_request();
    let golden = std::fs::read(fixture_path("requests/stock_items_fy.xml")).unwrap();
    assert_eq!(
        req.body(WireEncoding::Utf8),
        golden,
        "UTF-8 body is the golden bytes"
    );
    assert_eq!(WireEncoding::Utf8.content_type(), "text/xml;charset=utf-8");
    assert_eq!(recognise(&req.body(WireEncoding::Utf8)), Ok(req));
    let body = response("stock_items_multilingual.xml", Wire::Utf8);
    assert_eq!(decode(&body, &limits()).unwrap().encoding_name(), "UTF-8");
    let items = parse_stock_items(&body, &limits()).unwrap();
    assert_eq!(items[0].aliases, vec!["तांबे का तार 2.5mm".to_string()]);
    assert_eq!(
        items[0].rate.as_ref().unwrap().currency.as_deref(),
        Some("₹")
    );
    assert_eq!(items[1].name, "Café Filter Jar");
}

/// Sources: DBL-tally / MCP-tally decode responses as `utf16le` (Node, no BOM
/// handling); research §3 sniffing rule (NULs at odd offsets mean UTF-16LE).
#[test]
fn utf16le_response_without_bom_is_sniffed_from_nul_bytes() {
    assert_request("stock_items_fy", &stock_items_request());
    assert_eq!(
        WireEncoding::Utf16Le.content_type(),
        "text/xml;charset=utf-16"
    );
    let body = response("stock_items_multilingual.xml", Wire::Utf16Le);
    assert_eq!(
        decode(&body, &limits()).unwrap().encoding_name(),
        "UTF-16LE"
    );
    let expected = parse_stock_items(
        &response("stock_items_multilingual.xml", Wire::Utf8),
        &limits(),
    );
    assert_eq!(parse_stock_items(&body, &limits()), expected);
}

/// Source: research §3 client rule (decode by sniffing, BOM first); a
/// big-endian body is what a re-encoding proxy would produce.
#[test]
fn utf16be_response_with_bom_is_decoded() {
    assert_request("stock_items_fy", &stock_items_request());
    let body = response("stock_items_multilingual.xml", Wire::Utf16BeBom);
    assert_eq!(
        decode(&body, &limits()).unwrap().encoding_name(),
        "UTF-16BE"
    );
    let expected = parse_stock_items(
        &response("stock_items_multilingual.xml", Wire::Utf8),
        &limits(),
    );
    assert_eq!(parse_stock_items(&body, &limits()), expected);
}

// ------------------------------------------------------------------- errors

/// Sources: UNATTR (several independent clients, one on TallyPrime 7.0) for
/// the exact text; ISS DBL#28; TC-resp (`HEADER/STATUS` 0, `BODY/DATA/LINEERROR`).
#[test]
fn company_not_loaded_is_a_typed_error() {
    let req = request(
        Query::StockItem {
            name: "Pipe <PVC> 1/2\" (Sam & Co)".into(),
        },
        Scope::company("Krishna Sales Corporation (from 1-Apr-24)").unwrap(),
    );
    assert_request("stock_item_special_chars", &req);
    assert_eq!(
        parse_stock_item(&tally("lineerror_company_not_loaded.xml"), &limits()),
        Err(TallyError::CompanyNotLoaded {
            company: "Krishna Sales Corporation (from 1-Apr-24)".into()
        })
    );
}

/// Source: UNATTR (several clients and fixtures): `Could not find Report
/// 'List of Companies'!` for a `TYPE=Data` request naming a non-report.
/// Pebble sends no Data exports; the case guards the classification.
#[test]
fn unknown_report_is_a_typed_error() {
    assert_request("companies", &request(Query::Companies, Scope::default()));
    assert_eq!(
        parse_companies(&tally("lineerror_unknown_report.xml"), &limits()),
        Err(TallyError::UnknownReport {
            report: "List of Companies".into()
        })
    );
}

/// Sources: TC-base `CheckTallyError` (LINEERROR anywhere in the body);
/// GUIDE error table (`Godown 'xyz' does not exist!`).
#[test]
fn any_other_lineerror_is_reported_verbatim() {
    assert_request("stock_items_fy", &stock_items_request());
    assert_eq!(
        parse_stock_items(&tally("lineerror_generic.xml"), &limits()),
        Err(TallyError::LineError {
            message: "Godown 'Main Location 2' does not exist!".into()
        })
    );
}

/// Source: UNATTR (several independent clients, including tests named for
/// it): HTTP 200 `<RESPONSE>Unknown Request, cannot be processed</RESPONSE>`.
#[test]
fn unknown_request_refusal_is_not_zero_items() {
    assert_request("stock_items_fy", &stock_items_request());
    assert_eq!(
        parse_stock_items(&tally("unknown_request.xml"), &limits()),
        Err(TallyError::UnknownRequest)
    );
}

/// Source: UNATTR (several): `GET /` answers `<RESPONSE>TallyPrime Server is
/// Running</RESPONSE>`; OFF-connector. A POST answered with it is not data.
#[test]
fn server_banner_instead_of_data_is_unexpected() {
    assert_request("stock_items_fy", &stock_items_request());
    assert_eq!(
        parse_stock_items(&tally("server_running.xml"), &limits()),
        Err(TallyError::UnexpectedResponse {
            root: "RESPONSE".into(),
            detail: "TallyPrime Server is Running".into()
        })
    );
}

/// Source: MCP-tally `extractReport` (`respContent.startsWith('<EXCEPTION>')`);
/// the message theme from TC-base's "memory access violation" comment.
#[test]
fn exception_body_is_a_typed_error() {
    assert_request("stock_items_fy", &stock_items_request());
    assert_eq!(
        parse_stock_items(&tally("exception.xml"), &limits()),
        Err(TallyError::Exception {
            message: "Memory Access Violation".into()
        })
    );
}

/// Source: OFF-tna (Tally.NET fault envelope, verbatim structure).
#[test]
fn tally_net_status_fault_is_rejected() {
    assert_request("stock_items_fy", &stock_items_request());
    assert_eq!(
        parse_stock_items(&tally("tallynet_fault.xml"), &limits()),
        Err(TallyError::Rejected {
            code: Some("15004".into()),
            message: Some("Invalid Request".into())
        })
    );
}

/// Source: DBL-tally `updateLastAlterId` (empty body when the target company is closed).
#[test]
fn empty_body_is_a_typed_error() {
    assert_request("stock_items_fy", &stock_items_request());
    assert_eq!(
        parse_stock_items(&[], &limits()),
        Err(TallyError::EmptyBody)
    );
    assert_eq!(
        parse_stock_items(&[0xFF, 0xFE], &limits()),
        Err(TallyError::EmptyBody),
        "a BOM alone is still empty"
    );
}

/// Source: UNATTR (a Rust connector's comment recording a live TallyPrime
/// test): STATUS 1, all-zero CMPINFO, `<COLLECTION ISMSTDEPTYPE="Yes"
/// MSTDEPTYPE="8">` with no children for a collection Tally could not build.
#[test]
fn empty_stub_collection_is_not_zero_items() {
    assert_request("stock_items_fy", &stock_items_request());
    assert_eq!(
        parse_stock_items(&tally("empty_stub.xml"), &limits()),
        Err(TallyError::EmptyStub)
    );
    assert_request("stock_item_coffee", &coffee_request());
    assert_eq!(
        parse_stock_item(&tally("empty_stub.xml"), &limits()),
        Err(TallyError::EmptyStub),
        "a stub is not 'item not found' either"
    );
}

/// Sources: ISS TallyConnector#34 (no company loaded: the parser failed on an
/// unexpected body); SPEC §11 "a Tally that … answers garbage".
#[test]
fn garbage_bodies_are_typed_errors() {
    assert_request("stock_items_fy", &stock_items_request());
    assert_eq!(
        parse_stock_items(&tally("not_xml.txt"), &limits()),
        Err(TallyError::NotXml {
            snippet: "TallyPrime: No Company is Open".into()
        })
    );
    assert!(matches!(
        parse_stock_items(&response("html_error_page.html", Wire::Utf8), &limits()),
        Err(TallyError::UnexpectedResponse { root, .. }) if root == "html"
    ));
    assert!(matches!(
        parse_stock_items(&tally("malformed.xml"), &limits()),
        Err(TallyError::Xml { .. })
    ));
    let binary: Vec<u8> = (0u8..=255).rev().collect();
    assert!(parse_stock_items(&binary, &limits()).is_err());
}

/// Sources: ISS DBL#44 and #15 (very large exports, connections that end
/// early); DBL-rel v1.0.40 (streaming). The body is cut at byte offsets, as
/// a dropped connection would leave it.
#[test]
fn truncated_export_is_a_typed_error_at_any_cut() {
    assert_request("stock_items_fy", &stock_items_request());
    let full = tally("stock_items_collection.xml");
    for cut in [
        full.len() / 3,
        full.len() / 2,
        full.len() - 40,
        full.len() - 10,
    ] {
        let cut = cut & !1;
        assert!(
            matches!(
                parse_stock_items(&full[..cut], &limits()),
                Err(TallyError::Truncated { .. })
            ),
            "cut at {cut} of {}",
            full.len()
        );
    }
    let odd = &full[..full.len() - 1];
    assert_eq!(
        parse_stock_items(odd, &limits()),
        Err(TallyError::MalformedEncoding {
            encoding: "UTF-16LE"
        }),
        "a cut inside a UTF-16 code unit"
    );
}

/// Source: ISS DBL#44 (Node's 512 MB string limit on a huge export); research
/// §3 "stream-parse and cap the body size".
#[test]
fn size_cap_is_enforced_before_decoding() {
    assert_request("stock_items_fy", &stock_items_request());
    let body = tally("stock_items_collection.xml");
    let small = Limits {
        max_body_bytes: 1024,
    };
    assert_eq!(
        parse_stock_items(&body, &small),
        Err(TallyError::TooLarge {
            len: body.len(),
            limit: 1024
        })
    );
}

/// Source: DBL-tally `parseTallyDataTypeValue` turns unparseable numbers into
/// 0; Pebble quotes stock to customers, so the same text is an error naming
/// the item and field.
#[test]
fn value_outside_the_grammar_is_an_error_not_zero() {
    assert_request("stock_item_coffee", &coffee_request());
    assert_eq!(
        parse_stock_item(&tally("stock_item_bad_value.xml"), &limits()),
        Err(TallyError::InvalidValue {
            record: "STOCKITEM",
            name: "Coffee Powder".into(),
            field: "CLOSINGBALANCE",
            value: " 42,500 kg".into(),
            reason: ValueError::NotANumber,
        })
    );
}
