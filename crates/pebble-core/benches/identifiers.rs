//! Identifier validation throughput and extraction speed.
//!
//! Targets: at least 5,000,000 identifiers per second per core on the
//! allocation-free `parse` path, and under 10 ms to extract from 1 MB of
//! email-like text.
//!
//! Run: `cargo bench -p pebble-core --bench identifiers`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pebble_core::identifiers::{extract, validate_auto, Cin, Gstin, Pan};

const YEAR: i32 = 2025;

/// A mix of valid and invalid identifiers as they arrive from forms and
/// imports: clean, lower-case, spaced, mistyped, look-alike.
const GSTINS: [&str; 8] = [
    "27AAPFU0939F1ZV",
    "27AAACR5055K1Z7",
    "9917SGP29001OST",
    "0717UNO00157UNO",
    "27aapfu0939f1zv",
    "27 AAPFU0939F 1ZV",
    "27AAPFU0939F1ZO",
    "27\u{410}APFU0939F1ZV",
];
const PANS: [&str; 4] = ["AAPFU0939F", "aaacr5055k", "ABCKD1234E", "AAPFU 0939 F"];
const CINS: [&str; 4] = [
    "L17110MH1973PLC019786",
    "U72900KA2010PTC123456",
    "U72900KA2030PTC123456",
    "L85110KA1981PLC013115",
];

/// About 1 MB of business email: requests, orders, payments, Hinglish,
/// quoted replies, signatures with identifiers and phones, disclaimers.
fn email_text(min_len: usize) -> String {
    const BODIES: [&str; 8] = [
        "Dear Sir,\n\nPlease send your best rate for 2.5mm FR wire, 10 coils, and confirm stock of MCB 32A (C curve). Delivery required by 25-03-2024 at our Bhiwandi godown.\n",
        "Hi team,\nKindly find attached PO No. PO/2024/00123 dated 15.03.2024 for 500 pcs of item code ABX-2291. Please confirm dispatch date and share the LR copy once shipped.\n",
        "Sir, payment of Rs. 1,23,456.00 has been made via NEFT, UTR SBIN0123456789012, against invoice INV-2024-000123. Please update the ledger and send the credit note for the short supply.\n",
        "rate bhejo 2.5mm wire ka, 10 coil chahiye, aur 4 sq mm ka bhi batao. urgent hai, kal tak chahiye.\n",
        "We have received 3 cartons damaged in transit (docket 78451236). Kindly arrange replacement at the earliest or issue a debit note for Rs 18,400.\n",
        "Greetings from Shree Ganesh Polymers! We are leading manufacturers of PVC compounds since 1998 with ISO 9001:2015 certification. Please find our catalogue attached.\n",
        "> On Mon, 11 Mar 2024 at 10:42, Sales <sales@example.in> wrote:\n> Please find the quotation attached, valid for 15 days.\n> Regards\n",
        "Reminder: the outstanding balance of Rs. 2,45,000 for Q3 is overdue by 45 days. Kindly clear at the earliest; ignore if already paid.\n",
    ];
    const SIGNATURES: [&str; 4] = [
        "\nThanks & Regards,\nRamesh Kumar | Purchase Manager\nSharma Traders Pvt Ltd\nGSTIN: 27AAPFU0939F1ZV  PAN: AAPFU0939F\nCIN No. U72900KA2010PTC123456\nMob: +91 98765 43210 | Tel: (022) 2345 6789\n",
        "\n--\nWarm regards,\nPriya S.\nAccounts, Reliance Distributors\nGST No. 27AAACR5055K1Z7 | M: 98200 12345\nPlot 14, MIDC, Andheri (E), Mumbai 400093\n",
        "\nRegards\nAnil\n09876543210 / 080-4123 4567\nGST#29AAACR5055K1Z3\n",
        "\nBest,\nTeam Orbit\nwww.orbit.example | +91-70123-45678\n",
    ];
    const DISCLAIMER: &str = "\nDISCLAIMER: This e-mail and any files transmitted with it are confidential and intended solely for the use of the individual or entity to whom they are addressed. If you have received this e-mail in error please notify the system manager. Please consider the environment before printing this e-mail.\n";
    let mut text = String::with_capacity(min_len + 4096);
    let mut i = 0usize;
    while text.len() < min_len {
        text.push_str(BODIES[i % BODIES.len()]);
        text.push_str(BODIES[(i * 7 + 3) % BODIES.len()]);
        text.push_str(SIGNATURES[i % SIGNATURES.len()]);
        if i % 3 == 0 {
            text.push_str(DISCLAIMER);
        }
        text.push('\n');
        i += 1;
    }
    text
}

fn validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(GSTINS.len() as u64));
    group.bench_function("gstin_parse", |b| {
        b.iter(|| {
            GSTINS
                .iter()
                .filter(|s| Gstin::parse(black_box(s)).is_ok())
                .count()
        })
    });
    group.throughput(Throughput::Elements(PANS.len() as u64));
    group.bench_function("pan_parse", |b| {
        b.iter(|| {
            PANS.iter()
                .filter(|s| Pan::parse(black_box(s)).is_ok())
                .count()
        })
    });
    group.throughput(Throughput::Elements(CINS.len() as u64));
    group.bench_function("cin_parse", |b| {
        b.iter(|| {
            CINS.iter()
                .filter(|s| Cin::parse(black_box(s), YEAR).is_ok())
                .count()
        })
    });
    // The report path allocates (strings, error list); measured for scale.
    group.throughput(Throughput::Elements(GSTINS.len() as u64));
    group.bench_function("gstin_validate_auto_report", |b| {
        b.iter(|| {
            GSTINS
                .iter()
                .filter(|s| validate_auto(black_box(s), YEAR).valid)
                .count()
        })
    });
    group.finish();
}

fn extraction(c: &mut Criterion) {
    let text = email_text(1 << 20);
    let found = extract(&text, YEAR);
    assert!(!found.gstin.is_empty() && !found.phone.is_empty());
    let mut group = c.benchmark_group("extract");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("email_1mb", |b| b.iter(|| extract(black_box(&text), YEAR)));
    group.finish();
}

criterion_group!(benches, validation, extraction);
criterion_main!(benches);
