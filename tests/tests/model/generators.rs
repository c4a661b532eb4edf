//! The generators: each next command of a history is drawn from the model's state, so it names
//! objects that exist, pays orders that can be paid, captures and refunds successful payments
//! (with right, wrong, partial, boundary and excessive amounts) and replays keys already used,
//! with a share of commands the service must refuse. Shrinking deletes commands and shrinks
//! amounts; preconditions drop commands that no longer name an object.

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest_state_machine::ReferenceStateMachine;

use super::reference::{Command, Instrument, Model, PROCESSING_DELAY_MS, Request, Status};

/// The generators: each next command is drawn from the model's state, so it names objects
/// that exist, and amounts are right, wrong, partial or over the balance of the payment named.
impl ReferenceStateMachine for Model {
    type State = Model;
    type Transition = Command;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model::default()).boxed()
    }

    /// Weighted towards commands that can take effect now (paying a payable order, settling
    /// what is pending, capturing and refunding successful payments), with a share of ones
    /// the service must refuse.
    fn transitions(state: &Model) -> BoxedStrategy<Command> {
        let keyed = || proptest::bool::weighted(0.3);
        let weight = |likely: bool| if likely { 4 } else { 1 };
        let payable: Vec<usize> = (0..state.orders.len())
            .filter(|&o| state.payable(o))
            .collect();
        let pending = state.payments.iter().any(|p| p.status == Status::Pending)
            || state.refunds.iter().any(|r| r.status == Status::Pending);
        let mut choices: Vec<(u32, BoxedStrategy<Command>)> = vec![
            (
                weight(payable.is_empty()),
                (100i64..=100_000, keyed())
                    .prop_map(|(amount, keyed)| Command::Send {
                        request: Request::CreateOrder { amount },
                        keyed,
                    })
                    .boxed(),
            ),
            (
                weight(pending),
                prop_oneof![
                    1 => Just(0),
                    1 => Just(PROCESSING_DELAY_MS / 2),
                    3 => Just(PROCESSING_DELAY_MS)
                ]
                .prop_map(|advance_ms| Command::RunWorker { advance_ms })
                .boxed(),
            ),
        ];
        if !state.orders.is_empty() {
            let likely = !payable.is_empty();
            let pay = (
                index(payable, state.orders.len()),
                proptest::sample::select(Instrument::ALL.to_vec()),
                keyed(),
            )
                .prop_map(|(order, instrument, keyed)| Command::Send {
                    request: Request::Pay { order, instrument },
                    keyed,
                });
            choices.push((weight(likely), pay.boxed()));
        }
        if !state.payments.is_empty() {
            let payments: Vec<(i64, i64)> = (0..state.payments.len())
                .map(|p| (state.payments[p].amount, state.refunded(p)))
                .collect();
            let successful: Vec<usize> = (0..state.payments.len())
                .filter(|&p| state.payments[p].status == Status::Done)
                .collect();
            let uncaptured: Vec<usize> = successful
                .iter()
                .copied()
                .filter(|&p| !state.payments[p].captured)
                .collect();
            let (can_capture, can_refund) = (!uncaptured.is_empty(), !successful.is_empty());
            let capture = capture(index(uncaptured, payments.len()), payments.clone());
            let refund = refund(index(successful, payments.len()), payments);
            choices.push((weight(can_capture), capture.boxed()));
            choices.push((weight(can_refund), refund.boxed()));
        }
        if !state.keys.is_empty() {
            let replay = (0..state.keys.len(), any::<bool>())
                .prop_map(|(key, same_body)| Command::Replay { key, same_body });
            choices.push((2, replay.boxed()));
        }
        Union::new_weighted(choices).boxed()
    }

    fn apply(state: Model, command: &Command) -> Model {
        state.apply(command)
    }

    /// After shrinking deletes commands, a command may name an object that no longer exists.
    fn preconditions(state: &Model, command: &Command) -> bool {
        match command {
            Command::Send { request, .. } => match request {
                Request::CreateOrder { .. } => true,
                Request::Pay { order, .. } => *order < state.orders.len(),
                Request::Capture { payment, .. } | Request::Refund { payment, .. } => {
                    *payment < state.payments.len()
                }
            },
            Command::Replay { key, .. } => *key < state.keys.len(),
            Command::RunWorker { .. } => true,
        }
    }
}

/// Mostly one of `preferred`, sometimes any of `0..len`, so that most commands can take effect
/// and some are refused.
fn index(preferred: Vec<usize>, len: usize) -> BoxedStrategy<usize> {
    if preferred.is_empty() {
        (0..len).boxed()
    } else {
        prop_oneof![4 => proptest::sample::select(preferred), 1 => 0..len].boxed()
    }
}

/// A capture of payment `payment` of `payments` (amount, refunded): without an amount, with the
/// right one, or with a wrong one (one off, or any).
fn capture(
    payment: BoxedStrategy<usize>,
    payments: Vec<(i64, i64)>,
) -> impl Strategy<Value = Command> {
    (payment, proptest::bool::weighted(0.3)).prop_flat_map(move |(payment, keyed)| {
        let (amount, _) = payments[payment];
        prop_oneof![
            2 => Just(None),
            2 => Just(Some(amount)),
            1 => prop_oneof![
                Just(amount - 1),
                Just(amount + 1),
                (1..amount * 2).prop_map(move |a| if a == amount { a + 1 } else { a }),
            ]
            .prop_map(Some),
        ]
        .prop_map(move |amount| Command::Send {
            request: Request::Capture { payment, amount },
            keyed,
        })
    })
}

/// A refund of payment `payment` of `payments` (amount, refunded): in full (no amount),
/// partial, exactly the balance, just over it or far over it, or of nothing; now and then one
/// the bank will decline.
fn refund(
    payment: BoxedStrategy<usize>,
    payments: Vec<(i64, i64)>,
) -> impl Strategy<Value = Command> {
    (
        payment,
        proptest::bool::weighted(0.3),
        proptest::bool::weighted(0.2),
    )
        .prop_flat_map(move |(payment, keyed, declined)| {
            let (amount, refunded) = payments[payment];
            let balance = (amount - refunded).max(1);
            prop_oneof![
                2 => Just(None),
                3 => (1..=balance).prop_map(Some),
                1 => Just(Some(balance)),
                1 => Just(Some(balance + 1)),
                2 => (balance + 1..=amount + 1_000).prop_map(Some),
                1 => Just(Some(0)),
            ]
            .prop_map(move |amount| Command::Send {
                request: Request::Refund {
                    payment,
                    amount,
                    declined,
                },
                keyed,
            })
        })
}
