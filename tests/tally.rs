//! Tally faults against the in-process simulator: lookups keep answering from
//! the cache with their age, the breaker opens and closes on the injected
//! clock, nothing piles up behind a hung request, and a sync never wipes the
//! cache because Tally suddenly has nothing.

mod common;

use chrono::Duration;
use common::{spawn_app_with, Backend, TestApp};
use pebble::tally::breaker::BreakerState;
use pebble::tally::sim::{self, Fault, SimConfig, SimHandle};
use pebble::tally::{Source, SyncError, TallyServiceError};
use pebble_core::access::Role;
use pebble_core::audit::Actor;
use pebble_core::catalog::{parse_catalog, CatalogItem};

fn demo_catalog() -> Vec<CatalogItem> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo/catalog.json");
    parse_catalog(&std::fs::read(path).expect("demo catalogue")).expect("demo catalogue parses")
}

/// The app pointed at a fresh simulator serving the demo catalogue, with
/// short timeouts, one retry, and a breaker that opens after two failures.
async fn app_and_sim(b: Backend, config: SimConfig) -> Option<(TestApp, SimHandle)> {
    let sim = sim::spawn(SimConfig {
        catalog: demo_catalog(),
        ..config
    })
    .await
    .expect("simulator starts");
    let url = sim.url();
    let app = spawn_app_with(b, |s| {
        s.tally_url = url;
        s.tally_connect_timeout_ms = 300;
        s.tally_lookup_timeout_ms = 300;
        s.tally_sync_timeout_secs = 2;
        s.tally_retries = 1;
        s.tally_breaker_failures = 2;
        s.tally_breaker_cooldown_secs = 30;
        s.tally_sync_interval_secs = 0;
    })
    .await?;
    Some((app, sim))
}

async fn events(app: &TestApp, event_type: &str) -> Vec<serde_json::Value> {
    let (status, body) = app
        .get_json(&format!(
            "/api/v1/activity?event_type={event_type}&limit=100"
        ))
        .await;
    assert_eq!(status, 200);
    body["items"].as_array().cloned().unwrap_or_default()
}

fn system() -> Actor {
    Actor::system("test")
}

