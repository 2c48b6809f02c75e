//! The `serve` configuration file (TOML; see `specs/config.md`) and the
//! single-link quick start built from flags. Loaded and validated without
//! binding anything; relative paths are resolved against the file's directory.

use crate::framing::{Framing, DEFAULT_MAX_MESSAGE};
use crate::runtime::audit_log::{OnFailure, Options as AuditOptions, SyncMode, MAX_PREALLOCATE};
use serde::Deserialize;
use std::net::SocketAddr;
use std::time::Duration;

/// TLS for the accepted (switch) side: we are the server.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// Our certificate chain (PEM).
    pub cert: String,
    /// Our private key (PEM).
    pub key: String,
    /// CA certificates (PEM) that client certificates must chain to. When
    /// set, a client certificate is required (mutual TLS).
    pub client_ca: Option<String>,
}

/// TLS for the upstream (Nlets) side: we are the client.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// CA certificates (PEM) the server must chain to (private trust store;
    /// the system store is never used).
    pub ca: String,
    /// Name to verify in the server certificate.
    pub server_name: String,
    /// Our client certificate chain (PEM), for mutual TLS.
    pub cert: Option<String>,
    /// Our client key (PEM).
    pub key: Option<String>,
}

/// One link: a listener for the switch and the upstream it connects to.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Name (metrics label, audit).
    pub name: String,
    /// Address the switch connects to.
    pub listen: String,
    /// Address of the Nlets side.
    pub upstream: String,
    /// Wire framing.
    #[serde(default = "default_framing")]
    pub framing: Framing,
    /// TLS toward the switch.
    pub switch_tls: Option<ServerTls>,
    /// TLS toward Nlets.
    pub nlets_tls: Option<ClientTls>,
    /// When to connect to Nlets: once the switch has sent a complete message
    /// (default; idle connections cost nothing upstream), or at once.
    #[serde(default)]
    pub dial: Dial,
    /// The switch's source addresses: known peers, whose new connections
    /// may evict idle pending connections of other addresses. Empty: the
    /// addresses that have sent a valid message since start are known.
    #[serde(default)]
    pub switch_addresses: Vec<std::net::IpAddr>,
}

/// When a session connects to its upstream.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, strum::IntoStaticStr, strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Dial {
    /// After the switch's first complete message.
    #[default]
    OnMessage,
    /// As soon as the switch's connection is accepted (for switches that
    /// wait for Nlets to speak first).
    OnAccept,
}

fn default_framing() -> Framing {
    Framing::Len4
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_message: Option<usize>,
    max_sessions: Option<usize>,
    idle_timeout: Option<String>,
    message_timeout: Option<String>,
    handshake_timeout: Option<String>,
    connect_timeout: Option<String>,
    drain_timeout: Option<String>,
    queue: Option<usize>,
    queue_bytes: Option<usize>,
    max_pending: Option<usize>,
    max_pending_per_peer: Option<usize>,
    max_sessions_per_peer: Option<usize>,
    first_message_timeout: Option<String>,
    upstream_retry: Option<String>,
    buffer_budget: Option<usize>,
    decision_workers: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    file: String,
    sync: Option<String>,
    on_failure: Option<String>,
    on_corrupt: Option<String>,
    max_held: Option<usize>,
    rotate_size: Option<u64>,
    rotate_interval: Option<String>,
    retain: Option<String>,
    checkpoint_every: Option<u64>,
    checkpoint_interval: Option<String>,
    signing_key: Option<String>,
    checkpoint_file: Option<String>,
    preallocate: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Option<String>,
    token_file: Option<String>,
    max_connections: Option<usize>,
    timeout: Option<String>,
    tls: Option<ServerTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyCfg {
    file: String,
    watch: Option<bool>,
    shadow: Option<String>,
    ledger: Option<String>,
    ledger_postgres: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<String>,
    level: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    policy: RawPolicyCfg,
    audit: Option<RawAudit>,
    #[serde(default)]
    admin: RawAdmin,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    link: Vec<LinkConfig>,
    signing: Option<RawSigning>,
}

/// `[signing]`: who may sign court orders (OpenSSH `allowed_signers`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigning {
    allowed_signers: String,
    order_namespace: String,
    policy_namespace: Option<String>,
    require_signed_policy: Option<bool>,
    state_file: Option<String>,
}

