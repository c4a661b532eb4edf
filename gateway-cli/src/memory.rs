//! How many malloc arenas the process keeps.
//!
//! glibc's malloc gives each thread that allocates its own arena, up to eight per core. The
//! gateway runs more threads than cores (the runtime's workers, the main thread, one per SQLite
//! connection, blocking-pool threads), and memory freed in one arena is not reused by another,
//! so each holds its own high-water mark: on a 2-core machine that was about 10 MiB of a
//! 47 MiB peak under load. At most one arena per core keeps threads that run at the same time
//! apart, which is what the arenas are for, and bounds the rest.

/// The arena limit to set, or `None` to leave malloc as it is: the operator already chose one
/// (`MALLOC_ARENA_MAX`, or `glibc.malloc.arena_max` in `GLIBC_TUNABLES`, which glibc read when
/// the process started), or the core count is unknown.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
fn arena_limit(
    malloc_arena_max: Option<&str>,
    glibc_tunables: Option<&str>,
    cores: Option<usize>,
) -> Option<i32> {
    let chosen = malloc_arena_max.is_some()
        || glibc_tunables.is_some_and(|tunables| tunables.contains("glibc.malloc.arena_max"));
    if chosen {
        return None;
    }
    cores.and_then(|cores| i32::try_from(cores).ok())
}

/// Limits malloc to one arena per core unless the environment chose otherwise. Call it before
/// any other thread starts: glibc fixes the limit when a second thread first needs an arena.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn limit_arenas() {
    let malloc_arena_max = std::env::var("MALLOC_ARENA_MAX").ok();
    let glibc_tunables = std::env::var("GLIBC_TUNABLES").ok();
    let cores = std::thread::available_parallelism().ok().map(usize::from);
    if let Some(limit) = arena_limit(
        malloc_arena_max.as_deref(),
        glibc_tunables.as_deref(),
        cores,
    ) {
        // SAFETY: `mallopt` only stores a tuning value inside malloc and takes no pointers;
        // `M_ARENA_MAX` with a positive count is a documented, valid pair. A refusal (it
        // returns 0) leaves malloc as it was, which is harmless.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, limit);
        }
    }
}

/// Other allocators and C libraries keep their own defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_arena_per_core_unless_the_operator_chose() {
        assert_eq!(arena_limit(None, None, Some(2)), Some(2));
        assert_eq!(
            arena_limit(None, Some("glibc.malloc.tcache_count=0"), Some(8)),
            Some(8)
        );
        assert_eq!(arena_limit(Some("4"), None, Some(2)), None);
        assert_eq!(arena_limit(Some(""), None, Some(2)), None);
        assert_eq!(
            arena_limit(
                None,
                Some("glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=0"),
                Some(2)
            ),
            None
        );
        assert_eq!(arena_limit(None, None, None), None);
    }
}
