//! Random tokens (CSRF, sessions, submissions, keys) and generated passwords, from
//! `rand`'s thread generator (ChaCha, seeded and reseeded from the operating system).

use rand::Rng;
use rand::seq::IndexedRandom;
use secrecy::SecretString;

/// Characters of generated passwords: no look-alikes (0/O, 1/l/I).
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters in a generated password (about 116 bits).
const PASSWORD_LENGTH: usize = 20;

/// `N` random bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

/// A new random token: 32 bytes, hex.
pub fn new_token() -> String {
    hex::encode(random_bytes::<32>())
}

/// A random password for generated accounts (demo, `user add` without a password).
/// Each character is drawn uniformly from the alphabet (no modulo bias).
pub fn generate_password() -> SecretString {
    let mut rng = rand::rng();
    SecretString::from(
        (0..PASSWORD_LENGTH)
            .filter_map(|_| PASSWORD_ALPHABET.choose(&mut rng).map(|b| *b as char))
            .collect::<String>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn tokens_are_long_hex_and_distinct() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn generated_passwords_use_the_whole_alphabet_evenly() {
        let mut counts = [0u32; 256];
        for _ in 0..5_000 {
            let password = generate_password();
            assert_eq!(password.expose_secret().len(), PASSWORD_LENGTH);
            for b in password.expose_secret().bytes() {
                counts[b as usize] += 1;
            }
        }
        // 100,000 draws over 56 characters: about 1,786 each. With modulo bias from a
        // byte (256 = 4 × 56 + 32) the first 32 would get about 2,000 and the rest 1,500.
        let expected = 100_000.0 / PASSWORD_ALPHABET.len() as f64;
        for c in PASSWORD_ALPHABET {
            let n = f64::from(counts[*c as usize]);
            assert!(
                (n - expected).abs() < expected * 0.1,
                "{} drawn {n} times, expected about {expected:.0}",
                *c as char
            );
        }
    }
}
