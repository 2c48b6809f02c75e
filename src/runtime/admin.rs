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
//! At most `admin.max_connections` connections are open at once, so
//! scrapers cannot exhaust file descriptors the data plane needs; at the
//! cap a new connection takes the place of the one that has waited longest
//! for a request, so idle connections cannot keep a probe out; a request's
//! headers must arrive within `admin.timeout`, and a connection lives at
//! most six times that.
//!
//! State-changing requests need a named administrator with the scope
//! (`reload` for reload and reopen, `stop` for shutdown;
//! [`crate::runtime::admin_auth`]): a TLS client certificate whose DNS
//! name the token file lists, or `Authorization: Bearer <token>`; each one
//! is audited with the administrator's identity. Without a token file they
//! are refused (403).
//!
//! With `[admin] tls` the endpoint speaks HTTPS only (rustls). A client
//! certificate is optional at the TLS layer, so probes without one reach
//! the read-only endpoints; one that is presented must chain to
//! `client_ca`, or the handshake fails. The handshake must finish within
//! `admin.timeout`.

use crate::runtime::admin_auth::{cert_dns_names, Admins, Denied, Scope};
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

/// Why the proxy is not ready for traffic (`GET /ready`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// Draining before a stop.
    #[error("draining")]
    Draining,
    /// The audit log cannot write (its first error).
    #[error("audit log failed: {0}")]
    AuditFailed(String),
}

