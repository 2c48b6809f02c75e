//! The inline proxy runtime: links (listener + upstream), sessions, policy
//! and certificate reload, readiness, drain. The decision itself is
//! [`crate::decision::decide`], called once per message.

pub mod budget;
pub mod session;
pub mod shared;
pub mod stage;
pub mod upstream;

use crate::runtime::court_orders::{open_ledger, StoreChoice};
use shared::{Io, Slot};
pub use shared::{Link, Shared};

use crate::audit::record::Event;
use crate::runtime::audit_log::AuditLog;
use crate::runtime::config::Config;
use crate::runtime::metrics as m;
use crate::runtime::policy_store::PolicyStore;
use crate::runtime::tls::LinkTls;
use metrics::{counter, gauge};
use session::Admission;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the proxy could not start; each variant names what failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The policy file was refused (exit 64).
    #[error("policy {path}:\n{errors}")]
    Policy {
        /// The policy file.
        path: String,
        /// Every error, with file and line.
        errors: crate::policy::file::Refused,
    },
    /// A link's TLS files could not be loaded (exit 64).
    #[error("link {link}: {error}")]
    Tls {
        /// The link.
        link: String,
        /// What is wrong with which file.
        error: crate::runtime::tls::TlsError,
    },
    /// The audit log could not be opened (exit 1).
    #[error("{0}")]
    Audit(#[from] crate::runtime::audit_log::AuditError),
    /// A link could not bind its listen address (exit 1).
    #[error("link {link}: bind {addr}: {error}")]
    Bind {
        /// The link.
        link: String,
        /// The address.
        addr: String,
        /// The system error.
        error: std::io::Error,
    },
    /// The decision stage's threads could not be started (exit 1).
    #[error("decision workers: cannot start a thread: {0}")]
    Workers(std::io::Error),
    /// The court-order ledger cannot be read (exit 65: an operator must
    /// look; starting without it could grant a use twice).
    #[error("{0}")]
    Ledger(String),
    /// The admin endpoint could not bind (exit 1).
    #[error("admin {addr}: {error}")]
    Admin {
        /// The address.
        addr: SocketAddr,
        /// The system error.
        error: std::io::Error,
    },
}

impl StartError {
    /// The process exit code: 64 for configuration, 65 for an audit log
    /// that does not verify under `on_corrupt = "refuse"` (an operator must
    /// look; restarting will not help), 1 for run-time resources.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Policy { .. } | StartError::Tls { .. } => 64,
            StartError::Audit(crate::runtime::audit_log::AuditError::Corrupt { .. })
            | StartError::Ledger(_) => 65,
            _ => 1,
        }
    }
}

/// A proxy built from its configuration — policy loaded and validated, TLS
/// files loaded — with nothing bound, opened or started yet
/// (`serve --check` stops here).
pub struct Built {
    cfg: Config,
    policy: PolicyStore,
    tls: Vec<LinkTls>,
    admin_token: Option<String>,
    admin_tls: Option<Arc<rustls::ServerConfig>>,
    ledger: Arc<crate::decision::ledger::Ledger>,
    shadow: Option<crate::runtime::shadow::Shadow>,
}

impl Built {
    /// The validated policy.
    pub fn policy(&self) -> std::sync::Arc<crate::policy::Policy> {
        self.policy.current()
    }
}

/// A running proxy.
pub struct Proxy {
    /// Shared state.
    pub shared: Arc<Shared>,
    /// Bound listen address of each link, in configuration order.
    pub listen_addrs: Vec<SocketAddr>,
    /// Bound admin address, if any.
    pub admin_addr: Option<SocketAddr>,
    accept_tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    /// Builds, binds and starts accepting ([`Proxy::build`] then
    /// [`Proxy::bind`]). Must be called inside a tokio runtime.
    pub async fn start(cfg: &Config, admin_token: Option<String>) -> Result<Proxy, StartError> {
        Proxy::bind(Proxy::build(cfg, admin_token)?).await
    }

