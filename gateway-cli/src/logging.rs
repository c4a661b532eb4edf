//! Log setup: where log lines go (stderr), in which format, and which ones.
//!
//! - `LOG_FORMAT=json`: one JSON object per line, with the event's fields, the current span's
//!   fields (`span`) and every enclosing span's (`spans`), so each line of a request or job
//!   carries its `request_id`, merchant, job kind and attempt. For log collectors.
//! - `LOG_FORMAT=pretty`: one human-readable line per event, spans as a prefix.
//! - Unset: `pretty` when stderr is a terminal, `json` otherwise. Output that is not a terminal
//!   is almost always read by a program (a collector, `journald`, a file someone will grep), and
//!   a program reads JSON without guessing.
//!
//! Colours (ANSI escapes) only on a terminal, and never with `NO_COLOR` set, whatever the
//! format. `RUST_LOG` chooses the lines (default `info,sqlx=warn`; one access line per request
//! under `RUST_LOG=info,gateway::access=debug`).

use std::io::IsTerminal;

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Pretty,
}

/// Logging options, for every subcommand.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log format: `json` or `pretty`. Default: `pretty` when stderr is a terminal, `json`
    /// otherwise.
    #[arg(long, env = "LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
}

/// The format used when none is asked for: see the module docs.
pub fn default_format(stderr_is_terminal: bool) -> LogFormat {
    if stderr_is_terminal {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    }
}

/// Installs the process's log subscriber, writing to stderr.
pub fn init(args: &LogArgs) {
    let terminal = std::io::stderr().is_terminal();
    let colour = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    match args.log_format.unwrap_or(default_format(terminal)) {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        LogFormat::Pretty => builder.init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_gets_pretty_lines_and_anything_else_json() {
        assert_eq!(default_format(true), LogFormat::Pretty);
        assert_eq!(default_format(false), LogFormat::Json);
    }
}
