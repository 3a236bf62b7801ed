//! The simulator's side agrees with the client's side: whatever the renderer
//! writes, the parser reads back as the same models; whatever request Pebble
//! builds, the recogniser reads back as the same request.

use chrono::NaiveDate;
use pebble_tally::{
    parse_companies, parse_ledgers, parse_stock_items, recognise, render_companies,
    render_company_not_loaded, render_empty_stub, render_ledgers, render_line_error,
    render_stock_items, render_unknown_request, Amount, Company, Decimal, Forex, GstRegistration,
    Ledger, Limits, MasterCounts, Money, Period, Quantity, Query, Rate, Request, Scope, StockItem,
    TallyError, UnitPart, WireEncoding,
};
use proptest::prelude::*;

/// Names as Tally allows them: any printable text, including the XML
/// specials and both quotes, but not the reserved system names, not blank,
/// and not the `?` runs that mark lossy encoding.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 &<>\"'()/.,₹तार-]{1,24}".prop_filter("reserved or blank", |s| {
        !s.trim().is_empty() && !matches!(s.trim(), "Primary" | "Not Applicable")
    })
}

fn unit() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z]{1,6}", "[a-z]{1,4} [a-z]{1,4}"]
}

fn currency() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(
        prop_oneof![Just("$"), Just("₹"), Just("Rs."), Just("€")].prop_map(String::from),
    )
}

fn magnitude() -> impl Strategy<Value = Decimal> {
    (0i128..1_000_000_000_000_000, 0u32..5)
        .prop_map(|(m, s)| Decimal::new(m, s).expect("small scale"))
}

fn signed() -> impl Strategy<Value = Decimal> {
    (magnitude(), any::<bool>()).prop_map(|(d, neg)| if neg { -d } else { d })
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (2000i32..2031, 1u32..13, 1u32..29)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).expect("valid"))
}

/// One sign for the whole quantity, as Tally prints it.
fn quantity() -> impl Strategy<Value = Quantity> {
    (
        any::<bool>(),
        magnitude(),
        proptest::option::of(unit()),
        proptest::collection::vec((magnitude(), unit()), 0..3),
        proptest::option::of((signed(), unit())),
    )
        .prop_map(|(negative, value, unit, tail, alternate)| {
            let sign = |d: Decimal| if negative { -d } else { d };
            let tail = if unit.is_some() { tail } else { vec![] };
            Quantity {
                value: sign(value),
                tail: tail
                    .into_iter()
                    .map(|(v, u)| UnitPart {
                        value: sign(v),
                        unit: u,
                    })
                    .collect(),
                unit,
                alternate: alternate.map(|(value, unit)| UnitPart { value, unit }),
            }
        })
}

fn money() -> impl Strategy<Value = Money> {
    (currency(), magnitude()).prop_map(|(currency, amount)| Money { currency, amount })
}

fn rate() -> impl Strategy<Value = Rate> {
    (
        signed(),
        currency(),
        proptest::option::of(unit()),
        proptest::option::of(money()),
    )
        .prop_map(|(amount, currency, per_unit, forex)| Rate {
            amount,
            currency,
            per_unit,
            forex,
        })
}

fn amount() -> impl Strategy<Value = Amount> {
    (
        magnitude(),
        any::<bool>(),
        currency(),
        proptest::option::of((money(), proptest::option::of(money()))),
    )
        .prop_map(|(value, debit, currency, forex)| Amount {
            // Without a forex side, zero has no sign to carry a debit.
            is_debit: debit && (forex.is_some() || !value.is_zero()),
            value,
            currency,
            forex: forex.map(|(amount, rate_of_exchange)| Forex {
                amount,
                rate_of_exchange,
            }),
        })
}

fn aliases(primary: String) -> impl Strategy<Value = (String, Vec<String>)> {
    proptest::collection::vec(name(), 0..3).prop_map(move |mut aliases| {
        aliases.retain(|a| *a != primary);
        aliases.dedup();
        let mut seen = Vec::new();
        aliases.retain(|a| {
            let fresh = !seen.contains(a);
            seen.push(a.clone());
            fresh
        });
        (primary.clone(), aliases)
    })
}