impl std::str::FromStr for Dial {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::parse_name(s, "dial mode")
    }
}

/// Resource limits and timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message, bytes.
    pub max_message: usize,
    /// Concurrent sessions per link (enforced before accepting).
    pub max_sessions: usize,
    /// A session with no message in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// A message once started must be complete within this (slow senders).
    pub message_timeout: Duration,
    /// TLS handshake deadline.
    pub handshake_timeout: Duration,
    /// Upstream connect deadline.
    pub connect_timeout: Duration,
    /// How long shutdown waits for sessions to finish.
    pub drain_timeout: Duration,
    /// Messages buffered per direction of a session (backpressure bound).
    pub queue: usize,
    /// Bytes buffered per direction of a session (a message larger than this
    /// still passes, alone).
    pub queue_bytes: usize,
    /// Connections per link accepted but not yet past their first complete
    /// message (they do not hold a session slot).
    pub max_pending: usize,
    /// Of those, from one source address.
    pub max_pending_per_peer: usize,
    /// Sessions per link from one source address.
    pub max_sessions_per_peer: usize,
    /// A new connection must complete its first message within this.
    pub first_message_timeout: Duration,
    /// How long a session retries connecting to an unreachable upstream
    /// (with backoff) before giving up on the messages it holds.
    pub upstream_retry: Duration,
    /// Message bytes the whole process may buffer (partial frames and queues).
    pub buffer_budget: usize,
    /// Threads that decide messages in parallel (shared by every session;
    /// each session keeps its order). 1 decides on the session's own task,
    /// with no hand-off (see specs/proxy.md for when more pays).
    pub decision_workers: usize,
}

/// Most decision workers a configuration may ask for.
pub const MAX_DECISION_WORKERS: usize = 64;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: DEFAULT_MAX_MESSAGE,
            max_sessions: 1024,
            idle_timeout: Duration::from_secs(3600),
            message_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(30),
            queue: 1024,
            queue_bytes: 16 << 20,
            max_pending: 256,
            max_pending_per_peer: 64,
            max_sessions_per_peer: 1024,
            first_message_timeout: Duration::from_secs(10),
            upstream_retry: Duration::from_secs(30),
            buffer_budget: 256 << 20,
            decision_workers: 1,
        }
    }
}

/// The `[audit]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditConfig {
    /// The live file.
    pub file: String,
    /// Sync mode, corrupt-file handling, held-record buffer.
    pub opts: AuditOptions,
    /// What is forwarded while the log cannot write.
    pub on_failure: OnFailure,
}

