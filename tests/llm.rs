//! The LLM client against a local server speaking the OpenAI chat API (and
//! Azure OpenAI's variant): good answers, garbage, 500s, hangs; the intent
//! service's fallback to the local model when the LLM fails; and drafting by
//! LLM (`draft_llm`), with the template answering whenever the LLM's reply
//! fails, is late or states a number no source gives.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use common::Backend;
use pebble::llm::{ChatClient, Format, LlmConfig, LlmError, Message, Provider};
use serde_json::{json, Value};

/// How the fake endpoint answers the next requests.
#[derive(Clone, Debug)]
enum Mode {
    /// A chat completion whose content is this text.
    Content(String),
    /// This status with an OpenAI-style error body, `n` times, then `Content`.
    Fail(u16, usize, String),
    /// Not JSON at all.
    Garbage,
    /// Wait this long before answering.
    Hang(Duration),
}

#[derive(Clone, Debug)]
struct Seen {
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone)]
struct Fake {
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "fake-model-2024",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

async fn answer(
    fake: Fake,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Value,
) -> Response {
    fake.seen.lock().unwrap().push(Seen {
        path,
        query,
        headers,
        body,
    });
    let mode = fake.mode.lock().unwrap().clone();
    match mode {
        Mode::Content(c) => axum::Json(completion(&c)).into_response(),
        Mode::Fail(status, n, then) => {
            let mut m = fake.mode.lock().unwrap();
            *m = if n > 1 {
                Mode::Fail(status, n - 1, then)
            } else {
                Mode::Content(then)
            };
            (
                StatusCode::from_u16(status).unwrap(),
                axum::Json(json!({"error": {"message": "The server had an error", "type": "server_error"}})),
            )
                .into_response()
        }
        Mode::Garbage => (StatusCode::OK, "<html>502 Bad Gateway</html>").into_response(),
        Mode::Hang(d) => {
            tokio::time::sleep(d).await;
            axum::Json(completion("{}")).into_response()
        }
    }
}

async fn openai(
    State(fake): State<Fake>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    answer(fake, "/v1/chat/completions".into(), q, headers, body).await
}

async fn azure(
    State(fake): State<Fake>,
    Path(deployment): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let path = format!("/openai/deployments/{deployment}/chat/completions");
    answer(fake, path, q, headers, body).await
}

/// The fake endpoint on a random port: (base URL, control).
async fn fake_llm(mode: Mode) -> (String, Fake) {
    let fake = Fake {
        mode: Arc::new(Mutex::new(mode)),
        seen: Arc::default(),
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(openai))
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), fake)
}

fn config(url: String, provider: Provider, retries: u32, timeout_ms: u64) -> LlmConfig {
    LlmConfig {
        url,
        model: "gpt-4o-mini".into(),
        api_key: Some("sk-test-secret".into()),
        provider,
        timeout: Duration::from_millis(timeout_ms),
        retries,
    }
}

fn schema_format() -> Format {
    Format::JsonSchema {
        name: "reply".into(),
        schema: json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false}),
    }
}

