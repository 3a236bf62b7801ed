//! Backups, restore and drills, on both backends: a backup taken while
//! writes run restores to a verified chain that ends at a committed event;
//! one flipped byte in any part fails verification naming the part; restore
//! refuses corrupt, newer-schema and live targets; SQLite backups restore
//! into PostgreSQL; the scheduler, the API and the CLI work end to end.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{Backend, TestDb};
use indicatif::ProgressBar;
use pebble::backup::archive::ArchiveReader;
use pebble::backup::manifest::{Kind, Manifest};
use pebble::backup::restore::{self, RestoreRequest};
use pebble::backup::BackupError;
use pebble::clock::SystemClock;
use pebble::http::AppState;
use pebble::store::{activity, Db};
use pebble_core::access::Role;
use pebble_core::audit::{Actor, EventType, NewEvent};

fn event(i: usize) -> NewEvent {
    NewEvent::new(
        EventType::EmailReceived,
        Actor::system("test"),
        "email",
        format!("e{i}"),
        serde_json::json!({"message_id": format!("<{i}@buyer.in>"), "subject": "Rate for 32A MCB", "stream": "sales"}),
        common::t0(),
    )
}

async fn append(state: &AppState, n: usize) {
    for i in 0..n {
        state.audit.record(&[event(i)]).await.expect("append");
    }
}

/// A few objects, as ingestion stores raw mail.
fn put_objects(state: &AppState) {
    let root = state.settings.objects_dir();
    for (name, body) in [
        ("ab/abcdef01", "raw email one"),
        ("cd/cdef0102", "attachment"),
    ] {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

async fn full_backup(state: &AppState) -> pebble::backup::CreatedBackup {
    state
        .backups
        .create(
            Kind::Full,
            None,
            Actor::system("test"),
            &ProgressBar::hidden(),
        )
        .await
        .expect("backup")
}

fn manifest_of(file: &Path) -> Manifest {
    let a = ArchiveReader::open(file).unwrap();
    serde_json::from_slice(&a.read_small("manifest.json", 1 << 20).unwrap().unwrap()).unwrap()
}

/// A copy of `file` with one byte flipped in the middle of `entry`'s data.
fn flipped(file: &Path, entry: &str, out: &Path) {
    std::fs::copy(file, out).unwrap();
    let a = ArchiveReader::open(file).unwrap();
    let e = a
        .find(entry)
        .unwrap_or_else(|| panic!("{entry} not in archive"));
    assert!(e.size > 0, "{entry} is empty");
    let at = e.offset + e.size / 2;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(out)
        .unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    let mut b = [0u8];
    f.read_exact(&mut b).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&[b[0] ^ 0x01]).unwrap();
}

async fn restore_to(
    state: &AppState,
    files: &[&str],
    to: &TestDb,
    force: bool,
) -> Result<restore::RestoreReport, BackupError> {
    restore::restore(
        &state.settings,
        Arc::new(SystemClock),
        RestoreRequest {
            files: files.iter().map(PathBuf::from).collect(),
            to: to.url.clone(),
            force,
            objects_dir: to.data_dir().join("objects"),
        },
        &ProgressBar::hidden(),
    )
    .await
}

story!(
    a_backup_taken_while_writes_run_restores_to_a_committed_event,
    |backend| async move {
        let Some(s) = common::services(backend).await else {
            return;
        };
        let state = s.state.clone();
        append(&state, 50).await;
        put_objects(&state);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (state, stop) = (state.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    state
                        .audit
                        .record(&[event(1000 + n), event(2000 + n)])
                        .await
                        .unwrap();
                    n += 1;
                }
                n
            })
        };
        // Let the writer get going, then back up under its load.
        while activity::head(&state.db).await.unwrap().0 < 80 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let created = full_backup(&state).await;
        stop.store(true, Ordering::SeqCst);
        let written = writer.await.unwrap();
        assert!(written > 0);
        let (live_head, _) = activity::head(&state.db).await.unwrap();
        assert!(
            created.chain.seq >= 80 && created.chain.seq < live_head,
            "{} of {live_head}",
            created.chain.seq
        );
        // The head in the backup is an event the live database committed, byte for byte.
        let live = activity::get(&state.db, created.chain.seq).await.unwrap();
        assert_eq!(live.hash, created.chain.hash);

        let report = restore::verify_file(
            &state.settings,
            Path::new(&created.file),
            None,
            &ProgressBar::hidden(),
        )
        .await
        .unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.chain.as_ref().unwrap(), &created.chain);
        assert_eq!(report.objects.as_ref().unwrap().files, 2);

        let target = TestDb::new(backend).await.unwrap();
        let restored = restore_to(&state, &[&created.file], &target, false)
            .await
            .unwrap();
        assert_eq!(restored.chain, created.chain);
        assert_eq!(restored.objects_written, 2);
        assert_eq!(
            std::fs::read(target.data_dir().join("objects/ab/abcdef01")).unwrap(),
            b"raw email one"
        );
        let db = Db::open(&target.url, 2, "restored").await.unwrap();
        let chain = pebble::audit::verify_chain(&db).await.unwrap();
        assert!(chain.ok, "{chain:?}");
        // The restore itself is the one event after the backed-up head.
        assert_eq!(chain.verified, created.chain.seq + 1);
        let last = activity::get(&db, chain.verified).await.unwrap();
        assert_eq!(last.event_type, "RestorePerformed");
        assert_eq!(
            activity::get(&db, created.chain.seq).await.unwrap().hash,
            created.chain.hash
        );
        let payload: serde_json::Value =
            serde_json::from_str(last.payload.as_deref().unwrap()).unwrap();
        assert_eq!(payload["id"], created.id.as_str());
        assert_eq!(payload["checksum"], restored_sha(&created.file));
        // The backup's own catalogue row was captured as `running`; the restore completed it.
        let row = pebble::store::backup::get(&db, &created.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.status, "created");
        assert_eq!(row.chain_seq, Some(created.chain.seq));
        db.close().await;
    }
);

