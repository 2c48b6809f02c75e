//! Court-order use counts in PostgreSQL, shared by several instances (an
//! HA pair, several links on several hosts).
//!
//! A use is spent with one conditional `UPDATE ... WHERE used < max_uses
//! RETURNING used`: the database serialises concurrent spends on the row,
//! so across every instance exactly `max_uses` succeed. When the database
//! does not answer within [`TIMEOUT`], the spend fails and the order query
//! is declined (`court_order_store_unavailable`): nothing is released on a
//! count that could not be taken.
//!
//! The client runs on a thread of its own (a one-thread tokio runtime):
//! the decision is synchronous and calls [`UseStore::spend`] directly,
//! waiting at most [`TIMEOUT`]. Only order queries reach the database.
//! The schema (`deploy/postgres/schema.sql`) is applied at connect, as
//! migration 1.

use crate::decision::ledger::{OrderCount, Spend, StoreError, UseStore};
use std::sync::mpsc;
use std::time::Duration;

/// Longest wait for the database on one spend.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The schema, as `deploy/postgres/schema.sql` ships it.
pub const SCHEMA: &str = include_str!("../../deploy/postgres/schema.sql");

const SPEND_ROW: &str = "INSERT INTO origuard_court_order_uses (identity, used, max_uses, ids) \
     VALUES ($1, 0, $2, '{}') \
     ON CONFLICT (identity) DO UPDATE SET max_uses = LEAST(origuard_court_order_uses.max_uses, EXCLUDED.max_uses)";
const SPEND: &str = "UPDATE origuard_court_order_uses \
     SET used = used + 1, \
         ids = CASE WHEN $2 = ANY(ids) THEN ids ELSE array_append(ids, $2) END, \
         updated = now() \
     WHERE identity = $1 AND used < max_uses RETURNING used";
const COUNTS: &str = "SELECT identity, used, ids FROM origuard_court_order_uses";

/// What went wrong talking to the database (reported as
/// [`StoreError::Unavailable`]).
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// No connection within [`TIMEOUT`].
    #[error("connect: no answer")]
    ConnectTimeout,
    /// The connection was refused.
    #[error("connect: {0}")]
    Connect(tokio_postgres::Error),
    /// The client thread's runtime could not start.
    #[error("cannot start the database client")]
    Runtime,
    /// The schema could not be applied.
    #[error("schema: {0}")]
    Schema(tokio_postgres::Error),
    /// No connection to use for this request.
    #[error("the database cannot be reached")]
    Unreachable,
    /// The query was not answered within [`TIMEOUT`].
    #[error("no answer")]
    NoAnswer,
    /// The query failed.
    #[error(transparent)]
    Query(#[from] tokio_postgres::Error),
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> StoreError {
        StoreError::Unavailable(e.to_string())
    }
}

enum Req {
    Spend {
        identity: String,
        id: String,
        max: i32,
        reply: mpsc::SyncSender<Result<Option<u32>, PgError>>,
    },
    Counts {
        reply: mpsc::SyncSender<Result<Vec<OrderCount>, PgError>>,
    },
}

/// A PostgreSQL-backed [`UseStore`].
#[derive(Debug)]
pub struct PgStore {
    tx: std::sync::Mutex<mpsc::Sender<Req>>,
}

impl std::fmt::Debug for Req {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Req")
    }
}

impl PgStore {
    /// Starts the client thread and checks that the database answers and
    /// has the schema (applying it when missing). `conn` is a libpq-style
    /// connection string (`host=/run/postgresql dbname=origuard user=origuard`).
    pub fn connect(conn: &str) -> Result<PgStore, StoreError> {
        let config: tokio_postgres::Config = conn
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("bad connection string: {e}")))?;
        let (tx, rx) = mpsc::channel::<Req>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), PgError>>(1);
        std::thread::Builder::new()
            .name("origuard-pg".into())
            .spawn(move || serve(config, rx, ready_tx))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        match ready_rx.recv_timeout(TIMEOUT * 5) {
            Ok(Ok(())) => Ok(PgStore {
                tx: std::sync::Mutex::new(tx),
            }),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(StoreError::Unavailable(
                "the database did not answer at start".into(),
            )),
        }
    }

    fn send(&self, r: Req) -> Result<(), StoreError> {
        self.tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(r)
            .map_err(|_| StoreError::Unavailable("the database client stopped".into()))
    }
}

