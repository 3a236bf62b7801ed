//! Accounts, sessions, tokens, roles, rate limits and edge hygiene, through
//! the real server.

mod common;

use chrono::Duration;
use common::{spawn_app, spawn_app_with, spawn_on, Backend, TestApp, PASSWORD};
use pebble::http::guard::{is_api, rule, Access, RULES};
use pebble_core::access::Role;
use reqwest::Method;
use serde_json::json;

async fn tokens(app: &TestApp, email: &str) -> serde_json::Value {
    let r = app.login_as(email, PASSWORD).await;
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

async fn status_with(app: &TestApp, token: &str, path: &str) -> u16 {
    app.get_with(token, path).await.status().as_u16()
}

async fn refresh(app: &TestApp, refresh_token: &str) -> (u16, serde_json::Value) {
    let r = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": refresh_token}))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or_default())
}

async fn events(app: &TestApp, event_type: &str) -> Vec<serde_json::Value> {
    let (_, page) = app
        .get_json(&format!(
            "/api/v1/activity?order=oldest&limit=1000&event_type={event_type}"
        ))
        .await;
    page["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn the_rbac_table_and_the_openapi_document_list_the_same_routes() {
    let api = pebble::http::openapi();
    let mut documented = Vec::new();
    for (path, item) in &api.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ] {
            let Some(op) = op else { continue };
            documented.push((method.to_owned(), path.clone()));
            let access = rule(&method.parse().unwrap(), path)
                .unwrap_or_else(|| panic!("no RBAC rule for {method} {path}"));
            let security = op
                .security
                .as_ref()
                .expect("every operation states its security");
            let wants_bearer = security
                .iter()
                .any(|s| serde_json::to_string(s).unwrap().contains("bearer"));
            assert_eq!(
                wants_bearer,
                matches!(access, Access::Roles(_)),
                "{method} {path}: documented security differs from the rule"
            );
        }
    }
    documented.push(("GET".into(), "/api/v1/openapi.json".into()));
    documented.sort();
    let mut ruled: Vec<_> = RULES
        .iter()
        .filter(|(_, p, _)| is_api(p))
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    ruled.sort();
    assert_eq!(documented, ruled);
}

story!(
    every_route_answers_every_role_as_the_table_says,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let mut tokens = Vec::new();
        for role in Role::ALL {
            tokens.push((role, app.token(role).await));
        }
        for (method, path, access) in RULES.iter().filter(|(_, p, _)| is_api(p)) {
            let url = app.url(&path.replace("{seq}", "1").replace("{id}", "no-such-user"));
            let method: Method = method.parse().unwrap();
            let anonymous = app
                .client
                .request(method.clone(), &url)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            match access {
                Access::Public => assert_ne!(anonymous.status().as_u16(), 401, "{method} {path}"),
                Access::Roles(_) | Access::Page(_) => assert_eq!(
                    anonymous.status().as_u16(),
                    401,
                    "{method} {path} without a token"
                ),
            }
            if path.ends_with("/logout") {
                continue; // would end the session the next rows use
            }
            for (role, token) in &tokens {
                let r = app
                    .client
                    .request(method.clone(), &url)
                    .bearer_auth(token)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                let allowed = match access {
                    Access::Public => true,
                    Access::Roles(roles) | Access::Page(roles) => roles.contains(role),
                };
                let status = r.status().as_u16();
                assert_eq!(
                    status == 403,
                    !allowed,
                    "{method} {path} as {role}: {status}"
                );
                assert_ne!(status, 401, "{method} {path} as {role}");
                assert!(status < 500, "{method} {path} as {role}: {status}");
            }
        }
        app.shutdown().await;
    }
);

