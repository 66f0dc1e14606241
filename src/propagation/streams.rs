//! The live streams (Server-Sent Events) open now, capped in all and per session, so
//! one signed-in client cannot hold the server's connections.

use std::collections::HashMap;
use std::sync::Arc;

/// Live streams one session may hold open at once.
pub const STREAMS_PER_SESSION: usize = 8;
/// Live streams the process holds open at once.
pub const STREAMS_IN_ALL: usize = 512;
/// What a refused stream is told to wait before trying again.
pub const STREAM_RETRY_AFTER_SECS: u64 = 10;

/// The live streams open now, in all and per session. A stream holds a `StreamSlot`
/// for as long as it runs; the slot is given back when the stream ends or its client
/// goes away (actix drops the stream).
#[derive(Default)]
pub struct StreamSlots {
    open: std::sync::Mutex<OpenStreams>,
}

#[derive(Default)]
struct OpenStreams {
    total: usize,
    per_session: HashMap<String, usize>,
}

impl StreamSlots {
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
        if open.total >= STREAMS_IN_ALL || mine >= STREAMS_PER_SESSION {
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
