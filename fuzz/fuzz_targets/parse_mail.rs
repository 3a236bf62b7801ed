//! Raw RFC 5322 input through Pebble's own parse step (limits, panic
//! boundary, extraction) and the mbox splitter. The parse step must never
//! panic past its boundary, and what it returns must be storable: no NUL in
//! any text, attachment names that are single safe path components.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pebble_mail::{mbox, parse, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(m) = parse(data, &limits) {
        for text in [&m.subject, &m.body]
            .into_iter()
            .chain(m.message_id.iter())
            .chain(m.html.iter())
            .chain(m.references.iter())
        {
            assert!(!text.contains('\0'));
        }
        for a in &m.attachments {
            assert!(!a.filename.is_empty());
            assert!(!a.filename.contains(['/', '\\', '\0']));
            assert!(!a.filename.starts_with('.'));
        }
    }
    for message in mbox::split(data) {
        let _ = parse(&message, &limits);
    }
});
