//! The STUN and TURN servers a page's browser is told to use, with TURN credentials minted
//! per participant by the TURN REST convention that coturn's `use-auth-secret` checks: the
//! username is `<unix expiry>:<opaque id>`, the credential base64(HMAC-SHA1(secret, username)).
//! A credential opens the TURN server to anyone who holds it, so each lasts minutes, names no
//! person and carries no link token; a leaked one expires on its own.
//!
//! The relay itself gathers no candidates through these servers: it is the server, its host
//! candidate (`--media-addr`) is the address every browser must reach anyway, and a browser
//! that cannot reach it directly reaches it from its own TURN relay candidate.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a minted TURN credential lasts unless configured.
pub const DEFAULT_TURN_TTL: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IceServersError {
    #[error("`{0}` is not a STUN URL (stun: or stuns:)")]
    NotStun(String),
    #[error("`{0}` is not a TURN URL (turn: or turns:)")]
    NotTurn(String),
    #[error("TURN servers need the shared secret (--turn-secret or --turn-secret-file)")]
    TurnWithoutSecret,
    #[error("a TURN secret is given but no TURN server (--turn)")]
    SecretWithoutTurn,
    #[error("the TURN secret is empty")]
    EmptySecret,
}

/// The servers configured for browsers; empty on the embedded default, where browsers reach
/// the relay's loopback or LAN address directly.
#[derive(Clone, Debug, Default)]
pub struct IceServers {
    stun: Vec<String>,
    turn: Option<Turn>,
}

#[derive(Clone, Debug)]
struct Turn {
    urls: Vec<String>,
    /// Shared with the TURN server (coturn `static-auth-secret`).
    secret: SecretString,
    ttl: Duration,
}

/// One entry of the page's `RTCPeerConnection({iceServers})`, as the browser takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl IceServers {
    /// Checks what an operator configured: URL schemes, and that TURN and its secret come
    /// together.
    pub fn new(
        stun: Vec<String>,
        turn: Vec<String>,
        turn_secret: Option<SecretString>,
        ttl: Duration,
    ) -> Result<Self, IceServersError> {
        if let Some(url) = stun.iter().find(|u| !has_scheme(u, &["stun:", "stuns:"])) {
            return Err(IceServersError::NotStun(url.clone()));
        }
        if let Some(url) = turn.iter().find(|u| !has_scheme(u, &["turn:", "turns:"])) {
            return Err(IceServersError::NotTurn(url.clone()));
        }
        let turn = match (turn.is_empty(), turn_secret) {
            (true, None) => None,
            (true, Some(_)) => return Err(IceServersError::SecretWithoutTurn),
            (false, None) => return Err(IceServersError::TurnWithoutSecret),
            (false, Some(secret)) if secret.expose_secret().is_empty() => {
                return Err(IceServersError::EmptySecret);
            }
            (false, Some(secret)) => Some(Turn {
                urls: turn,
                secret,
                ttl,
            }),
        };
        Ok(Self { stun, turn })
    }

    /// The list for one participant's page; `participant` is an opaque id of its socket
    /// (never a link token, never a name: it travels in the clear to the TURN server and its
    /// logs).
    pub fn for_participant(&self, participant: &str, now: SystemTime) -> Vec<IceServer> {
        let mut servers = Vec::new();
        if !self.stun.is_empty() {
            servers.push(IceServer {
                urls: self.stun.clone(),
                username: None,
                credential: None,
            });
        }
        if let Some(turn) = &self.turn {
            let expiry = now
                .checked_add(turn.ttl)
                .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |at| at.as_secs());
            let username = format!("{expiry}:{participant}");
            let credential = turn_credential(turn.secret.expose_secret().as_bytes(), &username);
            servers.push(IceServer {
                urls: turn.urls.clone(),
                username: Some(username),
                credential: Some(credential),
            });
        }
        servers
    }
}

fn has_scheme(url: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|scheme| {
        url.len() > scheme.len()
            && url
                .get(..scheme.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
    })
}

/// The TURN REST credential for `username`: base64(HMAC-SHA1(secret, username)).
pub fn turn_credential(secret: &[u8], username: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "north-wind-shared-secret";

    fn turn_only(ttl: Duration) -> IceServers {
        IceServers::new(
            vec![],
            vec!["turn:turn.example.jp:3478?transport=udp".into()],
            Some(SECRET.to_owned().into()),
            ttl,
        )
        .unwrap()
    }

    #[test]
    fn the_credential_is_the_hmac_sha1_that_coturn_computes() {
        // Computed outside Rust:
        // printf '%s' 1700000600:3f2a9c0d | openssl dgst -sha1 -hmac north-wind-shared-secret -binary | base64
        assert_eq!(
            turn_credential(SECRET.as_bytes(), "1700000600:3f2a9c0d"),
            "MSEfr5IRUbqnvCm2lcrFCWiloR0="
        );
    }

    #[test]
    fn a_participant_gets_a_credential_that_expires_after_the_ttl() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let servers = turn_only(Duration::from_secs(600)).for_participant("3f2a9c0d", now);
        assert_eq!(
            servers,
            [IceServer {
                urls: vec!["turn:turn.example.jp:3478?transport=udp".into()],
                username: Some("1700000600:3f2a9c0d".into()),
                credential: Some("MSEfr5IRUbqnvCm2lcrFCWiloR0=".into()),
            }]
        );
    }

    #[test]
    fn stun_servers_go_without_credentials_and_nothing_is_configured_by_default() {
        let servers = IceServers::new(
            vec!["stun:stun.example.jp:3478".into()],
            vec![],
            None,
            DEFAULT_TURN_TTL,
        )
        .unwrap()
        .for_participant("p", SystemTime::now());
        let json = serde_json::to_value(&servers).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{ "urls": ["stun:stun.example.jp:3478"] }])
        );
        assert!(
            IceServers::default()
                .for_participant("p", SystemTime::now())
                .is_empty()
        );
    }

    #[test]
    fn a_configuration_that_cannot_work_is_refused() {
        let secret = || Some(SecretString::from(SECRET.to_owned()));
        let ttl = DEFAULT_TURN_TTL;
        let turn = || vec!["turns:turn.example.jp:5349".to_owned()];
        assert_eq!(
            IceServers::new(vec![], turn(), None, ttl).unwrap_err(),
            IceServersError::TurnWithoutSecret
        );
        assert_eq!(
            IceServers::new(vec![], vec![], secret(), ttl).unwrap_err(),
            IceServersError::SecretWithoutTurn
        );
        assert_eq!(
            IceServers::new(vec![], turn(), Some(String::new().into()), ttl).unwrap_err(),
            IceServersError::EmptySecret
        );
        assert!(matches!(
            IceServers::new(vec!["turn:x".into()], vec![], None, ttl),
            Err(IceServersError::NotStun(_))
        ));
        assert!(matches!(
            IceServers::new(vec![], vec!["http://x".into()], secret(), ttl),
            Err(IceServersError::NotTurn(_))
        ));
        assert!(IceServers::new(vec!["STUN:x:3478".into()], turn(), secret(), ttl).is_ok());
    }
}