/// Why the audit log was not reopened (`POST /reopen`, `SIGUSR1`).
#[derive(Clone, Debug, thiserror::Error)]
pub enum ReopenError {
    /// There is no audit log to reopen.
    #[error("no audit log configured")]
    NoAuditLog,
    /// The log could not check or start its file.
    #[error(transparent)]
    Audit(#[from] crate::runtime::audit_log::AuditError),
}

/// What the admin endpoint needs from the proxy. The proxy implements it,
/// so this module does not depend on the proxy (no import cycle).
pub trait Control: Send + Sync + 'static {
    /// `Ok` when ready for traffic, else why not.
    fn ready(&self) -> Result<(), NotReady>;
    /// The `/status` document.
    fn status(&self) -> serde_json::Value;
    /// Reloads the policy (and certificates when `tls`).
    fn reload(&self, trigger: &str, tls: bool) -> Reloaded;
    /// Asks the process to drain and stop.
    fn stop(&self);
    /// Reopens the audit log after an external rotation.
    fn reopen(&self) -> Result<String, ReopenError>;
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
    peer: &[String],
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
    match admins.authorize_peer(peer, given, scope) {
        Ok(a) => Ok(a.identity()),
        Err(Denied::Unknown) => {
            tracing::warn!(
                action,
                certificate = ?peer,
                "admin request with no known certificate and a missing or unknown token refused"
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

/// Answers one request; `peer` holds the DNS names of the connection's
/// verified client certificate (empty without one).
// Long: one match, one arm per admin route; the longest, /reload, maps each outcome to its status.
async fn handle(
    shared: Arc<dyn Control>,
    token: Arc<Option<Admins>>,
    peer: Arc<Vec<String>>,
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
            match authorized(&shared, &req, &token, &peer, Scope::Reload, "reload") {
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
            match authorized(&shared, &req, &token, &peer, Scope::Reload, "reopen") {
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
            match authorized(&shared, &req, &token, &peer, Scope::Stop, "shutdown") {
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

/// One admin connection, as the accept loop sees it: while it waits for a
/// request (nothing asked yet, or idle between keep-alive requests) it may
/// be evicted to make room for a new connection.
struct AdminConn {
    /// When it began waiting for its next request (ms since the endpoint
    /// started).
    waiting_since: std::sync::atomic::AtomicU64,
    /// A request is being handled.
    busy: std::sync::atomic::AtomicBool,
    /// Cancelled to evict it.
    evict: tokio_util::sync::CancellationToken,
}

/// The open admin connections, for eviction.
#[derive(Default)]
struct AdminConns {
    open: std::sync::Mutex<Vec<Arc<AdminConn>>>,
}

impl AdminConns {
    /// Closes the connection that has waited longest for a request, if
    /// one is waiting; true when one was evicted.
    fn evict_oldest_waiting(&self) -> bool {
        use std::sync::atomic::Ordering;
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = open
            .iter()
            .filter(|c| !c.busy.load(Ordering::SeqCst) && !c.evict.is_cancelled())
            .min_by_key(|c| c.waiting_since.load(Ordering::SeqCst));
        match oldest {
            Some(c) => {
                c.evict.cancel();
                true
            }
            None => false,
        }
    }

    fn remove(&self, c: &Arc<AdminConn>) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|x| !Arc::ptr_eq(x, c));
    }
}

/// Serves HTTP/1.1 on one admin connection (plain or TLS); `peer` is the
/// verified client certificate's DNS names.
async fn serve<I>(
    io: TokioIo<I>,
    sh: Arc<dyn Control>,
    tk: Arc<Option<Admins>>,
    peer: Arc<Vec<String>>,
    c: Arc<AdminConn>,
    epoch: std::time::Instant,
    limits: AdminLimits,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let (sh, tk, peer, c) = (sh.clone(), tk.clone(), peer.clone(), c.clone());
        async move {
            use std::sync::atomic::Ordering;
            c.busy.store(true, Ordering::SeqCst);
            let r = handle(sh, tk, peer, req).await;
            c.waiting_since
                .store(epoch.elapsed().as_millis() as u64, Ordering::SeqCst);
            c.busy.store(false, Ordering::SeqCst);
            r
        }
    });
    let _ = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.timeout)
        .serve_connection(io, svc)
        .await;
}

/// Binds the admin endpoint and serves it in the background.
///
/// **Under flood** (idle or slow connections): at most
/// `limits.max_connections` are open at once. When a new connection comes
/// at the cap, the one that has waited longest for a request — never
/// one being answered — is closed to make room, so a probe (`/live`,
/// `/ready`) that sends its request at once is always read and answered
/// at once; only when every open connection is being answered does the
/// loop wait, leaving newcomers in the kernel's backlog. A request's
/// headers must arrive within `limits.timeout`; a connection lives at most
/// six times that.
///
/// `tls` (from [`crate::runtime::tls::admin_server_config`]): HTTPS, and
/// administrators named by their client certificates; None: plain HTTP.
// Long: one accept loop and its per-connection task, sharing the cap, eviction and TLS state.
pub async fn start(
    addr: SocketAddr,
    shared: Arc<dyn Control>,
    token: Option<String>,
    tls: Option<Arc<rustls::ServerConfig>>,
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
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let cap = limits.max_connections.max(1);
    let slots = Arc::new(tokio::sync::Semaphore::new(cap));
    let conns = Arc::new(AdminConns::default());
    let epoch = std::time::Instant::now();
    tokio::spawn(async move {
        let mut delay = std::time::Duration::from_millis(10);
        loop {
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
            // At the cap, make room by closing the connection that has
            // waited longest for a request; if every one is being
            // answered, wait (holding this one): later clients stay in
            // the kernel's backlog.
            let permit = match slots.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    conns.evict_oldest_waiting();
                    let Ok(p) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    p
                }
            };
            let _ = s.set_nodelay(true);
            let conn = Arc::new(AdminConn {
                waiting_since: (epoch.elapsed().as_millis() as u64).into(),
                busy: false.into(),
                evict: tokio_util::sync::CancellationToken::new(),
            });
            conns
                .open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn.clone());
            let (sh, tk, all) = (shared.clone(), token.clone(), conns.clone());
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let c = conn.clone();
                let session = async move {
                    let Some(acceptor) = acceptor else {
                        return serve(TokioIo::new(s), sh, tk, Arc::default(), c, epoch, limits)
                            .await;
                    };
                    match tokio::time::timeout(limits.timeout, acceptor.accept(s)).await {
                        Ok(Ok(t)) => {
                            let names = t
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| cert_dns_names(c))
                                .unwrap_or_default();
                            serve(TokioIo::new(t), sh, tk, Arc::new(names), c, epoch, limits).await
                        }
                        Ok(Err(e)) => tracing::warn!(error = %e, "admin TLS handshake refused"),
                        Err(_) => tracing::warn!("admin TLS handshake timed out"),
                    }
                };
                tokio::select! {
                    _ = tokio::time::timeout(limits.timeout * 6, session) => {}
                    _ = conn.evict.cancelled() => {}
                }
                all.remove(&conn);
            });
        }
    });
    Ok(local)
}
