//! The web UI over HTTP, on both backends: sessions and cookies, the page
//! rules for every role, CSRF, escaping, dashboards from real data, the
//! quarterly compliance export (UI, API, CLI) and data-subject requests.

mod common;

use std::io::Read;
use std::process::Command;

use chrono::Duration;
use common::seed::{hostile_email, seed_history};
use common::web::{csrf_in, set_cookie, Web};
use common::{spawn_app, Backend, PASSWORD};
use pebble::http::guard::{is_api, Access, RULES};
use pebble_core::access::Role;
use pebble_core::audit::{Actor, EventType, NewEvent};
use serde_json::{json, Value};

/// The text of the element with `id`.
fn by_id(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &html[at..];
    let start = rest.find('>').unwrap() + 1;
    rest[start..].split('<').next().unwrap().to_owned()
}

/// The `data-value`s of one chart's bars, in order.
fn chart_values(html: &str, chart: &str) -> Vec<String> {
    let at = html
        .find(&format!("data-chart=\"{chart}\""))
        .unwrap_or_else(|| panic!("no chart {chart}"));
    let svg = &html[at..html[at..].find("</svg>").unwrap() + at];
    svg.split("data-value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "no-such-id")
        .replace("{version}", "no-such-version")
        .replace("{key}", "no-such-template")
        .replace("{file}", "pebble.css")
}

story!(
    every_page_answers_every_role_as_the_table_says,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let anonymous = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut sessions = Vec::new();
        for role in Role::ALL {
            sessions.push((role, Web::login(&app, role).await));
        }
        let pages: Vec<_> = RULES.iter().filter(|(_, p, _)| !is_api(p)).collect();
        assert!(pages.len() >= 20, "the UI has its rules in the one table");
        for (method, path, access) in pages {
            let url = app.url(&concrete(path));
            let r = anonymous
                .request(method.parse().unwrap(), &url)
                .send()
                .await
                .unwrap();
            match access {
                Access::Public => assert!(r.status().as_u16() < 500, "{method} {path} anonymous"),
                Access::Page(_) => {
                    assert_eq!(r.status().as_u16(), 303, "{method} {path} anonymous");
                    let to = r.headers()["location"].to_str().unwrap();
                    assert!(to.starts_with("/login"), "{method} {path} → {to}");
                }
                Access::Roles(_) => panic!("{path}: a page route with an API rule"),
            }
            if *path == "/logout" {
                continue;
            }
            let Access::Page(allowed) = access else {
                continue;
            };
            for (role, web) in &sessions {
                let status = if *method == "GET" {
                    web.get(&concrete(path)).await.status
                } else {
                    web.post(&concrete(path), &[]).await.status
                };
                assert_eq!(
                    status == 403,
                    !allowed.contains(role),
                    "{method} {path} as {role}: {status}"
                );
                assert!(status < 500, "{method} {path} as {role}: {status}");
                if *method == "POST" && allowed.contains(role) {
                    let without = web.post_raw(&concrete(path), &[]).await;
                    assert_eq!(without.status, 403, "{path} without a CSRF token");
                    assert!(without.body.contains("security token"));
                }
            }
        }
        // The navigation offers exactly what the role may open.
        for (role, web) in &sessions {
            let home = web.get("/").await.body;
            for (link, who) in [
                ("href=\"/admin\"", &[Role::Admin, Role::Ops][..]),
                ("href=\"/drafts\"", &Role::ALL[..]),
                ("href=\"/compliance\"", &[Role::Admin, Role::Ops]),
                ("href=\"/privacy\"", &[Role::Admin, Role::Ops]),
                (
                    "href=\"/dashboards/owner\"",
                    &[Role::Admin, Role::Sales, Role::Ops, Role::ReadOnly],
                ),
            ] {
                assert_eq!(home.contains(link), who.contains(role), "{role}: {link}");
            }
        }
        app.shutdown().await;
    }
);

