//! AWS's default request quotas (PRODUCT.md §1) as token buckets per principal, region
//! and category. Quotas are per account and region: every session of an assumed role
//! spends its account's buckets. Keys the sandbox did not issue (the base account) each
//! keep their own buckets, so that separate clients and tests do not throttle each other.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A quota category and its default rate (requests a second).
pub fn category(operation: &str) -> (&'static str, f64) {
    match operation {
        "ListUserPools" | "DescribeUserPool" => ("UserPoolRead", 15.0),
        "DescribeUserPoolDomain" | "ListTagsForResource" => ("UserPoolResourceRead", 20.0),
        "UpdateUserPoolDomain"
        | "CreateUserPoolDomain"
        | "DeleteUserPoolDomain"
        | "TagResource"
        | "UntagResource" => ("UserPoolResourceUpdate", 15.0),
        "CreateUserPool" | "DeleteUserPool" => ("UserPoolCreateDelete", 25.0),
        "ListCertificates" => ("AcmListCertificates", 1.0),
        "DescribeCertificate" => ("AcmDescribeCertificate", 10.0),
        "ImportCertificate" | "RequestCertificate" | "DeleteCertificate" => ("AcmWrite", 5.0),
        _ => ("Other", 10.0),
    }
}

pub struct Quotas {
    scale: f64,
    buckets: Mutex<HashMap<(String, String, &'static str), Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Quotas {
    /// `scale` multiplies every rate; 0 turns quotas off.
    pub fn new(scale: f64) -> Self {
        Self {
            scale,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `operation`; false when `principal` (an account, or a key of
    /// the base account) is over its quota in `region`.
    pub fn try_acquire(&self, principal: &str, region: &str, operation: &str) -> bool {
        if self.scale <= 0.0 {
            return true;
        }
        let (category, rate) = category(operation);
        let rate = rate * self.scale;
        // A bucket holds one second of requests (at least one), as AWS allows short bursts.
        let capacity = rate.max(1.0);
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        let bucket = buckets
            .entry((principal.to_owned(), region.to_owned(), category))
            .or_insert(Bucket {
                tokens: capacity,
                updated: now,
            });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn reset(&self) {
        if let Ok(mut buckets) = self.buckets.lock() {
            buckets.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_above_the_rate_is_refused_per_caller() {
        let quotas = Quotas::new(1.0);
        let granted = (0..30)
            .filter(|_| quotas.try_acquire("a", "us-east-1", "DescribeUserPool"))
            .count();
        assert_eq!(granted, 15);
        assert!(quotas.try_acquire("b", "us-east-1", "DescribeUserPool"));
        assert!(quotas.try_acquire("a", "eu-west-1", "DescribeUserPool"));
        assert!(quotas.try_acquire("a", "us-east-1", "DescribeUserPoolDomain"));
    }

    #[test]
    fn zero_scale_turns_quotas_off() {
        let quotas = Quotas::new(0.0);
        assert!((0..1000).all(|_| quotas.try_acquire("a", "us-east-1", "ListCertificates")));
    }
}
