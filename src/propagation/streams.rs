//! The live streams (Server-Sent Events) open now, capped in all and per session, so
//! one signed-in client cannot hold the server's connections, and the limit on open
//! files that every stream's socket counts against.

use std::collections::HashMap;
use std::sync::Arc;

/// Live streams one session may hold open at once.
pub const STREAMS_PER_SESSION: usize = 8;
/// Live streams the process holds open at once, at most: 1,000 people watching one
/// propagation fit with room to spare (PRODUCT.md §8), and hostile volume stays bounded
/// (each stream costs one socket and about 17 KiB: `cargo bench --bench streams`).
pub const STREAMS_IN_ALL: usize = 4096;
/// Open files kept for everything but the streams: the listener, the database, AWS
/// and edge connections, the requests being served, files.
pub const FILES_BESIDES_STREAMS: u64 = 512;
/// The soft limit on open files asked for when it is short (the hard limit permitting).
pub const OPEN_FILES_ASKED: u64 = 65_536;
/// What a refused stream is told to wait before trying again.
pub const STREAM_RETRY_AFTER_SECS: u64 = 10;

/// The live streams open now, in all and per session. A stream holds a `StreamSlot`
/// for as long as it runs; the slot is given back when the stream ends or its client
/// goes away (actix drops the stream).
pub struct StreamSlots {
    /// Streams the process may hold open at once.
    cap: usize,
    open: std::sync::Mutex<OpenStreams>,
}

#[derive(Default)]
struct OpenStreams {
    total: usize,
    per_session: HashMap<String, usize>,
}

impl Default for StreamSlots {
    fn default() -> Self {
        Self::with_cap(STREAMS_IN_ALL)
    }
}

impl StreamSlots {
    /// At most `cap` streams in all (and `STREAMS_PER_SESSION` per session).
    pub fn with_cap(cap: usize) -> Self {
        Self {
            cap,
            open: Default::default(),
        }
    }

    /// The slots of this process: the soft limit on open files is raised towards the
    /// hard limit when it is short of `STREAMS_IN_ALL` sockets (plus the files the rest
    /// needs), and the cap is lowered to what the limit allows when it stays short.
    /// Both are logged.
    pub fn for_this_process() -> Self {
        let wanted = STREAMS_IN_ALL as u64 + FILES_BESIDES_STREAMS;
        let limit = raise_open_files_limit(wanted);
        let cap = limit.soft.map_or(STREAMS_IN_ALL, streams_within);
        if cap < STREAMS_IN_ALL {
            tracing::warn!(
                soft = limit.soft,
                hard = limit.hard,
                streams = cap,
                wanted_streams = STREAMS_IN_ALL,
                "the limit on open files allows fewer live streams: raise the hard limit \
                 (ulimit -Hn, LimitNOFILE=, --ulimit nofile=) to at least {wanted}"
            );
        } else {
            tracing::info!(
                soft = limit.soft,
                hard = limit.hard,
                streams = cap,
                "limit on open files"
            );
        }
        Self::with_cap(cap)
    }

    fn open(&self) -> std::sync::MutexGuard<'_, OpenStreams> {
        match self.open.lock() {
            Ok(open) => open,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A slot for one more stream of `session_id`, unless a cap is reached.
    pub fn take(self: &Arc<Self>, session_id: &str) -> Option<StreamSlot> {
        let mut open = self.open();
        let mine = open.per_session.get(session_id).copied().unwrap_or(0);
        if open.total >= self.cap || mine >= STREAMS_PER_SESSION {
            return None;
        }
        open.total += 1;
        open.per_session.insert(session_id.to_owned(), mine + 1);
        Some(StreamSlot {
            slots: self.clone(),
            session_id: session_id.to_owned(),
        })
    }

    /// Streams open now.
    pub fn count(&self) -> usize {
        self.open().total
    }

    /// Streams the process may hold open at once.
    pub fn cap(&self) -> usize {
        self.cap
    }
}

/// One open stream's place; given back on drop.
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    session_id: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open();
        open.total = open.total.saturating_sub(1);
        if let Some(mine) = open.per_session.get_mut(&self.session_id) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                open.per_session.remove(&self.session_id);
            }
        }
    }
}

/// The limit on open files of this process; `None` is unlimited (or unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFilesLimit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// Live streams that fit in a soft limit of `soft` open files: what is left after
/// `FILES_BESIDES_STREAMS` (at most half of a small limit), up to `STREAMS_IN_ALL`.
pub fn streams_within(soft: u64) -> usize {
    let besides = FILES_BESIDES_STREAMS.min(soft / 2);
    usize::try_from(soft - besides)
        .unwrap_or(usize::MAX)
        .min(STREAMS_IN_ALL)
}

