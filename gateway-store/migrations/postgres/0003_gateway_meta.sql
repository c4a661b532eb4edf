-- Facts about the database itself: the environment it belongs to (recorded when it is first
-- opened, so a production database never gets development's test merchant) and the readiness
-- write probe's last write.
CREATE TABLE gateway_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
