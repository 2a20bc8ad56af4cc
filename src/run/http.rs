//! The runner's HTTP intake. Handlers never touch the store: they hand each
//! request to the writer thread and reply once it has committed.
//!
//! - `POST /v1/events`: one JSON event, or JSON lines. 202 with
//!   `{"accepted":[{"index","id","duplicate"}],"rejected":[{"index","id","message"}]}`
//!   when at least one event was accepted (or all were repeats), 422 with
//!   the same body when none was; 400 when the body is not JSON, 413 when it
//!   is over the limit, 401 without the token.
//! - `PUT /v1/customers/{id}`: the customer's attributes, as one JSON object.
//! - `GET /healthz`: the store answers.

use super::Intake;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Work for the writer thread, with where to send its answer.
pub enum Request {
    Events(Vec<String>, oneshot::Sender<Result<Vec<Intake>, String>>),
    /// A customer's id and attributes; answered with the mistake, if any.
    Customer(
        String,
        String,
        oneshot::Sender<Result<Option<String>, String>>,
    ),
    Health(oneshot::Sender<Result<(), String>>),
    /// The Prometheus text of `/metrics`.
    Metrics(oneshot::Sender<Result<String, String>>),
    View(
        String,
        oneshot::Sender<Result<Option<serde_json::Value>, String>>,
    ),
    Erase(
        String,
        oneshot::Sender<Result<Option<super::store::Erased>, String>>,
    ),
    /// The project changed and lints clean: run it from now on.
    Reload(Box<crate::command::run::Project>),
    /// The adapters' outcomes of a batch handed to them.
    Delivered(Vec<super::dispatch::Tried>),
}

#[derive(Clone)]
pub struct Api {
    pub writer: Sender<Request>,
    /// `TEND_API_TOKEN`; `None` only when listening on loopback.
    pub token: Option<Arc<str>>,
}

pub fn router(api: Api, max_body: usize) -> Router {
    Router::new()
        .route("/v1/events", post(events))
        .route(
            "/v1/customers/{id}",
            put(customer).patch(patch).get(view).delete(erase),
        )
        .route("/v1/openapi.json", get(openapi))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            problem(
                StatusCode::NOT_FOUND,
                "no such route: the API is described at /v1/openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| async move {
                if declared_length(req.headers()).is_some_and(|n| n > max_body as u64) {
                    return too_big(max_body);
                }
                next.run(req).await
            },
        ))
        .with_state(api)
}

/// The body length a request declares, if it does.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A body declared over the limit is refused before any of it is read, so
/// the client gets the 413 rather than a connection reset mid-upload.
fn too_big(max_body: usize) -> Response {
    let mut reply = problem(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the body is over {max_body} bytes; send events in smaller batches"),
    );
    reply.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    reply
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Constant time, so the reply's timing says nothing of the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The 401 for a request without the runner's token; `None` when it may go on.
fn refused(api: &Api, headers: &HeaderMap) -> Option<Response> {
    (!authorised(api, headers)).then(|| {
        problem(
            StatusCode::UNAUTHORIZED,
            "send `Authorization: Bearer TOKEN` with the runner's TEND_API_TOKEN",
        )
    })
}

fn authorised(api: &Api, headers: &HeaderMap) -> bool {
    let Some(token) = &api.token else { return true };
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
}

async fn ask<T>(
    api: &Api,
    make: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Request,
) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    if api.writer.send(make(tx)).is_err() {
        return Err(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the runner is stopping",
        ));
    }
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        // Store errors are logged by the writer; the reply names no internals.
        Ok(Err(_)) | Err(_) => Err(problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store did not take it; try again",
        )),
    }
}

async fn events(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refusal) = refused(&api, &headers) {
        return refusal;
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return problem(StatusCode::BAD_REQUEST, "the body is not UTF-8 JSON");
    };
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if lines.is_empty()
        || lines
            .iter()
            .any(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "the body is not a JSON event or JSON lines of events",
        );
    }
    let results = match ask(&api, |tx| Request::Events(lines, tx)).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for (index, r) in results.into_iter().enumerate() {
        match r {
            Intake::Accepted { id, duplicate } => {
                accepted.push(json!({ "index": index, "id": id, "duplicate": duplicate }))
            }
            Intake::Rejected { id, field, message } => rejected
                .push(json!({ "index": index, "id": id, "field": field, "message": message })),
        }
    }
    let status = if accepted.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::ACCEPTED
    };
    (
        status,
        Json(json!({ "accepted": accepted, "rejected": rejected })),
    )
        .into_response()
}

async fn customer(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refused(&api, &headers) {
        return refusal;
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return problem(StatusCode::BAD_REQUEST, "the body is not UTF-8 JSON");
    };
    match ask(&api, |tx| Request::Customer(id, text, tx)).await {
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Ok(Some(mistake)) => problem(StatusCode::UNPROCESSABLE_ENTITY, &mistake),
        Err(resp) => resp,
    }
}

/// A partial change of attributes is an input like any other: a
/// `customer.updated` event now, so segments are judged again and an `enter`
/// trigger can fire, exactly as in the simulator.
async fn patch(
    State(api): State<Api>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = refused(&api, &headers) {
        return refusal;
    }
    let Ok(attributes) =
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
    else {
        return problem(
            StatusCode::BAD_REQUEST,
            "the body is not a JSON object of attributes",
        );
    };
    let now = chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default();
    let line = json!({
        "name": crate::intake::CUSTOMER_UPDATED,
        "customer": id,
        "at": now.to_rfc3339(),
        "attributes": attributes,
    })
    .to_string();
    match ask(&api, |tx| Request::Events(vec![line], tx)).await {
        Ok(results) => match results.into_iter().next() {
            Some(Intake::Accepted { .. }) => StatusCode::ACCEPTED.into_response(),
            Some(Intake::Rejected { message, .. }) => {
                problem(StatusCode::UNPROCESSABLE_ENTITY, &message)
            }
            None => problem(StatusCode::UNPROCESSABLE_ENTITY, "nothing to change"),
        },
        Err(resp) => resp,
    }
}

async fn view(State(api): State<Api>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refused(&api, &headers) {
        return refusal;
    }
    match ask(&api, |tx| Request::View(id.clone(), tx)).await {
        Ok(Some(v)) => (StatusCode::OK, Json(v)).into_response(),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            &format!("no customer `{id}` in the store"),
        ),
        Err(resp) => resp,
    }
}

async fn erase(State(api): State<Api>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refused(&api, &headers) {
        return refusal;
    }
    match ask(&api, |tx| Request::Erase(id.clone(), tx)).await {
        Ok(Some(erased)) => (
            StatusCode::OK,
            Json(json!({ "erased": id, "removed": erased })),
        )
            .into_response(),
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            &format!("no customer `{id}` in the store"),
        ),
        Err(resp) => resp,
    }
}

async fn openapi(State(api): State<Api>, headers: HeaderMap) -> Response {
    if let Some(refusal) = refused(&api, &headers) {
        return refusal;
    }
    (StatusCode::OK, Json(super::openapi::document())).into_response()
}

async fn metrics(State(api): State<Api>) -> Response {
    match ask(&api, Request::Metrics).await {
        Ok(text) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            text,
        )
            .into_response(),
        Err(resp) => resp,
    }
}

async fn health(State(api): State<Api>) -> Response {
    match ask(&api, Request::Health).await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(resp) => resp,
    }
}
