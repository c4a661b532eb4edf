//! Operator commands over the HTTP API: one file per resource, shared output helpers here.

pub mod endpoints;
pub mod events;
pub mod jobs;
pub mod listen;
pub mod orders;
pub mod payments;
pub mod refunds;
pub mod trigger;
pub mod webhooks;

use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use serde_json::Value;

use crate::api::ApiArgs;

/// Prints `value` as pretty JSON (for `--json`) or as a table of `columns` (for people).
/// A page (`{"data": [...]}`) prints one row per item and the total.
pub fn print(args: &ApiArgs, value: &Value, columns: &[&str]) {
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
        return;
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_header(columns.iter().map(|c| c.to_uppercase()));
    let rows: Vec<&Value> = match value.get("data").and_then(Value::as_array) {
        Some(items) => items.iter().collect(),
        None => vec![value],
    };
    for row in &rows {
        table.add_row(columns.iter().map(|c| cell(&row[*c])));
    }
    println!("{table}");
    if let (Some(total), Some(offset)) = (value["total"].as_i64(), value["offset"].as_i64()) {
        println!("{} of {total} (offset {offset})", rows.len());
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `?limit=…&offset=…` plus extra filters, skipping absent ones.
pub fn query(limit: i64, offset: i64, filters: &[(&str, Option<&str>)]) -> String {
    let mut q = format!("?limit={limit}&offset={offset}");
    for (name, value) in filters {
        if let Some(value) = value {
            q.push_str(&format!("&{name}={}", encode(value)));
        }
    }
    q
}

/// Percent-encodes a query value (ids and statuses are ASCII; be strict anyway).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Rejects ids containing anything but the characters ids are made of, so they cannot
/// change the request path.
pub fn checked_id(id: &str) -> anyhow::Result<&str> {
    if !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(id)
    } else {
        anyhow::bail!("{id:?} is not a valid id")
    }
}

/// Paging flags shared by the list commands.
#[derive(Debug, Clone, clap::Args)]
pub struct Paging {
    /// Items per page (1–100).
    #[arg(long, default_value_t = 10)]
    pub limit: i64,
    /// Items to skip.
    #[arg(long, default_value_t = 0)]
    pub offset: i64,
}
