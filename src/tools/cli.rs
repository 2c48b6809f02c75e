//! Command-line definitions (clap). Kept apart from `main.rs` so the wiring
//! there stays short and the definitions are testable.

use crate::capture::stream::InputFraming;
use crate::framing::DEFAULT_MAX_MESSAGE;
use crate::message::Direction;
use clap::{Parser, Subcommand};

/// origuard: policy-driven privacy proxy between a state message switch and Nlets.
#[derive(Debug, Parser)]
#[command(name = "origuard", version = crate::VERSION, about, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse a capture (or one message) and print one JSON line per message.
    Inspect(InspectCli),
    /// Check, explain or compare policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Apply a policy to a capture offline: forwarded messages to OUT, decline
    /// replies to --replies, audit records to --audit, a summary to stderr.
    Filter(FilterCli),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Run the proxy: from a config file, or one plaintext link from flags.
    Serve(ServeArgs),
    /// Everything in one process over loopback: simulated Nlets and state
    /// switch, the proxy with the example policy; prints what happened.
    Demo(DemoCli),
    /// Generate synthetic traffic (deterministic for a seed).
    Gen(GenCli),
    /// Replay a capture through a proxy, playing both ends; report
    /// throughput, latency percentiles and what went missing.
    Bench(BenchCli),
    /// Oversight report from audit logs: report.html, report.csv and
    /// report.json in --out (public by default: small counts suppressed).
    Report(ReportCli),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsCli),
    /// Print the manual page origuard(1), or write one page per command
    /// with --dir.
    Man(ManCli),
}

/// `origuard report` arguments.
#[derive(Debug, clap::Args)]
pub struct ReportCli {
    /// An audit log file, or a directory of them (segments, several
    /// instances); repeat for more. Each log is verified on its own.
    #[arg(long, required = true)]
    pub audit: Vec<String>,
    /// Directory to write report.html, report.csv and report.json into.
    #[arg(long)]
    pub out: String,
    /// Public report (default): counts from 1 to 9 suppressed, no agency identifiers.
    #[arg(long, conflicts_with = "internal")]
    pub public: bool,
    /// Internal (CBI) report: exact counts and per-agency detail.
    #[arg(long)]
    pub internal: bool,
    /// First day included, YYYY-MM-DD (UTC).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day included, YYYY-MM-DD (UTC).
    #[arg(long)]
    pub to: Option<String>,
    /// Grouping: day, month, quarter or year (the annual report).
    #[arg(long, default_value = "month")]
    pub period: crate::report::Period,
    /// A public table to publish without the small-cell rule (repeatable):
    /// court_orders (court-order counts count orders and uses, not people).
    #[arg(long)]
    pub exact: Vec<String>,
    /// A public table's small-cell threshold, TABLE=N (repeatable): counts
    /// from 1 to N-1 are withheld; default 10. Tables: figures,
    /// declined_by_day, court_orders, by_month_and_key.
    #[arg(long, value_name = "TABLE=N")]
    pub small_cell: Vec<String>,
    /// The previous report's report.json: this report carries, per log, a
    /// consistency proof from the checkpoint published there to its own.
    #[arg(long, value_name = "REPORT_JSON")]
    pub previous: Option<String>,
    /// Exit 0 even when a log does not verify (the report still says so).
    #[arg(long)]
    pub allow_broken: bool,
    /// The policy whose lists are the agency families to answer for: each
    /// shown with its description, with 0 when it had no traffic (without
    /// it, the lists the log names, without descriptions).
    #[arg(long)]
    pub policy: Option<String>,
}

