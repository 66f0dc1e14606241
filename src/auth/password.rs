//! Password hashing: argon2id, stored as PHC strings.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};

/// Hashes `password` with argon2id and a random salt.
pub fn hash(password: &SecretString) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// Whether `password` matches `stored`; `None` for `stored` does the same work against
/// a dummy hash, so that unknown accounts take as long as known ones.
pub fn verify(password: &SecretString, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY
        .get_or_init(|| hash(&SecretString::from("certdeck-dummy-password")).unwrap_or_default());
    let candidate = stored.unwrap_or(dummy);
    let matches = PasswordHash::new(candidate)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false);
    matches && stored.is_some()
}

/// A random password for generated accounts (demo, `user add` without a password).
pub fn generate() -> SecretString {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    if getrandom::fill(&mut bytes).is_err() {
        bytes.copy_from_slice(&uuid::Uuid::new_v4().as_bytes().repeat(2)[..20]);
    }
    SecretString::from(
        bytes
            .iter()
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
            .collect::<String>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let password = SecretString::from("correct horse battery staple");
        let stored = hash(&password).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$"), "{stored}");
        assert!(!stored.contains("correct horse"));
        assert!(verify(&password, Some(&stored)));
        assert!(!verify(&SecretString::from("wrong"), Some(&stored)));
        assert!(!verify(&password, None));
        assert_ne!(hash(&password).unwrap(), stored, "salted");
    }
}