    /// Loads and validates everything that can be checked without binding
    /// or writing: the policy and every link's TLS files.
    pub fn build(cfg: &Config, admin_token: Option<String>) -> Result<Built, StartError> {
        let policy = PolicyStore::open_signed_state(
            &cfg.policy,
            cfg.signing.clone(),
            cfg.signing_state.clone(),
        )
        .map_err(|errors| StartError::Policy {
            path: cfg.policy.clone(),
            errors,
        })?;
        let mut tls = Vec::new();
        for l in &cfg.links {
            tls.push(
                LinkTls::load(l.switch_tls.as_ref(), l.nlets_tls.as_ref()).map_err(|error| {
                    StartError::Tls {
                        link: l.name.clone(),
                        error,
                    }
                })?,
            );
        }
        let admin_tls = cfg
            .admin_tls
            .as_ref()
            .map(crate::runtime::tls::admin_server_config)
            .transpose()
            .map_err(|error| StartError::Tls {
                link: "admin".into(),
                error,
            })?
            .map(Arc::new);
        let choice = StoreChoice::of(cfg);
        let ledger = Arc::new(
            open_ledger(
                choice,
                cfg.audit.as_ref().map(|a| std::path::Path::new(&a.file)),
                &policy.current(),
                std::time::SystemTime::now(),
            )
            .map_err(|e| StartError::Ledger(e.to_string()))?,
        );
        let shadow = match &cfg.shadow_policy {
            Some(p) => Some(crate::runtime::shadow::Shadow::open(p).map_err(|errors| {
                StartError::Policy {
                    path: p.clone(),
                    errors,
                }
            })?),
            None => None,
        };
        Ok(Built {
            cfg: cfg.clone(),
            policy,
            tls,
            admin_token,
            admin_tls,
            ledger,
            shadow,
        })
    }

    /// Opens the audit log, binds every listener and the admin endpoint, and
    /// starts accepting.
    // Long (~150 lines): one ordered start sequence (audit, links, admin,
    // watchers) whose failures each map to a `StartError`; not yet split.
    pub async fn bind(b: Built) -> Result<Proxy, StartError> {
        let Built {
            cfg,
            policy,
            tls,
            admin_token,
            admin_tls,
            ledger,
            shadow,
        } = b;
        m::install();
        for w in &policy.current().warnings {
            tracing::warn!("{w}");
        }
        let audit = match &cfg.audit {
            Some(a) => {
                let path = &a.file;
                let (log, opened) = AuditLog::open_with(path, a.opts.clone())?;
                if opened.truncated > 0 {
                    tracing::warn!(
                        path,
                        bytes = opened.truncated,
                        "audit log had a torn last record: cut off and recorded"
                    );
                }
                Some(Arc::new(log))
            }
            None => {
                tracing::warn!("no audit log configured: decisions are counted but not audited");
                None
            }
        };
        let mut links = Vec::new();
        let mut listeners = Vec::new();
        for (l, tls) in cfg.links.iter().zip(tls) {
            let listener =
                TcpListener::bind(&l.listen)
                    .await
                    .map_err(|error| StartError::Bind {
                        link: l.name.clone(),
                        addr: l.listen.clone(),
                        error,
                    })?;
            listeners.push(listener);
            let lim = &cfg.limits;
            links.push(Arc::new(Link {
                cfg: l.clone(),
                tls,
                conns: Arc::new(Semaphore::new(lim.max_sessions + lim.max_pending)),
                pending: Arc::new(Semaphore::new(lim.max_pending)),
                sessions: Arc::new(Semaphore::new(lim.max_sessions)),
                peers: Mutex::new(Default::default()),
                refusing: Arc::new(Semaphore::new(shared::MAX_REFUSING)),
                learned: Mutex::new(Default::default()),
                pending_order: Mutex::new(Default::default()),
            }));
        }
        let shared = Arc::new(Shared {
            policy,
            audit,
            on_failure: cfg
                .audit
                .as_ref()
                .map_or(crate::runtime::audit_log::OnFailure::Stop, |a| a.on_failure),
            budget: budget::Budget::new(cfg.limits.buffer_budget),
            msg_limits: crate::message::Limits {
                max_text: cfg.limits.max_message,
                ..crate::message::Limits::default()
            },
            decisions: match cfg.limits.decision_workers {
                0 | 1 => None,
                n => Some(
                    stage::DecisionPool::new(n, Some(ledger.clone()))
                        .map_err(StartError::Workers)?,
                ),
            },
            limits: cfg.limits.clone(),
            drain: CancellationToken::new(),
            cut: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
            sessions: AtomicUsize::new(0),
            links,
            stop_request: CancellationToken::new(),
            reload_lock: Mutex::new(()),
            ledger,
            shadow,
        });
        let p = shared.policy.current();
        m::policy_in_force(None, &p);
        if let Some(a) = &shared.audit {
            let _ = a.append(&Event::Lifecycle { what: "start" });
            let _ = a.append(&Event::policy_load(
                true, &p.version, &p.source, "startup", 0,
            ));
            for e in Event::signers_in_force(None, &p)
                .into_iter()
                .chain(Event::policy_signed(None, &p))
                .chain(Event::orders_entered(None, &p))
            {
                let _ = a.append(&e);
            }
            gauge!(m::AUDIT_HEALTHY).set(1.0);
        }
        gauge!(m::READY).set(1.0);
        let admin_addr = match cfg.admin {
            Some(addr) => Some(
                crate::runtime::admin::start(
                    addr,
                    shared.clone(),
                    admin_token,
                    admin_tls,
                    crate::runtime::admin::AdminLimits {
                        max_connections: cfg.admin_max_connections,
                        timeout: cfg.admin_timeout,
                    },
                )
                .await
                .map_err(|error| StartError::Admin { addr, error })?,
            ),
            None => None,
        };
        let mut listen_addrs = Vec::new();
        let mut accept_tasks = Vec::new();
        for (listener, link) in listeners.into_iter().zip(shared.links.iter().cloned()) {
            let addr = listener.local_addr().map_err(|error| StartError::Bind {
                link: link.cfg.name.clone(),
                addr: link.cfg.listen.clone(),
                error,
            })?;
            tracing::info!(link = %link.cfg.name, listen = %addr, upstream = %link.cfg.upstream, framing = %link.cfg.framing,
                switch_tls = link.cfg.switch_tls.is_some(), nlets_tls = link.cfg.nlets_tls.is_some(), "link ready");
            listen_addrs.push(addr);
            accept_tasks.push(tokio::spawn(accept_loop(shared.clone(), link, listener)));
        }
        tracing::info!(policy = %p.short_version(), audit = shared.audit.as_ref().map(|a| a.path().to_string()).unwrap_or_default(), "origuard serving");
        Ok(Proxy {
            shared,
            listen_addrs,
            admin_addr,
            accept_tasks,
        })
    }