/// Which flows and messages of a pcap a command reads
/// ([`crate::capture::select`]). Ignored for framed streams, except that
/// `--flow`, `--from` and `--until` are refused there.
#[derive(Debug, Clone, clap::Args)]
pub struct PcapArgs {
    /// For pcaps: the server's TCP port of the captured leg (origuard's
    /// listen port, or Nlets'). Flows to it carry outbound messages (state
    /// to Nlets), flows from it inbound ones; other flows are not read.
    #[arg(long, default_value_t = crate::capture::select::DEFAULT_PORT)]
    pub port: u16,
    /// For pcaps: only the connection whose client end is IP:PORT (as
    /// `inspect` prints it in "flow").
    #[arg(long)]
    pub flow: Option<std::net::SocketAddr>,
    /// For pcaps: only messages captured at or after this time (RFC 3339,
    /// e.g. 2025-01-01T00:00:00Z).
    #[arg(long, value_parser = crate::capture::select::parse_time)]
    pub from: Option<u64>,
    /// For pcaps: only messages captured before this time (RFC 3339).
    #[arg(long, value_parser = crate::capture::select::parse_time)]
    pub until: Option<u64>,
}

impl PcapArgs {
    /// The selection, in `direction` (both when `None`).
    pub fn select(&self, direction: Option<Direction>) -> crate::capture::select::Select {
        crate::capture::select::Select {
            port: self.port,
            direction,
            flow: self.flow,
            from_us: self.from,
            until_us: self.until,
        }
    }
}

/// `origuard completions` arguments.
#[derive(Debug, clap::Args)]
pub struct CompletionsCli {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

/// `origuard man` arguments.
#[derive(Debug, clap::Args)]
pub struct ManCli {
    /// Write origuard.1 and one page per command (origuard-serve.1, ...)
    /// into this directory instead of printing origuard(1).
    #[arg(long)]
    pub dir: Option<String>,
}

/// `origuard bench` arguments.
#[derive(Debug, clap::Args)]
pub struct BenchCli {
    /// Address to connect to as the state switch, or "self" for no proxy.
    #[arg(long)]
    pub target: String,
    /// Address to listen on as Nlets (the proxy's upstream).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Capture: a framed stream or a pcap/pcapng file.
    #[arg(long)]
    pub capture: String,
    /// Framing of the capture (auto, len4, stx-etx).
    #[arg(long, default_value = "auto")]
    pub capture_framing: InputFraming,
    /// Which flows and messages of a pcap (its flows in --direction).
    #[command(flatten)]
    pub pcap: PcapArgs,
    /// Framing toward the proxy.
    #[arg(long, default_value = "len4")]
    pub framing: crate::framing::Framing,
    /// outbound (we send as the switch) or inbound (we send as Nlets).
    #[arg(long, default_value = "outbound")]
    pub direction: Direction,
    /// Messages per second over all connections, "max", or "recorded" (a
    /// pcap at its own timing: the gaps between packet timestamps).
    #[arg(long, default_value = "max")]
    pub rate: String,
    /// Count frames and check a running checksum per connection; no
    /// per-message comparison and no latency (the load generator is never
    /// the bottleneck). Not with --policy.
    #[arg(long)]
    pub raw: bool,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// How long to send.
    #[arg(long)]
    pub duration: Option<humantime::Duration>,
    /// How many messages to send (default: the capture once, or rate x duration).
    #[arg(long)]
    pub count: Option<u64>,
    /// Predict each message's outcome with this policy (for origuard).
    #[arg(long)]
    pub policy: Option<String>,
    /// TLS on both ends, certificates from this directory (ca.pem, switch.pem/key, nlets.pem/key).
    #[arg(long)]
    pub tls: Option<String>,
    /// Name to verify in the target's certificate.
    #[arg(long, default_value = "localhost")]
    pub tls_server_name: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `origuard serve` arguments.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); see specs/config.md.
    #[arg(long, conflicts_with_all = ["listen", "upstream", "policy", "framing", "audit", "audit_sync", "metrics", "admin_token_file", "drain_timeout", "dial"])]
    pub config: Option<String>,
    /// Quick start: address the switch connects to.
    #[arg(long, requires_all = ["upstream", "policy"])]
    pub listen: Option<String>,
    /// Quick start: the Nlets-side address.
    #[arg(long)]
    pub upstream: Option<String>,
    /// Quick start: policy file.
    #[arg(long)]
    pub policy: Option<String>,
    /// Quick start: framing.
    #[arg(long, default_value = "len4")]
    pub framing: crate::framing::Framing,
    /// Quick start: audit log file (omit for none).
    #[arg(long)]
    pub audit: Option<String>,
    /// Quick start: audit sync mode (always, batch, none).
    #[arg(long, default_value = "batch")]
    pub audit_sync: crate::runtime::audit_log::SyncMode,
    /// Quick start: metrics/admin address ("off" to disable).
    #[arg(long, default_value = "127.0.0.1:9750")]
    pub metrics: String,
    /// Quick start: file holding the admin token for POST /reload and /shutdown.
    #[arg(long)]
    pub admin_token_file: Option<String>,
    /// Quick start: how long shutdown waits for sessions (e.g. "30s").
    #[arg(long, default_value = "30s")]
    pub drain_timeout: humantime::Duration,
    /// Quick start: when to connect to Nlets: on_message (after the switch's
    /// first complete message) or on_accept (for a switch that only receives).
    #[arg(long, default_value = "on_message")]
    pub dial: crate::runtime::config::Dial,
    /// Log format: text or json (overrides the config file).
    #[arg(long)]
    pub log_format: Option<String>,
    /// Validate everything (policy, TLS files and keys, token file, a
    /// writable audit directory) without binding or writing anything; exit 0
    /// when the configuration would start.
    #[arg(long)]
    pub check: bool,
}

