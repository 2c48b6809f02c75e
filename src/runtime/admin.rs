//! The admin and metrics endpoint (HTTP/1.1, loopback by default):
//!
//! * `GET /metrics` — Prometheus text format;
//! * `GET /live` — 200 while the process runs;
//! * `GET /ready` — 200 when serving, 503 while draining or when the audit
//!   log has failed (with the reason);
//! * `GET /status` — JSON: policy version, audit head, sessions;
//! * `POST /reload` — reload policy and certificates (token required);
//! * `POST /shutdown` — drain and stop (token required);
//! * `POST /reopen` — reopen the audit log after an external rotation
//!   (token required; same as `SIGUSR1`).
//!
//! At most `admin.max_connections` connections are served at once (the rest
//! wait in the listen backlog, so scrapers cannot exhaust file descriptors
//! the data plane needs); a request's headers must arrive within
//! `admin.timeout`, and a connection lives at most six times that.
//!
//! State-changing requests need `Authorization: Bearer <token>` of a named
//! administrator with the scope (`reload` for reload and reopen, `stop` for
//! shutdown; [`crate::runtime::admin_auth`]); each one is audited with the
//! administrator's name. Without a token file they are refused (403).

use crate::runtime::admin_auth::{Admins, Denied, Scope};
use crate::runtime::metrics::render as render_metrics;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The result of a reload attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloaded {
    /// The new policy is in force (false: refused, the old one stays).
    pub applied: bool,
    /// What happened, for operators (the errors when refused).
    pub message: String,
}

/// What the admin endpoint needs from the proxy. The proxy implements it,
/// so this module does not depend on the proxy (no import cycle).
pub trait Control: Send + Sync + 'static {
    /// `Ok` when ready for traffic, else why not.
    fn ready(&self) -> Result<(), String>;
    /// The `/status` document.
    fn status(&self) -> serde_json::Value;
    /// Reloads the policy (and certificates when `tls`).
    fn reload(&self, trigger: &str, tls: bool) -> Reloaded;
    /// Asks the process to drain and stop.
    fn stop(&self);
    /// Reopens the audit log after an external rotation.
    fn reopen(&self) -> Result<String, String>;
    /// The shadow policy's counts (`GET /shadow`), when one is configured.
    fn shadow(&self) -> Option<serde_json::Value> {
        None
    }
    /// Records an administrator's state-changing call (`who`, `action`,
    /// `outcome`: applied, refused, denied) in the audit log.
    fn admin_call(&self, who: &str, action: &str, outcome: &str) {
        let _ = (who, action, outcome);
    }
}