fn restored_sha(file: &str) -> String {
    pebble::backup::archive::file_digest(Path::new(file))
        .unwrap()
        .1
}

story!(
    one_flipped_byte_in_any_part_fails_verification_naming_it,
    |backend| async move {
        let Some(s) = common::services(backend).await else {
            return;
        };
        let state = s.state.clone();
        append(&state, 20).await;
        put_objects(&state);
        let created = full_backup(&state).await;
        let m = manifest_of(Path::new(&created.file));
        let dir = tempfile::tempdir().unwrap();
        let mut targets: Vec<(String, String)> = m
            .parts
            .iter()
            .map(|p| (p.path.clone(), p.name.clone()))
            .collect();
        targets.push(("manifest.json".into(), "manifest".into()));
        targets.push(("manifest.sha256".into(), "manifest".into()));
        assert!(targets.len() >= 4, "{targets:?}");
        for (entry, part) in targets {
            let copy = dir.path().join(format!("{}.tar", part.replace(':', "_")));
            flipped(Path::new(&created.file), &entry, &copy);
            let r = restore::verify_file(&state.settings, &copy, None, &ProgressBar::hidden())
                .await
                .unwrap();
            assert!(!r.ok, "{entry}: {r:?}");
            assert_eq!(
                r.failed_part.as_deref(),
                Some(part.as_str()),
                "{entry}: {r:?}"
            );
            // And a restore refuses it.
            let target = TestDb::new(backend).await.unwrap();
            let err = restore_to(&state, &[copy.to_str().unwrap()], &target, false)
                .await
                .unwrap_err();
            assert!(matches!(err, BackupError::Corrupt { .. }), "{entry}: {err}");
        }
    }
);