story!(
    login_issues_tokens_and_records_the_outcome,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let t = tokens(&app, "Sales@Test.in ").await;
        assert_eq!(t["token_type"], "Bearer");
        assert!(t["expires_in"].as_i64().unwrap() <= 900);
        let r = app
            .get_with(t["access_token"].as_str().unwrap(), "/api/v1/auth/me")
            .await;
        let me: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            (me["email"].as_str(), me["role"].as_str()),
            (Some("sales@test.in"), Some("sales"))
        );

        for (email, password) in [
            ("sales@test.in", "wrong password!!"),
            ("nobody@test.in", PASSWORD),
            ("", ""),
            ("' or 1=1 --", "x"),
        ] {
            let r = app.login_as(email, password).await;
            assert_eq!(r.status().as_u16(), 401, "{email}");
            assert_eq!(r.headers()["content-type"], "application/problem+json");
        }
        let logged_in = events(&app, "UserLoggedIn").await;
        assert!(logged_in
            .iter()
            .any(|e| e["payload"]["email"] == "sales@test.in" && e["actor_kind"] == "user"));
        let failed = events(&app, "LoginFailed").await;
        assert_eq!(failed.len(), 4);
        assert_eq!(failed[0]["payload"]["attempted_login"], "sales@test.in");
        assert_eq!(failed[0]["payload"]["ip"], "127.0.0.1");
        assert!(
            failed
                .iter()
                .all(|e| !e["payload"].to_string().contains("wrong password")),
            "passwords are never recorded"
        );
        app.shutdown().await;
    }
);

story!(
    an_access_token_expires_and_a_refresh_rotates_the_refresh_token,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let t = tokens(&app, "ops@test.in").await;
        let access = t["access_token"].as_str().unwrap();
        app.clock.advance(Duration::minutes(9));
        assert_eq!(status_with(&app, access, "/api/v1/auth/me").await, 200);
        app.clock.advance(Duration::minutes(2));
        assert_eq!(
            status_with(&app, access, "/api/v1/auth/me").await,
            401,
            "expired after 10 minutes"
        );

        let (s, fresh) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
        assert_eq!(s, 200);
        assert_eq!(
            status_with(
                &app,
                fresh["access_token"].as_str().unwrap(),
                "/api/v1/auth/me"
            )
            .await,
            200
        );
        let (s, _) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
        assert_eq!(s, 401, "a used refresh token is dead");
        let (s, _) = refresh(&app, "not-a-token").await;
        assert_eq!(s, 401);
        app.shutdown().await;
    }
);

story!(
    a_session_unused_for_thirty_minutes_is_dead_and_recorded,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        // Kept alive by use: 45 minutes of activity every 9 minutes.
        let mut t = tokens(&app, "sales@test.in").await;
        for _ in 0..5 {
            app.clock.advance(Duration::minutes(9));
            let (s, next) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
            assert_eq!(s, 200);
            assert_eq!(
                status_with(
                    &app,
                    next["access_token"].as_str().unwrap(),
                    "/api/v1/auth/me"
                )
                .await,
                200
            );
            t = next;
        }
        // Then left alone for 31 minutes.
        app.clock.advance(Duration::minutes(31));
        let (s, _) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
        assert_eq!(s, 401);
        let expired = events(&app, "SessionExpired").await;
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0]["payload"]["reason"], "idle");
        app.shutdown().await;
    }
);

story!(
    a_session_also_ends_at_its_absolute_lifetime,
    |b: Backend| async move {
        let Some(app) = spawn_app_with(b, |s| s.session_max_secs = 3600).await else {
            return;
        };
        let mut t = tokens(&app, "sales@test.in").await;
        for _ in 0..6 {
            app.clock.advance(Duration::minutes(9));
            let (s, next) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
            assert_eq!(s, 200);
            t = next;
        }
        app.clock.advance(Duration::minutes(9));
        let (s, _) = refresh(&app, t["refresh_token"].as_str().unwrap()).await;
        assert_eq!(s, 401, "63 minutes into a 60-minute session");
        assert_eq!(
            events(&app, "SessionExpired").await[0]["payload"]["reason"],
            "absolute_lifetime"
        );
        app.shutdown().await;
    }
);