impl AuditConfig {
    /// Defaults for `file` with this sync mode.
    pub fn new(file: String, mode: SyncMode) -> AuditConfig {
        AuditConfig {
            file,
            opts: AuditOptions::with_mode(mode),
            on_failure: OnFailure::Stop,
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Why a configuration file was refused: every problem, each naming the
/// file (and line, when the TOML itself is at fault). Exit code 64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Policy file.
    pub policy: String,
    /// Watch the policy file (and its list files) and reload on change.
    pub watch_policy: bool,
    /// Candidate policy evaluated beside the enforced one (never enforced).
    pub shadow_policy: Option<String>,
    /// Court-order ledger file (use counts). None: next to the audit log;
    /// with no audit log either, court orders are refused.
    pub ledger: Option<String>,
    /// PostgreSQL connection string for court-order use counts shared by
    /// several instances (replaces the ledger file when set).
    pub ledger_postgres: Option<String>,
    /// Audit log (None: no audit log — quick start only).
    pub audit: Option<AuditConfig>,
    /// Admin/metrics endpoint.
    pub admin: Option<SocketAddr>,
    /// Admin connections served at once (more wait in the backlog).
    pub admin_max_connections: usize,
    /// Admin request deadline (headers and body) and keep-alive idle limit.
    pub admin_timeout: Duration,
    /// Token file for state-changing admin requests.
    pub admin_token_file: Option<String>,
    /// TLS for the admin endpoint (`[admin] tls`); `client_ca` verifies the
    /// certificates that name administrators. None: plain HTTP.
    pub admin_tls: Option<ServerTls>,
    /// Limits.
    pub limits: Limits,
    /// Links.
    pub links: Vec<LinkConfig>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log level filter (tracing `EnvFilter` syntax).
    pub log_level: String,
    /// `[signing]`: the signers of court orders (`court_orders.dir`).
    pub signing: Option<crate::policy::orders::Signing>,
    /// `[signing] state_file`: the signed manifest in force, kept across
    /// restarts (no rollback at start either).
    pub signing_state: Option<String>,
}

/// Default `[audit] rotate_size`: 1 GiB.
pub const DEFAULT_ROTATE_SIZE: u64 = 1 << 30;
/// Default `[audit] rotate_interval`: a day (segments end at UTC midnight).
pub const DEFAULT_ROTATE_INTERVAL: Duration = Duration::from_secs(86_400);
/// Default `[audit] retain`: 365 days (the CJIS Security Policy's year).
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(365 * 86_400);
/// Default `[audit] checkpoint_every`: records between checkpoints.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 10_000;
/// Default `[audit] checkpoint_interval`.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// A duration that may be `"off"` (None).
fn dur_or_off(
    errors: &mut Vec<String>,
    what: &str,
    v: &Option<String>,
    default: Duration,
    off: &str,
) -> Option<Duration> {
    match v.as_deref() {
        Some(s) if s == off => None,
        _ => Some(dur(errors, what, v, default)),
    }
}

/// The `[audit]` keys of version 2: segments, retention, checkpoints.
fn audit_v2(
    errors: &mut Vec<String>,
    a: &RawAudit,
    c: &mut AuditConfig,
    rel: &dyn Fn(&str) -> String,
) {
    let o = &mut c.opts;
    o.rotate_size = match a.rotate_size {
        Some(0) => None,
        Some(n) => Some(n),
        None => Some(DEFAULT_ROTATE_SIZE),
    };
    o.rotate_interval = dur_or_off(
        errors,
        "audit.rotate_interval",
        &a.rotate_interval,
        DEFAULT_ROTATE_INTERVAL,
        "off",
    );
    o.retain = dur_or_off(errors, "audit.retain", &a.retain, DEFAULT_RETAIN, "forever");
    o.checkpoint_every = match a.checkpoint_every {
        Some(0) => None,
        Some(n) => Some(n),
        None => Some(DEFAULT_CHECKPOINT_EVERY),
    };
    o.checkpoint_interval = dur_or_off(
        errors,
        "audit.checkpoint_interval",
        &a.checkpoint_interval,
        DEFAULT_CHECKPOINT_INTERVAL,
        "off",
    );
    o.checkpoint_file = Some(match &a.checkpoint_file {
        Some(f) => rel(f),
        None => format!("{}.checkpoint", c.file),
    });
    if let Some(k) = &a.signing_key {
        let k = rel(k);
        match std::fs::read(&k) {
            Err(e) => errors.push(format!("audit.signing_key {k}: cannot read: {e} (create one with `origuard audit keygen --out {k}`)")),
            Ok(der) => {
                if let Err(e) = crate::audit::checkpoint::load_signing_key(&der) {
                    errors.push(format!("audit.signing_key {k}: {e}"));
                }
            }
        }
        o.signing_key = Some(k);
    }
}

fn dur(errors: &mut Vec<String>, what: &str, v: &Option<String>, default: Duration) -> Duration {
    match v {
        None => default,
        Some(s) => match humantime::parse_duration(s) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                errors.push(format!(
                    "{what}: {s:?} is not a positive duration (e.g. \"30s\", \"5m\")"
                ));
                default
            }
        },
    }
}