story!(
    the_session_cookie_is_strict_httponly_and_secure_behind_tls,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let form = client.get(app.url("/login")).send().await.unwrap();
        let login = set_cookie(form.headers(), "pebble_login").unwrap();
        let csrf = csrf_in(&form.text().await.unwrap()).unwrap();
        let pair = login.split(';').next().unwrap().to_owned();
        let post = |tls: bool, token: &str, password: &str| {
            let mut r = client
                .post(app.url("/login"))
                .header("cookie", &pair)
                .form(&[
                    ("csrf", token),
                    ("email", "sales@test.in"),
                    ("password", password),
                    ("next", "/leads"),
                ]);
            if tls {
                r = r.header("x-forwarded-proto", "https");
            }
            r.send()
        };
        let forged = post(false, "not-the-token", PASSWORD).await.unwrap();
        assert_eq!(forged.status().as_u16(), 403, "login CSRF is checked");
        let wrong = post(false, &csrf, "wrong password!").await.unwrap();
        assert_eq!(wrong.status().as_u16(), 401);
        assert!(wrong
            .text()
            .await
            .unwrap()
            .contains("Wrong email or password"));
        let plain = post(false, &csrf, PASSWORD).await.unwrap();
        assert_eq!(plain.status().as_u16(), 303);
        assert_eq!(plain.headers()["location"], "/leads");
        let cookie = set_cookie(plain.headers(), "pebble_session").unwrap();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        assert!(!cookie.contains("Secure"), "{cookie}");
        let tls = post(true, &csrf, PASSWORD).await.unwrap();
        let secure = set_cookie(tls.headers(), "pebble_session").unwrap();
        assert!(secure.contains("; Secure"), "{secure}");

        // The cookie is no bearer token, and a bearer token is no cookie.
        let value = cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("pebble_session=");
        let me = client
            .get(app.url("/api/v1/auth/me"))
            .bearer_auth(value)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status().as_u16(), 401);
        let bearer = app.token(Role::Sales).await;
        let page = client
            .get(app.url("/leads"))
            .header("cookie", format!("pebble_session={bearer}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status().as_u16(), 303);

        // Pages carry a strict CSP that allows only this site's CSS and JS.
        let web = Web::login(&app, Role::Sales).await;
        let leads = web.get("/leads").await;
        let csp = leads.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(leads.headers["x-frame-options"], "DENY");
        let css = client
            .get(app.url("/assets/pebble.css"))
            .send()
            .await
            .unwrap();
        assert!(css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css"));
        assert!(css.text().await.unwrap().contains(":focus-visible"));

        // Signing out ends the session for good; so does 30 minutes idle.
        let out = web.post("/logout", &[]).await;
        assert_eq!(out.location.as_deref(), Some("/login?ended=1"));
        assert!(set_cookie(&out.headers, "pebble_session")
            .unwrap()
            .contains("Max-Age=0"));
        assert_eq!(web.get("/leads").await.status, 303);
        let idle = Web::login(&app, Role::Ops).await;
        app.clock.advance(Duration::minutes(31));
        let r = idle.get("/activity?event_type=UserLoggedIn").await;
        assert_eq!(r.status, 303);
        assert_eq!(
            r.location.as_deref(),
            Some("/login?next=%2Factivity%3Fevent_type%3DUserLoggedIn")
        );
        app.shutdown().await;
    }
);

story!(
    dashboards_draw_the_real_numbers_and_hide_staff_from_read_only,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        seed_history(&app).await;
        let admin = Web::login(&app, Role::Admin).await;
        let page = admin.get("/dashboards/sales-ops").await.body;
        assert_eq!(by_id(&page, "emails-today"), "3");
        // Three today, two yesterday, one three days ago.
        let per_day = chart_values(&page, "emails-per-day");
        assert_eq!(per_day.len(), 14);
        assert_eq!(&per_day[10..], ["1", "0", "2", "3"], "{per_day:?}");
        assert_eq!(per_day[..10].iter().filter(|v| *v != "0").count(), 0);
        // 10 decisions, 2 overridden: 80 %.
        assert_eq!(by_id(&page, "accuracy"), "80.0%");
        assert_eq!(
            chart_values(&page, "accuracy-per-week").last().unwrap(),
            "80.0"
        );

        let (status, api) = app.get_json("/api/v1/dashboards/sales-ops").await;
        assert_eq!(status, 200);
        assert_eq!(api["emails_today"], 3);
        assert_eq!(
            api["accuracy"].as_array().unwrap().last().unwrap()["overrides"],
            2
        );

        let owner = admin.get("/dashboards/owner").await.body;
        // Sales: 3 approved, 1 rejected → 75 %; the admin approved one of one.
        let rates = chart_values(&owner, "approval-rate");
        assert_eq!(rates, ["75", "100"], "{owner}");
        assert!(owner.contains(">sales<"), "staff named for Admin");
        assert_eq!(chart_values(&owner, "top-queries"), ["6", "4"]);
        assert_eq!(chart_values(&owner, "ai-drafts"), ["2", "1"]);
        assert_eq!(by_id(&owner, "tally-syncs"), "2 / 1");

        let auditor = Web::login(&app, Role::ReadOnly).await;
        let hidden = auditor.get("/dashboards/owner").await.body;
        assert!(hidden.contains("Staff 1") && hidden.contains("Staff 2"));
        assert!(!hidden.contains(">sales<") && !hidden.contains("sales@test.in"));
        let token = app.token(Role::ReadOnly).await;
        let api: Value = app
            .get_with(&token, "/api/v1/dashboards/owner")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(api["drafts_by_staff"][0]["staff"], "Staff 1");
        app.shutdown().await;
    }
);

story!(
    untrusted_text_is_shown_escaped_everywhere,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let token = app.admin().await;
        let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
        let (s, _) = app
            .post_json(
                &token,
                "/api/v1/companies",
                json!({"name": evil, "pan": "<b>PAN</b>"}),
            )
            .await;
        assert_eq!(s, 201);
        let web = Web::login(&app, Role::Sales).await;
        for path in ["/companies", "/activity"] {
            let body = web.get(path).await.body;
            assert!(!body.contains("<script>alert"), "{path}");
            assert!(!body.contains("<img src=x"), "{path}");
            assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || path == "/activity");
        }
        // A crafted "next" never leads off the site.
        let r = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(app.url("/login?next=https://evil.example/"))
            .send()
            .await
            .unwrap();
        assert!(!r.text().await.unwrap().contains("evil.example"));
        app.shutdown().await;
    }
);

fn zip_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a ZIP");
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().to_owned(), data)
        })
        .collect()
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(pebble_core::audit::sha256(b))
}

