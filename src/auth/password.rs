//! Password hashing: argon2id, stored as PHC strings.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// The shortest password certdeck accepts (CLI, bootstrap).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The largest argon2 memory a stored hash may ask for (KiB): a hash edited to ask for
/// gigabytes must not be able to take the server's memory.
const MAX_M_COST_KIB: u32 = 64 * 1024;

/// Whether `password` is long enough to be set.
pub fn check_strength(password: &SecretString) -> Result<(), String> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    Ok(())
}

/// Hashes `password` with argon2id and a random salt.
pub fn hash(password: &SecretString) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Whether `password` matches `stored`; `None` for `stored` does the same work against
/// a dummy hash, so that unknown accounts take as long as known ones. `memory` is the
/// argon2 working memory, reused from call to call.
pub fn verify_with_memory(
    password: &SecretString,
    stored: Option<&str>,
    memory: &mut Vec<Block>,
) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY
        .get_or_init(|| hash(&SecretString::from("certdeck-dummy-password")).unwrap_or_default());
    let candidate = stored.unwrap_or(dummy);
    let matches = matches_hash(password, candidate, memory).unwrap_or(false);
    matches && stored.is_some()
}

/// Recomputes the PHC string's hash of `password` in `memory` and compares it in
/// constant time.
fn matches_hash(
    password: &SecretString,
    stored: &str,
    memory: &mut Vec<Block>,
) -> Result<bool, argon2::password_hash::Error> {
    let parsed = PasswordHash::new(stored)?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str())?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(&parsed)?;
    if params.m_cost() > MAX_M_COST_KIB {
        return Ok(false);
    }
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    let blocks = params.block_count();
    if memory.len() != blocks {
        memory.clear();
        memory.resize(blocks, Block::default());
        memory.shrink_to_fit();
    }
    let mut output = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.expose_secret().as_bytes(),
        salt.as_ref(),
        &mut output,
        &mut memory[..],
    )?;
    Ok(argon2::password_hash::phc::Output::new(&output)? == expected)
}

/// A free working memory, with when its last check ended.
type FreeMemory = (Vec<Block>, std::time::Instant);

/// How long a password check's working memory is kept after its last use: a burst of
/// sign-ins reuses it; a console nobody signs in to lets it go.
pub const MEMORY_KEPT_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// No password-check slot is free: the caller answers at once ("try again").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every password check slot is busy")]
pub struct Busy;