/// The `[limits]` table: each key or its default; a bad duration is an error.
fn limits(errors: &mut Vec<String>, l: &RawLimits) -> Limits {
    let d = Limits::default();
    let mut time = |what: &str, v: &Option<String>, default| dur(errors, what, v, default);
    Limits {
        max_message: l.max_message.unwrap_or(d.max_message),
        max_sessions: l.max_sessions.unwrap_or(d.max_sessions),
        idle_timeout: time("limits.idle_timeout", &l.idle_timeout, d.idle_timeout),
        message_timeout: time(
            "limits.message_timeout",
            &l.message_timeout,
            d.message_timeout,
        ),
        handshake_timeout: time(
            "limits.handshake_timeout",
            &l.handshake_timeout,
            d.handshake_timeout,
        ),
        connect_timeout: time(
            "limits.connect_timeout",
            &l.connect_timeout,
            d.connect_timeout,
        ),
        drain_timeout: time("limits.drain_timeout", &l.drain_timeout, d.drain_timeout),
        queue: l.queue.unwrap_or(d.queue),
        queue_bytes: l.queue_bytes.unwrap_or(d.queue_bytes),
        max_pending: l.max_pending.unwrap_or(d.max_pending),
        max_pending_per_peer: l.max_pending_per_peer.unwrap_or(d.max_pending_per_peer),
        max_sessions_per_peer: l.max_sessions_per_peer.unwrap_or(d.max_sessions_per_peer),
        first_message_timeout: time(
            "limits.first_message_timeout",
            &l.first_message_timeout,
            d.first_message_timeout,
        ),
        upstream_retry: time("limits.upstream_retry", &l.upstream_retry, d.upstream_retry),
        buffer_budget: l.buffer_budget.unwrap_or(d.buffer_budget),
        decision_workers: l.decision_workers.unwrap_or(d.decision_workers),
    }
}

/// The bounds the limits must keep among themselves.
fn check_limits(errors: &mut Vec<String>, limits: &Limits) {
    if !(1..=MAX_DECISION_WORKERS).contains(&limits.decision_workers) {
        errors.push(format!(
            "limits.decision_workers must be between 1 and {MAX_DECISION_WORKERS}"
        ));
    }
    if limits.max_message == 0 || limits.max_message > u32::MAX as usize {
        errors.push("limits.max_message must be between 1 and 4294967295".into());
    }
    for (name, v) in [
        ("max_sessions", limits.max_sessions),
        ("queue", limits.queue),
        ("queue_bytes", limits.queue_bytes),
        ("max_pending", limits.max_pending),
        ("max_pending_per_peer", limits.max_pending_per_peer),
        ("max_sessions_per_peer", limits.max_sessions_per_peer),
    ] {
        if v == 0 {
            errors.push(format!("limits.{name} must be at least 1"));
        }
    }
    if limits.buffer_budget < 2 * limits.max_message.min(u32::MAX as usize) {
        errors.push(format!(
            "limits.buffer_budget ({}) must be at least twice limits.max_message ({}): one message in each direction",
            limits.buffer_budget, limits.max_message
        ));
    }
}

/// One `[audit]` key naming an enum value: its value or `default`, kept in
/// `errors` when it is not one of the names.
fn audit_name<T: std::str::FromStr>(
    errors: &mut Vec<String>,
    key: &str,
    v: &Option<String>,
    default: &str,
) -> Option<T>
where
    T::Err: std::fmt::Display,
{
    match v.as_deref().unwrap_or(default).parse::<T>() {
        Ok(m) => Some(m),
        Err(e) => {
            errors.push(format!("{key}: {e}"));
            None
        }
    }
}

/// The `[audit]` table (required in a file).
fn audit(
    errors: &mut Vec<String>,
    raw: Option<&RawAudit>,
    rel: &dyn Fn(&str) -> String,
) -> Option<AuditConfig> {
    let Some(a) = raw else {
        errors.push("[audit] file is required in a configuration file (the audit log is not optional in production)".into());
        return None;
    };
    let mut c = AuditConfig::new(rel(&a.file), SyncMode::Batch);
    if let Some(m) = audit_name(errors, "audit.sync", &a.sync, "batch") {
        c.opts.mode = m;
    }
    if let Some(m) = audit_name(errors, "audit.on_failure", &a.on_failure, "stop") {
        c.on_failure = m;
    }
    if let Some(m) = audit_name(errors, "audit.on_corrupt", &a.on_corrupt, "keep_aside") {
        c.opts.on_corrupt = m;
    }
    if let Some(n) = a.preallocate {
        if n > MAX_PREALLOCATE {
            errors.push(format!(
                "audit.preallocate {n}: at most {MAX_PREALLOCATE} (16 MiB); 0 turns it off"
            ));
        }
        c.opts.preallocate = n;
    }
    if let Some(n) = a.max_held {
        c.opts.max_held = n;
    }
    audit_v2(errors, a, &mut c, rel);
    Some(c)
}