story!(
    a_sync_fills_the_cache_and_lookups_answer_live_then_from_the_cache_with_their_age,
    |b: Backend| async move {
        let Some((app, sim)) = app_and_sim(b, SimConfig::default()).await else {
            return;
        };
        let tally = &app.state.tally;
        let report = tally.sync(false, system()).await.expect("sync");
        assert!(report.full, "the first sync is a full one");
        assert_eq!(report.items, demo_catalog().len());

        let live = tally.lookup("32A DP MCB", system()).await.unwrap();
        let item = live.item.expect("found by alias");
        assert_eq!(live.source, Source::Live);
        assert_eq!(item.item.tally_name, "MCB 32A DP C-Curve 10kA");
        assert_eq!(item.item.closing_qty.as_str(), "140");
        assert_eq!(
            item.item.rate_inr.unwrap().as_str().parse::<f64>(),
            Ok(560.0)
        );

        sim.set_fault(Some(Fault::Reset));
        app.clock.advance(Duration::minutes(10));
        let cached = tally.lookup("32a dp mcb", system()).await.unwrap();
        assert_eq!(cached.source, Source::Cache);
        let item = cached
            .item
            .expect("the cache answers while Tally resets connections");
        assert_eq!(item.age_secs, 600);
        assert_eq!(item.item.closing_qty.as_str(), "140");
        assert!(cached.tally_error.is_some());

        let synced = events(&app, "TallySyncCompleted").await;
        assert_eq!(synced.len(), 1);
        assert_eq!(synced[0]["payload"]["ok"], true);
        assert_eq!(synced[0]["payload"]["items"], demo_catalog().len());
        let lookups = events(&app, "TallyLookup").await;
        assert_eq!(lookups.len(), 2);
        let sources: Vec<_> = lookups
            .iter()
            .map(|e| e["payload"]["source"].as_str().unwrap().to_owned())
            .collect();
        assert!(sources.contains(&"live".to_owned()) && sources.contains(&"cache".to_owned()));
        assert!(lookups
            .iter()
            .all(|e| e["payload"]["ok"] == true && e["payload"]["stock_returned"] == "140"));

        let metrics = reqwest::get(format!("http://{}/metrics", app.metrics_addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for name in [
            "pebble_tally_lookup_latency_seconds_bucket",
            "pebble_tally_lookup_success_rate 1.0",
            "pebble_tally_lookups_total{outcome=\"found\",source=\"cache\"} 1",
            "pebble_tally_lookups_total{outcome=\"found\",source=\"live\"} 1",
            "pebble_tally_sync_age_seconds",
        ] {
            assert!(metrics.contains(name), "{name} missing from\n{metrics}");
        }
        app.shutdown().await;
    }
);

story!(
    garbage_answers_open_the_breaker_which_lets_one_probe_through_after_the_cool_down,
    |b: Backend| async move {
        let Some((app, sim)) = app_and_sim(b, SimConfig::default()).await else {
            return;
        };
        let tally = &app.state.tally;
        tally.sync(false, system()).await.expect("sync");
        sim.set_fault(Some(Fault::Garbage));
        for _ in 0..2 {
            let r = tally.lookup("16A switch", system()).await.unwrap();
            assert_eq!(r.source, Source::Cache);
            assert!(r.item.is_some());
        }
        assert_eq!(tally.client.breaker.state(), BreakerState::Open);

        // While open, Tally is not asked at all.
        let before = sim.requests();
        let r = tally.lookup("16A switch", system()).await.unwrap();
        assert_eq!(r.source, Source::Cache);
        assert_eq!(sim.requests(), before);

        app.clock.advance(Duration::seconds(31));
        assert_eq!(tally.client.breaker.state(), BreakerState::HalfOpen);
        sim.set_fault(None);
        let r = tally.lookup("16A switch", system()).await.unwrap();
        assert_eq!(r.source, Source::Live, "the probe reaches Tally");
        assert_eq!(tally.client.breaker.state(), BreakerState::Closed);
        app.shutdown().await;
    }
);

story!(
    a_slow_or_line_erroring_tally_is_answered_from_the_cache,
    |b: Backend| async move {
        let Some((app, sim)) = app_and_sim(
            b,
            SimConfig {
                slow: std::time::Duration::from_secs(3),
                ..SimConfig::default()
            },
        )
        .await
        else {
            return;
        };
        let tally = &app.state.tally;
        tally.sync(false, system()).await.expect("sync");
        sim.set_fault(Some(Fault::Slow));
        let r = tally.lookup("9W LED bulb", system()).await.unwrap();
        assert_eq!(r.source, Source::Cache);
        assert!(r.tally_error.unwrap().contains("did not answer"));

        sim.set_fault(Some(Fault::Lineerror));
        let r = tally.lookup("9W LED bulb", system()).await.unwrap();
        assert_eq!(r.source, Source::Cache);
        assert!(r.tally_error.unwrap().contains("report"));
        assert_eq!(
            tally.client.breaker.state(),
            BreakerState::Closed,
            "a LINEERROR is an answer: Tally is alive"
        );
        app.shutdown().await;
    }
);

story!(
    a_lookup_does_not_queue_behind_a_hung_sync,
    |b: Backend| async move {
        let Some((app, sim)) = app_and_sim(b, SimConfig::default()).await else {
            return;
        };
        let tally = app.state.tally.clone();
        tally.sync(false, system()).await.expect("sync");
        sim.set_fault(Some(Fault::Hang));
        let before = sim.requests();
        let hung = {
            let tally = tally.clone();
            tokio::spawn(async move { tally.sync(true, system()).await })
        };
        // Let the sync take the single-flight slot.
        while sim.requests() == before {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let r = tally.lookup("63A DP RCCB", system()).await.unwrap();
        assert_eq!(r.source, Source::Cache);
        assert!(r.item.is_some(), "the cache answers while the slot is held");
        assert!(
            r.tally_error.unwrap().contains("in flight"),
            "the lookup gave up waiting for the slot"
        );
        let failed = hung.await.expect("no panic");
        assert!(matches!(
            failed,
            Err(TallyServiceError::Sync(SyncError::Tally(_)))
        ));
        assert_eq!(
            pebble::store::tally::count(&app.state.db).await.unwrap(),
            demo_catalog().len() as i64,
            "a failed sync leaves the cache alone"
        );
        let synced = events(&app, "TallySyncCompleted").await;
        assert!(synced.iter().any(|e| e["payload"]["ok"] == false));
        app.shutdown().await;
    }
);

story!(
    a_sync_refuses_to_wipe_a_full_cache_when_tally_suddenly_has_nothing,
    |b: Backend| async move {
        let Some((app, sim)) = app_and_sim(b, SimConfig::default()).await else {
            return;
        };
        let tally = &app.state.tally;
        tally.sync(false, system()).await.expect("sync");
        sim.set_catalog(&[]);
        let refused = tally.sync(true, system()).await;
        assert!(matches!(
            refused,
            Err(TallyServiceError::Sync(SyncError::WouldWipe { .. }))
        ));
        assert_eq!(
            pebble::store::tally::count(&app.state.db).await.unwrap(),
            demo_catalog().len() as i64
        );
        let synced = events(&app, "TallySyncCompleted").await;
        let failed: Vec<_> = synced
            .iter()
            .filter(|e| e["payload"]["ok"] == false)
            .collect();
        assert_eq!(failed.len(), 1);
        assert!(failed[0]["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("refusing to wipe"));
        let (_, health) = app.get_json("/api/v1/tally/health").await;
        assert!(health["last_sync"]["last_error"]
            .as_str()
            .unwrap()
            .contains("refusing"));
        assert_eq!(health["cache_items"], demo_catalog().len());
        app.shutdown().await;
    }
);

story!(
    an_incremental_sync_fetches_only_what_changed_after_the_cached_alter_id,
    |b: Backend| async move {
        let Some((app, sim)) = app_and_sim(b, SimConfig::default()).await else {
            return;
        };
        let tally = &app.state.tally;
        tally.sync(false, system()).await.expect("sync");
        let mut catalog = demo_catalog();
        catalog.push(CatalogItem {
            sku: "NEW-1".into(),
            tally_name: "Ceiling Fan 1200 mm \"Breeze\" (Brown)".into(),
            aliases: vec!["1200mm fan".into()],
            unit: Some("Nos".into()),
            rate_inr: Some("1850.50".parse().unwrap()),
            closing_qty: "12".parse().unwrap(),
            group: Some("Fans".into()),
        });
        sim.set_catalog(&catalog);
        let report = tally.sync(false, system()).await.expect("incremental sync");
        assert!(!report.full);
        assert_eq!(report.items, 1);
        assert_eq!(report.cached, catalog.len() as i64);
        let found = tally.cached("1200MM FAN").await.unwrap().expect("by alias");
        assert_eq!(found.item.rate_inr.unwrap().as_str(), "1850.50");
        app.shutdown().await;
    }
);

story!(
    with_tally_down_for_the_whole_test_nothing_panics_and_lookups_say_so,
    |b: Backend| async move {
        // A port that nothing listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let Some(app) = spawn_app_with(b, |s| {
            s.tally_url = format!("http://127.0.0.1:{port}");
            s.tally_connect_timeout_ms = 300;
            s.tally_sync_timeout_secs = 1;
            s.tally_retries = 1;
            s.tally_breaker_failures = 2;
        })
        .await
        else {
            return;
        };
        let tally = &app.state.tally;
        assert!(tally.sync(false, system()).await.is_err());
        let r = tally.lookup("32A DP MCB", system()).await.unwrap();
        assert!(r.item.is_none());
        assert_eq!(r.source, Source::Cache);
        assert!(r.tally_error.is_some());
        assert_eq!(tally.client.breaker.state(), BreakerState::Open);
        let token = app.token(Role::Sales).await;
        let r = app.get_with(&token, "/api/v1/stock?q=mcb").await;
        assert_eq!(r.status().as_u16(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["items"], serde_json::json!([]));
        let (_, health) = app.get_json("/api/v1/tally/health").await;
        assert_eq!(health["breaker"], "open");
        assert_eq!(health["cache_items"], 0);
        assert_eq!(health["cache_age_secs"], serde_json::Value::Null);
        app.shutdown().await;
    }
);

story!(
    every_role_can_search_stock_and_read_tally_health_over_http,
    |b: Backend| async move {
        let Some((app, _sim)) = app_and_sim(
            b,
            SimConfig {
                encoding: pebble_tally::WireEncoding::Utf8,
                ..SimConfig::default()
            },
        )
        .await
        else {
            return;
        };
        app.state.tally.sync(false, system()).await.expect("sync");
        for role in Role::ALL {
            let token = app.token(role).await;
            let r = app.get_with(&token, "/api/v1/stock?q=sq%20mm%20FR").await;
            assert_eq!(r.status().as_u16(), 200, "{role:?}");
            let body: serde_json::Value = r.json().await.unwrap();
            assert!(body["items"].as_array().unwrap().len() >= 5);
            let r = app.get_with(&token, "/api/v1/tally/health").await;
            assert_eq!(r.status().as_u16(), 200, "{role:?}");
        }
        let token = app.token(Role::ReadOnly).await;
        let r = app.get_with(&token, "/api/v1/stock?q=32A%20DP%20MCB").await;
        let body: serde_json::Value = r.json().await.unwrap();
        let exact = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["tally_name"] == "MCB 32A DP C-Curve 10kA")
            .expect("exact match");
        assert_eq!(exact["source"], "live");
        assert_eq!(exact["closing_qty"], 140);

        let r = app.get_with(&token, "/api/v1/stock?q=100%25").await;
        assert_eq!(r.status().as_u16(), 200, "LIKE wildcards are literal");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["items"], serde_json::json!([]));
        for bad in [
            "/api/v1/stock",
            "/api/v1/stock?q=%20",
            "/api/v1/stock?q=a%00b",
            "/api/v1/stock?q=a&limit=0",
        ] {
            let r = app.get_with(&token, bad).await;
            assert_eq!(r.status().as_u16(), 400, "{bad}");
        }
        let (_, health) = app.get_json("/api/v1/tally/health").await;
        assert_eq!(health["breaker"], "closed");
        assert_eq!(health["cache_items"], demo_catalog().len());
        assert_eq!(health["cache_age_secs"], 0);
        let r = app
            .client
            .get(app.url("/api/v1/stock?q=mcb"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        app.shutdown().await;
    }
);

story!(
    the_tally_commands_drive_the_simulator_end_to_end,
    |b: Backend| async move {
        use std::process::{Command, Stdio};
        let Some(db) = common::TestDb::new(b).await else {
            return;
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let root = env!("CARGO_MANIFEST_DIR");
        let mut sim = Command::new(env!("CARGO_BIN_EXE_pebble"))
            .args([
                "tally-sim",
                "--catalog",
                &format!("{root}/data/demo/catalog.json"),
            ])
            .args(["--ledgers", &format!("{root}/data/demo/ledgers.json")])
            .args(["--port", &port.to_string(), "--encoding", "utf8"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the simulator");
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let pebble = |args: &[&str]| {
            let o = Command::new(env!("CARGO_BIN_EXE_pebble"))
                .args(args)
                .env_clear()
                .env("PEBBLE_DATA_DIR", db.data_dir())
                .env("PEBBLE_DATABASE_URL", &db.url)
                .env("PEBBLE_TALLY_URL", format!("http://127.0.0.1:{port}"))
                .env("PEBBLE_TALLY_CONNECT_TIMEOUT_MS", "300")
                .env("PEBBLE_TALLY_RETRIES", "0")
                .output()
                .expect("run pebble");
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            (
                o.status.code(),
                out,
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        };
        let (code, out, err) = pebble(&["tally", "ping"]);
        assert_eq!(code, Some(0), "{err}");
        assert!(out.contains("TallyPrime Server is Running"));
        let (_, out, _) = pebble(&["tally", "companies", "--json"]);
        assert!(out.contains("Demo Electricals"));
        let (_, out, _) = pebble(&["tally", "ledgers", "--json"]);
        assert!(out.contains("07AAPFS1234K1ZY"), "{out}");
        let (code, out, err) = pebble(&["tally", "sync", "--json"]);
        assert_eq!(code, Some(0), "{err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["items"], demo_catalog().len());
        let (code, out, _) = pebble(&["tally", "lookup", "2.5 sq mm FR wire", "--json"]);
        assert_eq!(code, Some(0));
        let found: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(found["source"], "live");
        assert_eq!(
            found["item"]["tally_name"],
            "FR PVC Wire 2.5 sq mm (90 m coil)"
        );

        sim.kill().expect("stop the simulator");
        sim.wait().expect("reap the simulator");
        let (code, out, _) = pebble(&["tally", "lookup", "2.5 sq mm FR wire", "--json"]);
        assert_eq!(code, Some(0));
        let found: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(found["source"], "cache");
        assert_eq!(found["item"]["closing_qty"], 86);
        let (code, _, _) = pebble(&["tally", "lookup", "No Such Product"]);
        assert_eq!(code, Some(1));
    }
);

#[test]
fn the_demo_files_parse_and_the_demo_parties_carry_valid_gstins() {
    let root = env!("CARGO_MANIFEST_DIR");
    let catalog = demo_catalog();
    assert!(catalog.len() >= 40);
    let mut skus: Vec<_> = catalog.iter().map(|c| c.sku.as_str()).collect();
    skus.sort();
    skus.dedup();
    assert_eq!(skus.len(), catalog.len(), "SKUs are unique");
    let ledgers: Vec<sim::SimLedger> =
        serde_json::from_slice(&std::fs::read(format!("{root}/data/demo/ledgers.json")).unwrap())
            .unwrap();
    for l in ledgers.iter().filter_map(|l| l.gstin.as_deref()) {
        assert!(
            pebble_core::identifiers::Gstin::parse(l).is_ok(),
            "{l} is not a valid GSTIN"
        );
    }
}
