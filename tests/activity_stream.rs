//! The activity stream's stories, run on SQLite and on PostgreSQL.

mod common;

use chrono::Duration;
use common::{services, Backend, Services};
use futures::TryStreamExt;
use pebble::audit::export::Format;
use pebble::audit::proof;
use pebble::clock::Clock;
use pebble::store::activity::{self, Filter, Page};
use pebble::store::{Db, StoreError};
use pebble_core::audit::{Actor, ChainBreak, EventType, NewEvent};
use serde_json::json;

fn event(
    s: &Services,
    t: EventType,
    entity: &str,
    id: &str,
    payload: serde_json::Value,
) -> NewEvent {
    NewEvent::new(t, Actor::system("test"), entity, id, payload, s.clock.now())
}

async fn seed(s: &Services, n: usize) {
    let events: Vec<_> = (0..n)
        .map(|i| {
            event(
                s,
                EventType::EmailReceived,
                "email",
                &format!("m{i}"),
                json!({"message_id": format!("<{i}@x>"), "subject": "hello"}),
            )
        })
        .collect();
    s.state.audit.record(&events).await.unwrap();
}

/// Run raw SQL as an attacker with database access would, bypassing Pebble.
async fn raw(db: &Db, sql: &str) -> Result<u64, sqlx::Error> {
    match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()),
    }
}

/// Tamper underneath the triggers, as someone with file or superuser access could.
async fn tamper(db: &Db, sql: &str) {
    match db {
        Db::Sqlite(p) => {
            let mut c = p.acquire().await.unwrap();
            for t in ["activity_stream_no_update", "activity_stream_no_delete"] {
                sqlx::query(&format!("drop trigger if exists {t}"))
                    .execute(&mut *c)
                    .await
                    .unwrap();
            }
            sqlx::query(sql).execute(&mut *c).await.unwrap();
        }
        Db::Postgres(p) => {
            let mut tx = p.begin().await.unwrap();
            sqlx::query("alter table activity_stream disable trigger user")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(sql).execute(&mut *tx).await.unwrap();
            sqlx::query("alter table activity_stream enable trigger user")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
}

story!(
    appends_get_gap_free_seqs_and_a_chain_that_verifies,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        seed(&s, 10).await;
        seed(&s, 5).await;
        let report = s.state.audit.verify().await.unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.verified, 15);
        let all: Vec<_> = activity::stream(&s.state.db, &Filter::default())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=15).collect::<Vec<_>>()
        );
        assert_eq!(all[0].retention_class, "7y");
    }
);

story!(
    a_rolled_back_transaction_leaves_no_event_and_no_gap,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        seed(&s, 2).await;
        let mut tx = s.state.db.begin().await.unwrap();
        s.state
            .audit
            .append(
                &mut tx,
                &[event(&s, EventType::LeadCreated, "lead", "1", json!({}))],
            )
            .await
            .unwrap();
        drop(tx);
        seed(&s, 1).await;
        let (n, _) = activity::head(&s.state.db).await.unwrap();
        assert_eq!(n, 3);
        assert!(s.state.audit.verify().await.unwrap().ok);
        let leads = activity::search(
            &s.state.db,
            &Filter {
                event_type: Some("LeadCreated".into()),
                ..Filter::default()
            },
            Page::NewestFirst { before: None },
            10,
        )
        .await
        .unwrap();
        assert!(leads.is_empty());
    }
);

story!(
    the_database_itself_refuses_update_and_delete,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        seed(&s, 3).await;
        let db = &s.state.db;
        for sql in [
            "update activity_stream set actor_id = 'mallory' where seq = 2",
            "update activity_stream set payload = null where seq = 2",
            "delete from activity_stream where seq = 3",
            "delete from activity_stream",
        ] {
            let err = raw(db, sql).await.expect_err(sql);
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        if b == Backend::Postgres {
            let err = raw(db, "truncate activity_stream cascade")
                .await
                .expect_err("truncate");
            assert!(err.to_string().contains("append-only"), "{err}");
        }
        // A redaction record is append-only too.
        let mut tx = db.begin().await.unwrap();
        activity::redact(
            &mut tx,
            &[1],
            activity::RedactionReason::Erasure,
            s.clock.now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert!(raw(db, "delete from activity_redaction where seq = 1")
            .await
            .is_err());
        assert!(
            raw(db, "update activity_redaction set reason = 'retention'")
                .await
                .is_err()
        );
        let report = s.state.audit.verify().await.unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.redacted, 1);
    }
);