fn guid() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{8}")
}

fn stock_item() -> impl Strategy<Value = StockItem> {
    (
        name().prop_flat_map(aliases),
        guid(),
        proptest::option::of(name()),
        proptest::option::of(name()),
        proptest::option::of(unit()),
        quantity(),
        proptest::option::of(rate()),
        proptest::option::of(amount()),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(
            |(
                (name, aliases),
                guid,
                part_number,
                group,
                unit,
                closing_qty,
                rate,
                closing_value,
                alter_id,
            )| {
                StockItem {
                    name,
                    guid,
                    aliases,
                    part_number,
                    group,
                    unit,
                    closing_qty,
                    rate,
                    closing_value,
                    alter_id,
                }
            },
        )
}

fn registration(with_gstin: bool) -> impl Strategy<Value = GstRegistration> {
    (
        proptest::option::of("[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][0-9]Z[0-9A-Z]"),
        proptest::option::of(date()),
        proptest::option::of(prop_oneof![
            Just("Regular"),
            Just("Unregistered/Consumer"),
            Just("Composition")
        ]),
        proptest::option::of(name()),
    )
        .prop_map(
            move |(gstin, applicable_from, kind, place_of_supply)| GstRegistration {
                gstin: gstin.filter(|_| with_gstin),
                applicable_from,
                registration_type: kind.map(String::from),
                place_of_supply,
            },
        )
}

/// The parser derives `gstin` from the dated list when the flat field is
/// empty, so a ledger without one has no GSTIN in its list either.
fn ledger() -> impl Strategy<Value = Ledger> {
    proptest::option::of("[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][0-9]Z[0-9A-Z]").prop_flat_map(|gstin| {
        (
            name().prop_flat_map(aliases),
            guid(),
            proptest::option::of(name()),
            proptest::collection::vec(registration(gstin.is_some()), 0..3),
            proptest::option::of(name()),
            proptest::option::of(amount()),
            proptest::option::of(any::<u64>()),
            Just(gstin),
        )
            .prop_map(
                |(
                    (name, aliases),
                    guid,
                    group,
                    gst_registrations,
                    state,
                    closing_balance,
                    alter_id,
                    gstin,
                )| Ledger {
                    name,
                    guid,
                    aliases,
                    group,
                    gstin,
                    gst_registrations,
                    state,
                    closing_balance,
                    alter_id,
                },
            )
    })
}

fn company() -> impl Strategy<Value = Company> {
    (
        name(),
        proptest::option::of(date()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
        any::<bool>(),
    )
        .prop_map(|(name, books_from, m, v, is_active)| Company {
            name,
            books_from,
            last_master_alter_id: m,
            last_voucher_alter_id: v,
            is_active,
        })
}

fn encoding() -> impl Strategy<Value = WireEncoding> {
    prop_oneof![Just(WireEncoding::Utf16Le), Just(WireEncoding::Utf8)]
}

fn query() -> impl Strategy<Value = Query> {
    prop_oneof![
        Just(Query::Companies),
        proptest::option::of(any::<u64>())
            .prop_map(|changed_after| Query::StockItems { changed_after }),
        proptest::option::of(any::<u64>())
            .prop_map(|changed_after| Query::Ledgers { changed_after }),
        name().prop_map(|name| Query::StockItem { name }),
        name().prop_map(|name| Query::Ledger { name }),
    ]
}

fn scope() -> impl Strategy<Value = Scope> {
    (
        proptest::option::of(name()),
        proptest::option::of((date(), 0i64..800)),
    )
        .prop_map(|(company, period)| {
            let scope = match company {
                Some(company) => Scope::company(&company).expect("valid name"),
                None => Scope::default(),
            };
            match period {
                Some((from, days)) => {
                    let to = from + chrono::Days::new(days.unsigned_abs());
                    scope.with_period(Period::new(from, to).expect("ordered"))
                }
                None => scope,
            }
        })
}

proptest! {
    #[test]
    fn rendered_stock_items_parse_back_identically(
        items in proptest::collection::vec(stock_item(), 1..6),
        encoding in encoding(),
    ) {
        let counts = MasterCounts { stock_items: items.len() as u64, ..MasterCounts::default() };
        let body = render_stock_items(&items, &counts, encoding);
        prop_assert_eq!(parse_stock_items(&body, &Limits::default()), Ok(items));
    }

    #[test]
    fn rendered_ledgers_parse_back_identically(
        ledgers in proptest::collection::vec(ledger(), 1..6),
        encoding in encoding(),
    ) {
        let body = render_ledgers(&ledgers, &MasterCounts::default(), encoding);
        prop_assert_eq!(parse_ledgers(&body, &Limits::default()), Ok(ledgers));
    }

    #[test]
    fn rendered_companies_parse_back_identically(
        companies in proptest::collection::vec(company(), 1..4),
        encoding in encoding(),
    ) {
        let body = render_companies(&companies, encoding);
        prop_assert_eq!(parse_companies(&body, &Limits::default()), Ok(companies));
    }

    #[test]
    fn every_request_pebble_builds_is_recognised(
        query in query(),
        scope in scope(),
        encoding in encoding(),
    ) {
        let request = Request::new(query, scope).expect("valid request");
        prop_assert_eq!(recognise(&request.body(encoding)), Ok(request));
    }

    #[test]
    fn rendered_errors_parse_as_the_same_error(
        company in name(),
        message in name(),
        encoding in encoding(),
    ) {
        let limits = Limits::default();
        prop_assert_eq!(
            parse_stock_items(&render_company_not_loaded(&company, encoding), &limits),
            Err(TallyError::CompanyNotLoaded { company })
        );
        let expected = match parse_stock_items(&render_line_error(&message, encoding), &limits) {
            Err(TallyError::LineError { message: got }) => got == message.trim(),
            Err(TallyError::CompanyNotLoaded { .. } | TallyError::UnknownReport { .. }) => true,
            _ => false,
        };
        prop_assert!(expected);
    }
}

#[test]
fn rendered_utf16_responses_start_with_a_bom_and_utf8_ones_do_not() {
    let utf16 = render_unknown_request(WireEncoding::Utf16Le);
    assert_eq!(&utf16[..4], &[0xFF, 0xFE, b'<', 0]);
    let utf8 = render_unknown_request(WireEncoding::Utf8);
    assert_eq!(
        utf8,
        b"<RESPONSE>Unknown Request, cannot be processed</RESPONSE>\r\n"
    );
    assert_eq!(
        parse_stock_items(&utf16, &Limits::default()),
        Err(TallyError::UnknownRequest)
    );
}

#[test]
fn rendered_empty_catalogue_is_empty_but_the_stub_is_an_error() {
    let limits = Limits::default();
    let empty = render_stock_items(&[], &MasterCounts::default(), WireEncoding::Utf16Le);
    assert_eq!(parse_stock_items(&empty, &limits), Ok(vec![]));
    let stub = render_empty_stub(WireEncoding::Utf16Le);
    assert_eq!(
        parse_stock_items(&stub, &limits),
        Err(TallyError::EmptyStub)
    );
    assert_eq!(parse_ledgers(&stub, &limits), Err(TallyError::EmptyStub));
}

#[test]
fn the_simulator_answers_what_it_does_not_recognise_with_tallys_refusal() {
    let voucher_import =
        "<ENVELOPE><HEADER><TALLYREQUEST>Import Data</TALLYREQUEST></HEADER></ENVELOPE>";
    assert!(matches!(
        recognise(voucher_import.as_bytes()),
        Err(TallyError::UnrecognisedRequest { .. })
    ));
    let report = "<ENVELOPE><HEADER><VERSION>1</VERSION><TALLYREQUEST>Export</TALLYREQUEST>\
                  <TYPE>Data</TYPE><ID>Trial Balance</ID></HEADER></ENVELOPE>";
    assert!(matches!(
        recognise(report.as_bytes()),
        Err(TallyError::UnrecognisedRequest { .. })
    ));
}
