//! The state machines drawn in docs/architecture.md are the ones the code enforces: every state
//! and transition of each enum's table is in its diagram, and the diagram shows nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use gateway_core::jobs::JobStatus;
use gateway_core::order::OrderStatus;
use gateway_core::payment::PaymentStatus;
use gateway_core::refund::RefundStatus;
use gateway_core::webhook::DeliveryStatus;

const ARCHITECTURE: &str = include_str!("../../docs/architecture.md");

/// A state machine: its initial state, its states and its `(from, to)` transitions.
#[derive(Debug, PartialEq)]
struct Machine {
    initial: String,
    states: BTreeSet<String>,
    transitions: BTreeSet<(String, String)>,
}

impl Machine {
    fn from_code<S: Copy>(all: &[S], transitions: &[(S, S)], name: fn(S) -> &'static str) -> Self {
        Self {
            initial: name(all[0]).to_owned(),
            states: all.iter().map(|s| name(*s).to_owned()).collect(),
            transitions: transitions
                .iter()
                .map(|(from, to)| (name(*from).to_owned(), name(*to).to_owned()))
                .collect(),
        }
    }

    /// The `stateDiagram-v2` block marked `%% machine: {machine}` in the architecture page.
    fn from_diagram(machine: &str) -> Self {
        let marker = format!("%% machine: {machine}");
        let block = ARCHITECTURE
            .split("```mermaid")
            .find(|block| block.lines().any(|line| line.trim() == marker))
            .unwrap_or_else(|| panic!("docs/architecture.md has no diagram marked `{marker}`"));
        let block = &block[..block.find("```").expect("the diagram block ends")];
        let mut initial = None;
        let mut states = BTreeSet::new();
        let mut transitions = BTreeSet::new();
        for line in block.lines() {
            let Some((from, rest)) = line.split_once("-->") else {
                continue;
            };
            let from = from.trim();
            let to = rest.split(':').next().unwrap_or_default().trim();
            if from == "[*]" {
                initial = Some(to.to_owned());
                states.insert(to.to_owned());
                continue;
            }
            states.insert(from.to_owned());
            states.insert(to.to_owned());
            transitions.insert((from.to_owned(), to.to_owned()));
        }
        Self {
            initial: initial
                .unwrap_or_else(|| panic!("the {machine} diagram has no initial state")),
            states,
            transitions,
        }
    }
}

fn pairs<S: Copy, L>(table: &[(S, L, S)]) -> Vec<(S, S)> {
    table.iter().map(|(from, _, to)| (*from, *to)).collect()
}

#[test]
fn the_order_diagram_matches_the_code() {
    let code = Machine::from_code(
        &OrderStatus::ALL,
        &pairs(&OrderStatus::TRANSITIONS),
        OrderStatus::as_str,
    );
    assert_eq!(Machine::from_diagram("order"), code);
}

#[test]
fn the_payment_diagram_matches_the_code() {
    let code = Machine::from_code(
        &PaymentStatus::ALL,
        &pairs(&PaymentStatus::TRANSITIONS),
        PaymentStatus::as_str,
    );
    assert_eq!(Machine::from_diagram("payment"), code);
}

#[test]
fn the_refund_diagram_matches_the_code() {
    let code = Machine::from_code(
        &RefundStatus::ALL,
        &pairs(&RefundStatus::TRANSITIONS),
        RefundStatus::as_str,
    );
    assert_eq!(Machine::from_diagram("refund"), code);
}

#[test]
fn the_delivery_diagram_matches_the_code() {
    let code = Machine::from_code(
        &DeliveryStatus::ALL,
        &pairs(&DeliveryStatus::TRANSITIONS),
        DeliveryStatus::as_str,
    );
    assert_eq!(Machine::from_diagram("delivery"), code);
}

#[test]
fn the_job_diagram_matches_the_code() {
    let code = Machine::from_code(
        &JobStatus::ALL,
        &pairs(&JobStatus::TRANSITIONS),
        JobStatus::as_str,
    );
    assert_eq!(Machine::from_diagram("job"), code);
}

/// Each enum's `ALL` lists every variant exactly once, in order: a variant added to an enum
/// stops these exhaustive matches compiling until it is placed in `ALL` (and so in a diagram).
#[test]
fn every_variant_is_in_its_machine() {
    fn check<S: Copy + PartialEq + std::fmt::Debug>(
        all: &[S],
        position: fn(S) -> usize,
        arms: usize,
    ) {
        assert_eq!(all.len(), arms);
        for (i, state) in all.iter().enumerate() {
            assert_eq!(position(*state), i, "{state:?}");
        }
    }
    check(
        &OrderStatus::ALL,
        |s| match s {
            OrderStatus::Created => 0,
            OrderStatus::Attempted => 1,
            OrderStatus::Paid => 2,
        },
        3,
    );
    check(
        &PaymentStatus::ALL,
        |s| match s {
            PaymentStatus::Pending => 0,
            PaymentStatus::Success => 1,
            PaymentStatus::Failed => 2,
        },
        3,
    );
    check(
        &RefundStatus::ALL,
        |s| match s {
            RefundStatus::Pending => 0,
            RefundStatus::Processed => 1,
            RefundStatus::Failed => 2,
        },
        3,
    );
    check(
        &DeliveryStatus::ALL,
        |s| match s {
            DeliveryStatus::Pending => 0,
            DeliveryStatus::Success => 1,
            DeliveryStatus::Failed => 2,
        },
        3,
    );
    check(
        &JobStatus::ALL,
        |s| match s {
            JobStatus::Queued => 0,
            JobStatus::Running => 1,
            JobStatus::Completed => 2,
            JobStatus::Failed => 3,
        },
        4,
    );
}