story!(
    logout_disable_and_role_change_end_sessions,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let admin = app.admin().await;

        let t = tokens(&app, "sales@test.in").await;
        let access = t["access_token"].as_str().unwrap();
        let r = app
            .client
            .post(app.url("/api/v1/auth/logout"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        assert_eq!(status_with(&app, access, "/api/v1/auth/me").await, 401);
        assert_eq!(
            refresh(&app, t["refresh_token"].as_str().unwrap()).await.0,
            401
        );

        let ops = tokens(&app, "ops@test.in").await;
        let (_, users) = app.post_json(&admin, "/api/v1/users", json!({})).await;
        assert_eq!(users["status"], 400);
        let list: Vec<serde_json::Value> = app
            .get_with(&admin, "/api/v1/users")
            .await
            .json()
            .await
            .unwrap();
        let ops_id = list.iter().find(|u| u["email"] == "ops@test.in").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (s, changed) = app
            .post_json(
                &admin,
                &format!("/api/v1/users/{ops_id}/role"),
                json!({"role": "read_only"}),
            )
            .await;
        assert_eq!((s, changed["role"].as_str()), (200, Some("read_only")));
        assert_eq!(
            status_with(
                &app,
                ops["access_token"].as_str().unwrap(),
                "/api/v1/auth/me"
            )
            .await,
            401
        );
        let again = tokens(&app, "ops@test.in").await;
        let r = app
            .get_with(
                again["access_token"].as_str().unwrap(),
                "/api/v1/activity/export",
            )
            .await;
        assert_eq!(r.status().as_u16(), 403, "the new role applies");

        let (s, disabled) = app
            .post_json(
                &admin,
                &format!("/api/v1/users/{ops_id}/disable"),
                json!({}),
            )
            .await;
        assert_eq!((s, disabled["disabled"].as_bool()), (200, Some(true)));
        assert_eq!(
            status_with(
                &app,
                again["access_token"].as_str().unwrap(),
                "/api/v1/auth/me"
            )
            .await,
            401
        );
        assert_eq!(
            app.login_as("ops@test.in", PASSWORD)
                .await
                .status()
                .as_u16(),
            401
        );
        for t in ["RoleChanged", "UserDisabled"] {
            let e = events(&app, t).await;
            assert_eq!(e.len(), 1, "{t}");
            assert_eq!(e[0]["actor_kind"], "user");
        }
        app.shutdown().await;
    }
);

story!(
    forged_and_foreign_tokens_are_refused,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let good = app.admin().await;
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        let forged_none = format!("{none_header}.{}.", parts[1]);
        parts[2] = parts[2].chars().rev().collect();
        for token in [
            forged_none,
            parts.join("."),
            "garbage".into(),
            String::new(),
            "a.b.c".into(),
            "x".repeat(5000),
        ] {
            assert_eq!(
                status_with(&app, &token, "/api/v1/auth/me").await,
                401,
                "{token:.40}"
            );
        }
        let r = app
            .client
            .get(app.url("/api/v1/auth/me"))
            .header("authorization", format!("Basic {good}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        // A token from the future (clocks apart by more than the leeway).
        app.clock.advance(Duration::minutes(-5));
        assert_eq!(status_with(&app, &good, "/api/v1/auth/me").await, 401);
        app.shutdown().await;
    }
);

story!(
    per_user_rate_limit_answers_429_with_retry_after,
    |b: Backend| async move {
        let Some(app) = spawn_app_with(b, |s| s.rate_limit_per_minute = 5).await else {
            return;
        };
        let token = app.token(Role::ReadOnly).await;
        for i in 0..5 {
            let r = app.get_with(&token, "/api/v1/auth/me").await;
            assert_eq!(r.status().as_u16(), 200, "request {i}");
            assert_eq!(r.headers()["ratelimit-limit"], "5");
            assert_eq!(
                r.headers()["ratelimit-remaining"],
                (4 - i).to_string().as_str()
            );
        }
        let r = app.get_with(&token, "/api/v1/auth/me").await;
        assert_eq!(r.status().as_u16(), 429);
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry));
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let other = app.token(Role::Sales).await;
        assert_eq!(
            status_with(&app, &other, "/api/v1/auth/me").await,
            200,
            "limits are per user"
        );
        app.clock.advance(Duration::seconds(61));
        assert_eq!(
            status_with(&app, &token, "/api/v1/auth/me").await,
            200,
            "a new minute"
        );
        let metrics = reqwest::get(format!("http://{}/metrics", app.metrics_addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("pebble_rate_limited_requests_total 1"),
            "{metrics}"
        );
        app.shutdown().await;
    }
);

story!(
    repeated_failed_logins_lock_the_account_and_logins_are_limited_per_address,
    |b: Backend| async move {
        let Some(app) = spawn_app_with(b, |s| s.login_failures_per_hour = 3).await else {
            return;
        };
        for _ in 0..3 {
            assert_eq!(
                app.login_as("sales@test.in", "not the password")
                    .await
                    .status()
                    .as_u16(),
                401
            );
        }
        let r = app.login_as("sales@test.in", PASSWORD).await;
        assert_eq!(
            r.status().as_u16(),
            429,
            "locked even with the right password"
        );
        assert!(r.headers().contains_key("retry-after"));
        assert_eq!(
            app.login_as("ops@test.in", PASSWORD)
                .await
                .status()
                .as_u16(),
            200,
            "other accounts unaffected"
        );
        app.clock.advance(Duration::hours(1));
        assert_eq!(
            app.login_as("sales@test.in", PASSWORD)
                .await
                .status()
                .as_u16(),
            200,
            "the lock lifts"
        );
        app.shutdown().await;

        let Some(app) = spawn_app_with(b, |s| s.login_rate_limit_per_minute = 3).await else {
            return;
        };
        for _ in 0..3 {
            assert_eq!(
                app.login_as("nobody@test.in", "x").await.status().as_u16(),
                401
            );
        }
        assert_eq!(
            app.login_as("sales@test.in", PASSWORD)
                .await
                .status()
                .as_u16(),
            429
        );
        app.shutdown().await;
    }
);

/// Two instances on one database share the per-user limit through Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_the_rate_limit_through_redis() {
    let url =
        std::env::var("PEBBLE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let reachable = match redis::Client::open(url.as_str()) {
        Ok(c) => c.get_multiplexed_async_connection().await.is_ok(),
        Err(_) => false,
    };
    if !reachable {
        assert_ne!(
            std::env::var("PEBBLE_REQUIRE_SERVICES").as_deref(),
            Ok("1"),
            "Redis is required but {url} is unreachable"
        );
        eprintln!("skipping: Redis at {url} is unreachable");
        return;
    }
    let db = common::TestDb::new(Backend::Sqlite).await.unwrap();
    let mut settings = db.settings();
    settings.redis_url = Some(url.clone().into());
    settings.rate_limit_per_minute = 6;
    settings.jwt_secret = Some("a shared signing key of 32+ bytes!!".into());
    let first = spawn_on(
        common::TestDb::reuse(&db),
        settings.clone(),
        std::sync::Arc::new(pebble::clock::ManualClock::new(common::t0())),
    )
    .await
    .unwrap();
    let second = spawn_on(
        common::TestDb::reuse(&db),
        settings,
        std::sync::Arc::new(pebble::clock::ManualClock::new(common::t0())),
    )
    .await
    .unwrap();
    let token = first.token(Role::Sales).await;
    let mut allowed = 0;
    for i in 0..10 {
        let app = if i % 2 == 0 { &first } else { &second };
        match status_with(app, &token, "/api/v1/auth/me").await {
            200 => allowed += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        allowed, 6,
        "six requests in the minute, across both instances"
    );
    first.shutdown().await;
    second.shutdown().await;
}

story!(
    hostile_text_is_stored_and_returned_verbatim,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let admin = app.admin().await;
        let nasty = "<script>alert('x')</script>\"; DROP TABLE users; -- ' OR '1'='1 <img src=x onerror=alert(1)> ₹ हिंदी";
        let (s, created) = app
        .post_json(&admin, "/api/v1/users", json!({"email": "o'brien+test@test.in", "display_name": nasty, "role": "sales", "password": PASSWORD}))
        .await;
        assert_eq!(s, 201, "{created}");
        assert_eq!(created["display_name"], nasty);
        let list: Vec<serde_json::Value> = app
            .get_with(&admin, "/api/v1/users")
            .await
            .json()
            .await
            .unwrap();
        assert!(list
            .iter()
            .any(|u| u["display_name"] == nasty && u["email"] == "o'brien+test@test.in"));
        assert_eq!(list.len(), 5, "nothing dropped, nothing added");
        let (s, _) = app
            .post_json(
                &admin,
                "/api/v1/users",
                json!({"email": "o'brien+test@test.in", "role": "sales", "password": PASSWORD}),
            )
            .await;
        assert_eq!(s, 409);
        app.shutdown().await;
    }
);