story!(
    restore_refuses_a_live_target_without_force_and_keeps_it_aside_with_force,
    |backend| async move {
        let Some(s) = common::services(backend).await else {
            return;
        };
        let state = s.state.clone();
        append(&state, 10).await;
        let created = full_backup(&state).await;
        append(&state, 5).await;
        let (live_head, _) = activity::head(&state.db).await.unwrap();
        let live = TestDb::reuse(&s.db);
        let err = restore_to(&state, &[&created.file], &live, false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(
            activity::head(&state.db).await.unwrap().0,
            live_head,
            "nothing changed"
        );
        state.db.close().await;
        let done = restore_to(&state, &[&created.file], &live, true)
            .await
            .unwrap();
        let aside = done.set_aside.expect("the old database is kept");
        let db = Db::open(&live.url, 2, "restored").await.unwrap();
        assert_eq!(activity::head(&db).await.unwrap().0, created.chain.seq + 1);
        assert!(pebble::audit::verify_chain(&db).await.unwrap().ok);
        db.close().await;
        match backend {
            Backend::Sqlite => assert!(Path::new(&aside).exists()),
            Backend::Postgres => {
                let Db::Postgres(p) = Db::connect(&live.url, 1).await.unwrap() else {
                    unreachable!()
                };
                let n: i64 = sqlx::query_scalar(&format!(
                    "select count(*) from \"{aside}\".activity_stream"
                ))
                .fetch_one(&p)
                .await
                .unwrap();
                assert_eq!(n, live_head, "the replaced database is kept whole");
                sqlx::query(&format!("drop schema \"{aside}\" cascade"))
                    .execute(&p)
                    .await
                    .unwrap();
            }
        }
    }
);

/// Rewrite a backup's manifest (and its checksum), as a newer Pebble would write it.
fn with_manifest(file: &Path, out: &Path, edit: impl FnOnce(&mut Manifest)) {
    let a = ArchiveReader::open(file).unwrap();
    let mut m = manifest_of(file);
    edit(&mut m);
    let text = serde_json::to_vec_pretty(&m).unwrap();
    let mut b = tar::Builder::new(std::fs::File::create(out).unwrap());
    for e in a.entries() {
        let data = match e.name.as_str() {
            "manifest.json" => text.clone(),
            "manifest.sha256" => hex::encode(pebble_core::audit::sha256(&text)).into_bytes(),
            _ => {
                let mut v = Vec::new();
                a.raw(e).unwrap().read_to_end(&mut v).unwrap();
                v
            }
        };
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o600);
        h.set_cksum();
        b.append_data(&mut h, &e.name, &data[..]).unwrap();
    }
    b.finish().unwrap();
}

story!(
    restore_refuses_a_backup_from_a_newer_schema,
    |backend| async move {
        let Some(s) = common::services(backend).await else {
            return;
        };
        let state = s.state.clone();
        append(&state, 3).await;
        let created = full_backup(&state).await;
        let dir = tempfile::tempdir().unwrap();
        let newer = dir.path().join("newer.tar");
        with_manifest(Path::new(&created.file), &newer, |m| {
            m.schema_version = 9999;
            m.migrations.push(pebble::backup::manifest::MigrationRef {
                version: 9999,
                checksum: "00".into(),
            });
        });
        let target = TestDb::new(backend).await.unwrap();
        let err = restore_to(&state, &[newer.to_str().unwrap()], &target, false)
            .await
            .unwrap_err();
        assert!(matches!(err, BackupError::Refused(_)), "{err}");
        assert!(err.to_string().contains("newer"), "{err}");
        assert!(!target.data_dir().join("pebble.db").exists() || backend == Backend::Postgres);
    }
);