/// Runs password checks on the blocking pool, at most `slots` at a time, each in a
/// working memory kept from check to check: argon2 needs about 19 MiB per check, so
/// memory stays at `slots` × 19 MiB whatever the number of sign-ins in flight. A
/// memory no check has used for `MEMORY_KEPT_IDLE` is let go (`release_idle`): kept
/// for good, one sign-in left 19 MiB resident for the process's life (issue 17: an
/// idle console with 200 pools was at 70 MiB).
pub struct PasswordChecker {
    permits: Arc<tokio::sync::Semaphore>,
    memories: Arc<Mutex<Vec<FreeMemory>>>,
    slots: usize,
    checks: AtomicU64,
    in_use: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl PasswordChecker {
    /// `slots` concurrent checks (at least one).
    pub fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(slots)),
            memories: Arc::new(Mutex::new(Vec::new())),
            slots,
            checks: AtomicU64::new(0),
            in_use: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// One slot per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, usize::from))
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// A slot for one check, or `Busy` at once.
    pub fn try_reserve(&self) -> Result<CheckSlot, Busy> {
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| Busy)?;
        Ok(CheckSlot { _permit: permit })
    }

    /// Checks `password` against `stored` (or the dummy hash) in the reserved slot.
    pub async fn verify(
        &self,
        slot: CheckSlot,
        password: SecretString,
        stored: Option<String>,
    ) -> anyhow::Result<bool> {
        self.checks.fetch_add(1, Ordering::Relaxed);
        let now = self.in_use.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let memories = self.memories.clone();
        let in_use = self.in_use.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut memory = memories
                .lock()
                .ok()
                .and_then(|mut m| m.pop())
                .map(|(memory, _)| memory)
                .unwrap_or_default();
            let valid = verify_with_memory(&password, stored.as_deref(), &mut memory);
            if let Ok(mut m) = memories.lock() {
                m.push((memory, std::time::Instant::now()));
            }
            in_use.fetch_sub(1, Ordering::SeqCst);
            // The slot is free once the memory is back in the pool.
            drop(slot);
            valid
        })
        .await;
        result.map_err(|e| anyhow::anyhow!("password check: {e}"))
    }

    /// Lets go of the working memories no check has used for `idle`; how many.
    pub fn release_idle(&self, idle: std::time::Duration) -> usize {
        let released: Vec<Vec<Block>> = match self.memories.lock() {
            Ok(mut memories) => {
                let (stale, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *memories)
                    .into_iter()
                    .partition(|(_, used)| used.elapsed() >= idle);
                *memories = kept;
                stale.into_iter().map(|(memory, _)| memory).collect()
            }
            Err(_) => Vec::new(),
        };
        // Freed outside the lock.
        released.len()
    }

    /// Working memories kept for the next checks.
    pub fn memories_kept(&self) -> usize {
        self.memories.lock().map_or(0, |m| m.len())
    }

    /// Password checks run since start.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }

    /// The most checks that ran at once.
    pub fn peak_concurrency(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// A reserved password-check slot.
pub struct CheckSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let verify = |password: &SecretString, stored: Option<&str>| {
            verify_with_memory(password, stored, &mut Vec::new())
        };
        let password = SecretString::from("correct horse battery staple");
        let stored = hash(&password).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$"), "{stored}");
        assert!(!stored.contains("correct horse"));
        assert!(verify(&password, Some(&stored)));
        assert!(!verify(&SecretString::from("wrong"), Some(&stored)));
        assert!(!verify(&password, None));
        assert_ne!(hash(&password).unwrap(), stored, "salted");
    }

    #[tokio::test]
    async fn the_checker_lets_go_of_memory_left_idle() {
        let checker = PasswordChecker::new(2);
        let check = |password: &str, stored: Option<String>| {
            let slot = checker.try_reserve().unwrap();
            checker.verify(slot, SecretString::from(password.to_owned()), stored)
        };
        let stored = hash(&SecretString::from("correct horse battery staple")).unwrap();
        assert!(
            check("correct horse battery staple", Some(stored))
                .await
                .unwrap()
        );
        assert_eq!(checker.memories_kept(), 1);
        // Used within the period: kept.
        assert_eq!(checker.release_idle(MEMORY_KEPT_IDLE), 0);
        assert_eq!(checker.memories_kept(), 1);
        // Idle for longer than asked: let go.
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(
            checker.release_idle(std::time::Duration::from_millis(10)),
            1
        );
        assert_eq!(checker.memories_kept(), 0);
        // The next check works without it, and keeps a new one.
        assert!(!check("wrong", None).await.unwrap());
        assert_eq!(checker.memories_kept(), 1);
    }

    #[tokio::test]
    async fn the_checker_reuses_its_memory_and_refuses_beyond_its_slots() {
        let password = SecretString::from("correct horse battery staple");
        let stored = hash(&password).unwrap();
        let checker = PasswordChecker::new(1);
        let slot = checker.try_reserve().unwrap();
        assert_eq!(checker.try_reserve().err(), Some(Busy));
        assert!(
            checker
                .verify(slot, password.clone(), Some(stored.clone()))
                .await
                .unwrap()
        );
        let slot = checker.try_reserve().unwrap();
        assert!(
            !checker
                .verify(slot, SecretString::from("wrong"), Some(stored))
                .await
                .unwrap()
        );
        assert_eq!(checker.checks(), 2);
        assert_eq!(checker.peak_concurrency(), 1);
        assert_eq!(
            checker.memories.lock().unwrap().len(),
            1,
            "one memory, reused"
        );
    }

    #[test]
    fn short_passwords_are_refused() {
        assert!(check_strength(&SecretString::from("a")).is_err());
        assert!(check_strength(&SecretString::from("twelve chars")).is_ok());
    }
}
