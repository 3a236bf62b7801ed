//! The LLM client against a local server speaking the OpenAI chat API (and
//! Azure OpenAI's variant): good answers, garbage, 500s, hangs; and the
//! intent service's fallback to the local model when the LLM fails.

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