/// `[admin] listen`: an address, or `""`/`"off"` for none.
fn admin_listen(errors: &mut Vec<String>, listen: Option<&str>) -> Option<SocketAddr> {
    match listen.unwrap_or("127.0.0.1:9750") {
        "" | "off" => None,
        s => match s.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(e) => {
                errors.push(format!("admin.listen {s:?}: {e}"));
                None
            }
        },
    }
}

/// `[log] format`.
fn log_format(errors: &mut Vec<String>, format: Option<&str>) -> LogFormat {
    match format.unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        o => {
            errors.push(format!("log.format {o:?}: expected text or json"));
            LogFormat::Text
        }
    }
}

/// The `[[link]]` tables: unique names, listen addresses, TLS paths resolved.
fn links(
    errors: &mut Vec<String>,
    raw: &[LinkConfig],
    rel: &dyn Fn(&str) -> String,
) -> Vec<LinkConfig> {
    if raw.is_empty() {
        errors.push("at least one [[link]] is required".into());
    }
    let mut links = Vec::new();
    for (i, l) in raw.iter().enumerate() {
        if raw[..i].iter().any(|o| o.name == l.name) {
            errors.push(format!("link {:?} defined twice", l.name));
        }
        if l.listen.parse::<SocketAddr>().is_err() {
            errors.push(format!(
                "link {:?}: listen {:?} is not an address:port",
                l.name, l.listen
            ));
        }
        let mut l = l.clone();
        if let Some(t) = &mut l.switch_tls {
            t.cert = rel(&t.cert);
            t.key = rel(&t.key);
            t.client_ca = t.client_ca.as_deref().map(rel);
        }
        if let Some(t) = &mut l.nlets_tls {
            t.ca = rel(&t.ca);
            if t.cert.is_some() != t.key.is_some() {
                errors.push(format!(
                    "link {:?}: nlets_tls needs both cert and key, or neither",
                    l.name
                ));
            }
            t.cert = t.cert.as_deref().map(rel);
            t.key = t.key.as_deref().map(rel);
        }
        links.push(l);
    }
    links
}

/// `[signing]`: the order namespace is one word; a signed policy needs its
/// own namespace.
fn signing(
    errors: &mut Vec<String>,
    s: &RawSigning,
    rel: &dyn Fn(&str) -> String,
) -> crate::policy::orders::Signing {
    let ns = s.order_namespace.trim();
    if ns.is_empty() || ns.contains(|c: char| c.is_whitespace() || c == ',') {
        errors.push(format!(
            "signing.order_namespace {ns:?} must be one word such as \"origuard-order@co\""
        ));
    }
    let policy_namespace = match (s.require_signed_policy, &s.policy_namespace) {
        (Some(true), Some(p)) => Some(p.trim().to_string()),
        (Some(true), None) => {
            errors.push("signing.require_signed_policy = true needs signing.policy_namespace (e.g. \"origuard-policy@co\")".into());
            None
        }
        _ => None,
    };
    crate::policy::orders::Signing {
        allowed_signers: rel(&s.allowed_signers),
        order_namespace: ns.to_string(),
        policy_namespace,
    }
}

/// The TOML itself, or its first error with the file and line.
fn read_toml(path: &str, text: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| 1 + text[..s.start.min(text.len())].matches('\n').count())
            .unwrap_or(0);
        ConfigError(vec![format!("{path}:{line}: {}", e.message())])
    })
}