/// The soft limit to set so that `wanted` files can be open: towards the hard limit,
/// up to `OPEN_FILES_ASKED` or `wanted` if more (some hard limits are near a billion,
/// more than a child process should inherit); `None` when the soft limit is enough
/// already or cannot go higher.
fn soft_limit_to_ask(limit: OpenFilesLimit, wanted: u64) -> Option<u64> {
    let soft = limit.soft?;
    if soft >= wanted {
        return None;
    }
    let ask = OPEN_FILES_ASKED.max(wanted);
    let ask = limit.hard.map_or(ask, |hard| hard.min(ask));
    (ask > soft).then_some(ask)
}

/// Raises the soft limit on open files towards the hard limit when it is below
/// `wanted`; the limit in effect afterwards. A refusal is logged and leaves it as it was.
#[cfg(unix)]
pub fn raise_open_files_limit(wanted: u64) -> OpenFilesLimit {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    let before = getrlimit(Resource::Nofile);
    let limit = OpenFilesLimit {
        soft: before.current,
        hard: before.maximum,
    };
    let Some(ask) = soft_limit_to_ask(limit, wanted) else {
        return limit;
    };
    let raised = Rlimit {
        current: Some(ask),
        maximum: before.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            tracing::info!(
                from = limit.soft,
                to = ask,
                hard = limit.hard,
                "raised the soft limit on open files"
            );
            OpenFilesLimit {
                soft: Some(ask),
                ..limit
            }
        }
        Err(e) => {
            tracing::warn!(
                error = %e,
                soft = limit.soft,
                wanted = ask,
                "the soft limit on open files could not be raised"
            );
            limit
        }
    }
}

/// Elsewhere the limit is not known; nothing is changed.
#[cfg(not(unix))]
pub fn raise_open_files_limit(_wanted: u64) -> OpenFilesLimit {
    OpenFilesLimit {
        soft: None,
        hard: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_holds_at_most_its_share_and_the_process_at_most_the_cap() {
        let slots = Arc::new(StreamSlots::with_cap(10));
        let mine: Vec<_> = (0..STREAMS_PER_SESSION)
            .map(|_| slots.take("a").expect("within the session's share"))
            .collect();
        assert!(slots.take("a").is_none(), "a ninth stream of one session");
        let theirs: Vec<_> = (0..2).map(|_| slots.take("b").expect("room")).collect();
        assert!(slots.take("c").is_none(), "the process is full");
        assert_eq!(slots.count(), 10);
        drop(theirs);
        assert!(slots.take("c").is_some(), "a closed stream frees its slot");
        drop(mine);
        assert_eq!(slots.count(), 0);
    }

    #[test]
    fn a_thousand_clients_fit_by_default() {
        let slots = Arc::new(StreamSlots::default());
        let open: Vec<_> = (0..1000)
            .map(|i| slots.take(&format!("session {}", i / STREAMS_PER_SESSION)))
            .collect();
        assert!(open.iter().all(Option::is_some));
        assert_eq!(slots.cap(), STREAMS_IN_ALL);
    }

    #[test]
    fn the_streams_fit_in_the_limit_on_open_files() {
        assert_eq!(streams_within(1_048_576), STREAMS_IN_ALL);
        assert_eq!(
            streams_within(STREAMS_IN_ALL as u64 + FILES_BESIDES_STREAMS),
            STREAMS_IN_ALL
        );
        // A usual default soft limit: what the cap was before (512).
        assert_eq!(streams_within(1024), 512);
        assert_eq!(streams_within(4096), 4096 - FILES_BESIDES_STREAMS as usize);
        // A tiny limit still leaves half to the rest of the console.
        assert_eq!(streams_within(256), 128);
        assert_eq!(streams_within(0), 0);
    }

    #[test]
    fn the_soft_limit_is_raised_towards_the_hard_limit_only_when_short() {
        let limit = |soft, hard| OpenFilesLimit { soft, hard };
        assert_eq!(
            soft_limit_to_ask(limit(Some(1024), Some(8192)), 4608),
            Some(8192)
        );
        assert_eq!(
            soft_limit_to_ask(limit(Some(1024), Some(1_073_741_816)), 4608),
            Some(OPEN_FILES_ASKED)
        );
        assert_eq!(
            soft_limit_to_ask(limit(Some(1024), None), 4608),
            Some(OPEN_FILES_ASKED)
        );
        // Short of what is wanted, yet as far as the hard limit lets it go.
        assert_eq!(
            soft_limit_to_ask(limit(Some(1024), Some(2048)), 4608),
            Some(2048)
        );
        assert_eq!(
            soft_limit_to_ask(limit(Some(20_000), Some(20_000)), 4608),
            None
        );
        assert_eq!(soft_limit_to_ask(limit(Some(1024), Some(1024)), 4608), None);
        assert_eq!(soft_limit_to_ask(limit(None, None), 4608), None);
    }
}
