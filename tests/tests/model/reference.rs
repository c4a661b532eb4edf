//! The reference model: what the gateway must answer and become, as a pure function of the
//! commands so far (DESIGN.md's Domain, Idempotency and Test mode sections, with issue 11's
//! rule: no capture once a refund that is not `failed` exists).
//!
//! The model knows objects by their position (order 0, payment 2, refund 1): the real ids are
//! the service's business, and [`super::service`] maps between the two.

/// The simulated bank's processing delay for payments and refunds in the model's app.
pub const PROCESSING_DELAY_MS: u64 = 2_000;
/// How far the clock moves before every command, so no two commands share an instant (the
/// model counts it towards the processing delays too).
pub const TICK_MS: u64 = 1;
/// The refund reason the test bank declines (the refund ends `failed`).
pub const DECLINED_REASON: &str = "model: the bank declines this refund";

/// An instrument a payment is made with; the test instruments decide their own outcome, the
/// others succeed because the app runs with `TEST_PAYMENT_SUCCESS=true`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instrument {
    /// VPA `success@paytm`.
    UpiSuccess,
    /// VPA `failure@paytm`.
    UpiFailure,
    /// An ordinary VPA.
    UpiOther,
    /// Card 4111 1111 1111 1111.
    CardSuccess,
    /// Card 4000 0000 0000 0002.
    CardDecline,
    /// An ordinary (Mastercard) test number.
    CardOther,
}

impl Instrument {
    /// Every instrument.
    pub const ALL: [Self; 6] = [
        Self::UpiSuccess,
        Self::UpiFailure,
        Self::UpiOther,
        Self::CardSuccess,
        Self::CardDecline,
        Self::CardOther,
    ];

    /// Whether the bank accepts a payment with this instrument.
    pub fn succeeds(self) -> bool {
        !matches!(self, Self::UpiFailure | Self::CardDecline)
    }

    /// Another instrument (for a request with a different body).
    fn other(self) -> Self {
        let at = Self::ALL.iter().position(|i| *i == self).unwrap_or(0);
        Self::ALL[(at + 1) % Self::ALL.len()]
    }
}

/// A POST the model can send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `POST /api/v1/orders`.
    CreateOrder {
        /// Minor units.
        amount: i64,
    },
    /// `POST /api/v1/payments` for order number `order`.
    Pay {
        /// The order's position.
        order: usize,
        /// What it is paid with.
        instrument: Instrument,
    },
    /// `POST /api/v1/payments/{id}/capture`.
    Capture {
        /// The payment's position.
        payment: usize,
        /// The body's `amount`, if any.
        amount: Option<i64>,
    },
    /// `POST /api/v1/payments/{id}/refunds`.
    Refund {
        /// The payment's position.
        payment: usize,
        /// The body's `amount`, if any (none refunds the whole payment).
        amount: Option<i64>,
        /// Whether the reason is [`DECLINED_REASON`], so the bank will decline it.
        declined: bool,
    },
}

impl Request {
    /// The same request with a different body (as a reused idempotency key would carry).
    fn with_other_body(&self) -> Self {
        match self.clone() {
            Self::CreateOrder { amount } => Self::CreateOrder { amount: amount + 1 },
            Self::Pay { order, instrument } => Self::Pay {
                order,
                instrument: instrument.other(),
            },
            Self::Capture { payment, amount } => Self::Capture {
                payment,
                amount: match amount {
                    None => Some(1),
                    Some(_) => None,
                },
            },
            Self::Refund {
                payment,
                amount,
                declined,
            } => Self::Refund {
                payment,
                amount: Some(amount.map_or(1, |a| a + 1)),
                declined,
            },
        }
    }
}

/// One step of a generated history.
#[derive(Clone, Debug)]
pub enum Command {
    /// Sends `request`, under a fresh idempotency key if `keyed`.
    Send {
        /// The request.
        request: Request,
        /// Whether it carries a new `Idempotency-Key`.
        keyed: bool,
    },
    /// Sends key number `key` again, with the body it last carried or a different one.
    Replay {
        /// The key's position.
        key: usize,
        /// Whether the body is the one the key last carried.
        same_body: bool,
    },
    /// Moves the clock by `advance_ms` and runs every due job.
    RunWorker {
        /// Milliseconds.
        advance_ms: u64,
    },
}

/// An object the model knows, by position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Object {
    /// Order number n.
    Order(usize),
    /// Payment number n.
    Payment(usize),
    /// Refund number n.
    Refund(usize),
}

/// An event type, as the delivery log names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    /// `payment.created`.
    PaymentCreated,
    /// `payment.pending`.
    PaymentPending,
    /// `payment.success`.
    PaymentSuccess,
    /// `payment.failed`.
    PaymentFailed,
    /// `refund.created`.
    RefundCreated,
    /// `refund.processed`.
    RefundProcessed,
}

