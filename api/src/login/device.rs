//! Device cookies, as OWASP's brute-force guidance describes them: after a successful login
//! the browser gets a signed cookie naming the account, and a later login to that account
//! from that browser skips the limits other people's failures fill (the per-address limit of
//! a shared address, the global budget, the account's shared failure budget) and draws on its
//! own failure budget instead.
//!
//! An entry is `device id (16 random bytes) ‖ HMAC-SHA256(key, device id ‖ account)`,
//! base64url; the account is the SHA-256 of the normalised e-mail address, so the cookie does
//! not show the address. One cookie holds the entries of up to `MAX_ACCOUNTS` accounts
//! (clinic PCs are shared), most recent first, separated by `.`. The key is derived from the
//! link key for this purpose alone (`secrets::derive_key`): rotating the link key ends every
//! device cookie too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

pub const COOKIE: &str = "enkaku_device";
/// What the device key is derived for (`secrets::derive_key`).
pub const KEY_PURPOSE: &[u8] = b"enkaku-device-cookie-v1";
/// Sent only to the login endpoint.
pub const COOKIE_PATH: &str = "/api/v1/login";
/// How long a browser stays a known device after its last successful login.
pub const LIFETIME_DAYS: i64 = 90;
const MAX_ACCOUNTS: usize = 8;
const ID_LEN: usize = 16;
const ENTRY_LEN: usize = ID_LEN + 32;

pub struct DeviceCookies {
    key: SecretSlice<u8>,
}

impl DeviceCookies {
    pub fn new(key: SecretSlice<u8>) -> Self {
        Self { key }
    }

    fn mac(&self, device: &[u8], account: &[u8; 32]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.expose_secret()).expect("HMAC takes any key length");
        mac.update(device);
        mac.update(account);
        mac
    }

    fn entry(&self, device: &[u8], account: &[u8; 32]) -> String {
        let mut raw = Vec::with_capacity(ENTRY_LEN);
        raw.extend_from_slice(device);
        raw.extend_from_slice(&self.mac(device, account).finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The device id `cookie` proves for `account`, if one of its entries is genuine. The
    /// MAC comparison is constant-time.
    pub fn device_for(&self, cookie: &str, account: &[u8; 32]) -> Option<[u8; ID_LEN]> {
        cookie.split('.').take(MAX_ACCOUNTS).find_map(|entry| {
            let raw = URL_SAFE_NO_PAD.decode(entry).ok()?;
            if raw.len() != ENTRY_LEN {
                return None;
            }
            let (device, tag) = raw.split_at(ID_LEN);
            self.mac(device, account).verify_slice(tag).ok()?;
            device.try_into().ok()
        })
    }

    /// The cookie's value after a successful login to `account`: this account's entry first
    /// (the same device id if the cookie already had one), then the other accounts' entries.
    pub fn after_login(&self, cookie: Option<&str>, account: &[u8; 32]) -> String {
        let known = cookie.and_then(|c| self.device_for(c, account));
        let device = known.unwrap_or_else(|| {
            let mut id = [0u8; ID_LEN];
            rand::rng().fill_bytes(&mut id);
            id
        });
        let mine = self.entry(&device, account);
        // Other entries are kept as they are (they are checked when used), if well-formed.
        let others: Vec<&str> = cookie
            .into_iter()
            .flat_map(|c| c.split('.'))
            .filter(|e| *e != mine && URL_SAFE_NO_PAD.decode(e).is_ok_and(|raw| raw.len() == ENTRY_LEN))
            .take(MAX_ACCOUNTS - 1)
            .collect();
        std::iter::once(mine.as_str())
            .chain(others)
            .collect::<Vec<_>>()
            .join(".")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(byte: u8) -> DeviceCookies {
        DeviceCookies::new(vec![byte; 32].into())
    }

    const ALICE: [u8; 32] = [1; 32];
    const BOB: [u8; 32] = [2; 32];

    #[test]
    fn a_cookie_proves_its_account_only_and_only_under_its_key() {
        let signer = cookies(7);
        let cookie = signer.after_login(None, &ALICE);
        let device = signer.device_for(&cookie, &ALICE).expect("genuine");
        assert_eq!(signer.device_for(&cookie, &BOB), None, "another account");
        assert_eq!(cookies(8).device_for(&cookie, &ALICE), None, "another key");
        let mut forged = URL_SAFE_NO_PAD.decode(&cookie).unwrap();
        forged[0] ^= 1;
        assert_eq!(signer.device_for(&URL_SAFE_NO_PAD.encode(forged), &ALICE), None);
        for junk in ["", ".", "abc", "!!!", &"A".repeat(4000)] {
            assert_eq!(signer.device_for(junk, &ALICE), None);
        }
        // Signing in again keeps the device id.
        let again = signer.after_login(Some(&cookie), &ALICE);
        assert_eq!(signer.device_for(&again, &ALICE), Some(device));
    }

    #[test]
    fn one_cookie_remembers_several_accounts_most_recent_first_and_boundedly() {
        let signer = cookies(7);
        let alice = signer.after_login(None, &ALICE);
        let both = signer.after_login(Some(&alice), &BOB);
        assert!(signer.device_for(&both, &ALICE).is_some());
        assert!(signer.device_for(&both, &BOB).is_some());
        let mut cookie = both;
        for n in 0..20u8 {
            cookie = signer.after_login(Some(&cookie), &[n + 10; 32]);
        }
        assert_eq!(cookie.split('.').count(), MAX_ACCOUNTS);
        assert!(signer.device_for(&cookie, &[29; 32]).is_some());
        assert_eq!(signer.device_for(&cookie, &ALICE), None, "the oldest was dropped");
    }
}