impl Config {
    /// Parses and validates a config file's text. `path` resolves relative
    /// paths. Every table is read by its own step, which adds what is wrong
    /// to one list, so the operator sees all the problems at once.
    pub fn parse(path: &str, text: &str) -> Result<Config, ConfigError> {
        let raw = read_toml(path, text)?;
        let mut errors = Vec::new();
        let rel = |p: &str| crate::policy::file::resolve(path, p);
        let limits = limits(&mut errors, &raw.limits);
        check_limits(&mut errors, &limits);
        let audit = audit(&mut errors, raw.audit.as_ref(), &rel);
        let admin = admin_listen(&mut errors, raw.admin.listen.as_deref());
        let admin_timeout = dur(
            &mut errors,
            "admin.timeout",
            &raw.admin.timeout,
            Duration::from_secs(10),
        );
        let log_format = log_format(&mut errors, raw.log.format.as_deref());
        let links = links(&mut errors, &raw.link, &rel);
        let signing = raw.signing.as_ref().map(|s| signing(&mut errors, s, &rel));
        if !errors.is_empty() {
            return Err(ConfigError(
                errors.into_iter().map(|e| format!("{path}: {e}")).collect(),
            ));
        }
        Ok(Config {
            policy: rel(&raw.policy.file),
            watch_policy: raw.policy.watch.unwrap_or(true),
            shadow_policy: raw.policy.shadow.as_deref().map(rel),
            ledger: raw.policy.ledger.as_deref().map(rel),
            ledger_postgres: raw.policy.ledger_postgres.clone(),
            audit,
            admin,
            admin_max_connections: raw.admin.max_connections.unwrap_or(64).max(1),
            admin_timeout,
            admin_token_file: raw.admin.token_file.as_deref().map(rel),
            admin_tls: raw.admin.tls.as_ref().map(|t| ServerTls {
                cert: rel(&t.cert),
                key: rel(&t.key),
                client_ca: t.client_ca.as_deref().map(rel),
            }),
            limits,
            links,
            log_format,
            log_level: raw.log.level.unwrap_or_else(|| "info".into()),
            signing_state: raw
                .signing
                .as_ref()
                .and_then(|s| s.state_file.as_deref())
                .map(rel),
            signing,
        })
    }

