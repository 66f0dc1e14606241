//! The sign-in protocol. Brute force stays slow without handing anyone a kill switch:
//!
//! - an address that failed 5 times on an account in 15 minutes is refused on that
//!   account (without a password check) until its window ends;
//! - an address that failed 20 times in 15 minutes, on any accounts, is refused on all;
//! - an account that failed 5 times in 15 minutes from anywhere is *slowed* for every
//!   other address (each attempt waits `delay` first), never locked: five wrong
//!   passwords from one place cannot lock `admin` out everywhere;
//! - at most one password check per core runs at once; beyond that the attempt is
//!   answered at once with "busy, retry".
//!
//! Attempts are reserved in the database with one atomic statement *before* the
//! password is checked, so parallel attempts (on any number of replicas) can never run
//! more checks than the limit. `certdeck user unlock NAME` clears an account's counters.

use std::time::Duration;

use secrecy::SecretString;

use super::password::{Busy, PasswordChecker};
use crate::store::{Store, StoredUser, ThrottleKind};

/// The limits of the scheme above.
#[derive(Debug, Clone)]
pub struct SignInPolicy {
    pub window_secs: i64,
    pub max_failures_per_account_and_source: i64,
    pub max_failures_per_source: i64,
    pub slow_down_after_account_failures: i64,
    pub slow_down: Duration,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        Self {
            window_secs: 15 * 60,
            max_failures_per_account_and_source: 5,
            max_failures_per_source: 20,
            slow_down_after_account_failures: 5,
            slow_down: Duration::from_secs(2),
        }
    }
}

/// How an attempt ended.
#[derive(Debug)]
pub enum SignInOutcome {
    SignedIn(StoredUser),
    /// The user name or the password is wrong (`known_account` for the audit log only).
    Refused {
        known_account: bool,
    },
    /// Too many failures from this address: refused without a password check.
    Throttled {
        retry_after_secs: i64,
    },
    /// No password-check slot was free: refused at once, nothing counted.
    Busy,
}

/// One sign-in attempt of `username` from `source_ip`.
pub async fn attempt(
    store: &Store,
    checker: &PasswordChecker,
    policy: &SignInPolicy,
    username: &str,
    password: SecretString,
    source_ip: &str,
) -> anyhow::Result<SignInOutcome> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired_before = now - policy.window_secs;
    let retry_after = |window_start: i64| (window_start + policy.window_secs - now).max(1);

    // Reads first: an address already over a limit costs no write and no check.
    let (by_source, source_start) = store
        .sign_in_counter(ThrottleKind::Source, "", source_ip, expired_before)
        .await?;
    if by_source >= policy.max_failures_per_source {
        return Ok(SignInOutcome::Throttled {
            retry_after_secs: retry_after(source_start),
        });
    }
    let (by_pair, pair_start) = store
        .sign_in_counter(ThrottleKind::Pair, username, source_ip, expired_before)
        .await?;
    if by_pair >= policy.max_failures_per_account_and_source {
        return Ok(SignInOutcome::Throttled {
            retry_after_secs: retry_after(pair_start),
        });
    }
    let (by_account, _) = store
        .sign_in_counter(ThrottleKind::Account, username, "", expired_before)
        .await?;
    if by_account >= policy.slow_down_after_account_failures {
        // Failures came from elsewhere: slow this address down, but let it in.
        tokio::time::sleep(policy.slow_down).await;
    }

    let slot = match checker.try_reserve() {
        Ok(slot) => slot,
        Err(Busy) => return Ok(SignInOutcome::Busy),
    };
    // The reservation: counted as a failure until the password proves otherwise.
    let source_count = store
        .bump_sign_in_counter(ThrottleKind::Source, "", source_ip, expired_before)
        .await?;
    let pair_count = store
        .bump_sign_in_counter(ThrottleKind::Pair, username, source_ip, expired_before)
        .await?;
    if source_count > policy.max_failures_per_source
        || pair_count > policy.max_failures_per_account_and_source
    {
        return Ok(SignInOutcome::Throttled {
            retry_after_secs: policy.window_secs,
        });
    }

    let stored = store.find_user(username).await?;
    let known_account = stored.is_some();
    let hash = stored.as_ref().map(|u| u.password_hash.clone());
    let valid = checker.verify(slot, password, hash).await?;
    match stored.filter(|_| valid) {
        Some(user) => {
            store
                .reset_sign_in_counter(ThrottleKind::Pair, username, source_ip)
                .await?;
            store
                .release_sign_in_counter(ThrottleKind::Source, "", source_ip)
                .await?;
            Ok(SignInOutcome::SignedIn(user))
        }
        None => {
            store
                .bump_sign_in_counter(ThrottleKind::Account, username, "", expired_before)
                .await?;
            Ok(SignInOutcome::Refused { known_account })
        }
    }
}
