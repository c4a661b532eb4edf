//! A `redis-server` of a test's own, to kill and restart without disturbing other tests.

use std::time::Duration;

/// A `redis-server` of the test's own on a free port, without persistence: killed, it comes
/// back empty.
pub struct PrivateRedis {
    port: u16,
    server: std::process::Child,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = super::free_port();
        let server = Self::spawn(port);
        let redis = Self { port, server };
        redis.wait_until_answering();
        redis
    }

    fn spawn(port: u16) -> std::process::Child {
        std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect(
                "this test runs its own redis-server: install it (apt-get install redis-server)",
            )
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn wait_until_answering(&self) {
        let client = redis::Client::open(self.url()).unwrap();
        for _ in 0..200 {
            if let Ok(mut conn) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "the test's redis-server on port {} did not answer",
            self.port
        );
    }

    /// SIGKILL: Redis is gone until [`PrivateRedis::start_again`].
    pub fn kill_9(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }

    /// A new, empty server on the same port.
    pub fn start_again(&mut self) {
        self.server = Self::spawn(self.port);
        self.wait_until_answering();
    }

    /// SIGKILL, then a new, empty server on the same port.
    pub fn restart_empty(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        self.server = Self::spawn(self.port);
        self.wait_until_answering();
    }

    /// `(stream length, unacknowledged entries, scheduled jobs)` of the gateway's queue.
    pub fn backlog(&self) -> (i64, i64, i64) {
        let mut conn = redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let length: i64 = redis::cmd("XLEN")
            .arg("gateway:jobs")
            .query(&mut conn)
            .unwrap();
        let pending: redis::Value = redis::cmd("XPENDING")
            .arg("gateway:jobs")
            .arg("workers")
            .query(&mut conn)
            .unwrap();
        let unacknowledged = match pending {
            redis::Value::Array(items) => match items.first() {
                Some(redis::Value::Int(n)) => *n,
                _ => 0,
            },
            _ => 0,
        };
        let scheduled: i64 = redis::cmd("ZCARD")
            .arg("gateway:jobs:scheduled")
            .query(&mut conn)
            .unwrap();
        (length, unacknowledged, scheduled)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
