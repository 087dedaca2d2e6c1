//! Capability links (R12): the clinic URL and the patient URL of an online appointment.
//!
//! A token is `role ‖ appointment id ‖ HMAC-SHA256(key, domain ‖ role ‖ id)`, base64url
//! encoded. The 256-bit MAC makes it unguessable, nothing secret is stored in the event log
//! (the key lives outside it), and staff can be shown the same URL again at any time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use enkaku_domain::ids::AppointmentId;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use uuid::Uuid;

const DOMAIN: &[u8] = b"enkaku-link-v1";
const MAC_LEN: usize = 32;
const TOKEN_LEN: usize = 1 + 16 + MAC_LEN;

/// Which side of the call a link opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRole {
    Clinic,
    Patient,
}

impl LinkRole {
    fn byte(self) -> u8 {
        match self {
            Self::Clinic => b'c',
            Self::Patient => b'p',
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'c' => Some(Self::Clinic),
            b'p' => Some(Self::Patient),
            _ => None,
        }
    }
}

pub struct LinkSigner {
    key: SecretSlice<u8>,
}

impl LinkSigner {
    /// `key` must hold at least 32 random bytes.
    pub fn new(key: SecretSlice<u8>) -> Self {
        assert!(
            key.expose_secret().len() >= 32,
            "link key must be at least 32 bytes"
        );
        Self { key }
    }

    fn mac(&self, role: LinkRole, id: AppointmentId) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.expose_secret()).expect("HMAC takes any key length");
        mac.update(DOMAIN);
        mac.update(&[role.byte()]);
        mac.update(id.as_uuid().as_bytes());
        mac
    }

    pub fn token(&self, role: LinkRole, id: AppointmentId) -> String {
        let mut raw = Vec::with_capacity(TOKEN_LEN);
        raw.push(role.byte());
        raw.extend_from_slice(id.as_uuid().as_bytes());
        raw.extend_from_slice(&self.mac(role, id).finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The URL a role opens for an appointment: the clinic's call screen (`/call/…`) or the
    /// patient page (`/p/…`), under `base` (e.g. `https://clinic.example.jp`).
    pub fn url(&self, base: &str, role: LinkRole, id: AppointmentId) -> String {
        let page = match role {
            LinkRole::Clinic => "call",
            LinkRole::Patient => "p",
        };
        format!("{}/{page}/{}", base.trim_end_matches('/'), self.token(role, id))
    }

    /// The appointment and role a token opens, or `None` for anything forged or malformed.
    /// The comparison is constant-time.
    pub fn verify(&self, token: &str) -> Option<(LinkRole, AppointmentId)> {
        if token.len() > 128 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        if raw.len() != TOKEN_LEN {
            return None;
        }
        let role = LinkRole::from_byte(raw[0])?;
        let id = AppointmentId(Uuid::from_slice(&raw[1..17]).ok()?);
        self.mac(role, id).verify_slice(&raw[17..]).ok()?;
        Some((role, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(byte: u8) -> LinkSigner {
        LinkSigner::new(vec![byte; 32].into())
    }

    #[test]
    fn r12_clinic_and_patient_urls_differ_and_verify_to_their_role() {
        let s = signer(7);
        let id = AppointmentId(Uuid::now_v7());
        let clinic = s.token(LinkRole::Clinic, id);
        let patient = s.token(LinkRole::Patient, id);
        assert_ne!(clinic, patient);
        assert_eq!(s.verify(&clinic), Some((LinkRole::Clinic, id)));
        assert_eq!(s.verify(&patient), Some((LinkRole::Patient, id)));
        assert_eq!(
            s.url("https://c.example.jp/", LinkRole::Patient, id),
            format!("https://c.example.jp/p/{patient}")
        );
        assert_eq!(
            s.url("https://c.example.jp", LinkRole::Clinic, id),
            format!("https://c.example.jp/call/{clinic}")
        );
    }

    #[test]
    fn r12_tokens_from_another_key_or_tampered_are_rejected() {
        let id = AppointmentId(Uuid::now_v7());
        let token = signer(7).token(LinkRole::Patient, id);
        assert_eq!(signer(8).verify(&token), None);
        let mut chars: Vec<char> = token.chars().collect();
        let last = chars.len() - 1;
        chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(signer(7).verify(&tampered), None);
        for junk in ["", "abc", "!!!!", &"A".repeat(500)] {
            assert_eq!(signer(7).verify(junk), None);
        }
    }
}
