//! A client for OpenAI-compatible chat-completion endpoints (OpenAI, Azure
//! OpenAI, Ollama, vLLM, llama.cpp server): SPEC §4's optional providers.
//! Generic on purpose: intent classification asks it for JSON under a strict
//! schema, drafting asks it for text.
//!
//! Every call has a per-attempt timeout and retries faults (timeouts,
//! connection errors, HTTP 429 and 5xx, unreadable answers) with jittered
//! exponential backoff; an answer refused on purpose (other 4xx, a model's
//! refusal) is not retried. Callers fall back to the local path on any
//! error. The key never leaves the request header: not in errors, not in logs.

use std::time::{Duration, Instant};

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::Settings;

/// Largest answer read, in bytes: a chat completion is a few kilobytes.
const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// First retry delay; doubles per attempt.
const BACKOFF: Duration = Duration::from_millis(200);
/// Longest text of an error answer kept in an error message.
const DETAIL_CHARS: usize = 200;

/// How the endpoint wants to be addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    /// `POST {url}/chat/completions` with `Authorization: Bearer KEY` and
    /// the model in the body.
    OpenAi,
    /// `POST {url}/openai/deployments/{model}/chat/completions?api-version=V`
    /// with an `api-key: KEY` header; the model is the deployment name.
    Azure { api_version: String },
}

#[derive(Clone, Debug)]
pub struct LlmConfig {
    pub url: String,
    pub model: String,
    pub api_key: Option<SecretString>,
    pub provider: Provider,
    /// Per attempt.
    pub timeout: Duration,
    pub retries: u32,
}

impl LlmConfig {
    /// The configured endpoint, or `None` when `llm_url` is empty.
    pub fn from_settings(s: &Settings) -> anyhow::Result<Option<LlmConfig>> {
        if s.llm_url.trim().is_empty() {
            return Ok(None);
        }
        anyhow::ensure!(
            !s.llm_model.trim().is_empty(),
            "llm_model: required when llm_url is set (the model, or the Azure deployment)"
        );
        let provider = match s.llm_provider.as_str() {
            "openai" => Provider::OpenAi,
            "azure" => Provider::Azure {
                api_version: s.llm_azure_api_version.clone(),
            },
            other => anyhow::bail!("llm_provider: {other:?} is not openai or azure"),
        };
        Ok(Some(LlmConfig {
            url: s.llm_url.trim().to_owned(),
            model: s.llm_model.trim().to_owned(),
            api_key: s.llm_api_key.clone(),
            provider,
            timeout: Duration::from_millis(s.llm_timeout_ms.max(1)),
            retries: s.llm_retries,
        }))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the language model did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the language model endpoint is not reachable: {0}")]
    Transport(String),
    #[error("the language model endpoint answered HTTP {status}: {detail}")]
    Status { status: u16, detail: String },
    #[error("the language model's answer is unusable: {0}")]
    Malformed(String),
    #[error("the language model refused: {0}")]
    Refused(String),
    #[error("bad LLM configuration: {0}")]
    Config(String),
}

impl LlmError {
    /// Worth another attempt: the endpoint or the link failed, or the model
    /// produced something unreadable this time.
    fn is_transient(&self) -> bool {
        match self {
            LlmError::Timeout(_) | LlmError::Transport(_) | LlmError::Malformed(_) => true,
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            LlmError::Refused(_) | LlmError::Config(_) => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }
}

/// What the answer must look like.
#[derive(Clone, Debug, PartialEq)]
pub enum Format {
    Text,
    /// Structured output under a JSON schema, `strict` (the schema must
    /// list every property as required and forbid additional ones).
    JsonSchema {
        name: String,
        schema: serde_json::Value,
    },
}

/// One answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub content: String,
    /// The model that answered, as the endpoint names it.
    pub model: String,
    /// Attempts made, 1 when the first succeeded.
    pub attempts: u32,
    pub elapsed: Duration,
}

pub struct ChatClient {
    http: reqwest::Client,
    endpoint: url::Url,
    config: LlmConfig,
}

impl std::fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient")
            .field("endpoint", &self.endpoint.as_str())
            .field("model", &self.config.model)
            .finish_non_exhaustive()
    }
}