/// `origuard audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain, the Merkle tree and the checkpoints of a log
    /// (a file, its segments, or a directory of them); exit 1 with the
    /// first bad record.
    Verify {
        /// The audit log: a file, several segments, or a directory.
        #[arg(required = true)]
        paths: Vec<String>,
        /// A head hash published earlier: fail if no record has it (truncation).
        #[arg(long)]
        expect_head: Option<String>,
        /// A checkpoint saved earlier (the checkpoint file's content): fail
        /// unless the log still holds that tree as a prefix.
        #[arg(long)]
        checkpoint: Option<String>,
        /// The log's public key (hex, as keygen prints it, or PEM): every
        /// checkpoint must be signed by it.
        #[arg(long)]
        public_key: Option<String>,
        /// Print the result as one JSON object on stdout (also when broken).
        #[arg(long)]
        json: bool,
    },
    /// Generate an Ed25519 signing key for checkpoints (PKCS#8, mode 0600)
    /// and print its public key.
    Keygen {
        /// Key file to create (refused if it exists).
        #[arg(long)]
        out: String,
    },
    /// Print an inclusion proof (JSON) of record SEQ against the log's
    /// latest checkpoint.
    Prove {
        /// The record's sequence number.
        seq: u64,
        /// The audit log: a file, several segments, or a directory.
        #[arg(long, required = true)]
        audit: Vec<String>,
    },
    /// Evidence for investigators: the decisions of one log per agency
    /// (ORI), family (list) and date, each with its inclusion proof against
    /// the log's last signed checkpoint. No subject data: decision records
    /// hold header metadata only. Check it without the log:
    /// `python3 scripts/verify-consistency.py export FILE --public-key KEY`.
    Export {
        /// The audit log: a file, several segments, or a directory (one log).
        #[arg(long, required = true)]
        audit: Vec<String>,
        /// Only decisions about this agency (counterparty ORI); repeatable.
        #[arg(long)]
        ori: Vec<String>,
        /// Only decisions by this list (`none`: no list); repeatable.
        #[arg(long)]
        list: Vec<String>,
        /// First day included, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: Option<String>,
        /// Last day included, YYYY-MM-DD (UTC).
        #[arg(long)]
        to: Option<String>,
        /// Write the export here (default: standard output).
        #[arg(long)]
        out: Option<String>,
    },
    /// Check an inclusion proof printed by `audit prove`.
    VerifyProof {
        /// The proof (JSON), or - for stdin.
        file: String,
        /// The log's public key: the proof's checkpoint must be signed by it.
        #[arg(long)]
        public_key: Option<String>,
    },
}

