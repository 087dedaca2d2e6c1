//! The UDP ports the relay's connections listen on, which a firewall in front of it opens.
//!
//! Each connection binds a UDP socket of its own: webrtc 0.21's peer connection owns its
//! sockets and has no way to share one among connections (ICE over a shared, demultiplexed
//! socket — a "UDP mux" — is not in it yet). So the range is also the relay's capacity: one
//! port per participant, two per call. A participant for whom no port is free is refused.

use std::fmt;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::Mutex;

/// Descriptors one relay connection holds: its UDP socket. (Multicast DNS, which would hold
/// another, is off on the server.)
pub const DESCRIPTORS_PER_CONNECTION: u64 = 1;

/// An inclusive range of UDP ports, `first-last` (or one port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    first: u16,
    last: u16,
}

impl PortRange {
    pub fn new(first: u16, last: u16) -> Result<Self, String> {
        if first == 0 || first > last {
            return Err(format!(
                "a port range is first-last with 1 ≤ first ≤ last: {first}-{last}"
            ));
        }
        Ok(Self { first, last })
    }

    /// Ports in the range: the most connections the relay holds at once.
    pub fn len(self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    /// A range is never empty.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Descriptors the relay may hold when every port is in use.
    pub fn descriptors(self) -> u64 {
        self.len() as u64 * DESCRIPTORS_PER_CONNECTION
    }
}

impl FromStr for PortRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let port = |p: &str| p.trim().parse::<u16>().map_err(|_| format!("not a port: {p:?}"));
        match text.split_once('-') {
            Some((first, last)) => Self::new(port(first)?, port(last)?),
            None => port(text).and_then(|p| Self::new(p, p)),
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Hands out the ports of a range to new connections in turn, so that a port a closed
/// connection just gave up (its socket closes a moment later) is the last to be tried again.
pub struct Ports {
    range: Option<PortRange>,
    /// The offset in the range to try first next time.
    next: Mutex<usize>,
}

impl Ports {
    /// Ports of `range`; with none, any port the system gives (no capacity limit of its own).
    pub fn new(range: Option<PortRange>) -> Self {
        Self {
            range,
            next: Mutex::new(0),
        }
    }

    /// An address at `ip` with a port free now, or `None` when every port of the range is in
    /// use. The port is probed by binding it; the connection binds it again right after.
    pub fn free(&self, ip: IpAddr) -> Option<SocketAddr> {
        let Some(range) = self.range else {
            return Some(SocketAddr::new(ip, 0));
        };
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        for step in 0..range.len() {
            let offset = (*next + step) % range.len();
            // The offset is below the range's length, so it fits a u16 above `first`.
            let port = range.first + offset as u16;
            let address = SocketAddr::new(ip, port);
            if UdpSocket::bind(address).is_ok() {
                *next = (offset + 1) % range.len();
                return Some(address);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_as_first_dash_last() {
        let range: PortRange = "50000-50999".parse().unwrap();
        assert_eq!((range.len(), range.descriptors()), (1000, 1000));
        assert_eq!(range.to_string(), "50000-50999");
        assert_eq!(" 40000 - 40001 ".parse::<PortRange>().unwrap().len(), 2);
        assert_eq!("5000".parse::<PortRange>().unwrap().len(), 1);
        assert_eq!("1-65535".parse::<PortRange>().unwrap().len(), 65535);
        for bad in ["", "0-10", "10-9", "a-b", "1-70000", "-", "1-2-3"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ports_are_handed_out_in_turn_and_taken_ones_are_skipped() {
        let localhost: IpAddr = "127.0.0.1".parse().unwrap();
        // Two ports the system has just given free: a range of them.
        let (a, b) = loop {
            let a = UdpSocket::bind((localhost, 0)).unwrap();
            let port = a.local_addr().unwrap().port();
            if port < u16::MAX && UdpSocket::bind((localhost, port + 1)).is_ok() {
                break (port, port + 1);
            }
        };
        let ports = Ports::new(Some(PortRange::new(a, b).unwrap()));
        assert_eq!(ports.free(localhost).unwrap().port(), a);
        assert_eq!(ports.free(localhost).unwrap().port(), b);
        let taken = UdpSocket::bind((localhost, a)).unwrap();
        assert_eq!(ports.free(localhost).unwrap().port(), b, "a is taken");
        let _also = UdpSocket::bind((localhost, b)).unwrap();
        assert_eq!(ports.free(localhost), None, "every port is taken");
        drop(taken);
        assert_eq!(ports.free(localhost).unwrap().port(), a);
        assert_eq!(Ports::new(None).free(localhost).unwrap().port(), 0);
    }
}
