//! Arbitrary bytes never panic the codec: a Tally that answers garbage (or a
//! client that posts garbage to the simulator) gets an error, not a crash.

use pebble_tally::{
    parse_companies, parse_ledger, parse_ledgers, parse_stock_item, parse_stock_items, recognise,
    render_stock_items, Amount, Limits, MasterCounts, Quantity, Rate, StockItem, WireEncoding,
};
use proptest::prelude::*;

fn parse_everything(body: &[u8]) {
    let limits = Limits::default();
    let _ = parse_stock_items(body, &limits);
    let _ = parse_stock_item(body, &limits);
    let _ = parse_ledgers(body, &limits);
    let _ = parse_ledger(body, &limits);
    let _ = parse_companies(body, &limits);
    let _ = recognise(body);
}

/// A valid UTF-16 export to mutate, so mutations reach deep parser states.
fn valid_export() -> Vec<u8> {
    let item = StockItem {
        name: "Widget & Co <A>".into(),
        guid: Some("g".into()),
        aliases: vec!["WA".into()],
        part_number: Some("P-1".into()),
        group: None,
        unit: Some("Nos".into()),
        closing_qty: Quantity::parse("-2 Box 5 Nos = 3 Pcs").expect("valid"),
        rate: Rate::parse("$ 1.00 = ₹ 83.00/Nos").expect("valid"),
        closing_value: Amount::parse("-$ 10.00 @ ₹ 83.00/$ = -₹ 830.00").expect("valid"),
        alter_id: Some(7),
    };
    render_stock_items(
        &[item.clone(), item],
        &MasterCounts::default(),
        WireEncoding::Utf16Le,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        parse_everything(&body);
    }

    #[test]
    fn random_markup_never_panics(text in "[<>/&#;=\"' A-Z0-9a-z.\\-\u{4}\u{0}\r\n]{0,300}") {
        parse_everything(text.as_bytes());
        let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        parse_everything(&utf16);
    }

    #[test]
    fn mutated_exports_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut body = valid_export();
        for (at, byte) in edits {
            let at = at.index(body.len());
            body[at] = byte;
        }
        parse_everything(&body);
        parse_everything(&body[..cut.index(body.len())]);
    }

    #[test]
    fn value_parsers_never_panic(text in "\\PC{0,40}") {
        let _ = Quantity::parse(&text);
        let _ = Rate::parse(&text);
        let _ = Amount::parse(&text);
    }
}