story!(
    activity_backups_continue_a_full_one_link_by_link,
    |backend| async move {
        let Some(s) = common::services(backend).await else {
            return;
        };
        let state = s.state.clone();
        let quiet = ProgressBar::hidden();
        let actor = || Actor::system("test");
        let err = state
            .backups
            .create(Kind::Activity, None, actor(), &quiet)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("full backup first"), "{err}");
        append(&state, 10).await;
        let full = full_backup(&state).await;
        append(&state, 7).await;
        // A redaction of an event inside the full backup must travel with the increment.
        let mut tx = state.db.begin().await.unwrap();
        activity::redact(
            &mut tx,
            &[3],
            activity::RedactionReason::Erasure,
            common::t0(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let inc1 = state
            .backups
            .create(Kind::Activity, None, actor(), &quiet)
            .await
            .unwrap();
        assert_eq!(inc1.from.as_ref().unwrap(), &full.chain);
        append(&state, 4).await;
        let inc2 = state
            .backups
            .create(Kind::Activity, None, actor(), &quiet)
            .await
            .unwrap();
        assert_eq!(inc2.from.as_ref().unwrap(), &inc1.chain);
        for inc in [&inc1, &inc2] {
            let r = restore::verify_file(&state.settings, Path::new(&inc.file), None, &quiet)
                .await
                .unwrap();
            assert!(r.ok, "{r:?}");
        }
        let target = TestDb::new(backend).await.unwrap();
        let err = restore_to(&state, &[&full.file, &inc2.file], &target, false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("none missing"), "{err}");
        let target = TestDb::new(backend).await.unwrap();
        let done = restore_to(
            &state,
            &[&full.file, &inc1.file, &inc2.file],
            &target,
            false,
        )
        .await
        .unwrap();
        assert_eq!(done.chain, inc2.chain);
        let db = Db::open(&target.url, 2, "restored").await.unwrap();
        assert!(pebble::audit::verify_chain(&db).await.unwrap().ok);
        let e3 = activity::get(&db, 3).await.unwrap();
        assert!(
            e3.payload.is_none() && e3.redacted_at.is_some(),
            "the erasure survived the restore"
        );
        db.close().await;
        // The drill restores the same newest chain and measures it.
        let (live, _) = activity::head(&state.db).await.unwrap();
        let report = state.backups.drill(false, actor(), &quiet).await.unwrap();
        assert_eq!(
            report.backup_ids,
            vec![full.id.clone(), inc1.id.clone(), inc2.id.clone()]
        );
        assert_eq!(report.chain, inc2.chain);
        assert!(report.rto_ms > 0);
        assert_eq!(report.events_behind, live - inc2.chain.seq);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sqlite_backup_restores_into_postgresql_and_not_the_other_way() {
    let Some(pg) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let s = common::services(Backend::Sqlite).await.unwrap();
    let state = s.state.clone();
    append(&state, 25).await;
    state
        .auth
        .create_user(
            Actor::system("test"),
            "ops2@test.in",
            "Ops",
            Role::Ops,
            common::PASSWORD,
        )
        .await
        .unwrap();
    let created = full_backup(&state).await;
    let done = restore_to(&state, &[&created.file], &pg, false)
        .await
        .unwrap();
    assert_eq!(done.chain, created.chain);
    let db = Db::open(&pg.url, 2, "restored").await.unwrap();
    let report = pebble::audit::verify_chain(&db).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.verified, created.chain.seq + 1);
    let mut tx = pebble::store::backup::begin_snapshot(&db).await.unwrap();
    for t in &created.tables {
        let n = pebble::store::backup::count(&mut tx, &t.name)
            .await
            .unwrap();
        let expected = if t.name == "activity_stream" {
            t.rows + 1
        } else {
            t.rows
        };
        assert_eq!(n, expected, "{}", t.name);
    }
    tx.commit().await.unwrap();
    // The copied database works: users sign in against it.
    let users = pebble::store::users::list_users(&db).await.unwrap();
    assert!(users.iter().any(|u| u.email == "ops2@test.in"));
    db.close().await;

    // PostgreSQL → SQLite: a clear refusal.
    let p = common::services(Backend::Postgres).await.unwrap();
    append(&p.state, 3).await;
    let pg_backup = full_backup(&p.state).await;
    let target = TestDb::new(Backend::Sqlite).await.unwrap();
    let err = restore_to(&p.state, &[&pg_backup.file], &target, false)
        .await
        .unwrap_err();
    assert!(matches!(err, BackupError::Refused(_)), "{err}");
    assert!(err.to_string().contains("PostgreSQL only"), "{err}");
    assert!(!target.data_dir().join("pebble.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn encrypted_backups_need_their_key() {
    use base64::Engine;
    let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut settings = db.settings();
    settings.backup_encryption_key = Some(b64(7).into());
    let state = pebble::startup::services(&settings, Arc::new(SystemClock))
        .await
        .unwrap();
    append(&state, 5).await;
    put_objects(&state);
    let created = full_backup(&state).await;
    assert!(created.encrypted);
    let file = Path::new(&created.file);
    // The database is not readable in the clear inside the file.
    let raw = std::fs::read(file).unwrap();
    assert!(!raw.windows(15).any(|w| w == b"SQLite format 3"));
    let quiet = ProgressBar::hidden();
    let ok = restore::verify_file(&settings, file, None, &quiet)
        .await
        .unwrap();
    assert!(ok.ok, "{ok:?}");
    let mut no_key = settings.clone();
    no_key.backup_encryption_key = None;
    let err = restore::verify_file(&no_key, file, None, &quiet)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("PEBBLE_BACKUP_ENCRYPTION_KEY"),
        "{err}"
    );
    let mut wrong = settings.clone();
    wrong.backup_encryption_key = Some(b64(8).into());
    let err = restore::verify_file(&wrong, file, None, &quiet)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("key id"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    for (entry, part) in [
        ("parts/database.sqlite.zst", "database"),
        ("manifest.json", "manifest"),
        ("manifest.seal", "manifest"),
    ] {
        let copy = dir.path().join("x.tar");
        let _ = std::fs::remove_file(&copy);
        flipped(file, entry, &copy);
        let r = restore::verify_file(&settings, &copy, None, &quiet)
            .await
            .unwrap();
        assert_eq!(r.failed_part.as_deref(), Some(part), "{entry}: {r:?}");
    }
}

story!(
    the_scheduler_backs_up_verifies_drills_and_exposes_metrics,
    |backend| async move {
        let Some(app) = common::spawn_app_with(backend, |s| {
            s.backup_full_interval_secs = 1;
            s.backup_activity_interval_secs = 0;
            s.backup_drill_interval_secs = 1;
        })
        .await
        else {
            return;
        };
        append(&app.state, 5).await;
        // Nothing is due until the interval has passed on the application clock.
        app.clock.advance(chrono::Duration::seconds(2));
        let db = &app.state.db;
        let mut waited = 0;
        loop {
            let drilled = pebble::store::backup::last_drill(db).await.unwrap();
            if drilled.is_some() {
                break;
            }
            waited += 1;
            assert!(waited < 1800, "no drill after 180 s");
            // The scheduler reads its start time when its task first runs,
            // which may be after the advance above; keep the clock moving.
            if waited % 10 == 0 {
                app.clock.advance(chrono::Duration::seconds(2));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let drill = pebble::store::backup::last_drill(db)
            .await
            .unwrap()
            .unwrap();
        assert!(drill.ok, "{drill:?}");
        let rows = app.state.backups.list(10).await.unwrap();
        let full = rows
            .iter()
            .find(|r| r.kind == "full")
            .expect("a scheduled full backup");
        assert_eq!(full.status, "created");
        assert_eq!(full.verify_ok, Some(true), "verified after it was taken");
        let types: Vec<String> = activity::search(
            db,
            &Default::default(),
            activity::Page::OldestFirst { after: None },
            1000,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
        for t in ["BackupCreated", "BackupVerified"] {
            assert!(types.iter().any(|x| x == t), "{t} missing from {types:?}");
        }
        let metrics = app
            .client
            .get(format!("http://{}/metrics", app.metrics_addr))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = |name: &str| -> f64 {
            metrics
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("{name} missing"))
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!(value("pebble_backup_last_success_timestamp_seconds{kind=\"full\"}") > 1.7e9);
        assert!(value("pebble_backup_age_seconds{kind=\"full\"}") >= 0.0);
        assert!(value("pebble_dr_drill_rto_seconds") > 0.0);
        assert!(value("pebble_dr_drill_last_timestamp_seconds") > 1.7e9);
        assert!(value("pebble_backups_total{kind=\"full\",outcome=\"ok\"}") >= 1.0);
        app.shutdown().await;
    }
);

story!(
    admin_and_ops_create_and_verify_backups_over_the_api,
    |backend| async move {
        let Some(app) = common::spawn_app(backend).await else {
            return;
        };
        let ops = app.token(Role::Ops).await;
        for role in [Role::Sales, Role::ReadOnly] {
            let t = app.token(role).await;
            assert_eq!(
                app.get_with(&t, "/api/v1/backups").await.status().as_u16(),
                403
            );
            let (status, _) = app
                .post_json(&t, "/api/v1/backups", serde_json::json!({}))
                .await;
            assert_eq!(status, 403, "{role:?}");
        }
        let (status, body) = app
            .post_json(
                &ops,
                "/api/v1/backups",
                serde_json::json!({"kind": "weekly"}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        let (status, body) = app
            .post_json(&ops, "/api/v1/backups", serde_json::json!({}))
            .await;
        assert_eq!(status, 202, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let row = wait_for(&app, &ops, &id, |b| b["status"] != "running").await;
        assert_eq!(row["status"], "created", "{row}");
        assert!(row["size_bytes"].as_i64().unwrap() > 0);
        let (status, body) = app
            .post_json(
                &ops,
                &format!("/api/v1/backups/{id}/verify"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let row = wait_for(&app, &ops, &id, |b| !b["verified_at"].is_null()).await;
        assert_eq!(row["verify_ok"], true, "{row}");
        let admin = app.admin().await;
        let r = app.get_with(&admin, "/api/v1/backups").await;
        assert_eq!(r.status().as_u16(), 200);
        let list: Vec<serde_json::Value> = r.json().await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(
            app.get_with(&admin, "/api/v1/backups/nope")
                .await
                .status()
                .as_u16(),
            404
        );
        app.shutdown().await;
    }
);

async fn wait_for(
    app: &common::TestApp,
    token: &str,
    id: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..600 {
        let r = app.get_with(token, &format!("/api/v1/backups/{id}")).await;
        assert_eq!(r.status().as_u16(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        if done(&body) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("backup {id} did not get there in 60 s");
}

fn pebble(db: &TestDb, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pebble"))
        .args(args)
        .env_clear()
        .env("PEBBLE_DATA_DIR", db.data_dir())
        .env("PEBBLE_DATABASE_URL", &db.url)
        .env("PEBBLE_LOG", "warn")
        .output()
        .expect("run pebble")
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

story!(
    the_cli_creates_verifies_restores_and_drills,
    |backend| async move {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        let o = pebble(&db, &["backup", "create", "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let created: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let file = created["file"].as_str().unwrap().to_owned();
        assert!(file.starts_with(db.data_dir().join("backups").to_str().unwrap()));
        let o = pebble(&db, &["backup", "verify", &file]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains("recorded as BackupVerified"),
            "{}",
            text(&o)
        );
        let bad = db.data_dir().join("bad.tar");
        let part = if backend == Backend::Sqlite {
            "parts/database.sqlite.zst"
        } else {
            "parts/table-activity_stream.copy.zst"
        };
        flipped(Path::new(&file), part, &bad);
        let o = pebble(&db, &["backup", "verify", bad.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let expected = if backend == Backend::Sqlite {
            "part database"
        } else {
            "part table:activity_stream"
        };
        assert!(text(&o).contains(expected), "{}", text(&o));
        let o = pebble(&db, &["backup", "restore", &file]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("--force"), "{}", text(&o));
        let o = pebble(&db, &["dr", "drill", "--json"]);
        assert!(o.status.success(), "{}", text(&o));
        let drill: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(drill["rto_ms"].as_u64().unwrap() > 0, "{drill}");
        let o = pebble(&db, &["backup", "list"]);
        assert!(
            o.status.success() && text(&o).contains("verified"),
            "{}",
            text(&o)
        );
    }
);
