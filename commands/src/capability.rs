//! Capability links (R12): the clinic URL and the patient URL of an online appointment.
//!
//! A token is `role ‖ appointment id ‖ [generation] ‖ HMAC-SHA256(key, domain ‖ role ‖ id
//! [‖ generation])` with the MAC cut to its first 128 bits, base64url encoded: 44 characters,
//! short enough for a link in a two-segment SMS. 128 bits of MAC keep it unguessable (a
//! forger's chance per try is 2⁻¹²⁸), nothing secret is stored in the event log (the key lives
//! outside it), and staff can be shown the same URL again at any time. Tokens issued before
//! the cut carry all 256 bits (66 characters) and keep working.
//!
//! The generation counts reissues of the patient URL (「患者用URLを再発行」). Generation 0 is
//! left out of the token and of the MAC, so every link issued before reissuing existed keeps
//! its exact bytes and keeps working; later generations carry it as 4 big-endian bytes. A
//! token names the generation it was made for, so an old one is told apart from a forgery:
//! it is answered `revoked`, not "not found".

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use enkaku_domain::ids::AppointmentId;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use uuid::Uuid;

const DOMAIN: &[u8] = b"enkaku-link-v1";
/// The MAC's length in the tokens issued now.
const MAC_LEN: usize = 16;
/// The whole HMAC-SHA256, as tokens issued before the links were shortened carry it.
const LONG_MAC_LEN: usize = 32;
const HEAD_LEN: usize = 1 + 16;
const GENERATION_LEN: usize = 4;

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