impl UseStore for PgStore {
    fn spend(&self, s: &Spend<'_>) -> Result<Option<u32>, StoreError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Req::Spend {
            identity: s.identity.to_string(),
            id: s.id.to_string(),
            max: i32::try_from(s.max).unwrap_or(i32::MAX),
            reply,
        })?;
        match rx.recv_timeout(TIMEOUT) {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no answer within {} ms",
                TIMEOUT.as_millis()
            ))),
        }
    }

    fn counts(&self) -> Result<Vec<OrderCount>, StoreError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Req::Counts { reply })?;
        match rx.recv_timeout(TIMEOUT) {
            Ok(r) => r.map_err(StoreError::from),
            Err(_) => Err(StoreError::Unavailable("no answer".into())),
        }
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}

async fn open(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client, PgError> {
    let (client, conn) = tokio::time::timeout(TIMEOUT, config.connect(tokio_postgres::NoTls))
        .await
        .map_err(|_| PgError::ConnectTimeout)?
        .map_err(PgError::Connect)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(error = %e, "court-order database connection closed");
        }
    });
    Ok(client)
}

/// The client thread: one connection, re-opened on the next request after
/// it fails; requests answered in order.
fn serve(
    config: tokio_postgres::Config,
    rx: mpsc::Receiver<Req>,
    ready: mpsc::SyncSender<Result<(), PgError>>,
) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        let _ = ready.send(Err(PgError::Runtime));
        return;
    };
    rt.block_on(async move {
        let mut client = match open(&config).await {
            Ok(c) => match c
                .batch_execute(&format!(
                    "SELECT pg_advisory_lock(7310251); {SCHEMA}\nSELECT pg_advisory_unlock(7310251);"
                ))
                .await
            {
                Ok(()) => Some(c),
                Err(e) => {
                    let _ = ready.send(Err(PgError::Schema(e)));
                    return;
                }
            },
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        // Requests arrive on a std channel: wait for them off the runtime.
        let (atx, mut arx) = tokio::sync::mpsc::channel::<Req>(64);
        std::thread::spawn(move || {
            while let Ok(r) = rx.recv() {
                if atx.blocking_send(r).is_err() {
                    break;
                }
            }
        });
        while let Some(req) = arx.recv().await {
            if client.as_ref().is_none_or(|c| c.is_closed()) {
                client = open(&config).await.ok();
            }
            match req {
                Req::Spend {
                    identity,
                    id,
                    max,
                    reply,
                } => {
                    let r = match &client {
                        None => Err(PgError::Unreachable),
                        Some(c) => spend(c, &identity, &id, max).await,
                    };
                    if r.is_err() {
                        client = None;
                    }
                    let _ = reply.send(r);
                }
                Req::Counts { reply } => {
                    let r = match &client {
                        None => Err(PgError::Unreachable),
                        Some(c) => counts(c).await,
                    };
                    let _ = reply.send(r);
                }
            }
        }
    });
}

async fn spend(
    c: &tokio_postgres::Client,
    identity: &str,
    id: &str,
    max: i32,
) -> Result<Option<u32>, PgError> {
    let work = async {
        c.execute(SPEND_ROW, &[&identity, &max]).await?;
        let row = c.query_opt(SPEND, &[&identity, &id]).await?;
        Ok::<_, tokio_postgres::Error>(row.map(|r| r.get::<_, i32>(0).max(0) as u32))
    };
    match tokio::time::timeout(TIMEOUT, work).await {
        Ok(r) => r.map_err(PgError::Query),
        Err(_) => Err(PgError::NoAnswer),
    }
}

async fn counts(c: &tokio_postgres::Client) -> Result<Vec<OrderCount>, PgError> {
    let rows = tokio::time::timeout(TIMEOUT, c.query(COUNTS, &[]))
        .await
        .map_err(|_| PgError::NoAnswer)?
        .map_err(PgError::Query)?;
    Ok(rows
        .iter()
        .map(|r| OrderCount {
            identity: r.get::<_, String>(0),
            used: r.get::<_, i32>(1).max(0) as u32,
            ids: r.get::<_, Vec<String>>(2),
        })
        .collect())
}
