//! The console's allocator: mimalloc, told to give freed memory back to the system as
//! soon as a page of it is empty (issue 17).
//!
//! mimalloc returns an empty page to the system only after its purge delay (1 s), and
//! only when some thread next frees or abandons a page: it has no timer. After an
//! inventory refresh or a burst of requests the threads that did the work go idle, so
//! what they freed stayed resident until the next burst. At 10,000 pools that was
//! 10–20 MiB of a console's memory (README, "Performance").
//!
//! This is the workspace's one `unsafe` call; the console and the sandbox forbid it.

pub use mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the `mi_option_t` of the pinned libmimalloc-sys.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc purge an empty page when it is freed rather than a second later.
///
/// Call it first thing in `main`, before any other thread starts: mimalloc's options
/// are plain integers, not safe to set while other threads read them.
pub fn purge_when_freed() {
    #[allow(unsafe_code)]
    // SAFETY: `mi_option_set` stores an integer in mimalloc's option table; 0 is a valid
    // purge delay (purge at once). The caller runs it before other threads exist, so
    // no thread reads the option while it is written.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0)
    };
}

/// The purge delay mimalloc uses now, in milliseconds.
pub fn purge_delay_ms() -> std::ffi::c_long {
    #[allow(unsafe_code)]
    // SAFETY: reads an integer from mimalloc's option table.
    unsafe {
        libmimalloc_sys::mi_option_get(PURGE_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static ALLOCATOR: MiMalloc = MiMalloc;

    /// The anonymous memory of this process, in KiB.
    fn resident_anonymous_kib() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .expect("/proc/self/status")
            .lines()
            .find_map(|l| l.strip_prefix("RssAnon:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("RssAnon")
    }

    /// 64 MiB in blocks of 64 KiB, written, then freed: how much of it left the
    /// process's resident memory at once, with no allocation since, in MiB.
    fn released_when_freed_mib() -> f64 {
        let blocks: Vec<Vec<u8>> = (0..64 * 16)
            .map(|i| vec![(i % 255) as u8 + 1; 64 * 1024])
            .collect();
        let filled = resident_anonymous_kib();
        drop(blocks);
        filled.saturating_sub(resident_anonymous_kib()) as f64 / 1024.0
    }

    /// One test, in order: the option is the purge delay (mimalloc's default is 1 s, and
    /// memory freed then stays resident), and once it is 0 freed memory leaves at once.
    /// The crate's only test, so no other test's thread allocates meanwhile.
    #[test]
    fn freed_memory_goes_back_to_the_system_at_once_only_when_told() {
        assert_eq!(purge_delay_ms(), 1000, "mimalloc's default purge delay");
        let released = released_when_freed_mib();
        assert!(
            released < 8.0,
            "with the default delay, {released:.1} MiB released"
        );

        purge_when_freed();
        assert_eq!(purge_delay_ms(), 0);
        let released = released_when_freed_mib();
        assert!(
            released > 48.0,
            "purged when freed, only {released:.1} MiB released"
        );
    }
}