/// What a genuine token opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    pub role: LinkRole,
    pub id: AppointmentId,
    /// The patient URL generation the token was made for (always 0 for the clinic URL).
    pub generation: u32,
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

    /// What the token carries besides the MAC: role, id and a generation other than 0.
    fn signed_part(role: LinkRole, id: AppointmentId, generation: u32) -> Vec<u8> {
        let mut raw = Vec::with_capacity(HEAD_LEN + GENERATION_LEN + MAC_LEN);
        raw.push(role.byte());
        raw.extend_from_slice(id.as_uuid().as_bytes());
        if generation != 0 {
            raw.extend_from_slice(&generation.to_be_bytes());
        }
        raw
    }

    fn mac(&self, signed: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.key.expose_secret()).expect("HMAC takes any key length");
        mac.update(DOMAIN);
        mac.update(signed);
        mac
    }

    /// The token of `role` for the appointment; `generation` is the appointment's
    /// `patient_link_generation` for the patient URL and 0 for the clinic URL.
    pub fn token(&self, role: LinkRole, id: AppointmentId, generation: u32) -> String {
        let mut raw = Self::signed_part(role, id, generation);
        let tag = self.mac(&raw).finalize().into_bytes();
        raw.extend_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The URL a role opens for an appointment: the clinic's call screen (`/call/…`) or the
    /// patient page (`/p/…`), under `base` (e.g. `https://clinic.example.jp`).
    pub fn url(&self, base: &str, role: LinkRole, id: AppointmentId, generation: u32) -> String {
        let page = match role {
            LinkRole::Clinic => "call",
            LinkRole::Patient => "p",
        };
        format!(
            "{}/{page}/{}",
            base.trim_end_matches('/'),
            self.token(role, id, generation)
        )
    }

    /// What a token opens, or `None` for anything forged or malformed. The comparison is
    /// constant-time.
    pub fn verify(&self, token: &str) -> Option<Capability> {
        if token.len() > 128 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        // The lengths of the two forms, with and without a generation, are all different.
        let mac_len = [MAC_LEN, LONG_MAC_LEN].into_iter().find(|mac_len| {
            matches!(
                raw.len().checked_sub(HEAD_LEN + mac_len),
                Some(0 | GENERATION_LEN)
            )
        })?;
        let generation = match raw.len() - HEAD_LEN - mac_len {
            0 => 0,
            GENERATION_LEN => {
                let bytes = raw[HEAD_LEN..HEAD_LEN + GENERATION_LEN].try_into().ok()?;
                // Generation 0 has one spelling only: without the field.
                Some(u32::from_be_bytes(bytes)).filter(|g| *g != 0)?
            }
            _ => return None,
        };
        let (signed, tag) = raw.split_at(raw.len() - mac_len);
        let role = LinkRole::from_byte(signed[0])?;
        let id = AppointmentId(Uuid::from_slice(&signed[1..HEAD_LEN]).ok()?);
        // Constant-time, over the first `mac_len` bytes of the MAC.
        self.mac(signed).verify_truncated_left(tag).ok()?;
        Some(Capability { role, id, generation })
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
        let clinic = s.token(LinkRole::Clinic, id, 0);
        let patient = s.token(LinkRole::Patient, id, 0);
        assert_ne!(clinic, patient);
        let opens = |role, generation| Some(Capability { role, id, generation });
        assert_eq!(s.verify(&clinic), opens(LinkRole::Clinic, 0));
        assert_eq!(s.verify(&patient), opens(LinkRole::Patient, 0));
        assert_eq!(
            s.url("https://c.example.jp/", LinkRole::Patient, id, 0),
            format!("https://c.example.jp/p/{patient}")
        );
        assert_eq!(
            s.url("https://c.example.jp", LinkRole::Clinic, id, 0),
            format!("https://c.example.jp/call/{clinic}")
        );
    }

    #[test]
    fn tokens_issued_before_the_cut_keep_working_and_new_ones_are_their_first_128_bits() {
        // Computed independently: base64url('p' ‖ id ‖ HMAC-SHA256([7; 32], "enkaku-link-v1" ‖ 'p' ‖ id)).
        let id = AppointmentId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
        let issued_before = "cAGQAAAAAHAAgAAAAAAAAAGiMTpY9rh-etiKtGBXhocspAqOCAAulxxHexF0xLrUOg";
        let opens = Some(Capability {
            role: LinkRole::Patient,
            id,
            generation: 0,
        });
        assert_eq!(signer(7).verify(issued_before), opens);
        let now = signer(7).token(LinkRole::Patient, id, 0);
        assert_eq!(now.len(), 44);
        let long = URL_SAFE_NO_PAD.decode(issued_before).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&now).unwrap(), long[..HEAD_LEN + MAC_LEN]);
        assert_eq!(signer(7).verify(&now), opens);
        // A cut of any other length is no token.
        assert_eq!(
            signer(7).verify(&URL_SAFE_NO_PAD.encode(&long[..HEAD_LEN + 24])),
            None
        );
    }

    #[test]
    fn each_generation_is_a_different_token_that_names_its_generation() {
        let s = signer(7);
        let id = AppointmentId(Uuid::now_v7());
        let tokens: Vec<String> = (0..3).map(|g| s.token(LinkRole::Patient, id, g)).collect();
        assert_ne!(tokens[0], tokens[1]);
        assert_ne!(tokens[1], tokens[2]);
        for (g, token) in tokens.iter().enumerate() {
            assert_eq!(s.verify(token).map(|c| c.generation), Some(g as u32));
        }
        // The generation is signed: changing it breaks the MAC.
        let mut raw = URL_SAFE_NO_PAD.decode(&tokens[1]).unwrap();
        raw[HEAD_LEN + GENERATION_LEN - 1] = 2;
        assert_eq!(s.verify(&URL_SAFE_NO_PAD.encode(&raw)), None);
        // Generation 0 spelt out is not a second spelling of the original link.
        let original = URL_SAFE_NO_PAD.decode(&tokens[0]).unwrap();
        let spelt = [&original[..HEAD_LEN], &[0; GENERATION_LEN], &original[HEAD_LEN..]].concat();
        assert_eq!(s.verify(&URL_SAFE_NO_PAD.encode(spelt)), None);
    }

    #[test]
    fn r12_tokens_from_another_key_or_tampered_are_rejected() {
        let id = AppointmentId(Uuid::now_v7());
        for generation in [0, 1] {
            let token = signer(7).token(LinkRole::Patient, id, generation);
            assert_eq!(signer(8).verify(&token), None);
            let mut chars: Vec<char> = token.chars().collect();
            let last = chars.len() - 1;
            chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
            let tampered: String = chars.into_iter().collect();
            assert_eq!(signer(7).verify(&tampered), None);
        }
        for junk in ["", "abc", "!!!!", &"A".repeat(500)] {
            assert_eq!(signer(7).verify(junk), None);
        }
    }
}