/// `origuard policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write FILE.manifest for a signed policy bundle: the SHA-256 of every
    /// file the policy reads, author, reason, UTC time, version and the
    /// previous manifest's hash; then sign it with
    /// `ssh-keygen -Y sign -f KEY -n POLICY_NAMESPACE FILE.manifest`.
    Manifest {
        /// The policy file (TOML).
        file: String,
        /// The author's principal in allowed_signers (they sign it).
        #[arg(long)]
        author: String,
        /// Ticket number or why the change is made.
        #[arg(long)]
        reason: String,
        /// allowed_signers, when the policy has signed court orders.
        #[arg(long)]
        signers: Option<String>,
        /// Namespace of court-order signatures.
        #[arg(long, requires = "signers")]
        order_namespace: Option<String>,
    },
    /// Validate a policy: exit 0 and a summary, or exit 1 with file:line errors.
    Check {
        /// The policy file (TOML).
        file: String,
        /// Print one JSON object (lists, counts, warnings or errors).
        #[arg(long)]
        json: bool,
        /// The OpenSSH allowed_signers file of court orders (as `[signing]
        /// allowed_signers` of the configuration): checks the signatures of
        /// `court_orders.dir` and refuses unsigned orders.
        #[arg(long)]
        signers: Option<String>,
        /// The namespace orders are signed under (`[signing] order_namespace`).
        #[arg(long, requires = "signers")]
        order_namespace: Option<String>,
        /// Require a signed bundle: the manifest (FILE.manifest) signed
        /// under this namespace (`[signing] policy_namespace` with
        /// `require_signed_policy = true`).
        #[arg(long, requires = "signers")]
        policy_namespace: Option<String>,
    },
    /// Propose a release profile from recorded traffic (`--learn CAPTURE`):
    /// every label and element path seen, with counts and value shapes,
    /// never values.
    Profile {
        /// The capture to learn from (framed stream or pcap/pcapng).
        #[arg(long)]
        learn: String,
        /// Framing of a stream capture.
        #[arg(long, default_value = "auto")]
        framing: InputFraming,
        /// Which flows and messages of a pcap (outbound ones: the state's
        /// responses).
        #[command(flatten)]
        pcap: PcapArgs,
        /// Name of the proposed profile.
        #[arg(long, default_value = "learned")]
        name: String,
    },
    /// Show the action for an ORI, the entry that decided it and the entries that lost.
    Explain {
        /// The policy file (TOML).
        #[arg(long)]
        policy: String,
        /// The ORI (9 characters) or member code to explain.
        ori: String,
        /// Apply the key scope for this message key (e.g. DQ).
        #[arg(long)]
        mke: Option<String>,
        /// Say what a deny does in this direction.
        #[arg(long)]
        direction: Option<Direction>,
        /// Print one JSON object (action, deciding entry, entries that lost).
        #[arg(long)]
        json: bool,
        /// A query message (legacy or NIEM, as the agency would send it):
        /// say for each court order of its agency whether it would be let
        /// through now, and why not (never the subject).
        #[arg(long, value_name = "FILE")]
        query: Option<String>,
    },
    /// Compare two policies: settings, entries added/removed per list, actions
    /// that change; with --capture, replay a capture through both and list the
    /// messages whose outcome changes.
    Diff {
        /// The running (old) policy.
        old: String,
        /// The proposed (new) policy.
        new: String,
        /// A capture to replay through both policies (what-if).
        #[arg(long)]
        capture: Option<String>,
        /// Direction of the capture (required with --capture).
        #[arg(long, requires = "capture")]
        direction: Option<Direction>,
        /// Framing of the capture.
        #[arg(long, default_value = "auto")]
        framing: InputFraming,
        /// Which flows and messages of a pcap capture (its flows in
        /// --direction).
        #[command(flatten)]
        pcap: PcapArgs,
        /// Exit 3 when the policies (or, with --capture, any outcome) differ
        /// (0: the same; 1: a policy is invalid; 2: a file cannot be read).
        #[arg(long)]
        exit_code: bool,
        /// Print one JSON object (versions, number of changes, the lines).
        #[arg(long)]
        json: bool,
    },
}