impl EventKind {
    /// The event's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::PaymentCreated => "payment.created",
            Self::PaymentPending => "payment.pending",
            Self::PaymentSuccess => "payment.success",
            Self::PaymentFailed => "payment.failed",
            Self::RefundCreated => "refund.created",
            Self::RefundProcessed => "refund.processed",
        }
    }

    /// The status of the object inside the event's payload.
    pub fn object_status(self) -> &'static str {
        match self {
            Self::PaymentCreated | Self::PaymentPending | Self::RefundCreated => "pending",
            Self::PaymentSuccess => "success",
            Self::PaymentFailed => "failed",
            Self::RefundProcessed => "processed",
        }
    }
}

/// Why a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The order has a successful payment.
    OrderPaid,
    /// The order has a pending payment.
    PaymentInProgress,
    /// The payment is not `success`, or is captured already.
    NotCapturable,
    /// A capture amount other than the payment's.
    WrongCaptureAmount,
    /// The payment has a refund that is not `failed` (issue 11).
    Refunded,
    /// The payment is not `success`.
    NotRefundable,
    /// A refund amount below 1.
    InvalidAmount,
    /// More than the payment, or than what is left of it.
    ExceedsBalance,
    /// The key was first used with a different request.
    KeyReused,
}

impl Refusal {
    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Self::KeyReused => 422,
            _ => 400,
        }
    }

    /// The error code.
    pub fn code(self) -> &'static str {
        match self {
            Self::KeyReused => "IDEMPOTENCY_KEY_REUSED_ERROR",
            _ => "BAD_REQUEST_ERROR",
        }
    }
}

/// What the service must answer to a command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Answer {
    /// Nothing is sent (the worker ran).
    #[default]
    Nothing,
    /// 201 with a new object.
    Created(Object),
    /// 200: payment number n is now captured.
    Captured(usize),
    /// The first answer given under key number n, replayed.
    Replayed(usize),
    /// Refused, for this reason.
    Refused(Refusal),
}

impl Answer {
    fn is_effect(&self) -> bool {
        matches!(self, Self::Created(_) | Self::Captured(_))
    }
}

/// An order's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    /// No payment yet.
    Created,
    /// A payment exists.
    Attempted,
    /// A payment succeeded.
    Paid,
}

/// A payment's or refund's status (`success` for payments, `processed` for refunds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the bank.
    Pending,
    /// The bank said yes.
    Done,
    /// The bank said no.
    Failed,
}

/// An order in the model.
#[derive(Clone, Debug)]
pub struct Order {
    /// Minor units.
    pub amount: i64,
    /// Its status.
    pub status: OrderStatus,
}

/// A payment in the model.
#[derive(Clone, Debug)]
pub struct Payment {
    /// The order's position.
    pub order: usize,
    /// The order's amount.
    pub amount: i64,
    /// What it was paid with.
    pub instrument: Instrument,
    /// Its status.
    pub status: Status,
    /// Whether it is captured.
    pub captured: bool,
    due_ms: u64,
}

/// A refund in the model.
#[derive(Clone, Debug)]
pub struct Refund {
    /// The payment's position.
    pub payment: usize,
    /// Minor units.
    pub amount: i64,
    /// Whether the bank declines it.
    pub declined: bool,
    /// Its status.
    pub status: Status,
    due_ms: u64,
}

/// An idempotency key the history has used.
#[derive(Clone, Debug)]
pub struct Key {
    /// The request it last carried (the one it remembers, once it has an answer).
    pub request: Request,
    /// Whether a request under it has had an effect (and so its answer is remembered).
    pub remembered: bool,
}

/// The model's whole state.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Milliseconds since the case started.
    pub now_ms: u64,
    /// Orders, by position.
    pub orders: Vec<Order>,
    /// Payments, by position.
    pub payments: Vec<Payment>,
    /// Refunds, by position.
    pub refunds: Vec<Refund>,
    /// Idempotency keys, by position.
    pub keys: Vec<Key>,
    /// The request the last command sent and its key, if it sent one.
    pub sent: Option<(Request, Option<usize>)>,
    /// What the last command must be answered.
    pub answer: Answer,
    /// The events the last command must emit.
    pub events: Vec<(EventKind, Object)>,
}

impl Model {
    /// The state after `command`.
    pub fn apply(mut self, command: &Command) -> Self {
        self.now_ms += TICK_MS;
        self.events.clear();
        self.sent = None;
        self.answer = match command {
            Command::Send {
                request,
                keyed: false,
            } => {
                self.sent = Some((request.clone(), None));
                self.execute(request)
            }
            Command::Send {
                request,
                keyed: true,
            } => {
                self.keys.push(Key {
                    request: request.clone(),
                    remembered: false,
                });
                self.keyed(self.keys.len() - 1, request.clone())
            }
            Command::Replay { key, same_body } => {
                let request = if *same_body {
                    self.keys[*key].request.clone()
                } else {
                    self.keys[*key].request.with_other_body()
                };
                self.keyed(*key, request)
            }
            Command::RunWorker { advance_ms } => {
                self.now_ms += advance_ms;
                self.settle_due();
                Answer::Nothing
            }
        };
        self
    }

