-- When a payment left `pending`: its checkout result is signed at this time, so every poll of
-- a settled payment returns the same timestamp and signature. Payments settled before this
-- column existed fall back to their last update.
ALTER TABLE payments ADD COLUMN settled_at BIGINT;