/// `origuard inspect` arguments.
#[derive(Debug, clap::Args)]
pub struct InspectCli {
    /// Framing of the input: auto, none (one message), len4 or stx-etx.
    #[arg(long, default_value = "auto")]
    pub framing: InputFraming,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE)]
    pub max_message: usize,
    /// For pcaps: only this direction (default: both, each line says which).
    #[arg(long)]
    pub direction: Option<Direction>,
    /// Which flows and messages of a pcap.
    #[command(flatten)]
    pub pcap: PcapArgs,
    /// Input file, or - for stdin.
    pub file: String,
}

/// `origuard filter` arguments.
#[derive(Debug, clap::Args)]
pub struct FilterCli {
    /// The policy file.
    #[arg(long)]
    pub policy: String,
    /// Direction of the capture: inbound (Nlets to state) or outbound.
    #[arg(long)]
    pub direction: Direction,
    /// Framing of the input (the output uses the same).
    #[arg(long, default_value = "auto")]
    pub framing: InputFraming,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE)]
    pub max_message: usize,
    /// Which flows and messages of a pcap (its flows in --direction).
    #[command(flatten)]
    pub pcap: PcapArgs,
    /// Where to write decline replies.
    #[arg(long)]
    pub replies: Option<String>,
    /// Audit log to append to (created if missing).
    #[arg(long)]
    pub audit: Option<String>,
    /// Input capture, or - for stdin.
    pub input: String,
    /// Output, or - for stdout.
    pub output: String,
    /// Print the summary as one JSON object (on stderr, as the text summary:
    /// stdout may carry the messages).
    #[arg(long)]
    pub json: bool,
}

/// `origuard demo` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoCli {
    /// How long to send traffic.
    #[arg(long, default_value = "10s")]
    pub duration: humantime::Duration,
    /// Queries per second from the simulated Nlets.
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Directory for the audit log and metrics snapshot (default: a new temp dir).
    #[arg(long)]
    pub dir: Option<String>,
    /// Seed for the synthetic traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Policy file (default: deploy/policy/colorado.toml).
    #[arg(long)]
    pub policy: Option<String>,
}

/// `origuard gen` arguments.
#[derive(Debug, clap::Args)]
pub struct GenCli {
    /// Number of messages (per direction).
    #[arg(long)]
    pub count: u64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Framing of the output.
    #[arg(long, default_value = "len4")]
    pub framing: crate::framing::Framing,
    /// Proportions: xml=70,photo=40,listed=30 (percent), optionally after a
    /// shape of outbound traffic: photo (the default), mixed (~4 KB mean)
    /// or small (legacy only), e.g. `mixed,listed=10`.
    #[arg(long, default_value = "xml=70,photo=40,listed=30")]
    pub mix: crate::capture::gen::Mix,
    /// inbound (queries to the state), outbound (responses), or both
    /// (writes OUT.inbound and OUT.outbound).
    #[arg(long, default_value = "outbound")]
    pub direction: String,
    /// Output format: stream (framed bytes) or pcap (one synthetic TCP
    /// connection, handshake to FIN: the messages to port 7101, each one's
    /// query or response coming back).
    #[arg(long, default_value = "stream")]
    pub format: String,
    /// pcap: messages per second, the spacing of the timestamps.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// pcap: time of the first packet, RFC 3339 (UTC) or "now".
    #[arg(long, default_value = "2025-01-01T00:00:00Z")]
    pub start: String,
    /// Output file.
    pub out: String,
}