fn check_manifest(entries: &[(String, Vec<u8>)]) -> Value {
    let manifest: Value = serde_json::from_slice(
        &entries
            .iter()
            .find(|(n, _)| n == "manifest.json")
            .expect("manifest.json")
            .1,
    )
    .unwrap();
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    for f in files {
        let name = f["name"].as_str().unwrap();
        let (_, data) = entries
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} in the ZIP"));
        assert_eq!(f["sha256"].as_str().unwrap(), sha256_hex(data), "{name}");
        assert_eq!(f["bytes"], data.len());
        if name.ends_with(".csv") {
            let lines = String::from_utf8_lossy(data).lines().count() as u64;
            assert_eq!(lines - 1, f["rows"].as_u64().unwrap(), "{name}");
        }
    }
    assert_eq!(manifest["chain"]["ok"], true);
    manifest
}

fn rows_of(manifest: &Value, name: &str) -> u64 {
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap()["rows"]
        .as_u64()
        .unwrap()
}

story!(
    the_quarterly_export_is_complete_checksummed_and_audited_from_ui_api_and_cli,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        seed_history(&app).await;
        let admin = app.admin().await;
        let (s, _) = app
            .post_json(
                &admin,
                "/api/v1/companies",
                json!({"name": "Bad PAN Traders", "pan": "ABCDE1234Z"}),
            )
            .await;
        assert_eq!(s, 201);

        // UI (Ops).
        let ops = Web::login(&app, Role::Ops).await;
        let page = ops.get("/compliance").await.body;
        assert!(
            page.contains("value=\"2025Q4\" selected"),
            "the previous quarter by default"
        );
        let (status, zip) = ops
            .post_bytes("/compliance/quarterly", &[("quarter", "2026Q1")])
            .await;
        assert_eq!(status, 200);
        let manifest = check_manifest(&zip_entries(&zip));
        assert_eq!(rows_of(&manifest, "ai_decisions.csv"), 10);
        assert_eq!(rows_of(&manifest, "overrides.csv"), 2);
        assert_eq!(rows_of(&manifest, "failed_validations.csv"), 1);
        assert_eq!(manifest["quarter"], "2026Q1");
        assert_eq!(manifest["exported_by"]["name"], "ops@test.in");
        let entries = zip_entries(&zip);
        let overrides = String::from_utf8_lossy(
            &entries
                .iter()
                .find(|(n, _)| n == "overrides.csv")
                .unwrap()
                .1,
        )
        .into_owned();
        assert!(overrides.contains("customer is complaining about a late delivery"));
        let xlsx = &entries
            .iter()
            .find(|(n, _)| n == "overrides.xlsx")
            .unwrap()
            .1;
        let mut book: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.clone())).unwrap();
        use calamine::Reader;
        let sheet = book.worksheet_range("overrides").unwrap();
        assert_eq!(sheet.height(), 3, "header and two overrides");

        // API: Read-Only may not export; Ops may.
        let ro = app.token(Role::ReadOnly).await;
        let r = app
            .get_with(&ro, "/api/v1/reports/quarterly?quarter=2026Q1")
            .await;
        assert_eq!(r.status().as_u16(), 403);
        let ops_token = app.token(Role::Ops).await;
        let bad = app
            .get_with(&ops_token, "/api/v1/reports/quarterly?quarter=2026Q5")
            .await;
        assert_eq!(bad.status().as_u16(), 400);
        let r = app
            .get_with(&ops_token, "/api/v1/reports/quarterly?quarter=2026Q1")
            .await;
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "application/zip");
        check_manifest(&zip_entries(&r.bytes().await.unwrap()));

        // CLI, on the same database.
        let out = tempfile::tempdir().unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_pebble"))
            .args(["report", "quarterly", "--quarter", "2026Q1", "--out"])
            .arg(out.path())
            .env_clear()
            .env("PEBBLE_DATA_DIR", app.db.data_dir())
            .env("PEBBLE_DATABASE_URL", &app.db.url)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(out.path().join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["exported_by"]["actor_id"], "cli");
        for f in manifest["files"].as_array().unwrap() {
            let data = std::fs::read(out.path().join(f["name"].as_str().unwrap())).unwrap();
            assert_eq!(f["sha256"].as_str().unwrap(), sha256_hex(&data));
        }
        assert_eq!(rows_of(&manifest, "ai_decisions.csv"), 10);

        // Each export is on record.
        let (_, page) = app
            .get_json("/api/v1/activity?event_type=DataExported&limit=10")
            .await;
        let quarterly: Vec<&Value> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["payload"]["kind"] == "quarterly_audit")
            .collect();
        assert_eq!(quarterly.len(), 3);
        assert_eq!(quarterly[0]["payload"]["rows"]["overrides"], 2);
        app.shutdown().await;
    }
);