#[tokio::test]
async fn an_openai_endpoint_gets_a_bearer_key_a_strict_schema_and_its_answer_is_returned() {
    let (base, fake) = fake_llm(Mode::Content(r#"{"a":"b"}"#.into())).await;
    let client = ChatClient::new(config(format!("{base}/v1"), Provider::OpenAi, 0, 2000)).unwrap();
    let c = client
        .complete(
            &[Message::system("be brief"), Message::user("hi")],
            &schema_format(),
        )
        .await
        .expect("answer");
    assert_eq!(c.content, r#"{"a":"b"}"#);
    assert_eq!(c.model, "fake-model-2024");
    assert_eq!(c.attempts, 1);
    let seen = fake.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.headers["authorization"], "Bearer sk-test-secret");
    assert!(r.headers.get("api-key").is_none());
    assert_eq!(r.body["model"], "gpt-4o-mini");
    assert_eq!(r.body["messages"][0]["role"], "system");
    assert_eq!(r.body["messages"][1]["content"], "hi");
    assert_eq!(r.body["response_format"]["type"], "json_schema");
    assert_eq!(r.body["response_format"]["json_schema"]["strict"], true);
    assert_eq!(r.body["response_format"]["json_schema"]["name"], "reply");
}

#[tokio::test]
async fn azure_gets_its_deployment_path_api_version_and_api_key_header() {
    let (base, fake) = fake_llm(Mode::Content("hello".into())).await;
    let provider = Provider::Azure {
        api_version: "2024-10-21".into(),
    };
    let client = ChatClient::new(config(base, provider, 0, 2000)).unwrap();
    let c = client
        .complete(&[Message::user("hi")], &Format::Text)
        .await
        .expect("answer");
    assert_eq!(c.content, "hello");
    let r = &fake.requests()[0];
    assert_eq!(r.path, "/openai/deployments/gpt-4o-mini/chat/completions");
    assert_eq!(r.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(r.headers["api-key"], "sk-test-secret");
    assert!(r.headers.get("authorization").is_none());
    assert!(r.body.get("response_format").is_none());
}

#[tokio::test]
async fn server_errors_are_retried_and_a_later_success_is_returned() {
    let (base, fake) = fake_llm(Mode::Fail(500, 2, "ok".into())).await;
    let client = ChatClient::new(config(format!("{base}/v1"), Provider::OpenAi, 2, 2000)).unwrap();
    let c = client
        .complete(&[Message::user("hi")], &Format::Text)
        .await
        .expect("third attempt succeeds");
    assert_eq!(c.attempts, 3);
    assert_eq!(fake.requests().len(), 3);

    // Out of retries: the last error, naming the status and the server's message.
    fake.clear();
    fake.set(Mode::Fail(503, 10, "never".into()));
    let e = client
        .complete(&[Message::user("hi")], &Format::Text)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LlmError::Status { status: 503, detail } if detail.contains("server had an error")),
        "{e}"
    );
    assert_eq!(fake.requests().len(), 3);
    assert!(!e.to_string().contains("sk-test-secret"));

    // A 400 is the caller's fault: not retried.
    fake.clear();
    fake.set(Mode::Fail(400, 10, "never".into()));
    let e = client
        .complete(&[Message::user("hi")], &Format::Text)
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Status { status: 400, .. }), "{e}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn garbage_and_hangs_become_errors_within_the_timeout() {
    let (base, fake) = fake_llm(Mode::Garbage).await;
    let client = ChatClient::new(config(format!("{base}/v1"), Provider::OpenAi, 1, 300)).unwrap();
    let e = client
        .complete(&[Message::user("hi")], &Format::Text)
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Malformed(_)), "{e}");
    assert_eq!(
        fake.requests().len(),
        2,
        "an unreadable answer is retried once"
    );

    fake.clear();
    fake.set(Mode::Hang(Duration::from_secs(5)));
    let started = std::time::Instant::now();
    let e = client
        .complete(&[Message::user("hi")], &Format::Text)
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Timeout(_)), "{e}");
    // Two attempts of 300 ms and one backoff, far from the 5 s hang.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client =
        ChatClient::new(config(format!("http://{addr}"), Provider::OpenAi, 0, 500)).unwrap();
    let e = client
        .complete(&[Message::user("hi")], &Format::Text)
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Transport(_)), "{e}");
}

const VAGUE: &str = "Hi, please see the attached and let me know.";

async fn app_with_llm(backend: Backend, base: &str) -> Option<common::TestApp> {
    let url = format!("{base}/v1");
    common::spawn_app_with(backend, move |s| {
        s.llm_url = url;
        s.llm_model = "gpt-4o-mini".into();
        s.llm_api_key = Some("sk-test-secret".into());
        // Ask the LLM about every email, so the tests do not depend on the
        // local model's confidence.
        s.intent_llm_threshold = 1.0;
        s.llm_timeout_ms = 300;
        s.llm_retries = 1;
    })
    .await
}