story!(
    verify_names_the_first_changed_event,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        seed(&s, 20).await;
        tamper(
            &s.state.db,
            "update activity_stream set entity_id = 'forged' where seq = 7",
        )
        .await;
        let report = s.state.audit.verify().await.unwrap();
        assert!(!report.ok);
        assert_eq!(report.first_bad_seq, Some(7));
        assert_eq!(report.problem, Some(ChainBreak::Changed { seq: 7 }));
    }
);

story!(
    verify_detects_a_changed_payload_and_a_deleted_event,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        seed(&s, 10).await;
        tamper(
            &s.state.db,
            r#"update activity_stream set payload = '{"subject":"x"}' where seq = 4"#,
        )
        .await;
        let report = s.state.audit.verify().await.unwrap();
        assert_eq!(report.problem, Some(ChainBreak::PayloadChanged { seq: 4 }));

        let Some(s) = services(b).await else { return };
        seed(&s, 10).await;
        tamper(&s.state.db, "delete from activity_stream where seq = 6").await;
        let report = s.state.audit.verify().await.unwrap();
        assert_eq!(
            report.problem,
            Some(ChainBreak::Missing {
                expected: 6,
                found: 7
            })
        );
    }
);

story!(
    truncating_the_tail_below_a_signed_checkpoint_is_detected,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        seed(&s, 10).await;
        let c = s.state.audit.checkpoint().await.unwrap();
        assert_eq!(c.tree_size, 10);
        // seq 11 is the checkpoint's own event; remove it and the last covered one.
        tamper(&s.state.db, "delete from activity_stream where seq >= 10").await;
        let report = s.state.audit.verify().await.unwrap();
        assert!(!report.ok);
        assert_eq!(
            report.problem,
            Some(ChainBreak::Truncated {
                last: 9,
                checkpoint: 10
            })
        );
        assert_eq!(report.first_bad_seq, Some(10));
    }
);

story!(
    retention_redacts_expired_payloads_and_the_chain_still_verifies,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        let lookup = event(
            &s,
            EventType::TallyLookup,
            "product",
            "wire",
            json!({"product": "2.5mm wire", "stock_returned": 40}),
        );
        let received = event(
            &s,
            EventType::EmailReceived,
            "email",
            "1",
            json!({"subject": "rate?"}),
        );
        s.state.audit.record(&[lookup, received]).await.unwrap();

        s.clock.advance(Duration::days(364));
        assert_eq!(
            s.state.audit.apply_retention().await.unwrap(),
            0,
            "nothing is due before a year"
        );

        s.clock.advance(Duration::days(2));
        assert_eq!(s.state.audit.apply_retention().await.unwrap(), 1);
        let first = activity::get(&s.state.db, 1).await.unwrap();
        assert_eq!(first.payload, None);
        assert!(first.redacted_at.is_some());
        assert!(
            activity::get(&s.state.db, 2)
                .await
                .unwrap()
                .payload
                .is_some(),
            "7y event kept"
        );
        let report = s.state.audit.verify().await.unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.redacted, 1);

        s.clock.advance(Duration::days(365 * 7));
        assert!(s.state.audit.apply_retention().await.unwrap() >= 1);
        assert_eq!(activity::get(&s.state.db, 2).await.unwrap().payload, None);
        assert!(s.state.audit.verify().await.unwrap().ok);
    }
);

