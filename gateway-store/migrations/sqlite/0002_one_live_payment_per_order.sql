-- An order has at most one payment that is pending or has succeeded: another payment may only
-- follow a failed one, so an order can never be paid twice.
CREATE UNIQUE INDEX payments_one_live_per_order ON payments (order_id) WHERE status IN ('pending', 'success');