    /// Whether order `o` may take a payment: not paid, and no payment pending.
    pub fn payable(&self, o: usize) -> bool {
        self.orders[o].status != OrderStatus::Paid
            && !self
                .payments
                .iter()
                .any(|p| p.order == o && p.status == Status::Pending)
    }

    /// Σ of payment `p`'s refunds that are not `failed`.
    pub fn refunded(&self, p: usize) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.payment == p && r.status != Status::Failed)
            .map(|r| r.amount)
            .sum()
    }

    /// Stripe's semantics: a remembered key replays its answer to the same request and refuses
    /// any other; a key without an effect yet lets the request run.
    fn keyed(&mut self, key: usize, request: Request) -> Answer {
        self.sent = Some((request.clone(), Some(key)));
        if self.keys[key].remembered {
            return if self.keys[key].request == request {
                Answer::Replayed(key)
            } else {
                Answer::Refused(Refusal::KeyReused)
            };
        }
        let answer = self.execute(&request);
        self.keys[key] = Key {
            request,
            remembered: answer.is_effect(),
        };
        answer
    }

    fn execute(&mut self, request: &Request) -> Answer {
        let outcome = match *request {
            Request::CreateOrder { amount } => Ok(self.create_order(amount)),
            Request::Pay { order, instrument } => self.pay(order, instrument),
            Request::Capture { payment, amount } => self.capture(payment, amount),
            Request::Refund {
                payment,
                amount,
                declined,
            } => self.refund(payment, amount, declined),
        };
        outcome.unwrap_or_else(Answer::Refused)
    }

    fn create_order(&mut self, amount: i64) -> Answer {
        self.orders.push(Order {
            amount,
            status: OrderStatus::Created,
        });
        Answer::Created(Object::Order(self.orders.len() - 1))
    }

    fn pay(&mut self, o: usize, instrument: Instrument) -> Result<Answer, Refusal> {
        if self.orders[o].status == OrderStatus::Paid {
            return Err(Refusal::OrderPaid);
        }
        if self
            .payments
            .iter()
            .any(|p| p.order == o && p.status != Status::Failed)
        {
            return Err(Refusal::PaymentInProgress);
        }
        let order = &mut self.orders[o];
        order.status = OrderStatus::Attempted;
        self.payments.push(Payment {
            order: o,
            amount: order.amount,
            instrument,
            status: Status::Pending,
            captured: false,
            due_ms: self.now_ms + PROCESSING_DELAY_MS,
        });
        let p = Object::Payment(self.payments.len() - 1);
        self.events.push((EventKind::PaymentCreated, p));
        self.events.push((EventKind::PaymentPending, p));
        Ok(Answer::Created(p))
    }

    fn capture(&mut self, p: usize, amount: Option<i64>) -> Result<Answer, Refusal> {
        let payment = &self.payments[p];
        if payment.status != Status::Done || payment.captured {
            return Err(Refusal::NotCapturable);
        }
        if amount.is_some_and(|a| a != payment.amount) {
            return Err(Refusal::WrongCaptureAmount);
        }
        if self
            .refunds
            .iter()
            .any(|r| r.payment == p && r.status != Status::Failed)
        {
            return Err(Refusal::Refunded);
        }
        self.payments[p].captured = true;
        Ok(Answer::Captured(p))
    }

    fn refund(&mut self, p: usize, amount: Option<i64>, declined: bool) -> Result<Answer, Refusal> {
        let payment = &self.payments[p];
        if payment.status != Status::Done {
            return Err(Refusal::NotRefundable);
        }
        let amount = amount.unwrap_or(payment.amount);
        if amount < 1 {
            return Err(Refusal::InvalidAmount);
        }
        if amount > payment.amount - self.refunded(p) {
            return Err(Refusal::ExceedsBalance);
        }
        self.refunds.push(Refund {
            payment: p,
            amount,
            declined,
            status: Status::Pending,
            due_ms: self.now_ms + PROCESSING_DELAY_MS,
        });
        let r = Object::Refund(self.refunds.len() - 1);
        self.events.push((EventKind::RefundCreated, r));
        Ok(Answer::Created(r))
    }

    /// The worker: every payment and refund whose processing delay has passed is settled.
    fn settle_due(&mut self) {
        let now = self.now_ms;
        for (i, payment) in self.payments.iter_mut().enumerate() {
            if payment.status == Status::Pending && payment.due_ms <= now {
                let event = if payment.instrument.succeeds() {
                    payment.status = Status::Done;
                    self.orders[payment.order].status = OrderStatus::Paid;
                    EventKind::PaymentSuccess
                } else {
                    payment.status = Status::Failed;
                    EventKind::PaymentFailed
                };
                self.events.push((event, Object::Payment(i)));
            }
        }
        for (i, refund) in self.refunds.iter_mut().enumerate() {
            if refund.status == Status::Pending && refund.due_ms <= now {
                if refund.declined {
                    refund.status = Status::Failed;
                } else {
                    refund.status = Status::Done;
                    self.events
                        .push((EventKind::RefundProcessed, Object::Refund(i)));
                }
            }
        }
    }
}