    /// Stops accepting (serving what the kernel had already queued), keeps
    /// reading every session until it is idle for [`DRAIN_IDLE`] or the
    /// drain deadline passes; then stops the readers (declining, with
    /// records, what they still find), and 2 s later closes what is left;
    /// then closes the audit log (its error is the only failure).
    pub async fn shutdown(self) -> Result<(), crate::runtime::audit_log::AuditError> {
        let s = &self.shared;
        gauge!(m::READY).set(0.0);
        tracing::info!(sessions = s.sessions.load(Ordering::SeqCst), drain = ?s.limits.drain_timeout, "draining");
        let deadline = tokio::time::Instant::now() + s.limits.drain_timeout;
        s.drain.cancel();
        for mut t in self.accept_tasks {
            // Each loop takes the connections already queued, then ends.
            if tokio::time::timeout(Duration::from_secs(1), &mut t)
                .await
                .is_err()
            {
                t.abort();
            }
        }
        s.tasks.close();
        if tokio::time::timeout_at(deadline, s.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = s.sessions.load(Ordering::SeqCst),
                "drain time is up: stopping the sessions still receiving; what they still hold is declined and recorded"
            );
            s.cut.cancel();
            if tokio::time::timeout(Duration::from_secs(2), s.tasks.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    left = s.sessions.load(Ordering::SeqCst),
                    "sessions still open 2 s after the drain deadline: closing them at once"
                );
                s.hard_stop.cancel();
                let _ = tokio::time::timeout(Duration::from_secs(2), s.tasks.wait()).await;
            }
        }
        if let Some(a) = &s.audit {
            let _ = a.append(&Event::Lifecycle { what: "stop" });
            a.close()?;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// How long a session must be quiet (no complete message either way, no
/// partial one) during a drain before it is closed.
pub const DRAIN_IDLE: Duration = Duration::from_millis(500);

async fn accept_loop(shared: Arc<Shared>, link: Arc<Link>, listener: TcpListener) {
    let mut delay = Duration::from_millis(10);
    loop {
        // The connection cap (sessions + pending) pushes back on accepting,
        // not after it, so file descriptors stay bounded.
        let conn = tokio::select! {
            p = link.conns.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shared.drain.cancelled() => break,
        };
        let (sock, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => { delay = Duration::from_millis(10); x }
                Err(e) => {
                    // Out of file descriptors and similar: back off, keep serving.
                    counter!(m::ACCEPT_ERRORS, "listener" => link.cfg.name.clone()).increment(1);
                    tracing::warn!(link = %link.cfg.name, error = %e, "accept failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
            _ = shared.drain.cancelled() => break,
        };
        if !take(&shared, &link, conn, sock, peer, true).await {
            break;
        }
    }
    // Draining: the connections the kernel completed before the drain —
    // their senders believe they are connected and may have sent — are
    // served like any other (read until idle), then the listener closes.
    while let Ok(conn) = link.conns.clone().try_acquire_owned() {
        match tokio::time::timeout(Duration::ZERO, listener.accept()).await {
            Ok(Ok((sock, peer))) => {
                if !take(&shared, &link, conn, sock, peer, false).await {
                    break;
                }
            }
            _ => break,
        }
    }
}

/// Admits (pending) or refuses an accepted connection and spawns its task.
/// `wait`: at the refusing cap, wait for a permit (else give up: false).
async fn take(
    shared: &Arc<Shared>,
    link: &Arc<Link>,
    conn: tokio::sync::OwnedSemaphorePermit,
    sock: TcpStream,
    peer: SocketAddr,
    wait: bool,
) -> bool {
    let lim = &shared.limits;
    {
        // A connection is pending until its first complete message: it
        // counts against a small budget of its own, per link and per peer,
        // so idle connections cannot take the switch's session slots.
        // A known peer (the switch) finding the budget full takes the place
        // of the oldest pending connection of an unknown address.
        let known = link.known(peer.ip());
        let pending = match link.pending.clone().try_acquire_owned() {
            Ok(p) => Ok(p),
            Err(_) if known && link.evict_unknown_pending() => {
                match tokio::time::timeout(
                    Duration::from_secs(1),
                    link.pending.clone().acquire_owned(),
                )
                .await
                {
                    Ok(Ok(p)) => Ok(p),
                    _ => Err("pending_full"),
                }
            }
            Err(_) => Err("pending_full"),
        };
        let admitted = pending.and_then(|pending| {
            link.peer_slot(peer.ip(), Slot::Pending, lim.max_pending_per_peer)
                .map(|slot| (pending, slot))
                .ok_or("peer_pending")
        });
        let (admission, conn) = match admitted {
            Ok((pending, slot)) => (Admission::new(link, peer.ip(), known, pending, slot), conn),
            Err(reason) => {
                // Refused, but what it already sent is read (briefly) and
                // declined with a record, never dropped unread. It holds a
                // refusing permit instead of a connection permit; at that
                // cap the loop waits and new connections stay in the backlog.
                counter!(m::REFUSED, "link" => link.cfg.name.clone(), "reason" => reason)
                    .increment(1);
                tracing::debug!(link = %link.cfg.name, %peer, reason, "connection refused: what it sent is declined");
                drop(conn);
                let refusing = match wait {
                    true => tokio::select! {
                        p = link.refusing.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return false },
                        _ = shared.drain.cancelled() => return false,
                    },
                    false => match link.refusing.clone().try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => return false,
                    },
                };
                (Admission::refused(peer.ip(), reason), refusing)
            }
        };
        let _ = sock.set_nodelay(true);
        let tasks = shared.tasks.clone();
        let (shared, link) = (shared.clone(), link.clone());
        tasks.spawn(async move {
            let _conn = conn;
            let hard = shared.hard_stop.clone();
            tokio::select! {
                _ = session_task(shared, link, sock, peer, admission) => {}
                _ = hard.cancelled() => {}
            }
        });
    }
    true
}

/// Counts a connection being served (pending or session) while alive.
struct Served(Arc<Shared>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn session_task(
    shared: Arc<Shared>,
    link: Arc<Link>,
    sock: TcpStream,
    peer: SocketAddr,
    admission: Admission,
) {
    let name = link.cfg.name.clone();
    shared.sessions.fetch_add(1, Ordering::SeqCst);
    let _served = Served(shared.clone());
    let refuse = |reason: &'static str| {
        counter!(m::REFUSED, "link" => name.clone(), "reason" => reason).increment(1)
    };
    // Switch side: TLS if configured, within the handshake deadline.
    let handshake = match admission.is_refused() {
        true => session::REFUSE_WINDOW.min(shared.limits.handshake_timeout),
        false => shared.limits.handshake_timeout,
    };
    let switch: Box<dyn Io> = match link.tls.acceptor() {
        Some(acc) => match tokio::time::timeout(handshake, acc.accept(sock)).await {
            Ok(Ok(s)) => Box::new(s),
            Ok(Err(e)) => {
                tracing::warn!(link = %name, %peer, error = %e, "switch TLS handshake failed");
                refuse("tls_handshake");
                return;
            }
            Err(_) => {
                tracing::warn!(link = %name, %peer, "switch TLS handshake timed out");
                refuse("tls_timeout");
                return;
            }
        },
        None => Box::new(sock),
    };
    tracing::debug!(link = %name, %peer, "connection open");
    let end = session::run(shared.clone(), link.clone(), switch, admission).await;
    counter!(m::SESSIONS, "link" => name.clone(), "end" => end.name()).increment(1);
    if end.notable() {
        tracing::info!(link = %name, %peer, end = end.name(), side = ?end.side(), "session closed");
    } else {
        tracing::debug!(link = %name, %peer, end = end.name(), side = ?end.side(), "session closed");
    }
}