story!(
    a_data_subject_is_exported_then_erased_with_approval_and_the_chain_still_verifies,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let address = "ramesh.sharma@sharmatraders.in";
        let admin = app.admin().await;
        let (_, company) = app
            .post_json(
                &admin,
                "/api/v1/companies",
                json!({"name": "Sharma Traders", "domains": ["sharmatraders.in"]}),
            )
            .await;
        let company_id = company["id"].as_str().unwrap().to_owned();
        let (s, contact) = app
            .post_json(
                &admin,
                "/api/v1/contacts",
                json!({"email": address, "name": "Ramesh Sharma", "phone": "+91 98200 12345", "company_id": company_id}),
            )
            .await;
        assert_eq!(s, 201, "{contact}");
        let contact_id = contact["id"].as_str().unwrap().to_owned();
        let (s, lead) = app
            .post_json(
                &admin,
                "/api/v1/leads",
                json!({"title": "Ramesh Sharma: 200 mtr FR cable", "company_id": company_id, "contact_id": contact_id}),
            )
            .await;
        assert_eq!(s, 201, "{lead}");
        let (s, _) = app
            .post_json(
                &admin,
                "/api/v1/notes",
                json!({"entity_type": "contact", "entity_id": contact_id, "body": "Ramesh prefers calls after 6pm"}),
            )
            .await;
        assert_eq!(s, 201);
        // The address in other events: an email from them, a failed login.
        app.state
            .audit
            .record(&[NewEvent::new(
                EventType::EmailReceived,
                Actor::system("ingest"),
                "email",
                "e1",
                json!({"message_id": "<1@x>", "from": format!("Ramesh Sharma <{address}>"), "subject": "cable", "stream": "sales"}),
                pebble::clock::Clock::now(app.clock.as_ref()),
            )])
            .await
            .unwrap();
        let r = app.login_as(address, "not a password at all").await;
        assert_eq!(r.status().as_u16(), 401);
        // Two real emails from them, one with an attachment; a colleague's
        // email carries the same attachment bytes (content-addressed: shared).
        let ops = app.token(Role::Ops).await;
        let mail = |from: &str, id: &str, attachment: bool| {
            let mut m = format!(
                "From: Sender <{from}>\r\nTo: sales@pebble.example\r\nSubject: Cable rates {id}\r\n\
                 Message-ID: <{id}@sharmatraders.in>\r\nDate: Thu, 15 Jan 2026 09:00:00 +0530\r\nMIME-Version: 1.0\r\n"
            );
            if attachment {
                m.push_str("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
                            Please send rates. Ramesh, 98200 12345\r\n--b\r\nContent-Type: application/pdf\r\n\
                            Content-Disposition: attachment; filename=\"po.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                            JVBERi0xLjQKc2hhcm1hIHRyYWRlcnMgUE8K\r\n--b--\r\n");
            } else {
                m.push_str("Content-Type: text/plain\r\n\r\nFollowing up. Ramesh\r\n");
            }
            m
        };
        let mut email_ids = Vec::new();
        for (from, id, att) in [
            (address, "m1", true),
            (address, "m2", false),
            ("accounts@sharmatraders.in", "m3", true),
        ] {
            let r = app
                .client
                .post(app.url("/api/v1/emails?stream=sales"))
                .bearer_auth(&ops)
                .body(mail(from, id, att))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
            let v: Value = r.json().await.unwrap();
            email_ids.push(v["id"].as_str().unwrap().to_owned());
        }

        // Export (API, Ops): everything, as JSON and CSV, raw mail and attachments.
        let r = app
            .client
            .post(app.url("/api/v1/dsr/export"))
            .bearer_auth(&ops)
            .json(&json!({"email": address}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let entries = zip_entries(&r.bytes().await.unwrap());
        let all: Value =
            serde_json::from_slice(&entries.iter().find(|(n, _)| n == "subject.json").unwrap().1)
                .unwrap();
        assert_eq!(all["contacts"][0]["email"], address);
        assert_eq!(all["companies"][0]["name"], "Sharma Traders");
        assert_eq!(all["leads"].as_array().unwrap().len(), 1);
        assert_eq!(all["notes"][0]["body"], "Ramesh prefers calls after 6pm");
        let kinds: Vec<&str> = all["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        assert!(
            kinds.contains(&"EmailReceived") && kinds.contains(&"LoginFailed"),
            "{kinds:?}"
        );
        for csv in [
            "contacts.csv",
            "leads.csv",
            "notes.csv",
            "events.csv",
            "companies.csv",
            "emails.csv",
            "attachments.csv",
        ] {
            assert!(entries.iter().any(|(n, _)| n == csv), "{csv}");
        }
        assert_eq!(
            all["emails"].as_array().unwrap().len(),
            2,
            "only the subject's mail"
        );
        let raw: Vec<&(String, Vec<u8>)> = entries
            .iter()
            .filter(|(n, _)| n.starts_with("raw/"))
            .collect();
        assert_eq!(raw.len(), 2);
        assert!(String::from_utf8_lossy(&raw[0].1).contains("Message-ID: <m1@sharmatraders.in>"));
        let pdf = entries
            .iter()
            .find(|(n, _)| n.starts_with("attachments/") && n.ends_with("po.pdf"))
            .expect("the attachment");
        assert!(pdf.1.starts_with(b"%PDF"));
        let mut keys: Vec<String> = all["emails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["raw_sha256"].as_str().unwrap().to_owned())
            .collect();
        let attachment_key = all["attachments"][0]["sha256"].as_str().unwrap().to_owned();
        keys.push(attachment_key.clone());
        let objects = app.state.ingest.objects();
        for k in &keys {
            assert!(
                objects.contains(k).unwrap(),
                "{k} stored before the erasure"
            );
        }
        // Company scope, from the UI.
        let ops_web = Web::login(&app, Role::Ops).await;
        let (status, zip) = ops_web
            .post_bytes("/privacy/export", &[("company", &company_id)])
            .await;
        assert_eq!(status, 200);
        let by_company: Value = serde_json::from_slice(
            &zip_entries(&zip)
                .into_iter()
                .find(|(n, _)| n == "subject.json")
                .unwrap()
                .1,
        )
        .unwrap();
        assert_eq!(by_company["contacts"][0]["id"], contact_id.as_str());
        let ro = app.token(Role::ReadOnly).await;
        let r = app
            .client
            .post(app.url("/api/v1/dsr/export"))
            .bearer_auth(&ro)
            .json(&json!({"email": address}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            403,
            "Read-Only exports no personal data"
        );

        // Erasure: Ops requests (in the UI), Ops and Sales cannot approve, Admin does.
        let sales = app.token(Role::Sales).await;
        let (s, _) = app
            .post_json(
                &sales,
                "/api/v1/dsr/erasure",
                json!({"email": address, "reason": "asked"}),
            )
            .await;
        assert_eq!(s, 403);
        let requested = ops_web
            .post(
                "/privacy/erasure",
                &[
                    ("email", address),
                    ("reason", "Emailed us on 3 Jan asking to be forgotten"),
                ],
            )
            .await;
        assert_eq!(
            requested.location.as_deref(),
            Some("/privacy?done=requested")
        );
        let (s, again) = app
            .post_json(
                &ops,
                "/api/v1/dsr/erasure",
                json!({"email": address, "reason": "twice"}),
            )
            .await;
        assert_eq!(s, 409, "{again}");
        let (_, list) = app.get_json("/api/v1/dsr/erasure").await;
        let request = &list[0];
        assert_eq!(request["status"], "pending");
        assert_eq!(request["subject"], address);
        let id = request["id"].as_str().unwrap().to_owned();
        let approve = format!("/api/v1/dsr/erasure/{id}/approve");
        let (s, _) = app.post_json(&ops, &approve, json!({})).await;
        assert_eq!(s, 403);
        let (s, report) = app.post_json(&admin, &approve, json!({})).await;
        assert_eq!(s, 200, "{report}");
        assert_eq!(report["contacts"], 1);
        assert_eq!(report["leads"], 1);
        assert_eq!(report["notes"], 1);
        assert_eq!(report["emails"], 2);
        // Two raw messages; the attachment stays, the colleague's email needs it.
        assert_eq!(report["objects_deleted"], 2, "{report}");
        assert!(report["redacted_events"].as_u64().unwrap() >= 3, "{report}");
        let (s, _) = app.post_json(&admin, &approve, json!({})).await;
        assert_eq!(s, 409, "approved once only");

        // Gone from the database: no row, no readable event mentions the address.
        let subject_only: Vec<String> = keys
            .iter()
            .filter(|k| **k != attachment_key)
            .cloned()
            .collect();
        let traces = pebble::privacy::traces(&app.state.db, objects, address, &subject_only)
            .await
            .unwrap();
        assert!(traces.is_empty(), "{traces:?}");
        assert!(
            objects.contains(&attachment_key).unwrap(),
            "still needed by m3"
        );
        for id in &email_ids[..2] {
            let (s, e) = app.get_json(&format!("/api/v1/emails/{id}")).await;
            assert_eq!(s, 200);
            assert_eq!(e["from"], Value::Null);
            assert_eq!(e["subject"], "(erased)");
            assert_eq!(e["text"], "");
            assert!(!e.to_string().contains("Ramesh"), "{e}");
        }
        let (_, other) = app
            .get_json(&format!("/api/v1/emails/{}", email_ids[2]))
            .await;
        assert_eq!(
            other["from"], "accounts@sharmatraders.in",
            "others' mail untouched"
        );
        for needle in ["Ramesh", "98200", "calls after 6pm"] {
            let (_, contacts) = app.get_json("/api/v1/contacts?limit=200").await;
            assert!(
                !contacts.to_string().contains(needle),
                "{needle} in contacts"
            );
            let (_, leads) = app.get_json("/api/v1/leads?limit=200").await;
            assert!(!leads.to_string().contains(needle), "{needle} in leads");
        }
        let (s, _) = app
            .get_json(&format!("/api/v1/contacts/{contact_id}"))
            .await;
        assert_eq!(s, 404, "the contact is soft-deleted");
        let (_, after) = app.get_json("/api/v1/dsr/erasure").await;
        assert_eq!(after[0]["status"], "erased");
        assert_eq!(after[0]["subject"], Value::Null);
        let (_, trail) = app
            .get_json(&format!(
                "/api/v1/activity?entity=erasure_request:{id}&order=oldest"
            ))
            .await;
        let steps: Vec<&str> = trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            steps,
            [
                "SubjectErasureRequested",
                "SubjectErasureApproved",
                "SubjectErased"
            ]
        );

        // The chain still verifies, through the API and `pebble audit verify`.
        let (_, verify) = app.get_json("/api/v1/activity/verify").await;
        assert_eq!(verify["ok"], true, "{verify}");
        assert!(verify["redacted"].as_i64().unwrap() >= 3);
        let o = Command::new(env!("CARGO_BIN_EXE_pebble"))
            .args(["audit", "verify"])
            .env_clear()
            .env("PEBBLE_DATA_DIR", app.db.data_dir())
            .env("PEBBLE_DATABASE_URL", &app.db.url)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

        // The CLI export now finds nothing personal.
        let out = app.db.data_dir().join("after.zip");
        let o = Command::new(env!("CARGO_BIN_EXE_pebble"))
            .args(["dsr", "export", "--email", address, "--out"])
            .arg(&out)
            .env_clear()
            .env("PEBBLE_DATA_DIR", app.db.data_dir())
            .env("PEBBLE_DATABASE_URL", &app.db.url)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("0 contacts"), "{text}");
        app.shutdown().await;
    }
);

story!(
    a_rejected_erasure_keeps_the_data_and_says_why,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let admin = app.admin().await;
        let (s, _) = app
            .post_json(
                &admin,
                "/api/v1/contacts",
                json!({"email": "keep@example.in", "name": "Keep Me"}),
            )
            .await;
        assert_eq!(s, 201);
        let ops = app.token(Role::Ops).await;
        let (s, r) = app
            .post_json(
                &ops,
                "/api/v1/dsr/erasure",
                json!({"email": "keep@example.in", "reason": "asked"}),
            )
            .await;
        assert_eq!(s, 201);
        let id = r["id"].as_str().unwrap();
        let (s, _) = app
            .post_json(
                &admin,
                &format!("/api/v1/dsr/erasure/{id}/reject"),
                json!({"reason": ""}),
            )
            .await;
        assert_eq!(s, 400, "a rejection needs a reason");
        let web = Web::login(&app, Role::Admin).await;
        let rejected = web
            .post(
                &format!("/privacy/erasure/{id}/reject"),
                &[("reason", "open invoices: legal hold")],
            )
            .await;
        assert_eq!(rejected.location.as_deref(), Some("/privacy?done=rejected"));
        let (_, list) = app.get_json("/api/v1/dsr/erasure").await;
        assert_eq!(list[0]["status"], "rejected");
        assert_eq!(list[0]["outcome"]["reason"], "open invoices: legal hold");
        let (_, contacts) = app.get_json("/api/v1/contacts?q=keep").await;
        assert_eq!(contacts["items"].as_array().unwrap().len(), 1);
        let (s, _) = app
            .post_json(
                &admin,
                &format!("/api/v1/dsr/erasure/{id}/approve"),
                json!({}),
            )
            .await;
        assert_eq!(s, 409);
        app.shutdown().await;
    }
);

