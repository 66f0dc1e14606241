//! Refusals of clients that are not signed in (bad CSRF tokens, throttled or busy
//! sign-ins), counted together: at most one audit entry per address, kind and minute,
//! with the count, and at most `MAX_ADDRESSES` addresses a minute named one by one
//! (the rest share one entry). Anyone can send these requests, so what they make the
//! server store must stay small whatever their number.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::audit::{AuditAction, AuditRecord};
use crate::domain::text::truncate_bytes;
use crate::store::Store;

/// Addresses named one by one per minute; beyond, one shared entry.
const MAX_ADDRESSES: usize = 100;
/// Longest detail or user agent kept.
pub const MAX_TEXT_BYTES: usize = 512;

/// One refused request, as it will be counted.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub action: AuditAction,
    pub outcome: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    minute: i64,
    /// `None`: the addresses past `MAX_ADDRESSES`.
    source_ip: Option<String>,
    action: AuditAction,
    outcome: &'static str,
}

#[derive(Debug)]
struct Count {
    count: u64,
    last: Refusal,
}

/// The counts of the current minute(s), written out when each minute is over.
pub struct RefusalLog {
    store: Store,
    counts: Mutex<HashMap<Key, Count>>,
}

impl RefusalLog {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one refusal.
    pub fn note(&self, refusal: Refusal) {
        let minute = time::OffsetDateTime::now_utc().unix_timestamp() / 60;
        let refusal = Refusal {
            user_agent: refusal
                .user_agent
                .map(|ua| truncate_bytes(&ua, MAX_TEXT_BYTES)),
            detail: truncate_bytes(&refusal.detail, MAX_TEXT_BYTES),
            ..refusal
        };
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        let mut key = Key {
            minute,
            source_ip: refusal.source_ip.clone(),
            action: refusal.action.clone(),
            outcome: refusal.outcome,
        };
        let named = counts
            .keys()
            .filter(|k| k.minute == minute && k.source_ip.is_some())
            .count();
        if !counts.contains_key(&key) && named >= MAX_ADDRESSES {
            key.source_ip = None;
        }
        counts
            .entry(key)
            .and_modify(|c| {
                c.count += 1;
                c.last = refusal.clone();
            })
            .or_insert(Count {
                count: 1,
                last: refusal,
            });
    }

    /// Writes the counts of finished minutes (every minute when `all`); how many
    /// entries were written.
    pub async fn flush(&self, all: bool) -> anyhow::Result<usize> {
        let minute = time::OffsetDateTime::now_utc().unix_timestamp() / 60;
        let finished: Vec<(Key, Count)> = {
            let Ok(mut counts) = self.counts.lock() else {
                return Ok(0);
            };
            let keys: Vec<Key> = counts
                .keys()
                .filter(|k| all || k.minute < minute)
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| counts.remove(&k).map(|c| (k, c)))
                .collect()
        };
        let written = finished.len();
        for (key, count) in finished {
            let from = time::OffsetDateTime::from_unix_timestamp(key.minute * 60)
                .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
                .unwrap_or_default();
            let whose = if key.source_ip.is_some() {
                "from this address"
            } else {
                "from other addresses"
            };
            let record = AuditRecord {
                actor: "anonymous".to_owned(),
                source_ip: key.source_ip,
                user_agent: count.last.user_agent,
                action: key.action,
                outcome: key.outcome.to_owned(),
                detail: Some(format!(
                    "count={}: refused requests {whose} in the minute from {from} UTC; last: {}",
                    count.count, count.last.detail
                )),
                ..AuditRecord::default()
            };
            self.store.append_audit(record).await?;
        }
        Ok(written)
    }
}