story!(
    search_filters_and_pages_without_gaps_or_repeats,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        for i in 0..30 {
            let (t, entity, id) = if i % 3 == 0 {
                (EventType::LeadCreated, "lead", format!("L{}", i % 2))
            } else {
                (EventType::EmailReceived, "email", format!("E{i}"))
            };
            let actor = if i % 5 == 0 {
                Actor::user("u-7")
            } else {
                Actor::ai_agent("classifier:intent-v1")
            };
            let e = NewEvent::new(t, actor, entity, id, json!({"i": i}), s.clock.now());
            s.state.audit.record(&[e]).await.unwrap();
            s.clock.advance(Duration::minutes(1));
        }
        let db = &s.state.db;
        let by_entity = Filter {
            entity_type: Some("lead".into()),
            entity_id: Some("L0".into()),
            ..Filter::default()
        };
        let leads = activity::search(db, &by_entity, Page::OldestFirst { after: None }, 100)
            .await
            .unwrap();
        assert_eq!(
            leads.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 7, 13, 19, 25]
        );

        let by_actor = Filter {
            actor_id: Some("u-7".into()),
            ..Filter::default()
        };
        assert_eq!(
            activity::search(db, &by_actor, Page::NewestFirst { before: None }, 100)
                .await
                .unwrap()
                .len(),
            6
        );

        let window = Filter {
            from: Some((common::t0() + Duration::minutes(10)).timestamp_micros()),
            to: Some((common::t0() + Duration::minutes(20)).timestamp_micros()),
            ..Filter::default()
        };
        let in_window = activity::search(db, &window, Page::OldestFirst { after: None }, 100)
            .await
            .unwrap();
        assert_eq!(
            in_window.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (11..=20).collect::<Vec<_>>()
        );

        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = activity::search(
                db,
                &Filter::default(),
                Page::NewestFirst { before: cursor },
                7,
            )
            .await
            .unwrap();
            if page.is_empty() {
                break;
            }
            cursor = page.last().map(|e| e.seq);
            seen.extend(page.into_iter().map(|e| e.seq));
        }
        assert_eq!(seen, (1..=30).rev().collect::<Vec<_>>());
    }
);

story!(
    concurrent_appenders_on_separate_pools_never_fork_or_gap_the_chain,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        // Separate pools stand in for separate processes: locks are per connection.
        let pools = [s.db.connect().await, s.db.connect().await];
        let mut tasks = Vec::new();
        for t in 0..8 {
            let db = pools[t % 2].clone();
            let now = s.clock.now();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    let mut tx = db.begin().await.unwrap();
                    let events: Vec<_> = (0..(1 + i % 3))
                        .map(|k| {
                            NewEvent::new(
                                EventType::EmailReceived,
                                Actor::system(format!("w{t}")),
                                "email",
                                format!("{t}-{i}-{k}"),
                                json!({}),
                                now,
                            )
                        })
                        .collect();
                    activity::append(&mut tx, &events, now).await.unwrap();
                    tx.commit().await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let report = s.state.audit.verify().await.unwrap();
        assert!(report.ok, "{report:?}");
        // 8 writers × (9 batches of 1 + 8 of 2 + 8 of 3) events.
        assert_eq!(report.verified, 8 * (9 + 16 + 24));
    }
);

story!(
    nul_bytes_are_refused_the_same_way_on_both_backends,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        let bad = event(&s, EventType::EmailReceived, "email", "a\0b", json!({}));
        let err = s.state.audit.record(&[bad]).await.unwrap_err();
        assert!(
            matches!(err, pebble::audit::AuditError::Store(StoreError::NulByte)),
            "{err:?}"
        );
        // Inside a payload the NUL is JSON-escaped text, which both store verbatim.
        let ok = event(
            &s,
            EventType::EmailReceived,
            "email",
            "1",
            json!({"subject": "a\u{0}b"}),
        );
        s.state.audit.record(&[ok]).await.unwrap();
        let stored = activity::get(&s.state.db, 1).await.unwrap();
        assert_eq!(stored.payload.as_deref(), Some(r#"{"subject":"a\u0000b"}"#));
        assert!(s.state.audit.verify().await.unwrap().ok);
    }
);

story!(
    an_inclusion_proof_verifies_offline_and_fails_when_tampered,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        seed(&s, 37).await;
        let p = s.state.audit.prove(23).await.unwrap();
        assert_eq!(p.tree_size, 37);
        let key = s.state.audit.signer().public_key_base64();
        let ok = proof::verify(&p, Some(&key)).unwrap();
        assert!(ok.key_trusted);

        let mut forged = p.clone();
        forged.event.actor_id = "mallory".into();
        assert!(proof::verify(&forged, Some(&key)).is_err());
        let mut forged = p.clone();
        forged.proof[2] = "00".repeat(32);
        assert!(proof::verify(&forged, Some(&key)).is_err());
        let mut forged = p.clone();
        forged.leaf_index += 1;
        assert!(proof::verify(&forged, Some(&key)).is_err());
        let other = pebble::audit::Signer::from_seed("pebble", [9; 32]);
        assert!(
            proof::verify(&p, Some(&other.public_key_base64())).is_err(),
            "a different key is refused"
        );

        // Older events prove against the same (oldest covering) checkpoint.
        let p1 = s.state.audit.prove(1).await.unwrap();
        assert_eq!(p1.checkpoint, p.checkpoint);
        proof::verify(&p1, Some(&key)).unwrap();
    }
);

