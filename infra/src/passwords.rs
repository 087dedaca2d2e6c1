//! Staff passwords: argon2id hashes and their checks (docs/security.md, "Password hashing").

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};

/// How staff passwords are hashed: argon2id, v1.3, with OWASP's current recommendation for
/// it (Password Storage Cheat Sheet: 19 MiB of memory, 2 passes, 1 lane). Spelled out here
/// rather than left to the crate's defaults so an upgrade cannot change them unseen. Each
/// check holds `PASSWORD_MEMORY_KIB` of memory for its duration: the API bounds how many run
/// at once (docs/security.md, "Login").
pub const PASSWORD_MEMORY_KIB: u32 = 19 * 1024;
pub const PASSWORD_PASSES: u32 = 2;
pub const PASSWORD_LANES: u32 = 1;

/// The most memory a stored hash may ask a check to use. Stored hashes carry their own
/// parameters (PHC string), so hashes made with other settings keep verifying; this ceiling
/// keeps one odd row from costing more than a few ordinary checks.
const MAX_VERIFY_MEMORY_KIB: u32 = 4 * PASSWORD_MEMORY_KIB;

fn password_hasher() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(PASSWORD_MEMORY_KIB, PASSWORD_PASSES, PASSWORD_LANES, None)
        .expect("the password parameters are within argon2's limits");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// Hash a new password with the parameters above and a random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    password_hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        // Hashing with fixed valid parameters and a generated salt cannot fail.
        .expect("argon2 hashing with fixed parameters")
}

/// The working memory of password checks (argon2's blocks). A thread that checks many
/// passwords keeps one and reuses it: allocating ~19 MiB per check scatters freed blocks over
/// the allocator's per-thread arenas, which then stay resident.
#[derive(Default)]
pub struct PasswordMemory(Vec<argon2::Block>);

/// Check a password against a stored hash, with the parameters the hash names (so hashes
/// made before a change of parameters keep working). A malformed hash, or one asking for
/// more than `MAX_VERIFY_MEMORY_KIB`, simply does not match.
pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_password_in(&mut PasswordMemory::default(), password, hash)
}

/// `verify_password` in `memory`, which grows to what the hash asks for and is kept.
pub fn verify_password_in(memory: &mut PasswordMemory, password: &str, hash: &str) -> bool {
    use argon2::password_hash::{Output, PasswordHash};
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let (Ok(algorithm), Some(salt), Some(expected)) = (
        argon2::Algorithm::try_from(parsed.algorithm),
        parsed.salt,
        parsed.hash,
    ) else {
        return false;
    };
    let Ok(version) = parsed
        .version
        .map_or(Ok(argon2::Version::V0x13), argon2::Version::try_from)
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if params.m_cost() > MAX_VERIFY_MEMORY_KIB {
        return false;
    }
    let blocks = params.block_count();
    if memory.0.len() < blocks {
        memory.0.resize(blocks, argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    argon2::Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory.0[..blocks])
        .is_ok()
        // `Output`'s comparison is constant-time.
        && Output::new(&out).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_hashes_name_the_documented_parameters() {
        let hash = hash_password("correct horse");
        assert!(
            hash.starts_with(&format!(
                "$argon2id$v=19$m={PASSWORD_MEMORY_KIB},t={PASSWORD_PASSES},p={PASSWORD_LANES}$"
            )),
            "{hash}"
        );
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
    }

    #[test]
    fn hashes_made_with_other_parameters_keep_verifying_within_the_ceiling() {
        let salt = SaltString::generate(&mut OsRng);
        let older = |m: u32| {
            let params = argon2::Params::new(m, 1, 1, None).unwrap();
            argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, params)
                .hash_password(b"pw", &salt)
                .unwrap()
                .to_string()
        };
        assert!(verify_password("pw", &older(8 * 1024)));
        assert!(!verify_password("pw", &older(MAX_VERIFY_MEMORY_KIB + 1024)));
        assert!(!verify_password("pw", "not a hash"));
    }

    #[test]
    fn reused_memory_checks_alike() {
        let mut memory = PasswordMemory::default();
        let hash = hash_password("pw");
        assert!(verify_password_in(&mut memory, "pw", &hash));
        assert!(!verify_password_in(&mut memory, "other", &hash));
        assert!(verify_password_in(&mut memory, "pw", &hash));
    }
}
