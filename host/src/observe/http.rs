//! The HTTP server of `rill run --http ADDR`: Prometheus metrics, health
//! and readiness for orchestrators, JSON for tools, and a status page for
//! people. It runs on its own thread with its own small runtime, so a slow
//! scraper never touches the poll loop or the workers.
//!
//! | path        | what                                                      |
//! |-------------|-----------------------------------------------------------|
//! | `/metrics`  | Prometheus text format (see `docs/observability.md`)      |
//! | `/health`   | 200 while the process is alive                            |
//! | `/ready`    | 200 only in RUNNING, else 503 with the state              |
//! | `/status`   | application state, threads, tasks, processors, restores   |
//! | `/lag`      | per partition: offsets, lag, lag seconds, Burrow status   |
//! | `/topology` | the topology, as `rill describe --format json` prints it  |
//! | `/stores/<store>/keys/<key>` | a key-value store's value ([`super::store_queries`]) |
//! | `/stores/<store>/metadata/<key>` | where that key lives: partition, state, owner |
//! | `/stores/<store>/range`, `/stores/<store>/prefix/<p>` | key-value entries in key order ([`super::store_scans`]) |
//! | `/stores/<store>/windows/<key>` | a key's windows in a windowed store |
//! | `/`         | the status page (self-contained HTML, no CDN)             |
//!
//! With `--http-token-file`, every path but `/health` needs the bearer
//! token ([`super::auth`]); with `--http-tls-cert`/`--http-tls-key`, every
//! connection is TLS ([`super::tls`]).

use super::app_state::AppState;
use super::auth::Token;
use super::telemetry;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::time::Duration;

/// The status page, served from the binary.
const PAGE: &str = include_str!("page.html");

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The address could not be bound.
    #[error("--http {addr}: cannot listen: {source}\n  fix: pick a free port, e.g. --http 127.0.0.1:9464")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The metrics recorder could not be installed.
    #[error("--http: {0}")]
    Recorder(String),
    /// The server thread could not start.
    #[error("--http: cannot start the server thread: {0}")]
    Thread(std::io::Error),
}

/// A running server; it stops with the process.
#[derive(Debug)]
pub struct HttpServer {
    /// Where it listens (the real port when 0 was asked for).
    pub addr: SocketAddr,
}

/// Who may read `--http`, and how it travels.
#[derive(Default)]
pub struct Guard {
    /// With `--http-token-file`: every endpoint but `/health` requires it
    /// ([`super::auth`]).
    pub token: Option<Token>,
    /// With `--http-tls-cert`/`--http-tls-key`: TLS on every connection
    /// ([`super::tls`]).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Binds `addr` (now, so a taken port fails the start), installs the
/// metrics recorder, and serves on a thread of its own, as `guard` says.
pub fn start(addr: &str, guard: Guard) -> Result<HttpServer, HttpError> {
    let bind_error = |source| HttpError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let handle = super::metrics::install().map_err(HttpError::Recorder)?;
    let scheme = if guard.tls.is_some() {
        // Every instance of an application serves alike: redirects to
        // another one name https too.
        super::store_queries::redirect_over_tls();
        "https"
    } else {
        "http"
    };
    std::thread::Builder::new()
        .name("rill-http".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(error) => {
                    tracing::error!("--http: cannot start its runtime: {error}");
                    return;
                }
            };
            runtime.block_on(serve(listener, handle, guard));
        })
        .map_err(HttpError::Thread)?;
    tracing::info!(
        "http: serving /metrics, /health, /ready, /status, /lag, /topology, /stores and / on {}://{local}",
        scheme
    );
    Ok(HttpServer { addr: local })
}

async fn serve(listener: std::net::TcpListener, handle: PrometheusHandle, guard: Guard) {
    tokio::spawn(async {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            telemetry().sample();
        }
    });
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!("--http: {error}");
            return;
        }
    };
    let routes = router(handle, guard.token);
    match guard.tls {
        Some(acceptor) => serve_tls(listener, routes, acceptor).await,
        None => {
            if let Err(error) = axum::serve(listener, routes).await {
                tracing::error!("--http: the server stopped: {error}");
            }
        }
    }
}

/// Serves `routes` over TLS: each connection's handshake and requests on a
/// task of its own, so a slow or failed handshake holds up no one else.
async fn serve_tls(listener: tokio::net::TcpListener, routes: Router, acceptor: tokio_rustls::TlsAcceptor) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!("--http: accept: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let routes = routes.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!("--http: TLS handshake refused: {error}");
                    return;
                }
                Err(_) => return,
            };
            let service = hyper_util::service::TowerToHyperService::new(routes);
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await
            {
                tracing::debug!("--http: connection: {error}");
            }
        });
    }
}

/// The routes (tests serve them on their own listener), behind `token`
/// when there is one.
pub fn router(handle: PrometheusHandle, token: Option<Token>) -> Router {
    let routes = Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    telemetry().refresh_gauges();
                    handle.run_upkeep();
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                        handle.render(),
                    )
                }
            }),
        )
        .route("/health", get(|| async { Json(serde_json::json!({"status": "UP"})) }))
        .route("/ready", get(ready))
        .route("/status", get(|| async { Json(telemetry().status_json()) }))
        .route("/lag", get(|| async { Json(telemetry().lag_json()) }))
        .route("/topology", get(|| async { Json(telemetry().topology_json()) }))
        .route("/page.json", get(|| async { Json(telemetry().page_json()) }))
        .route("/stores/{store}/keys/{key}", get(super::store_queries::handler))
        .route(
            "/stores/{store}/metadata/{key}",
            get(super::store_queries::metadata_handler),
        )
        .route("/stores/{store}/range", get(super::store_scans::range_handler))
        .route(
            "/stores/{store}/prefix/{prefix}",
            get(super::store_scans::prefix_handler),
        )
        .route(
            "/stores/{store}/windows/{key}",
            get(super::store_scans::windows_handler),
        )
        .route("/", get(|| async { Html(PAGE) }));
    match token {
        // A layer, not a route layer: unknown paths are refused alike.
        Some(token) => routes.layer(axum::middleware::from_fn_with_state(token, super::auth::require)),
        None => routes,
    }
}

async fn ready() -> Response {
    let state = telemetry().state.get();
    let code = if state == AppState::Running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(serde_json::json!({"state": state}))).into_response()
}
