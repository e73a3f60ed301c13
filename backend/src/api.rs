//! The routes. Every answer is JSON, errors included: `{"error": "...", "status": 404}`.

use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Query, Request};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rust_starter_api::{ApiError as ErrorBody, EchoRequest, EchoResponse, Hello};
use serde::Deserialize;
use serde_json::json;

/// Requests with a larger body get 413.
pub const BODY_LIMIT: usize = 64 * 1024;
/// The longest message `/echo` accepts, in characters.
pub const MAX_MESSAGE: usize = 1000;

pub fn router() -> Router {
    Router::new()
        .route("/hello", get(hello))
        .route("/health", get(health))
        .route("/echo", post(echo))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(log_request))
}

#[derive(Deserialize)]
struct HelloQuery {
    /// Simulates slow work, up to 10 s: shows the UI's loading state (and lets the tests
    /// stop the server mid-request).
    delay_ms: Option<u64>,
}

async fn hello(Query(query): Query<HelloQuery>) -> Json<Hello> {
    if let Some(ms) = query.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
    }
    Json(Hello {
        message: "Hello from the Rust backend".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        arch: std::env::consts::ARCH.into(),
        os: std::env::consts::OS.into(),
    })
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Shows how to take input: a JSON body, validated, with a clear error for each fault.
async fn echo(body: Result<Json<EchoRequest>, JsonRejection>) -> Result<Json<EchoResponse>, ApiError> {
    let Json(request) = body?;
    let message = request.message.trim();
    let length = message.chars().count();
    if length == 0 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "`message` must not be empty"));
    }
    if length > MAX_MESSAGE {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`message` has {length} characters; the most is {MAX_MESSAGE}"),
        ));
    }
    // At most MAX_MESSAGE characters: the count fits.
    Ok(Json(EchoResponse { message: message.to_string(), length: u32::try_from(length).unwrap_or(u32::MAX) }))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{} does not take {method}", uri.path()))
}

/// One line per request on stderr, which Docker Desktop keeps as the container's log.
async fn log_request(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let start = Instant::now();
    let response = next.run(request).await;
    eprintln!(
        "{method} {path} {} {:.1}ms",
        response.status().as_u16(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    response
}

pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.message, status: self.status.as_u16() };
        (self.status, Json(body)).into_response()
    }
}

/// Malformed JSON is 400, a wrong content type 415, a body over the limit 413, a valid
/// body of the wrong shape 422: the status axum chose, with its message as JSON.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let message = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => format!("the request body is over the {BODY_LIMIT}-byte limit"),
            _ => rejection.body_text(),
        };
        ApiError::new(rejection.status(), message)
    }
}
