//! Command-line definitions (clap). Kept apart from `main.rs` so the wiring
//! there stays short and the definitions are testable.

use crate::framing::DEFAULT_MAX_MESSAGE;
use crate::tools::stream::InputFraming;
use clap::{Parser, Subcommand};

/// origuard: policy-driven privacy proxy between a state message switch and Nlets.
#[derive(Debug, Parser)]
#[command(name = "origuard", version, about, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse a capture (or one message) and print one JSON line per message.
    Inspect {
        /// Framing of the input: auto, none (one message), len4 or stx-etx.
        #[arg(long, default_value = "auto")]
        framing: InputFraming,
        /// Largest message accepted, in bytes.
        #[arg(long, default_value_t = DEFAULT_MAX_MESSAGE)]
        max_message: usize,
        /// Input file, or - for stdin.
        file: String,
    },
}
