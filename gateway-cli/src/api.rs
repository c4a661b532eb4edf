//! A small client for the gateway's HTTP API, used by the operator commands.

use std::time::Duration;

use clap::Args;
use serde_json::Value;

/// Where the API is and whose credentials to use.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Base URL of a running gateway.
    #[arg(
        long,
        env = "GATEWAY_API_URL",
        default_value = "http://localhost:8000",
        global = true
    )]
    pub api_url: String,
    /// API key (`X-Api-Key`).
    #[arg(long, env = "GATEWAY_API_KEY", global = true)]
    pub api_key: Option<String>,
    /// API secret (`X-Api-Secret`).
    #[arg(
        long,
        env = "GATEWAY_API_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub api_secret: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Why an API call failed; each maps to its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The gateway refused the request (4xx other than 401).
    #[error("{code}: {description} (HTTP {status})")]
    Rejected {
        status: u16,
        code: String,
        description: String,
    },
    /// Missing or wrong credentials.
    #[error("authentication failed: {0}")]
    Unauthenticated(String),
    /// The gateway could not be reached or answered 5xx.
    #[error("gateway unavailable: {0}")]
    Unavailable(String),
}

impl ApiError {
    /// The process exit code for this error: 3 rejected, 4 unauthenticated, 5 unavailable.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Rejected { .. } => 3,
            Self::Unauthenticated(_) => 4,
            Self::Unavailable(_) => 5,
        }
    }
}

/// A client bound to one gateway and one merchant's credentials.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    key: String,
    secret: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client from the command-line arguments; credentials are required.
    pub fn new(args: &ApiArgs) -> Result<Self, ApiError> {
        let (Some(key), Some(secret)) = (args.api_key.clone(), args.api_secret.clone()) else {
            return Err(ApiError::Unauthenticated(
                "set GATEWAY_API_KEY and GATEWAY_API_SECRET (or --api-key/--api-secret)".into(),
            ));
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(Self {
            base: args.api_url.trim_end_matches('/').to_owned(),
            key,
            secret,
            http,
        })
    }

    /// The gateway's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    /// `POST path` with a JSON body and an optional idempotency key.
    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<Value, ApiError> {
        self.send(reqwest::Method::POST, path, Some(body), idempotency_key)
            .await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.send(reqwest::Method::PUT, path, Some(body), None)
            .await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.send(reqwest::Method::PATCH, path, Some(body), None)
            .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value, ApiError> {
        self.send(reqwest::Method::DELETE, path, None, None).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<Value, ApiError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-Api-Key", &self.key)
            .header("X-Api-Secret", &self.secret);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Unavailable(format!("{}: {e}", self.base)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(json);
        }
        let code = json["error"]["code"]
            .as_str()
            .unwrap_or("HTTP_ERROR")
            .to_owned();
        let description = json["error"]["description"]
            .as_str()
            .map_or_else(|| text.clone(), str::to_owned);
        Err(match status {
            401 => ApiError::Unauthenticated(description),
            500.. => ApiError::Unavailable(format!("{code}: {description} (HTTP {status})")),
            _ => ApiError::Rejected {
                status,
                code,
                description,
            },
        })
    }
}