story!(
    nul_bytes_bad_types_and_oversized_input_get_400_on_both_backends,
    |b: Backend| async move {
        let Some(app) = spawn_app_with(b, |s| s.max_body_bytes = 4096).await else {
            return;
        };
        let admin = app.admin().await;
        for (body, field) in [
            (
                json!({"email": "a@test.in", "display_name": "nul\u{0}here", "role": "sales", "password": PASSWORD}),
                "display_name",
            ),
            (
                json!({"email": "a@test.in", "role": "sales", "password": "short"}),
                "password",
            ),
            (
                json!({"email": "a@test.in", "role": "root", "password": PASSWORD}),
                "role",
            ),
            (
                json!({"email": "not an email", "role": "sales", "password": PASSWORD}),
                "email",
            ),
            (
                json!({"email": 42, "role": "sales", "password": PASSWORD}),
                "email",
            ),
            (
                json!({"email": "a@test.in", "role": "sales", "password": PASSWORD, "is_admin": true}),
                "is_admin",
            ),
            (
                json!({"email": "a@test.in", "display_name": "x".repeat(300), "role": "sales", "password": PASSWORD}),
                "display_name",
            ),
        ] {
            let (s, problem) = app.post_json(&admin, "/api/v1/users", body.clone()).await;
            assert_eq!(s, 400, "{body}: {problem}");
            assert_eq!(problem["field"], field, "{body}: {problem}");
        }
        let r = app
            .client
            .post(app.url("/api/v1/users"))
            .bearer_auth(&admin)
            .body("{not json")
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let r = app
            .client
            .post(app.url("/api/v1/users"))
            .bearer_auth(&admin)
            .body("email=a")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 415);
        let big = json!({"email": "a@test.in", "role": "sales", "password": "x".repeat(10_000)});
        let r = app
            .client
            .post(app.url("/api/v1/users"))
            .bearer_auth(&admin)
            .json(&big)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 413);
        app.shutdown().await;
    }
);

story!(cors_allows_only_listed_origins, |b: Backend| async move {
    let Some(app) = spawn_app_with(b, |s| s.cors_origins = "https://crm.example.in".into()).await
    else {
        return;
    };
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/v1/auth/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("https://crm.example.in").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://crm.example.in"
    );
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(!evil.headers().contains_key("access-control-allow-origin"));
    let null = preflight("null").await.unwrap();
    assert!(!null.headers().contains_key("access-control-allow-origin"));
    app.shutdown().await;
    for bad in ["*", "null", "crm.example.in"] {
        assert!(pebble::http::cors(bad).is_err(), "{bad}");
    }
});

story!(
    the_openapi_document_is_public_and_describes_bearer_security,
    |b: Backend| async move {
        let Some(app) = spawn_app(b).await else {
            return;
        };
        let doc: serde_json::Value = app
            .client
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(doc["paths"]["/api/v1/auth/login"]["post"].is_object());
        app.shutdown().await;
    }
);