story!(
    exports_stream_csv_and_real_xlsx_and_are_themselves_audited,
    |b: Backend| async move {
        let Some(s) = services(b).await else { return };
        seed(&s, 12).await;
        let dir = s.db.data_dir();
        let csv_path = dir.join("a.csv");
        let filter = Filter::default();
        let rows = s
            .state
            .audit
            .export(
                &s.state.db,
                &filter,
                Format::Csv,
                &csv_path,
                Actor::user("auditor"),
            )
            .await
            .unwrap();
        assert_eq!(rows, 12);
        let mut reader = csv::Reader::from_path(&csv_path).unwrap();
        assert_eq!(
            reader.headers().unwrap().iter().collect::<Vec<_>>(),
            pebble::audit::export::COLUMNS.to_vec()
        );
        let records: Vec<_> = reader.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), 12);
        assert_eq!(&records[3][0], "4");

        let xlsx_path = dir.join("a.xlsx");
        s.state
            .audit
            .export(
                &s.state.db,
                &filter,
                Format::Xlsx,
                &xlsx_path,
                Actor::user("auditor"),
            )
            .await
            .unwrap();
        use calamine::Reader;
        let mut book: calamine::Xlsx<_> = calamine::open_workbook(&xlsx_path).unwrap();
        let sheet = book.worksheet_range("activity_1").unwrap();
        // Header, 12 events and the DataExported event of the CSV export.
        assert_eq!(sheet.height(), 14);
        assert_eq!(sheet.get((13, 4)).unwrap().to_string(), "DataExported");

        let empty = Filter {
            event_type: Some("DraftApproved".into()),
            ..Filter::default()
        };
        let empty_path = dir.join("empty.csv");
        assert_eq!(
            s.state
                .audit
                .export(
                    &s.state.db,
                    &empty,
                    Format::Csv,
                    &empty_path,
                    Actor::user("auditor")
                )
                .await
                .unwrap(),
            0
        );
        let text = std::fs::read_to_string(&empty_path).unwrap();
        assert_eq!(
            text.lines().count(),
            1,
            "an empty export still has its header"
        );

        let exports = activity::search(
            &s.state.db,
            &Filter {
                event_type: Some("DataExported".into()),
                ..Filter::default()
            },
            Page::OldestFirst { after: None },
            10,
        )
        .await
        .unwrap();
        assert_eq!(exports.len(), 3);
        assert_eq!(exports[0].actor_id, "auditor");
        assert!(exports[0]
            .payload
            .as_deref()
            .unwrap()
            .contains(r#""rows":12"#));
    }
);

/// A full disk (SQLITE_FULL, injected with max_page_count) stops the appender
/// for good instead of letting later writes retry into a possibly torn log.
#[tokio::test]
async fn a_storage_fault_stops_the_appender_loudly() {
    let db = common::TestDb::new(Backend::Sqlite).await.unwrap();
    let settings = pebble::config::Settings {
        database_max_connections: 1,
        ..db.settings()
    };
    let clock = std::sync::Arc::new(pebble::clock::ManualClock::new(common::t0()));
    let state = pebble::startup::services(&settings, clock.clone())
        .await
        .unwrap();
    let Db::Sqlite(pool) = &state.db else {
        unreachable!()
    };
    sqlx::query("pragma max_page_count = 20")
        .execute(pool)
        .await
        .unwrap();
    let big: Vec<_> = (0..200)
        .map(|i| {
            NewEvent::new(
                EventType::EmailReceived,
                Actor::system("t"),
                "email",
                i.to_string(),
                json!({"pad": "y".repeat(2000)}),
                clock.now(),
            )
        })
        .collect();
    let err = state.audit.record(&big).await.unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
    assert!(state.audit.is_stopped());
    sqlx::query("pragma max_page_count = 1000000")
        .execute(pool)
        .await
        .unwrap();
    let small = NewEvent::new(
        EventType::EmailReceived,
        Actor::system("t"),
        "email",
        "1",
        json!({}),
        clock.now(),
    );
    let again = state.audit.record(&[small]).await;
    assert!(
        matches!(again, Err(pebble::audit::AuditError::AppenderStopped)),
        "{again:?}"
    );
    assert!(state
        .metrics
        .render(&state.db)
        .contains("pebble_audit_appender_stopped 1"));
    assert!(state.audit.verify().await.unwrap().ok, "nothing torn");
}
