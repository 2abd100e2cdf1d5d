//! Password hashes: Argon2id with the `argon2` crate's default parameters
//! (19 MiB of memory, 2 passes, 1 lane: OWASP's recommended minimum), as
//! PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), a random
//! 16-byte salt each.
//!
//! A check runs the hash again with the stored string's own parameters, so
//! hashes made with stronger parameters later keep working. [`verify`]
//! against [`dummy`] costs what a real check costs: the relay runs it for a
//! user that does not exist or has no password, so the answer's timing
//! does not tell which names exist.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

/// Shortest password accepted, in characters.
pub const MIN_CHARS: usize = 8;
/// Longest password accepted, in bytes (a login with a longer one is bad
/// input, refused before any hashing).
pub const MAX_BYTES: usize = 1024;

/// Why a password was not set.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_CHARS} characters; choose a longer one")]
    TooShort,
    #[error("a password may have at most {MAX_BYTES} bytes; choose a shorter one")]
    TooLong,
    #[error("a password is one line; it may not contain a line break")]
    LineBreak,
    #[error("could not hash the password (Argon2id): {0}")]
    Hash(#[source] argon2::password_hash::Error),
}

/// Checks `password` against the rules and returns its PHC string.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.contains(['\n', '\r']) {
        return Err(PasswordError::LineBreak);
    }
    if password.len() > MAX_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordError::TooShort);
    }
    hash_unchecked(password)
}

fn hash_unchecked(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(PasswordError::Hash)
}

/// Whether `password` matches the PHC string `phc`. A string that does not
/// parse matches nothing.
pub fn verify(phc: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A hash of a random password no one knows, made with the parameters
/// [`hash`] uses: what a login for a name without a password is checked
/// against. Made once, on first use (the relay makes it at start).
pub fn dummy() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = uuid::Uuid::new_v4().simple().to_string();
        hash_unchecked(&random).expect("Argon2id hashes a 32-character password")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_and_checks_only_its_password() {
        let phc = hash("正确的马电池订书钉").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&phc, "正确的马电池订书钉"));
        assert!(!verify(&phc, "正确的马电池订书"));
        assert!(!verify("not a phc string", "anything"));
        assert_ne!(phc, hash("正确的马电池订书钉").unwrap(), "salted");
        assert!(!verify(dummy(), ""));
        assert!(dummy().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[test]
    fn weak_and_odd_passwords_are_refused() {
        assert!(matches!(hash("short"), Err(PasswordError::TooShort)));
        assert!(matches!(
            hash("两个字两个字两"),
            Err(PasswordError::TooShort)
        ));
        assert!(hash("两个字两个字两个").is_ok(), "characters, not bytes");
        assert!(matches!(
            hash("line one\nline two"),
            Err(PasswordError::LineBreak)
        ));
        assert!(matches!(
            hash(&"x".repeat(MAX_BYTES + 1)),
            Err(PasswordError::TooLong)
        ));
    }
}
