//! The web UI in real headless Chromium (WebDriver through chromedriver):
//! each role signs in and sees what it may, a dashboard chart shows the real
//! numbers, the quarterly export downloads, untrusted text stays inert, the
//! keyboard reaches everything with a visible focus, and pages fit a laptop
//! and a phone. Screenshots of the main pages land in `target/screenshots/`.
//!
//! Browsers are heavy on a 2-core machine: the tests take turns.

mod common;

use std::io::Read;
use std::time::Duration;

use common::browser::Browser;
use common::seed::{hostile_email, seed_history};
use common::{spawn_app, Backend, TestApp, PASSWORD};
use pebble_core::access::Role;
use serde_json::{json, Value};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const LAPTOP: (u32, u32) = (1366, 768);
const PHONE: (u32, u32) = (390, 844);

fn email(role: Role) -> String {
    format!("{}@test.in", role.as_str().replace('_', "-"))
}

async fn app_and_browser(size: (u32, u32)) -> Option<(TestApp, Browser)> {
    let browser = Browser::start(size.0, size.1).await?;
    let app = spawn_app(Backend::Sqlite).await?;
    Some((app, browser))
}

fn base(app: &TestApp) -> String {
    format!("http://{}", app.addr)
}

/// Whether the page is wider than the window (a horizontal scroll bar).
async fn overflows(b: &Browser) -> bool {
    b.eval("return document.documentElement.scrollWidth > window.innerWidth + 1;")
        .await
        == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_signs_in_and_sees_only_what_it_may() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some((app, b)) = app_and_browser(LAPTOP).await else {
        return;
    };
    seed_history(&app).await;
    let base = base(&app);
    b.goto(&format!("{base}/")).await;
    assert!(
        b.current_url().await.ends_with("/login"),
        "signed out → login"
    );
    b.screenshot("login").await;
    for (role, sees, not) in [
        (
            Role::Admin,
            &["Admin", "Privacy", "Compliance", "Owner", "Drafts"][..],
            &[][..],
        ),
        (
            Role::Ops,
            &["Admin", "Privacy", "Compliance", "Sales Ops"],
            &[],
        ),
        (
            Role::Sales,
            &["Leads", "Companies", "Stock", "Review", "Drafts"],
            &["Admin", "Privacy", "Compliance"],
        ),
        (
            Role::ReadOnly,
            &["Sales Ops", "Owner", "Activity"],
            &["Admin", "Privacy", "Compliance"],
        ),
    ] {
        b.login(&base, &email(role), PASSWORD).await;
        let nav = b.text("nav.main").await;
        for item in sees {
            assert!(nav.contains(item), "{role} should see {item}: {nav}");
        }
        for item in not {
            assert!(!nav.contains(item), "{role} should not see {item}: {nav}");
        }
        assert!(b.text("header .who").await.contains(role.as_str()));
        b.screenshot(&format!("home-{}", role.as_str())).await;
        if role != Role::Admin {
            b.goto(&format!("{base}/admin/users")).await;
            assert_eq!(b.text("h1").await, "Not for your role");
        }
        b.goto(&format!("{base}/")).await;
        b.logout().await;
    }
    // Admin pages, each screenshotted at laptop size, none wider than the window.
    b.login(&base, &email(Role::Admin), PASSWORD).await;
    for (path, name) in [
        ("/dashboards/sales-ops", "sales-ops"),
        ("/dashboards/owner", "owner"),
        ("/leads", "leads"),
        ("/companies", "companies"),
        ("/stock?q=cable", "stock"),
        ("/activity", "activity"),
        ("/compliance", "compliance"),
        ("/privacy", "privacy"),
        ("/admin/users", "users"),
        ("/admin/models", "models"),
        ("/admin/mailboxes", "mailboxes"),
        ("/admin/backups", "backups"),
        ("/review", "review"),
        ("/drafts", "drafts-empty"),
    ] {
        b.goto(&format!("{base}{path}")).await;
        assert!(!overflows(&b).await, "{path} overflows 1366×768");
        b.screenshot(name).await;
    }
    b.logout().await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_chart_shows_the_real_numbers_on_a_laptop_and_a_phone() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some((app, b)) = app_and_browser(LAPTOP).await else {
        return;
    };
    seed_history(&app).await;
    let base = base(&app);
    b.login(&base, &email(Role::ReadOnly), PASSWORD).await;
    b.goto(&format!("{base}/dashboards/sales-ops")).await;
    let values = b
        .eval(
            "return Array.from(document.querySelectorAll('svg[data-chart=\"emails-per-day\"] rect'))\
             .map(r => [r.getAttribute('data-value'), r.getBoundingClientRect().height]);",
        )
        .await;
    let bars = values.as_array().unwrap();
    assert_eq!(bars.len(), 14);
    let last: Vec<(String, f64)> = bars[10..]
        .iter()
        .map(|v| (v[0].as_str().unwrap().to_owned(), v[1].as_f64().unwrap()))
        .collect();
    assert_eq!(
        last.iter().map(|v| v.0.as_str()).collect::<Vec<_>>(),
        ["1", "0", "2", "3"]
    );
    // Drawn to scale: today's bar (3) is three times the 1-email day's.
    assert!(
        last[3].1 > 0.0 && (last[3].1 / last[0].1 - 3.0).abs() < 0.05,
        "{last:?}"
    );
    assert_eq!(b.text("#emails-today").await, "3");
    assert_eq!(b.text("#accuracy").await, "80.0%");
    b.screenshot("sales-ops-read-only").await;
    b.goto(&format!("{base}/dashboards/owner")).await;
    let owner = b.text("main").await;
    assert!(owner.contains("Staff 1"), "Read-Only sees staff unnamed");
    assert!(!owner.contains("sales@test.in"));

    b.set_size(PHONE.0, PHONE.1).await;
    for (path, name) in [
        ("/dashboards/sales-ops", "sales-ops-phone"),
        ("/dashboards/owner", "owner-phone"),
        ("/leads", "leads-phone"),
    ] {
        b.goto(&format!("{base}{path}")).await;
        assert!(!overflows(&b).await, "{path} overflows a phone");
        b.screenshot(name).await;
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quarterly_export_downloads_as_a_zip_with_its_manifest() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some((app, b)) = app_and_browser(LAPTOP).await else {
        return;
    };
    seed_history(&app).await;
    let base = base(&app);
    b.login(&base, &email(Role::Ops), PASSWORD).await;
    b.goto(&format!("{base}/compliance")).await;
    b.eval("document.querySelector('#quarter').value = '2026Q1';")
        .await;
    b.click("main form button[type=submit]").await;
    let mut zip = None;
    for _ in 0..100 {
        let files: Vec<std::path::PathBuf> = std::fs::read_dir(b.downloads.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        // Done when Chromium's partial file is gone and the ZIP has its end record.
        let partial = files
            .iter()
            .any(|p| p.extension().is_some_and(|x| x == "crdownload"));
        zip = files
            .into_iter()
            .find(|p| p.extension().is_some_and(|x| x == "zip"))
            .filter(|p| !partial && zip::ZipArchive::new(std::fs::File::open(p).unwrap()).is_ok());
        if zip.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let zip = zip.expect("the ZIP downloaded");
    assert!(zip
        .file_name()
        .unwrap()
        .to_string_lossy()
        .contains("2026Q1"));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut manifest = String::new();
    archive
        .by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    let manifest: Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(manifest["chain"]["ok"], true);
    assert_eq!(manifest["exported_by"]["name"], "ops@test.in");
    assert_eq!(archive.len(), 7);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_text_stays_inert_and_the_keyboard_reaches_everything() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some((app, b)) = app_and_browser(LAPTOP).await else {
        return;
    };
    let token = app.admin().await;
    let payloads = [
        "<script>window.__xss = 1</script>",
        "<img src=x onerror=\"window.__xss = 2\">",
        "<a href=\"javascript:window.__xss = 3\">click</a>",
        "<style>body{display:none}</style>",
    ];
    for p in payloads {
        let (s, _) = app
            .post_json(&token, "/api/v1/companies", json!({"name": p}))
            .await;
        assert_eq!(s, 201);
    }
    let long = "x".repeat(2000);
    let (s, _) = app
        .post_json(
            &token,
            "/api/v1/companies",
            json!({"name": "Huge line", "address": long}),
        )
        .await;
    assert_eq!(s, 201);
    let base = base(&app);
    b.login(&base, &email(Role::Sales), PASSWORD).await;
    b.goto(&format!("{base}/companies")).await;
    let table = b.text("#companies").await;
    for p in payloads {
        assert!(table.contains(p), "shown as text: {p}");
    }
    assert_eq!(
        b.eval("return window.__xss === undefined;").await,
        json!(true)
    );
    assert_eq!(
        b.eval("return document.querySelectorAll('#companies script, #companies img, #companies style, #companies a[href^=javascript]').length;")
            .await,
        json!(0)
    );
    assert_eq!(
        b.eval("return getComputedStyle(document.body).display;")
            .await,
        json!("block")
    );
    // Click every link in the table: none runs anything.
    b.eval("document.querySelectorAll('#companies a').forEach(a => { if (!a.href.startsWith('http')) a.click(); });")
        .await;
    assert_eq!(
        b.eval("return window.__xss === undefined;").await,
        json!(true)
    );
    b.screenshot("companies-xss").await;
    // The huge line wraps inside the page.
    let id = b
        .eval("return Array.from(document.querySelectorAll('#companies a')).find(a => a.textContent === 'Huge line').getAttribute('href');")
        .await;
    b.goto(&format!("{base}{}", id.as_str().unwrap())).await;
    assert!(
        !overflows(&b).await,
        "a 2,000-character line stays inside the page"
    );

    // A hostile email: its text, its sanitised HTML (opened), its subject.
    let ops = app.token(Role::Ops).await;
    let r = app
        .client
        .post(app.url("/api/v1/emails?stream=sales"))
        .bearer_auth(&ops)
        .body(hostile_email("x1", "sales"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    b.goto(&format!("{base}/")).await;
    assert!(b
        .text("#inbox")
        .await
        .contains("<script>window.__xss=1</script> urgent x1"));
    b.goto(&format!("{base}/emails/{id}")).await;
    b.click("details summary").await;
    assert_eq!(
        b.eval("return window.__xss === undefined;").await,
        json!(true)
    );
    assert!(b
        .text("#email-text")
        .await
        .starts_with("<script>window.__xss=2</script> plain part"));
    assert_eq!(b.text("#email-html b").await, "bold stays");
    let live = b
        .eval(
            "return Array.from(document.querySelectorAll('#email-html *')).filter(e => \
               Array.from(e.attributes).some(a => a.name.startsWith('on') || a.name === 'style' || \
               (a.value || '').toLowerCase().includes('javascript:')) || \
               ['SCRIPT','STYLE','IFRAME','FORM','IMG','SVG','svg'].includes(e.tagName)).length;",
        )
        .await;
    assert_eq!(live, json!(0));
    assert_eq!(
        b.eval("return getComputedStyle(document.body).display;")
            .await,
        json!("block")
    );
    assert!(!overflows(&b).await, "a 20,000-character line wraps");
    b.screenshot("email-hostile").await;

    // Keyboard: the first Tab lands on the skip link, with a visible ring.
    b.goto(&format!("{base}/leads")).await;
    b.keys("\u{E004}").await;
    let focused = b
        .eval("const e = document.activeElement; const s = getComputedStyle(e); return [e.className, e.textContent, s.outlineStyle, s.outlineWidth];")
        .await;
    assert_eq!(focused[0], "skip");
    assert_eq!(focused[1], "Skip to content");
    assert_ne!(focused[2], "none", "visible focus: {focused}");
    b.screenshot("focus-skip-link").await;
    b.keys("\u{E007}").await;
    assert_eq!(
        b.eval("return document.activeElement.id;").await,
        json!("main")
    );
    // Every form control has a label.
    for path in ["/leads", "/companies", "/activity", "/stock"] {
        b.goto(&format!("{base}{path}")).await;
        let unlabelled = b
            .eval("return Array.from(document.querySelectorAll('main input:not([type=hidden]), main select, main textarea'))\
                   .filter(e => !(e.labels && e.labels.length)).map(e => e.name);")
            .await;
        assert_eq!(unlabelled, json!([]), "{path}");
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_overrides_a_classification_and_approves_an_edited_draft() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let Some(b) = Browser::start(LAPTOP.0, LAPTOP.1).await else {
        return;
    };
    let Some((app, _sim)) =
        common::drafting::app(Backend::Sqlite, |s| s.pipeline_workers = 0).await
    else {
        return;
    };
    let id = common::drafting::post_price_request(&app, "browser-1@sharma-traders.in").await;
    app.state.pipeline.drain(20).await.unwrap();
    let base = base(&app);
    b.login(&base, &email(Role::Sales), PASSWORD).await;

    // Triage: from the inbox to the email, its classification, an override.
    b.goto(&format!("{base}/")).await;
    assert!(b.text("#inbox").await.contains("Product inquiry"));
    b.click("#inbox a").await;
    b.wait_for(|u| u.contains("/emails/"), "the email's page")
        .await;
    assert_eq!(b.text("#intent").await, "Product inquiry");
    b.eval("document.querySelector('#override-intent').value = 'purchase_order';")
        .await;
    b.type_into("#justification", "The customer quotes PO 4471")
        .await;
    b.click("#override button[type=submit]").await;
    b.wait_for(|u| u.contains("done=overridden"), "the override saved")
        .await;
    assert_eq!(b.text("#intent").await, "Purchase order");
    assert!(b.text("#overrides").await.contains("PO 4471"));
    b.screenshot("email-overridden").await;

    // Review: the email and the draft side by side; edit, then approve.
    b.goto(&format!("{base}/drafts")).await;
    b.screenshot("drafts").await;
    b.click("#drafts a").await;
    b.wait_for(|u| u.contains("/drafts/"), "the draft's page")
        .await;
    let tops = b
        .eval("return ['email-h', 'reply-h'].map(i => Math.round(document.getElementById(i).getBoundingClientRect().top));")
        .await;
    assert_eq!(tops[0], tops[1], "side by side at 1366×768: {tops}");
    assert!(!overflows(&b).await);
    b.screenshot("draft-review").await;
    b.eval("const t = document.querySelector('#draft-text'); t.focus(); t.setSelectionRange(t.value.length, t.value.length);")
        .await;
    b.keys("\u{E007}PS: Saturday delivery is possible.").await;
    b.click("#approve button[type=submit]").await;
    b.wait_for(|u| u.contains("done=approved"), "the approval")
        .await;
    assert_eq!(b.text("#draft-status").await, "approved");
    let (_, page) = app.get_json(&format!("/api/v1/drafts?email={id}")).await;
    let d = &page["items"][0];
    assert_eq!(d["status"], "approved");
    assert_eq!(d["edits_made"]["edited"], true, "{d}");
    let text = d["approved_text"].as_str().unwrap();
    assert!(
        text.trim_end()
            .ends_with("\nPS: Saturday delivery is possible."),
        "{text}"
    );
    assert!(!text.contains('\r'), "stored with LF line ends");
    b.screenshot("draft-approved").await;

    // Every control labelled; nothing wider than a phone.
    for path in ["/drafts", &format!("/emails/{id}"), "/review"] {
        b.goto(&format!("{base}{path}")).await;
        let unlabelled = b
            .eval("return Array.from(document.querySelectorAll('main input:not([type=hidden]), main select, main textarea'))\
                   .filter(e => !(e.labels && e.labels.length)).map(e => e.name);")
            .await;
        assert_eq!(unlabelled, json!([]), "{path}");
    }
    b.set_size(PHONE.0, PHONE.1).await;
    for path in ["/drafts", &format!("/emails/{id}")] {
        b.goto(&format!("{base}{path}")).await;
        assert!(!overflows(&b).await, "{path} overflows a phone");
    }
    app.shutdown().await;
}
