//! Client-side pacing under AWS's request quotas (PRODUCT.md §1), so that certdeck itself
//! never provokes throttling: each (region, category) hands out time slots `1/rate`
//! apart, and a caller waits for its slot.
//!
//! A caller that is cancelled while it waits (its future dropped, as actix does when the
//! client goes away) gives its slot back, and the next caller takes the earliest free
//! slot: abandoned requests push nobody back. A caller with a bound on its wait (a
//! request a person is waiting for) is refused at once when its slot would be further
//! away than that bound, and takes no slot.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
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

/// A bounded wait would have been longer than its bound: no slot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaBusy {
    /// About how long the wait would have been.
    pub wait: Duration,
}

/// The slots of one (region, category).
#[derive(Default)]
struct Lane {
    /// The first slot never handed out; every slot before it is held by a caller or
    /// was given back.
    next: Option<Instant>,
    /// Slots before `next` given back by cancelled callers.
    returned: BTreeSet<Instant>,
}

impl Lane {
    /// Forgets returned slots that have passed: their share of the quota is gone.
    fn drop_past(&mut self, now: Instant) {
        while self.returned.first().is_some_and(|slot| *slot < now) {
            self.returned.pop_first();
        }
    }

    /// The earliest free slot, without taking it.
    fn free_slot(&mut self, now: Instant) -> Instant {
        self.drop_past(now);
        match self.returned.first() {
            Some(slot) => *slot,
            None => self.next.map_or(now, |next| next.max(now)),
        }
    }

    /// Takes the earliest free slot.
    fn take(&mut self, now: Instant, interval: Duration) -> Instant {
        self.drop_past(now);
        if let Some(slot) = self.returned.pop_first() {
            return slot;
        }
        let slot = self.next.map_or(now, |next| next.max(now));
        self.next = Some(slot + interval);
        slot
    }

    /// Gives back a slot not used; the tail of the schedule shrinks back when it can.
    fn give_back(&mut self, slot: Instant, interval: Duration) {
        self.returned.insert(slot);
        while let Some(last) = self.returned.last().copied()
            && self.next == Some(last + interval)
        {
            self.returned.pop_last();
            self.next = Some(last);
        }
    }
}

/// A slot waited for; given back unless it was reached.
struct Reservation<'a> {
    lane: &'a Mutex<Lane>,
    slot: Instant,
    interval: Duration,
    reached: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.reached {
            lock(self.lane).give_back(self.slot, self.interval);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The lanes by (region, category).
type Lanes = HashMap<(String, Category), Arc<Mutex<Lane>>>;

pub struct RateLimiter {
    scale: f64,
    /// This process's share of the quota (1: all of it), as `f64` bits: replicas on one
    /// database split each account's quota between them (PRODUCT.md §11).
    share: std::sync::atomic::AtomicU64,
    lanes: Mutex<Lanes>,
}

impl RateLimiter {
    pub fn new(scale: f64) -> Self {
        Self {
            scale,
            share: std::sync::atomic::AtomicU64::new(1.0f64.to_bits()),
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// Sets this process's share of every quota (0 < share ≤ 1); later slots are spaced
    /// by it.
    pub fn set_share(&self, share: f64) {
        let share = if share.is_finite() {
            share.clamp(0.01, 1.0)
        } else {
            1.0
        };
        self.share
            .store(share.to_bits(), std::sync::atomic::Ordering::Relaxed);
    }

    pub fn share(&self) -> f64 {
        f64::from_bits(self.share.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The rate certdeck allows itself for `category`.
    pub fn rate(&self, category: Category) -> f64 {
        category.default_rate() * self.scale * self.share()
    }

    fn interval(&self, category: Category) -> Duration {
        Duration::try_from_secs_f64(1.0 / self.rate(category)).unwrap_or(Duration::MAX)
    }

    fn lane(&self, region: &str, category: Category) -> Arc<Mutex<Lane>> {
        lock(&self.lanes)
            .entry((region.to_owned(), category))
            .or_default()
            .clone()
    }

    /// Waits for the next free slot of `category` in `region`, however far it is
    /// (background work, whose own concurrency bounds the queue).
    pub async fn acquire(&self, region: &str, category: Category) {
        // Unbounded: never refused.
        let _ = self.wait(region, category, None).await;
    }

    /// Waits for the next free slot unless it is more than `max_wait` away; then
    /// returns at once without taking it.
    pub async fn acquire_within(
        &self,
        region: &str,
        category: Category,
        max_wait: Duration,
    ) -> Result<(), QuotaBusy> {
        self.wait(region, category, Some(max_wait)).await
    }

    async fn wait(
        &self,
        region: &str,
        category: Category,
        max_wait: Option<Duration>,
    ) -> Result<(), QuotaBusy> {
        let lane = self.lane(region, category);
        let interval = self.interval(category);
        let now = Instant::now();
        let slot = {
            let mut slots = lock(&lane);
            if let Some(max_wait) = max_wait {
                let wait = slots.free_slot(now).saturating_duration_since(now);
                if wait > max_wait {
                    return Err(QuotaBusy { wait });
                }
            }
            slots.take(now, interval)
        };
        let mut reservation = Reservation {
            lane: &lane,
            slot,
            interval,
            reached: false,
        };
        tokio::time::sleep_until(slot).await;
        reservation.reached = true;
        Ok(())
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
    async fn a_share_of_the_quota_spaces_the_slots_wider() {
        let limiter = RateLimiter::new(1.0);
        limiter.set_share(0.5);
        let start = Instant::now();
        for _ in 0..9 {
            limiter.acquire("us-east-1", Category::UserPoolRead).await;
        }
        // 9 calls at 7.5 a second: the 9th waits 8 slots of 1/7.5 s.
        let elapsed = start.elapsed().as_secs_f64();
        assert!((1.06..1.08).contains(&elapsed), "{elapsed}");
        limiter.set_share(f64::NAN);
        assert_eq!(limiter.share(), 1.0);
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

    #[tokio::test(start_paused = true)]
    async fn a_slot_given_back_in_the_middle_goes_to_the_next_caller() {
        let limiter = Arc::new(RateLimiter::new(1.0));
        let start = Instant::now();
        let spawn = || {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                limiter.acquire("us-east-1", Category::AcmList).await;
                start.elapsed().as_secs_f64().round() as u64
            })
        };
        // Slots 0, 1, 2 and 3; the caller of slot 2 goes away.
        let mut callers: Vec<_> = (0..4).map(|_| spawn()).collect();
        tokio::task::yield_now().await;
        let gone = callers.remove(2);
        gone.abort();
        assert!(gone.await.unwrap_err().is_cancelled());
        let late = spawn();
        let mut served = Vec::new();
        for caller in callers {
            served.push(caller.await.unwrap());
        }
        served.push(late.await.unwrap());
        served.sort_unstable();
        assert_eq!(served, [0, 1, 2, 3], "the late caller took slot 2, not 4");
    }
}