    /// The single plaintext link of `serve --listen --upstream --policy`.
    pub fn quick(
        listen: &str,
        upstream: &str,
        policy: &str,
        framing: Framing,
        audit: Option<(String, SyncMode)>,
        admin: Option<SocketAddr>,
    ) -> Config {
        Config {
            policy: policy.to_string(),
            watch_policy: true,
            shadow_policy: None,
            ledger: None,
            ledger_postgres: None,
            audit: audit.map(|(f, m)| AuditConfig::new(f, m)),
            admin,
            admin_max_connections: 64,
            admin_timeout: Duration::from_secs(10),
            admin_token_file: None,
            admin_tls: None,
            limits: Limits::default(),
            links: vec![LinkConfig {
                name: "default".into(),
                listen: listen.into(),
                upstream: upstream.into(),
                framing,
                switch_tls: None,
                nlets_tls: None,
                dial: Dial::OnMessage,
                switch_addresses: vec![],
            }],
            log_format: LogFormat::Text,
            log_level: "info".into(),
            signing: None,
            signing_state: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/origuard.toml");
        let c = Config::parse(path, &std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(c.links.len(), 1);
        assert!(c.links[0].switch_tls.as_ref().unwrap().client_ca.is_some());
        assert!(c.links[0].nlets_tls.as_ref().unwrap().cert.is_some());
        assert_eq!(c.audit.as_ref().unwrap().opts.mode, SyncMode::Batch);
        assert_eq!(c.audit.as_ref().unwrap().on_failure, OnFailure::Stop);
        assert!(c.policy.ends_with("policy/colorado.toml"));
        let s = c.signing.as_ref().unwrap();
        assert_eq!(s.order_namespace, "origuard-order@co");
        assert_eq!(s.policy_namespace.as_deref(), Some("origuard-policy@co"));
        assert_eq!(
            c.signing_state.as_deref(),
            Some("/var/lib/origuard/policy-state.json")
        );
        let e = Config::parse(
            "c.toml",
            "[policy]\nfile = \"p\"\n[signing]\nallowed_signers = \"a\"\norder_namespace = \"o@co\"\nrequire_signed_policy = true\n",
        )
        .unwrap_err();
        assert!(
            e.0.iter()
                .any(|m| m.contains("needs signing.policy_namespace")),
            "{e:?}"
        );
    }

    #[test]
    fn shadow_and_ledger_paths_are_relative_to_the_config() {
        let c = Config::parse(
            "/etc/origuard/c.toml",
            "[policy]\nfile = \"p.toml\"\nshadow = \"candidate.toml\"\nledger = \"/var/lib/origuard/orders.json\"\n[audit]\nfile = \"a.jsonl\"\n[[link]]\nname = \"a\"\nlisten = \"127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"\n",
        )
        .unwrap();
        assert_eq!(
            c.shadow_policy.as_deref(),
            Some("/etc/origuard/candidate.toml")
        );
        assert_eq!(c.ledger.as_deref(), Some("/var/lib/origuard/orders.json"));
    }

    #[test]
    fn admin_tls_paths_are_relative_to_the_config() {
        let c = Config::parse(
            "/etc/origuard/c.toml",
            "[policy]\nfile = \"p.toml\"\n[admin]\ntls = { cert = \"admin.pem\", key = \"admin.key\", client_ca = \"/etc/pki/admins-ca.pem\" }\n[audit]\nfile = \"a.jsonl\"\n[[link]]\nname = \"a\"\nlisten = \"127.0.0.1:1\"\nupstream = \"127.0.0.1:2\"\n",
        )
        .unwrap();
        assert_eq!(
            c.admin_tls,
            Some(ServerTls {
                cert: "/etc/origuard/admin.pem".into(),
                key: "/etc/origuard/admin.key".into(),
                client_ca: Some("/etc/pki/admins-ca.pem".into()),
            })
        );
        let e = Config::parse(
            "c.toml",
            "[policy]\nfile = \"p\"\n[admin]\ntls = { cert = \"a.pem\" }\n",
        )
        .unwrap_err();
        assert!(e.0.iter().any(|m| m.contains("key")), "{e:?}");
    }

    #[test]
    fn errors_are_reported() {
        let e = Config::parse("c.toml", "[policy]\nfile = \"p\"\nbogus = 1\n").unwrap_err();
        assert!(e.0[0].starts_with("c.toml:3:"), "{e:?}");
        let e = Config::parse(
            "c.toml",
            "[policy]\nfile = \"p\"\n[limits]\nidle_timeout = \"soon\"\n[[link]]\nname = \"a\"\nlisten = \"x\"\nupstream = \"y\"\n",
        )
        .unwrap_err();
        assert!(e.0.iter().any(|m| m.contains("idle_timeout")), "{e:?}");
        assert!(e.0.iter().any(|m| m.contains("[audit]")), "{e:?}");
        assert!(e.0.iter().any(|m| m.contains("not an address")), "{e:?}");
    }

    #[test]
    fn audit_v2_keys_have_defaults_and_can_be_turned_off() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/origuard.toml");
        let c = Config::parse(path, &std::fs::read_to_string(path).unwrap()).unwrap();
        let o = &c.audit.as_ref().unwrap().opts;
        assert_eq!(o.rotate_size, Some(DEFAULT_ROTATE_SIZE));
        assert_eq!(o.rotate_interval, Some(DEFAULT_ROTATE_INTERVAL));
        assert_eq!(o.retain, Some(DEFAULT_RETAIN));
        assert!(DEFAULT_RETAIN >= Duration::from_secs(365 * 86_400));
        assert_eq!(o.checkpoint_every, Some(DEFAULT_CHECKPOINT_EVERY));
        assert_eq!(o.checkpoint_interval, Some(DEFAULT_CHECKPOINT_INTERVAL));
        assert_eq!(o.signing_key, None);
        assert!(o
            .checkpoint_file
            .as_deref()
            .unwrap()
            .ends_with("audit.jsonl.checkpoint"));
        let text = std::fs::read_to_string(path).unwrap().replace(
            "[audit]\n",
            "[audit]\nrotate_size = 0\nrotate_interval = \"off\"\nretain = \"forever\"\ncheckpoint_every = 0\ncheckpoint_interval = \"1h\"\n",
        );
        let c = Config::parse(path, &text).unwrap();
        let o = &c.audit.as_ref().unwrap().opts;
        assert_eq!(
            (o.rotate_size, o.rotate_interval, o.retain),
            (None, None, None)
        );
        assert_eq!(o.checkpoint_every, None);
        assert_eq!(o.checkpoint_interval, Some(Duration::from_secs(3600)));
        let text = std::fs::read_to_string(path).unwrap().replace(
            "[audit]\n",
            "[audit]\nsigning_key = \"/nonexistent/k.pk8\"\nretain = \"a while\"\n",
        );
        let e = Config::parse(path, &text).unwrap_err();
        assert!(
            e.0.iter()
                .any(|m| m.contains("audit.signing_key") && m.contains("audit keygen")),
            "{e:?}"
        );
        assert!(e.0.iter().any(|m| m.contains("audit.retain")), "{e:?}");
    }
}