impl ChatClient {
    pub fn new(config: LlmConfig) -> Result<ChatClient, LlmError> {
        let endpoint = endpoint(&config)?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .timeout(config.timeout)
            .build()
            .map_err(|e| LlmError::Config(e.to_string()))?;
        Ok(ChatClient {
            http,
            endpoint,
            config,
        })
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// Ask for one completion, retrying faults.
    pub async fn complete(
        &self,
        messages: &[Message],
        format: &Format,
    ) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let body = self.body(messages, format);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(&body).await {
                Ok((content, model)) => {
                    return Ok(Completion {
                        content,
                        model,
                        attempts: attempt,
                        elapsed: started.elapsed(),
                    })
                }
                Err(e) if e.is_transient() && attempt <= self.config.retries => {
                    let backoff = BACKOFF * 2u32.saturating_pow(attempt - 1);
                    let jitter = rand::thread_rng().gen_range(0..=backoff.as_millis() as u64 / 2);
                    tracing::warn!(error = %e, attempt, "LLM call failed; retrying");
                    tokio::time::sleep(backoff + Duration::from_millis(jitter)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn body(&self, messages: &[Message], format: &Format) -> serde_json::Value {
        let mut body = serde_json::json!({
            "messages": messages,
            // Classification and drafting both want the likeliest answer.
            "temperature": 0,
        });
        if self.config.provider == Provider::OpenAi {
            body["model"] = self.config.model.clone().into();
        }
        if let Format::JsonSchema { name, schema } = format {
            body["response_format"] = serde_json::json!({
                "type": "json_schema",
                "json_schema": {"name": name, "strict": true, "schema": schema},
            });
        }
        body
    }

    async fn attempt(&self, body: &serde_json::Value) -> Result<(String, String), LlmError> {
        let mut req = self.http.post(self.endpoint.clone()).json(body);
        if let Some(key) = &self.config.api_key {
            req = match self.config.provider {
                Provider::OpenAi => req.bearer_auth(key.expose_secret()),
                Provider::Azure { .. } => req.header("api-key", key.expose_secret()),
            };
        }
        let mut response = req.send().await.map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport(e))? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(LlmError::Malformed(format!(
                    "answer larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !(200..300).contains(&status) {
            return Err(LlmError::Status {
                status,
                detail: error_detail(&bytes),
            });
        }
        parse_answer(&bytes, &self.config.model)
    }

    fn transport(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout(self.config.timeout)
        } else {
            // Without the URL: it may carry a key in its query on some gateways.
            LlmError::Transport(e.without_url().to_string())
        }
    }
}

/// The URL requests go to.
fn endpoint(config: &LlmConfig) -> Result<url::Url, LlmError> {
    let base = url::Url::parse(&config.url)
        .map_err(|e| LlmError::Config(format!("llm_url {:?}: {e}", config.url)))?;
    if !matches!(base.scheme(), "http" | "https") {
        return Err(LlmError::Config("llm_url must be http(s)".into()));
    }
    let trimmed = base.as_str().trim_end_matches('/').to_owned();
    let joined = match &config.provider {
        Provider::OpenAi if trimmed.ends_with("/chat/completions") => trimmed,
        Provider::OpenAi => format!("{trimmed}/chat/completions"),
        Provider::Azure { .. } if trimmed.contains("/openai/deployments/") => trimmed,
        Provider::Azure { .. } => format!(
            "{trimmed}/openai/deployments/{}/chat/completions",
            utf8_path_segment(&config.model)
        ),
    };
    let mut url = url::Url::parse(&joined).map_err(|e| LlmError::Config(e.to_string()))?;
    if let Provider::Azure { api_version } = &config.provider {
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
    }
    Ok(url)
}

fn utf8_path_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: AnswerMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct AnswerMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

fn parse_answer(bytes: &[u8], requested: &str) -> Result<(String, String), LlmError> {
    let answer: Answer = serde_json::from_slice(bytes)
        .map_err(|e| LlmError::Malformed(format!("not a chat completion: {e}")))?;
    let choice = answer
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::Malformed("no choices".into()))?;
    if let Some(r) = choice.message.refusal.filter(|r| !r.is_empty()) {
        return Err(LlmError::Refused(truncate(&r)));
    }
    if choice.finish_reason.as_deref() == Some("length") {
        return Err(LlmError::Malformed("the answer was cut off".into()));
    }
    let content = choice
        .message
        .content
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| LlmError::Malformed("empty answer".into()))?;
    Ok((
        content,
        answer.model.unwrap_or_else(|| requested.to_owned()),
    ))
}

/// The `error.message` of an OpenAI-style error body, else its start.
fn error_detail(bytes: &[u8]) -> String {
    let parsed: Option<String> = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned));
    truncate(&parsed.unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned()))
}

fn truncate(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(DETAIL_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, provider: Provider) -> LlmConfig {
        LlmConfig {
            url: url.into(),
            model: "gpt-4o-mini".into(),
            api_key: None,
            provider,
            timeout: Duration::from_secs(1),
            retries: 0,
        }
    }

    #[test]
    fn endpoints_follow_each_providers_shape() {
        let e = |u, p| endpoint(&config(u, p)).unwrap().to_string();
        assert_eq!(
            e("http://127.0.0.1:11434/v1/", Provider::OpenAi),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        assert_eq!(
            e(
                "https://api.openai.com/v1/chat/completions",
                Provider::OpenAi
            ),
            "https://api.openai.com/v1/chat/completions"
        );
        let azure = Provider::Azure {
            api_version: "2024-10-21".into(),
        };
        assert_eq!(
            e("https://acme.openai.azure.com", azure.clone()),
            "https://acme.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21"
        );
        assert!(endpoint(&config("ftp://x", Provider::OpenAi)).is_err());
        assert!(endpoint(&config("not a url", azure)).is_err());
    }

    #[test]
    fn answers_are_read_strictly() {
        let ok = br#"{"model":"m1","choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;
        assert_eq!(parse_answer(ok, "x").unwrap(), ("hi".into(), "m1".into()));
        let refused = br#"{"choices":[{"message":{"content":null,"refusal":"no"}}]}"#;
        assert!(matches!(
            parse_answer(refused, "x"),
            Err(LlmError::Refused(_))
        ));
        let cut = br#"{"choices":[{"message":{"content":"{\"a"},"finish_reason":"length"}]}"#;
        assert!(matches!(
            parse_answer(cut, "x"),
            Err(LlmError::Malformed(_))
        ));
        for garbage in [&b"<html>"[..], b"{}", br#"{"choices":[]}"#] {
            assert!(matches!(
                parse_answer(garbage, "x"),
                Err(LlmError::Malformed(_))
            ));
        }
        assert_eq!(
            error_detail(br#"{"error":{"message":"quota\nexceeded"}}"#),
            "quotaexceeded"
        );
    }
}