fn resp(code: StatusCode, ctype: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = code;
    if let Ok(v) = ctype.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// The name of the administrator making `req`, when they hold `scope`;
/// else the refusal (401 unknown, 403 without the scope, audited).
fn authorized(
    shared: &Arc<dyn Control>,
    req: &Request<Incoming>,
    admins: &Option<Admins>,
    scope: Scope,
    action: &str,
) -> Result<String, Box<Response<Full<Bytes>>>> {
    let Some(admins) = admins else {
        return Err(Box::new(resp(
            StatusCode::FORBIDDEN,
            "text/plain",
            "admin token not configured: state-changing requests are disabled\n",
        )));
    };
    let given = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match admins.authorize(given, scope) {
        Ok(a) => Ok(a.name.clone()),
        Err(Denied::Unknown) => {
            tracing::warn!(
                action,
                "admin request with a missing or unknown token refused"
            );
            Err(Box::new(resp(
                StatusCode::UNAUTHORIZED,
                "text/plain",
                "unauthorized\n",
            )))
        }
        Err(d @ Denied::Scope { .. }) => {
            if let Denied::Scope { name, .. } = &d {
                tracing::warn!(action, admin = %name, "admin request refused: scope");
                shared.admin_call(name, action, "denied");
            }
            Err(Box::new(resp(
                StatusCode::FORBIDDEN,
                "text/plain",
                format!("forbidden: {d}\n"),
            )))
        }
    }
}

async fn handle(
    shared: Arc<dyn Control>,
    token: Arc<Option<Admins>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let r = match (req.method(), req.uri().path()) {
        (&Method::GET, "/metrics") => resp(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            render_metrics(),
        ),
        (&Method::GET, "/live") => resp(StatusCode::OK, "text/plain", "live\n"),
        (&Method::GET, "/ready") => match shared.ready() {
            Ok(()) => resp(StatusCode::OK, "text/plain", "ready\n"),
            Err(why) => resp(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not ready: {why}\n"),
            ),
        },
        (&Method::GET, "/status") => resp(
            StatusCode::OK,
            "application/json",
            format!("{}\n", shared.status()),
        ),
        (&Method::GET, "/shadow") => match shared.shadow() {
            Some(v) => resp(StatusCode::OK, "application/json", format!("{v}\n")),
            None => resp(
                StatusCode::NOT_FOUND,
                "text/plain",
                "no shadow policy is configured ([policy] shadow)\n",
            ),
        },
        (&Method::POST, "/reload") => {
            match authorized(&shared, &req, &token, Scope::Reload, "reload") {
                Err(r) => *r,
                Ok(who) => {
                    let sh = shared.clone();
                    match tokio::task::spawn_blocking(move || sh.reload("admin", true)).await {
                        Ok(Reloaded {
                            applied: true,
                            message,
                        }) => {
                            shared.admin_call(&who, "reload", "applied");
                            resp(StatusCode::OK, "text/plain", format!("{message}\n"))
                        }
                        Ok(Reloaded {
                            applied: false,
                            message: msg,
                        }) => {
                            shared.admin_call(&who, "reload", "refused");
                            resp(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "text/plain",
                                format!("{msg}\n"),
                            )
                        }
                        Err(_) => resp(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "text/plain",
                            "reload task failed\n",
                        ),
                    }
                }
            }
        }
        (&Method::POST, "/reopen") => {
            match authorized(&shared, &req, &token, Scope::Reload, "reopen") {
                Err(r) => *r,
                Ok(who) => {
                    shared.admin_call(&who, "reopen", "applied");
                    let sh = shared.clone();
                    match tokio::task::spawn_blocking(move || sh.reopen()).await {
                        Ok(Ok(msg)) => resp(StatusCode::OK, "text/plain", format!("{msg}\n")),
                        Ok(Err(msg)) => resp(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "text/plain",
                            format!("{msg}\n"),
                        ),
                        Err(_) => resp(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "text/plain",
                            "reopen task failed\n",
                        ),
                    }
                }
            }
        }
        (&Method::POST, "/shutdown") => {
            match authorized(&shared, &req, &token, Scope::Stop, "shutdown") {
                Err(r) => *r,
                Ok(who) => {
                    shared.admin_call(&who, "shutdown", "applied");
                    shared.stop();
                    resp(StatusCode::ACCEPTED, "text/plain", "draining\n")
                }
            }
        }
        _ => resp(StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    };
    Ok(r)
}

/// How the admin endpoint limits its clients.
#[derive(Clone, Copy, Debug)]
pub struct AdminLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Header deadline; a connection lives at most six times this.
    pub timeout: std::time::Duration,
}

/// Binds the admin endpoint and serves it in the background.
pub async fn start(
    addr: SocketAddr,
    shared: Arc<dyn Control>,
    token: Option<String>,
    limits: AdminLimits,
) -> std::io::Result<SocketAddr> {
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "admin endpoint bound to a non-loopback address");
    }
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let admins = match token.as_deref().map(Admins::parse) {
        None => None,
        Some(Ok(a)) => {
            if a.shared {
                tracing::warn!("admin token file holds one shared token: changes are audited as shared-token, not a person; list named administrators (specs/config.md)");
            }
            Some(a)
        }
        Some(Err(e)) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("admin token file: {e}"),
            ))
        }
    };
    let token = Arc::new(admins);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    tokio::spawn(async move {
        let mut delay = std::time::Duration::from_millis(10);
        loop {
            // The cap holds back accepting: waiting clients stay in the
            // kernel's backlog instead of taking file descriptors.
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let (s, _) = match listener.accept().await {
                Ok(x) => {
                    delay = std::time::Duration::from_millis(10);
                    x
                }
                Err(e) => {
                    metrics::counter!(crate::runtime::metrics::ACCEPT_ERRORS, "listener" => "admin")
                        .increment(1);
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(1));
                    continue;
                }
            };
            let (sh, tk) = (shared.clone(), token.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let svc = service_fn(move |req| handle(sh.clone(), tk.clone(), req));
                let conn = http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(limits.timeout)
                    .serve_connection(TokioIo::new(s), svc);
                let _ = tokio::time::timeout(limits.timeout * 6, conn).await;
            });
        }
    });
    Ok(local)
}