story!(
    the_inbox_lists_mail_by_stream_and_shows_hostile_mail_inert,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let ops = app.token(Role::Ops).await;
        let mut ids = Vec::new();
        for (n, stream) in ["sales", "support", "sales"].iter().enumerate() {
            let r = app
                .client
                .post(app.url(&format!("/api/v1/emails?stream={stream}")))
                .bearer_auth(&ops)
                .body(hostile_email(&format!("h{n}"), stream))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
            let v: Value = r.json().await.unwrap();
            ids.push(v["id"].as_str().unwrap().to_owned());
        }
        let sales = Web::login(&app, Role::Sales).await;
        let all = sales.get("/").await;
        assert_eq!(all.status, 200);
        assert_eq!(all.body.matches("href=\"/emails/").count(), 3);
        let support = sales.get("/?stream=support").await.body;
        assert_eq!(support.matches("href=\"/emails/").count(), 1);
        assert!(support.contains(&format!("/emails/{}", ids[1])));
        assert_eq!(sales.get("/?stream=nonsense").await.status, 400);
        let none = sales.get("/?from=nobody%40example.in").await.body;
        assert!(none.contains("No emails here."));

        let page = sales.get(&format!("/emails/{}", ids[0])).await;
        assert_eq!(page.status, 200);
        let body = &page.body;
        assert!(!body.contains("<script>window"), "scripts are escaped");
        assert!(body.contains("&lt;script&gt;window.__xss=2&lt;/script&gt;"));
        let html_part = body.split("id=\"email-html\"").nth(1).unwrap();
        let html_part = &html_part[..html_part.find("</details>").unwrap()];
        for gone in [
            "onerror",
            "onload",
            "javascript:",
            "<style",
            "style=",
            "<iframe",
            "<form",
            "<img",
            "<svg",
        ] {
            assert!(
                !html_part.contains(gone),
                "{gone} survived sanitising: {html_part}"
            );
        }
        assert!(html_part.contains("<b>bold stays</b>"));
        assert!(page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        // Attachments download (never render) for staff; not for Read-Only.
        let att = sales
            .get(&format!("/emails/{}/attachments/0", ids[0]))
            .await;
        assert_eq!(att.status, 200);
        assert_eq!(att.headers["content-type"], "application/octet-stream");
        assert!(att.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"));
        let auditor = Web::login(&app, Role::ReadOnly).await;
        assert_eq!(
            auditor.get(&format!("/emails/{}", ids[0])).await.status,
            200
        );
        assert_eq!(
            auditor
                .get(&format!("/emails/{}/attachments/0", ids[0]))
                .await
                .status,
            403
        );
        assert_eq!(sales.get("/emails/no-such-email").await.status, 404);
        app.shutdown().await;
    }
);

story!(
    a_classification_is_overridden_with_a_reason_and_a_draft_approved_after_editing,
    |b: Backend| async move {
        let Some((app, _sim)) = common::drafting::app(b, |s| s.pipeline_workers = 0).await else {
            return;
        };
        let first = common::drafting::post_price_request(&app, "ui-1@sharma-traders.in").await;
        let second = common::drafting::post_price_request(&app, "ui-2@sharma-traders.in").await;
        app.state.pipeline.drain(50).await.unwrap();
        let sales = Web::login(&app, Role::Sales).await;

        // The inbox shows each email's intent and confidence.
        let inbox = sales.get("/").await.body;
        assert!(inbox.contains("Product inquiry"), "{inbox}");

        // The email's page: the classification, its evidence, the override form.
        let page = sales.get(&format!("/emails/{first}")).await;
        assert_eq!(page.status, 200);
        assert_eq!(by_id(&page.body, "intent"), "Product inquiry");
        assert!(page.body.contains("id=\"evidence\""));
        assert!(page.body.contains("id=\"override\""));
        let read_only = Web::login(&app, Role::ReadOnly).await;
        let seen = read_only.get(&format!("/emails/{first}")).await.body;
        assert!(seen.contains("id=\"classification\"") && !seen.contains("id=\"override\""));

        // An override needs a justification; with one it stands and is listed.
        let path = format!("/emails/{first}/override");
        let refused = sales
            .post(
                &path,
                &[("intent", "purchase_order"), ("justification", "  ")],
            )
            .await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.body.contains("justification"), "{}", refused.body);
        let done = sales
            .post(
                &path,
                &[
                    ("intent", "purchase_order"),
                    ("justification", "They attached a PO number"),
                ],
            )
            .await;
        assert_eq!(done.status, 303);
        assert_eq!(
            done.location.as_deref(),
            Some(format!("/emails/{first}?done=overridden").as_str())
        );
        let after = sales.get(done.location.as_deref().unwrap()).await.body;
        assert_eq!(by_id(&after, "intent"), "Purchase order");
        assert!(after.contains("They attached a PO number"));
        assert!(after.contains("Classification changed"));
        let (_, decision) = app
            .get_json(&format!("/api/v1/classifications/{first}"))
            .await;
        assert_eq!(decision["intent"], "purchase_order");
        assert_eq!(decision["overridden"], true);
        assert_eq!(
            decision["overrides"][0]["justification"],
            "They attached a PO number"
        );

        // The inbox and the API filter by the intent that stands now.
        let orders = sales.get("/?intent=purchase_order").await.body;
        assert!(
            orders.contains(&format!("/emails/{first}"))
                && !orders.contains(&format!("/emails/{second}"))
        );
        assert_eq!(sales.get("/?intent=orders").await.status, 400);
        let (_, api) = app.get_json("/api/v1/emails?intent=product_inquiry").await;
        let ids: Vec<&str> = api["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [second.as_str()]);

        // Confirming the other one from its page takes it out of review.
        let confirmed = sales.post(&format!("/emails/{second}/confirm"), &[]).await;
        assert_eq!(confirmed.status, 303);
        let (_, decision) = app
            .get_json(&format!("/api/v1/classifications/{second}"))
            .await;
        assert!(decision["reviewed_at"].is_string(), "{decision}");

        // The review queue: two drafts waiting; the email and the reply side by side.
        let queue = sales.get("/drafts").await.body;
        let (_, api) = app.get_json("/api/v1/drafts?status=pending").await;
        let drafts: Vec<String> = api["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(drafts.len(), 2, "{api}");
        for d in &drafts {
            assert!(queue.contains(&format!("/drafts/{d}")), "{queue}");
        }
        let draft_page = sales.get(&format!("/drafts/{}", drafts[0])).await.body;
        assert!(draft_page.contains("id=\"email-text\""));
        assert!(draft_page.contains("id=\"approve\"") && draft_page.contains("id=\"reject\""));
        assert!(
            draft_page.contains("Tally (live)"),
            "the facts name their source"
        );
        let generated = api["items"][0]["text"].as_str().unwrap().to_owned();
        // A browser sends a textarea's lines with CRLF.
        let edited = format!("{}\nPS: we can deliver on Saturday.", generated.trim_end())
            .replace('\n', "\r\n");
        let approved = sales
            .post(
                &format!("/drafts/{}/approve", drafts[0]),
                &[("text", edited.as_str())],
            )
            .await;
        assert_eq!(approved.status, 303, "{}", approved.body);
        let shown = sales.get(approved.location.as_deref().unwrap()).await.body;
        assert!(shown.contains("Approved; the reply is queued"));
        assert!(
            !shown.contains("id=\"approve\""),
            "an approved draft has no form"
        );
        let (_, d) = app.get_json(&format!("/api/v1/drafts/{}", drafts[0])).await;
        assert_eq!(d["status"], "approved");
        assert_eq!(
            d["approved_text"].as_str().unwrap().trim_end(),
            format!("{}\nPS: we can deliver on Saturday.", generated.trim_end())
        );
        assert_eq!(d["edits_made"]["edited"], true);
        assert_eq!(d["edits_made"]["lines_added"], 1);
        assert!(d["edits"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("+PS: we can deliver on Saturday."));

        // Rejecting needs a reason.
        let reject = format!("/drafts/{}/reject", drafts[1]);
        assert_eq!(sales.post(&reject, &[("reason", "")]).await.status, 400);
        let rejected = sales
            .post(&reject, &[("reason", "Customer called instead")])
            .await;
        assert_eq!(rejected.status, 303);
        let (_, d) = app.get_json(&format!("/api/v1/drafts/{}", drafts[1])).await;
        assert_eq!(d["status"], "rejected");
        assert_eq!(d["reject_reason"], "Customer called instead");
        // A second review of the same draft is refused, plainly.
        let again = sales.post(&reject, &[("reason", "twice")]).await;
        assert_eq!(again.status, 409);
        app.shutdown().await;
    }
);

story!(
    admin_pages_show_the_model_registry_mailboxes_and_backups,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let admin = Web::login(&app, Role::Admin).await;
        let ops = Web::login(&app, Role::Ops).await;
        assert_eq!(
            admin.get("/admin").await.location.as_deref(),
            Some("/admin/users")
        );
        assert_eq!(
            ops.get("/admin").await.location.as_deref(),
            Some("/admin/models")
        );

        // Registry: the shipped model serves; Ops may retrain but not promote.
        let page = ops.get("/admin/models").await.body;
        assert!(page.contains("id=\"serving\""), "{page}");
        assert!(page.contains("action=\"/admin/models/train\""));
        assert!(!page.contains("/promote\""));
        let trained = ops.post("/admin/models/train", &[]).await;
        assert_eq!(trained.status, 303, "{}", trained.body);
        let (_, reg) = app.get_json("/api/v1/models").await;
        let version = reg["models"][0]["version"].as_str().unwrap().to_owned();
        let page = admin.get("/admin/models").await.body;
        assert!(
            page.contains(&format!("/admin/models/{version}/promote")),
            "{page}"
        );
        assert_eq!(
            ops.post(&format!("/admin/models/{version}/promote"), &[])
                .await
                .status,
            403
        );

        // Reply templates: Admin edits, a bare number is refused, restore brings the built-in back.
        assert!(!ops
            .get("/admin/templates")
            .await
            .body
            .contains("action=\"/admin/templates/complaint\""));
        let page = admin.get("/admin/templates").await.body;
        assert!(
            page.contains("action=\"/admin/templates/complaint\""),
            "{page}"
        );
        let unsourced = admin
            .post(
                "/admin/templates/complaint",
                &[(
                    "body",
                    "{{greeting}}\r\nWe will call within 2 days.\r\n{{signature}}",
                )],
            )
            .await;
        assert_eq!(
            unsourced.status, 400,
            "a digit outside a placeholder: {}",
            unsourced.body
        );
        let saved = admin
            .post(
                "/admin/templates/complaint",
                &[(
                    "body",
                    "{{greeting}}\r\nWe are sorry, and will call you soon.\r\n{{signature}}",
                )],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let (_, all) = app.get_json("/api/v1/drafts/templates").await;
        let complaint = all
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == "complaint")
            .unwrap()
            .clone();
        assert_eq!(complaint["builtin"], false);
        assert_eq!(
            complaint["body"],
            "{{greeting}}\nWe are sorry, and will call you soon.\n{{signature}}"
        );
        assert_eq!(
            admin
                .post("/admin/templates/complaint/restore", &[])
                .await
                .status,
            303
        );
        let (_, all) = app.get_json("/api/v1/drafts/templates").await;
        assert!(all
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["key"] == "complaint" && t["builtin"] == true));

        // Mailboxes: a bad port is named; a good mailbox is listed and in the API.
        let mut form = vec![
            ("name", "sales-box"),
            ("stream", "sales"),
            ("host", "imap.example.in"),
            ("port", "99999"),
            ("tls", "on"),
            ("username", "sales@example.in"),
            ("password_env", "PEBBLE_IMAP_SALES_PASSWORD"),
            ("folder", "INBOX"),
        ];
        let bad = ops.post("/admin/mailboxes", &form).await;
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("port"));
        form[3] = ("port", "993");
        assert_eq!(ops.post("/admin/mailboxes", &form).await.status, 303);
        let page = ops.get("/admin/mailboxes").await.body;
        assert!(
            page.contains("sales-box") && page.contains("disabled"),
            "unticked means disabled: {page}"
        );
        let (_, boxes) = app.get_json("/api/v1/mailboxes").await;
        assert_eq!(boxes[0]["name"], "sales-box");
        assert_eq!(boxes[0]["enabled"], false);

        // Backups: started from the page, it finishes and can be verified.
        let started = ops.post("/admin/backups", &[("kind", "full")]).await;
        assert_eq!(started.status, 303, "{}", started.body);
        let mut row = Value::Null;
        for _ in 0..300 {
            let (_, list) = app.get_json("/api/v1/backups").await;
            row = list[0].clone();
            if row["status"] != "running" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(row["status"], "created", "{row}");
        let id = row["id"].as_str().unwrap().to_owned();
        let page = ops.get("/admin/backups").await.body;
        assert!(
            page.contains(&format!("/admin/backups/{id}/verify")),
            "{page}"
        );
        assert_eq!(
            ops.post(&format!("/admin/backups/{id}/verify"), &[])
                .await
                .status,
            303
        );
        for _ in 0..300 {
            let (_, b) = app.get_json(&format!("/api/v1/backups/{id}")).await;
            row = b;
            if !row["verify_ok"].is_null() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(row["verify_ok"], true, "{row}");
        app.shutdown().await;
    }
);
