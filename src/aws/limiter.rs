//! Client-side pacing under AWS's request quotas (PRODUCT.md §1), so that certdeck itself
//! never provokes throttling: each (region, category) hands out time slots `1/rate`
//! apart, and a caller waits for its slot.

use std::collections::HashMap;
use std::sync::Mutex;
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

pub struct RateLimiter {
    scale: f64,
    next_slot: Mutex<HashMap<(String, Category), Instant>>,
}

impl RateLimiter {
    pub fn new(scale: f64) -> Self {
        Self {
            scale,
            next_slot: Mutex::new(HashMap::new()),
        }
    }

    /// The rate certdeck allows itself for `category`.
    pub fn rate(&self, category: Category) -> f64 {
        category.default_rate() * self.scale
    }

    /// Waits for the next free slot of `category` in `region`.
    pub async fn acquire(&self, region: &str, category: Category) {
        let interval = Duration::from_secs_f64(1.0 / self.rate(category));
        let slot = {
            let now = Instant::now();
            let Ok(mut slots) = self.next_slot.lock() else {
                return;
            };
            let next = slots.entry((region.to_owned(), category)).or_insert(now);
            let slot = (*next).max(now);
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
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
}
