//! The runtime: everything that touches sockets, files, signals, threads
//! and the clock, around the pure core. The per-message path is
//! [`proxy::session`] (read a frame, [`crate::decision::decide`], append the
//! audit record, wait for it to be durable, write).

pub mod admin;
pub mod admin_auth;
pub mod audit_log;
pub mod config;
pub mod court_orders;
pub mod court_orders_pg;
pub mod fault;
pub mod metrics;
pub mod policy_store;
pub mod proxy;
pub mod reload;
pub mod shadow;
pub mod systemd;
pub mod time_to_block;
pub mod tls;
