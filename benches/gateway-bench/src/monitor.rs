//! Resource use from `/proc`: the gateway's RSS and (on SQLite) the size of its write-ahead
//! log, sampled every 50 ms (peak per step), and the CPU time of the gateway, of this bench
//! process and of the PostgreSQL server's processes, as a percentage of one core over each step.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on Linux).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// `utime + stime` of a process in ticks, or `None` if it is gone.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: fields follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the man page, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` field of `/proc/<pid>/status`, such as `VmRSS` or `VmHWM`.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// CPU ticks of every process named `postgres` (the server and its backends).
fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(cpu_ticks)
        .sum()
}

/// A file's size in bytes, 0 if it does not exist.
fn file_size(path: &PathBuf) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// What a step cost, in resources.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Resources {
    /// Wall time of the step, seconds.
    pub wall_s: f64,
    /// Gateway CPU over the step, % of one core (200 = both cores of this machine).
    pub gateway_cpu_pct: f64,
    /// Highest gateway RSS seen during the step, MiB.
    pub gateway_peak_rss_mib: f64,
    /// This bench process's CPU over the step, % of one core.
    pub client_cpu_pct: f64,
    /// All `postgres` processes' CPU over the step, % of one core (PostgreSQL runs only).
    pub db_cpu_pct: Option<f64>,
    /// Largest size of the SQLite `-wal` file seen during the step, MiB (SQLite runs only).
    pub wal_peak_mib: Option<f64>,
}

/// Samples one gateway process until dropped.
#[derive(Debug)]
pub struct Monitor {
    /// The gateway's pid.
    pid: Option<u32>,
    /// Whether to add up the `postgres` processes' CPU.
    postgres: bool,
    /// Highest RSS (kB) since the last [`Monitor::begin`].
    peak_kb: Arc<AtomicU64>,
    /// The SQLite WAL watched, if any.
    wal: Option<PathBuf>,
    /// Largest WAL size (bytes) since the last [`Monitor::begin`].
    wal_peak: Arc<AtomicU64>,
    /// Tells the sampler thread to stop.
    stop: Arc<AtomicBool>,
    /// The sampler thread.
    sampler: Option<JoinHandle<()>>,
    /// `CLK_TCK`.
    hz: f64,
}

/// Counters at the start of a step.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    /// When the step started.
    at: Instant,
    /// Gateway CPU ticks.
    gateway: u64,
    /// Own CPU ticks.
    client: u64,
    /// PostgreSQL CPU ticks.
    db: u64,
}

impl Monitor {
    /// Watches the process `pid` (or none, for steps without a gateway) and the SQLite
    /// write-ahead log `wal` (none on PostgreSQL).
    pub fn new(pid: Option<u32>, postgres: bool, wal: Option<PathBuf>) -> Self {
        let peak_kb = Arc::new(AtomicU64::new(0));
        let wal_peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = pid.map(|pid| {
            let (peak_kb, wal_peak, stop) = (peak_kb.clone(), wal_peak.clone(), stop.clone());
            let wal = wal.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kb) = status_kb(pid, "VmRSS") {
                        peak_kb.fetch_max(kb, Ordering::Relaxed);
                    }
                    if let Some(bytes) = wal.as_ref().map(file_size) {
                        wal_peak.fetch_max(bytes, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        });
        Self {
            pid,
            postgres,
            peak_kb,
            wal,
            wal_peak,
            stop,
            sampler,
            hz: ticks_per_second(),
        }
    }

    /// Starts a step: resets the RSS peak and reads the CPU counters.
    pub fn begin(&self) -> Mark {
        let rss = self.pid.and_then(|p| status_kb(p, "VmRSS")).unwrap_or(0);
        self.peak_kb.store(rss, Ordering::Relaxed);
        self.wal_peak
            .store(self.wal.as_ref().map_or(0, file_size), Ordering::Relaxed);
        Mark {
            at: Instant::now(),
            gateway: self.pid.and_then(cpu_ticks).unwrap_or(0),
            client: cpu_ticks(std::process::id()).unwrap_or(0),
            db: if self.postgres { postgres_ticks() } else { 0 },
        }
    }

    /// Ends a step begun at `mark`.
    pub fn end(&self, mark: Mark) -> Resources {
        let wall = mark.at.elapsed().as_secs_f64().max(1e-6);
        let pct = |ticks: u64| ticks as f64 / self.hz / wall * 100.0;
        let gateway = self.pid.and_then(cpu_ticks).unwrap_or(0);
        let client = cpu_ticks(std::process::id()).unwrap_or(0);
        Resources {
            wall_s: wall,
            gateway_cpu_pct: pct(gateway.saturating_sub(mark.gateway)),
            gateway_peak_rss_mib: self.peak_kb.load(Ordering::Relaxed) as f64 / 1024.0,
            client_cpu_pct: pct(client.saturating_sub(mark.client)),
            db_cpu_pct: self
                .postgres
                .then(|| pct(postgres_ticks().saturating_sub(mark.db))),
            wal_peak_mib: self
                .wal
                .as_ref()
                .map(|_| self.wal_peak.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)),
        }
    }

    /// The WAL's size now, MiB (SQLite only).
    pub fn wal_mib(&self) -> Option<f64> {
        self.wal
            .as_ref()
            .map(|w| file_size(w) as f64 / (1024.0 * 1024.0))
    }

    /// The gateway's `VmHWM` (peak RSS over its life), MiB.
    pub fn high_water_mib(&self) -> Option<f64> {
        self.pid
            .and_then(|p| status_kb(p, "VmHWM"))
            .map(|kb| kb as f64 / 1024.0)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.sampler.take() {
            let _ = t.join();
        }
    }
}
