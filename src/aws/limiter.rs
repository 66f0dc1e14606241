//! Client-side pacing under AWS's request quotas (PRODUCT.md §1), so that certdeck itself
//! never provokes throttling: each (region, category) hands out time slots `1/rate`
//! apart, and a caller waits for its slot.
//!
//! Callers queue in arrival order (a fair lock per lane). A caller takes its slot only
//! when it is served: one that is cancelled while it waits (its future dropped, as
//! actix does when the client goes away) leaves the queue and pushes nobody back. A
//! caller with a bound on its wait (a request a person is waiting for) is refused at once
//! when the queue ahead of it is longer than that bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// A quota category and its default rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// ListUserPools, DescribeUserPool.
    UserPoolRead,
    /// DescribeUserPoolDomain, ListTagsForResource.
    UserPoolResourceRead,
    /// UpdateUserPoolDomain.
    UserPoolResourceUpdate,
    /// ACM ListCertificates.
    AcmList,
    /// ACM DescribeCertificate.
    AcmDescribe,
}

impl Category {
    /// AWS's default requests a second.
    pub fn default_rate(self) -> f64 {
        match self {
            Category::UserPoolRead => 15.0,
            Category::UserPoolResourceRead => 20.0,
            Category::UserPoolResourceUpdate => 15.0,
            Category::AcmList => 1.0,
            Category::AcmDescribe => 10.0,
        }
    }
}

/// A bounded wait would have been longer than its bound: nothing was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaBusy {
    /// About how long the wait would have been.
    pub wait: Duration,
}

/// One (region, category): its queue and the last slot handed out.
#[derive(Default)]
struct Lane {
    /// Held by the caller at the head of the queue while it waits for its slot; tokio's
    /// mutex serves waiters in arrival order.
    head: tokio::sync::Mutex<()>,
    /// The last slot taken.
    last: Mutex<Option<Instant>>,
    /// Callers waiting (the head included).
    queued: AtomicUsize,
}