story!(
    a_configured_llm_decides_below_the_threshold,
    |backend| async move {
        let (base, fake) = fake_llm(Mode::Content(
            r#"{"intent":"purchase_order","confidence":0.83,"evidence":["see the attached"]}"#
                .into(),
        ))
        .await;
        let Some(app) = app_with_llm(backend, &base).await else {
            return;
        };
        let d = app
            .state
            .intent
            .classify_email("llm-1", "PO", VAGUE)
            .await
            .expect("classified");
        assert_eq!(d.intent.as_str(), "purchase_order");
        assert_eq!(d.decided_by, "llm:fake-model-2024");
        assert_eq!(d.confidence, 0.83);
        assert_eq!(d.evidence[0].phrase, "see the attached");
        assert!(d.model_version.starts_with("intent-"));
        assert!(d.llm_error.is_none());
        // The prompt carries the eight labels as an enum in a strict schema, and the email.
        let r = &fake.requests()[0];
        let schema = &r.body["response_format"]["json_schema"];
        assert_eq!(schema["strict"], true);
        assert_eq!(
            schema["schema"]["properties"]["intent"]["enum"]
                .as_array()
                .unwrap()
                .len(),
            8
        );
        assert!(r.body["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("see the attached"));
        // The event names the LLM as the deciding actor.
        let (_, page) = app
            .get_json("/api/v1/activity?event_type=LeadClassified&entity=email:llm-1")
            .await;
        let e = &page["items"][0];
        assert_eq!(e["actor_kind"], "ai_agent");
        assert_eq!(e["actor_id"], "llm:fake-model-2024");
        assert_eq!(e["payload"]["ai_intent"], "purchase_order");
        assert_eq!(e["payload"]["model_version"], d.model_version);
        let metrics = reqwest::get(format!("http://{}/metrics", app.metrics_addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(
                r#"pebble_ai_classifications_total{intent="purchase_order",decided_by="llm"} 1"#
            ),
            "{metrics}"
        );
        app.shutdown().await;
    }
);

story!(
    the_local_model_decides_when_the_llm_fails,
    |backend| async move {
        let (base, fake) = fake_llm(Mode::Garbage).await;
        let Some(app) = app_with_llm(backend, &base).await else {
            return;
        };
        let intent = &app.state.intent;
        let garbage = intent
            .classify_email("f-1", "", VAGUE)
            .await
            .expect("classified");
        assert!(garbage.decided_by.starts_with("classifier:intent-"));
        assert_eq!(garbage.intent, garbage.model_intent);
        assert_eq!(garbage.confidence, garbage.model_confidence);
        assert!(garbage.llm_error.as_deref().unwrap().contains("unusable"));

        // A schema-violating verdict (a label that is not one of the eight) is not believed.
        fake.set(Mode::Content(
            r#"{"intent":"refund","confidence":0.99,"evidence":[]}"#.into(),
        ));
        let wrong = intent.classify_email("f-2", "", VAGUE).await.unwrap();
        assert!(wrong.decided_by.starts_with("classifier:"));
        assert!(wrong.llm_error.as_deref().unwrap().contains("refund"));

        fake.set(Mode::Fail(500, 100, String::new()));
        let failing = intent.classify_email("f-3", "", VAGUE).await.unwrap();
        assert!(failing.decided_by.starts_with("classifier:"));
        assert!(failing.llm_error.as_deref().unwrap().contains("HTTP 500"));

        fake.set(Mode::Hang(Duration::from_secs(5)));
        let started = std::time::Instant::now();
        let slow = intent.classify_email("f-4", "", VAGUE).await.unwrap();
        assert!(slow.decided_by.starts_with("classifier:"));
        assert!(slow
            .llm_error
            .as_deref()
            .unwrap()
            .contains("did not answer"));
        assert!(started.elapsed() < Duration::from_secs(3));
        // Every fallback is recorded like any other decision.
        let (_, page) = app
            .get_json("/api/v1/activity?event_type=LeadClassified")
            .await;
        assert_eq!(page["items"].as_array().unwrap().len(), 4);
        app.shutdown().await;
    }
);

// Drafting by LLM.

const RATE_ASK: &str =
    "Dear sir,\nPls send rate and stock for 2.5 sq mm FR wire 10 coil.\nRegards,\nRamesh Iyer";

/// A reply stating only what the facts give: the catalogue's stock (as of
/// the cache's sync) and rate, GST from configuration, the amount derived,
/// the configured signature.
const GOOD_REPLY: &str =
    "Dear Ramesh Iyer,\n\nThank you for your enquiry. FR PVC Wire 2.5 sq mm (90 m coil): \
86 Coil in stock as of 15 Jan 2026, 15:00 IST, at ₹2,590.00 per Coil plus 18% GST. \
Your 10 Coil come to ₹25,900.00 before GST, and can be dispatched in 1-2 working days.\n\n\
Kindly confirm and we will send a formal quotation.\n\n\
Regards,\nDemo Electricals, Shop 12, Lamington Road, Mumbai 400007\nPh. 022 2387 1234";

/// The same reply with a price the facts do not hold.
fn invented_price() -> String {
    GOOD_REPLY.replace("₹2,590.00", "₹2,450.00")
}

/// The drafting app with an LLM endpoint at `base`; `draft_llm` as given.
/// Secrets are set so the test can look for them where they must not be.
async fn drafting_app(
    backend: Backend,
    base: &str,
    draft_llm: bool,
) -> Option<(common::TestApp, pebble::tally::sim::SimHandle)> {
    let url = format!("{base}/v1");
    common::drafting::app(backend, move |s| {
        s.llm_url = url;
        s.llm_model = "gpt-4o-mini".into();
        s.llm_api_key = Some("sk-test-secret".into());
        s.llm_timeout_ms = 500;
        s.llm_retries = 1;
        s.draft_llm = draft_llm;
        s.jwt_secret = Some("jwt-secret-never-in-a-prompt-0123456789abcdef".into());
        s.smtp_username = Some("sales@demo-electricals.in".into());
        s.smtp_password = Some("smtp-password-never-in-a-prompt".into());
    })
    .await
}

async fn draft_for(app: &common::TestApp, id: &str, body: &str) -> pebble::store::drafts::Draft {
    let inp = common::drafting::input(
        pebble_intent::Intent::ProductInquiry,
        common::drafting::email(
            id,
            "ramesh@iyer-electricals.in",
            Some("Ramesh Iyer"),
            "Rate required",
            body,
        ),
    );
    assert_eq!(inp.products.len(), 1, "{:?}", inp.products);
    app.state
        .drafts
        .generate(&inp, None)
        .await
        .expect("drafted")
        .expect("a draft is due")
}

/// The `DraftGenerated` payload and actor of a draft.
async fn generated_event(app: &common::TestApp, draft_id: &str) -> Value {
    let (status, page) = app
        .get_json(&format!(
            "/api/v1/activity?event_type=DraftGenerated&entity=draft:{draft_id}"
        ))
        .await;
    assert_eq!(status, 200);
    page["items"][0].clone()
}

async fn metrics(app: &common::TestApp) -> String {
    reqwest::get(format!("http://{}/metrics", app.metrics_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

story!(
    an_llm_draft_from_the_facts_is_accepted_and_its_generator_recorded,
    |backend| async move {
        let (base, fake) = fake_llm(Mode::Content(GOOD_REPLY.into())).await;
        let Some((app, _sim)) = drafting_app(backend, &base, true).await else {
            return;
        };
        let d = draft_for(&app, "llm-d-1", RATE_ASK).await;
        assert_eq!(d.generator, "llm:fake-model-2024");
        assert_eq!(d.body, format!("{GOOD_REPLY}\n"));
        // The facts stored beside it are those the template would render.
        let facts: Value = serde_json::from_str(&d.facts).unwrap();
        assert_eq!(facts["items"][0]["rate"]["value"], "2590");

        // The API shows the generator; the event names it and the LLM as the actor.
        let (_, page) = app.get_json("/api/v1/drafts?email=llm-d-1").await;
        assert_eq!(page["items"][0]["generator"], "llm:fake-model-2024");
        let e = generated_event(&app, &d.id).await;
        assert_eq!(e["actor_kind"], "ai_agent");
        assert_eq!(e["actor_id"], "drafter:llm:fake-model-2024");
        assert_eq!(e["payload"]["generator"], "llm:fake-model-2024");
        assert!(e["payload"].get("fallback_reason").is_none(), "{e}");
        assert!(e["payload"]["latency_ms"].as_f64().unwrap() > 0.0);

        // One request: the rules, then the task, the closing, the email and
        // the facts with their sources; the key only in its header, and no
        // other secret anywhere in the prompt.
        let seen = fake.requests();
        assert_eq!(seen.len(), 1);
        let r = &seen[0];
        assert_eq!(r.headers["authorization"], "Bearer sk-test-secret");
        assert!(r.body.get("response_format").is_none());
        let rules = r.body["messages"][0]["content"].as_str().unwrap();
        assert!(rules.contains("Never state a"), "{rules}");
        let user: Value = serde_json::from_str(r.body["messages"][1]["content"].as_str().unwrap())
            .expect("the user message is JSON");
        assert_eq!(user["intent"], "product_inquiry");
        assert!(user["email"]["text"]
            .as_str()
            .unwrap()
            .contains("2.5 sq mm FR wire 10 coil"));
        assert_eq!(user["facts"], facts, "the prompt carries the stored facts");
        assert_eq!(user["facts"]["items"][0]["stock"]["source"], "cache");
        assert_eq!(
            user["facts"]["items"][0]["stock"]["as_of_local"],
            "15 Jan 2026, 15:00 IST"
        );
        assert_eq!(user["facts"]["items"][0]["gst_percent"]["source"], "config");
        assert!(user["closing"]
            .as_str()
            .unwrap()
            .ends_with("Ph. 022 2387 1234"));
        let prompt = r.body.to_string();
        for secret in [
            "sk-test-secret",
            "jwt-secret-never-in-a-prompt",
            "smtp-password-never-in-a-prompt",
        ] {
            assert!(!prompt.contains(secret), "{secret} in the prompt");
        }

        let m = metrics(&app).await;
        assert!(
            m.contains(r#"pebble_drafts_generated_total{generator="llm",outcome="ok"} 1"#),
            "{m}"
        );
        assert!(
            m.contains("pebble_draft_generation_latency_seconds_count 1"),
            "{m}"
        );
        app.shutdown().await;
    }
);

story!(
    an_llm_draft_inventing_a_price_gives_way_to_the_template,
    |backend| async move {
        let (base, fake) = fake_llm(Mode::Content(invented_price())).await;
        let Some((app, _sim)) = drafting_app(backend, &base, true).await else {
            return;
        };
        let d = draft_for(&app, "llm-d-2", RATE_ASK).await;
        assert_eq!(d.generator, "template");
        assert!(d.body.contains("₹2,590.00 per Coil"), "{}", d.body);
        assert!(!d.body.contains("2,450"), "{}", d.body);
        assert_eq!(fake.requests().len(), 1, "a checked answer is not retried");
        let e = generated_event(&app, &d.id).await;
        assert_eq!(e["actor_id"], "drafter:template");
        assert_eq!(e["payload"]["generator"], "template");
        assert_eq!(e["payload"]["fallback_reason"], "unsourced");
        assert!(
            e["payload"]["llm_error"].as_str().unwrap().contains("2450"),
            "{e}"
        );

        // An answer without the business's signature is not used either.
        fake.set(Mode::Content(
            GOOD_REPLY.replace("Demo Electricals, Shop 12", "Acme Traders, Shop 12"),
        ));
        let d = draft_for(&app, "llm-d-3", RATE_ASK).await;
        assert_eq!(d.generator, "template");
        let e = generated_event(&app, &d.id).await;
        assert_eq!(e["payload"]["fallback_reason"], "unsigned");

        let m = metrics(&app).await;
        for line in [
            r#"pebble_drafts_generated_total{generator="llm",outcome="unsourced"} 1"#,
            r#"pebble_drafts_generated_total{generator="llm",outcome="unsigned"} 1"#,
            r#"pebble_drafts_generated_total{generator="template",outcome="ok"} 2"#,
        ] {
            assert!(m.contains(line), "{line}\n{m}");
        }
        app.shutdown().await;
    }
);

story!(
    a_failing_or_silent_llm_gives_way_to_the_template,
    |backend| async move {
        let (base, fake) = fake_llm(Mode::Fail(500, 1000, String::new())).await;
        let Some((app, _sim)) = drafting_app(backend, &base, true).await else {
            return;
        };
        let d = draft_for(&app, "llm-d-4", RATE_ASK).await;
        assert_eq!(d.generator, "template");
        assert!(d.body.contains("₹2,590.00 per Coil"), "{}", d.body);
        let e = generated_event(&app, &d.id).await;
        assert_eq!(e["payload"]["fallback_reason"], "error");
        assert!(
            e["payload"]["llm_error"]
                .as_str()
                .unwrap()
                .contains("HTTP 500"),
            "{e}"
        );
        assert_eq!(fake.requests().len(), 2, "one retry (llm_retries = 1)");

        // Far longer than llm_timeout_ms: both attempts time out.
        fake.clear();
        fake.set(Mode::Hang(Duration::from_secs(30)));
        let d = draft_for(&app, "llm-d-5", RATE_ASK).await;
        assert_eq!(d.generator, "template");
        let e = generated_event(&app, &d.id).await;
        assert_eq!(e["payload"]["fallback_reason"], "timeout");
        assert!(
            e["payload"]["llm_error"]
                .as_str()
                .unwrap()
                .contains("did not answer"),
            "{e}"
        );

        let m = metrics(&app).await;
        for line in [
            r#"pebble_drafts_generated_total{generator="llm",outcome="error"} 1"#,
            r#"pebble_drafts_generated_total{generator="llm",outcome="timeout"} 1"#,
            r#"pebble_drafts_generated_total{generator="template",outcome="ok"} 2"#,
        ] {
            assert!(m.contains(line), "{line}\n{m}");
        }
        app.shutdown().await;
    }
);

story!(
    with_llm_drafting_off_templates_draft_and_the_llm_is_never_asked,
    |backend| async move {
        let (base, fake) = fake_llm(Mode::Content(GOOD_REPLY.into())).await;
        let Some((app, _sim)) = drafting_app(backend, &base, false).await else {
            return;
        };
        let d = draft_for(&app, "llm-d-6", RATE_ASK).await;
        assert_eq!(d.generator, "template");
        let e = generated_event(&app, &d.id).await;
        assert!(e["payload"].get("fallback_reason").is_none(), "{e}");
        assert!(fake.requests().is_empty(), "{:?}", fake.requests());
        assert!(!metrics(&app).await.contains(r#"generator="llm""#));
        app.shutdown().await;
    }
);

#[tokio::test]
async fn drafting_by_llm_without_an_endpoint_is_a_configuration_error() {
    let db = common::TestDb::new(Backend::Sqlite).await.unwrap();
    let mut settings = db.settings();
    settings.draft_llm = true;
    let clock = Arc::new(pebble::clock::ManualClock::new(common::t0()));
    let e = pebble::startup::services(&settings, clock)
        .await
        .err()
        .expect("refused");
    assert!(format!("{e:#}").contains("draft_llm"), "{e:#}");
}
