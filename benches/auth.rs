//! Cost of the per-request security path (token check, session lookup from
//! the cache, RBAC rule, rate-limit count) and of one argon2id login hash.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use pebble::clock::SystemClock;
use pebble::config::Settings;
use pebble::http::guard::rule;
use pebble_core::access::Role;
use pebble_core::audit::Actor;

fn auth(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: dir.path().to_path_buf(),
        rate_limit_per_minute: u32::MAX,
        ..Settings::default()
    };
    let (state, token) = rt.block_on(async {
        let state = pebble::startup::services(&settings, Arc::new(SystemClock))
            .await
            .unwrap();
        state
            .auth
            .create_user(
                Actor::system("bench"),
                "bench@test.in",
                "Bench",
                Role::Sales,
                "a long bench password",
            )
            .await
            .unwrap();
        let t = state
            .auth
            .login("bench@test.in", "a long bench password", "127.0.0.1")
            .await
            .unwrap();
        (state, t.access_token)
    });
    let get = axum::http::Method::GET;
    c.bench_function("request_security_path", |b| {
        b.to_async(&rt).iter(|| async {
            let p = state.auth.authenticate(&token).await.unwrap();
            assert!(rule(&get, "/api/v1/activity").is_some());
            state.auth.limit_user(&p.user_id).await.unwrap();
        })
    });
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(10);
    let hash = rt
        .block_on(pebble::auth::password::hash("a long bench password".into()))
        .unwrap();
    group.bench_function("verify_login_password", |b| {
        b.to_async(&rt)
            .iter(|| pebble::auth::password::verify("a long bench password".into(), hash.clone()))
    });
    group.finish();
}

criterion_group!(benches, auth);
criterion_main!(benches);