impl Lane {
    fn last(&self) -> Option<Instant> {
        match self.last.lock() {
            Ok(last) => *last,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn set_last(&self, slot: Instant) {
        match self.last.lock() {
            Ok(mut last) => *last = Some(slot),
            Err(poisoned) => *poisoned.into_inner() = Some(slot),
        }
    }

    /// The first slot free after `last`.
    fn next_slot(&self, interval: Duration, now: Instant) -> Instant {
        self.last().map_or(now, |last| (last + interval).max(now))
    }

    /// How long a caller arriving now would wait.
    fn expected_wait(&self, interval: Duration, now: Instant) -> Duration {
        let ahead = u32::try_from(self.queued.load(Ordering::Acquire)).unwrap_or(u32::MAX);
        (self.next_slot(interval, now) + interval.saturating_mul(ahead))
            .saturating_duration_since(now)
    }
}

/// Counts a caller in the queue until it is served or dropped.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

pub struct RateLimiter {
    scale: f64,
    lanes: Mutex<HashMap<(String, Category), Arc<Lane>>>,
}

impl RateLimiter {
    pub fn new(scale: f64) -> Self {
        Self {
            scale,
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// The rate certdeck allows itself for `category`.
    pub fn rate(&self, category: Category) -> f64 {
        category.default_rate() * self.scale
    }

    fn interval(&self, category: Category) -> Duration {
        Duration::try_from_secs_f64(1.0 / self.rate(category)).unwrap_or(Duration::MAX)
    }

    fn lane(&self, region: &str, category: Category) -> Arc<Lane> {
        let mut lanes = match self.lanes.lock() {
            Ok(lanes) => lanes,
            Err(poisoned) => poisoned.into_inner(),
        };
        lanes
            .entry((region.to_owned(), category))
            .or_default()
            .clone()
    }

    /// Waits for the next free slot of `category` in `region`, however long it is
    /// (background work, whose own concurrency bounds the queue).
    pub async fn acquire(&self, region: &str, category: Category) {
        let lane = self.lane(region, category);
        self.wait_in(&lane, category).await;
    }

    /// Waits for the next free slot unless that is more than `max_wait` away; then
    /// returns at once without taking a place in the queue.
    pub async fn acquire_within(
        &self,
        region: &str,
        category: Category,
        max_wait: Duration,
    ) -> Result<(), QuotaBusy> {
        let lane = self.lane(region, category);
        let wait = lane.expected_wait(self.interval(category), Instant::now());
        if wait > max_wait {
            return Err(QuotaBusy { wait });
        }
        self.wait_in(&lane, category).await;
        Ok(())
    }

    async fn wait_in(&self, lane: &Lane, category: Category) {
        let interval = self.interval(category);
        let _queued = Queued::enter(&lane.queued);
        let _head = lane.head.lock().await;
        let slot = lane.next_slot(interval, Instant::now());
        tokio::time::sleep_until(slot).await;
        // Taken only once served: a caller dropped before this point took nothing. The
        // slot, not the wake-up time, is recorded, so that timer lateness does not add up.
        lane.set_last(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_by_the_rate() {
        let limiter = RateLimiter::new(1.0);
        let start = Instant::now();
        for _ in 0..16 {
            limiter.acquire("us-east-1", Category::UserPoolRead).await;
        }
        // 16 calls at 15 a second: the 16th waits a full second.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((0.99..1.01).contains(&elapsed), "{elapsed}");
        // Other regions and categories have their own slots.
        let other = Instant::now();
        limiter.acquire("eu-west-1", Category::UserPoolRead).await;
        limiter.acquire("us-east-1", Category::AcmList).await;
        assert_eq!(other.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_are_served_in_order_one_slot_apart() {
        let limiter = Arc::new(RateLimiter::new(1.0));
        let start = Instant::now();
        let callers: Vec<_> = (0..5)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    limiter.acquire("us-east-1", Category::AcmList).await;
                    start.elapsed()
                })
            })
            .collect();
        let mut served = Vec::new();
        for caller in callers {
            served.push(caller.await.unwrap().as_secs_f64().round() as u64);
        }
        served.sort_unstable();
        assert_eq!(served, [0, 1, 2, 3, 4]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bounded_wait_fails_at_once_when_the_queue_is_too_long() {
        let limiter = Arc::new(RateLimiter::new(1.0));
        // ACM's ListCertificates: one a second. Eight callers queue for 8 seconds.
        let queued: Vec<_> = (0..8)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.acquire("us-east-1", Category::AcmList).await })
            })
            .collect();
        tokio::task::yield_now().await;
        let asked = Instant::now();
        let refused = limiter
            .acquire_within("us-east-1", Category::AcmList, Duration::from_secs(5))
            .await;
        assert_eq!(asked.elapsed(), Duration::ZERO, "refused without waiting");
        let busy = refused.unwrap_err();
        assert!(busy.wait >= Duration::from_secs(7), "{busy:?}");
        // A patient caller, or another lane, is not refused.
        limiter
            .acquire_within("us-east-1", Category::AcmDescribe, Duration::from_secs(5))
            .await
            .unwrap();
        for caller in queued {
            caller.await.unwrap();
        }
        // Once the queue has drained, the bounded caller gets its slot.
        limiter
            .acquire_within("us-east-1", Category::AcmList, Duration::from_secs(5))
            .await
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_callers_give_their_slots_back() {
        let limiter = Arc::new(RateLimiter::new(1.0));
        limiter.acquire("us-east-1", Category::AcmList).await;
        // 300 callers queue, then go away (their clients disconnected).
        let abandoned: Vec<_> = (0..300)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.acquire("us-east-1", Category::AcmList).await })
            })
            .collect();
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_millis(100)).await;
        for caller in &abandoned {
            caller.abort();
        }
        for caller in abandoned {
            assert!(caller.await.unwrap_err().is_cancelled());
        }
        // The next caller waits for the slot after the last one served, not 300 s.
        let start = Instant::now();
        limiter
            .acquire_within("us-east-1", Category::AcmList, Duration::from_secs(5))
            .await
            .unwrap();
        let waited = start.elapsed();
        assert!(waited <= Duration::from_secs(1), "{waited:?}");
    }
}
