//! A page's signalling socket, speaking the protocol of `/api/v1/media/…`: the greeting, the
//! offer out and the answer back, candidates trickled both ways to and from a `Peer`, then the
//! call's news. The relay's candidates go to the peer; everything else is news for the caller.

use crate::peer::{Signalling, Trickle};
use anyhow::Context;
use enkaku_media::relay::IceCandidate;
use futures::{SinkExt, StreamExt};
use rtc::peer_connection::sdp::RTCSessionDescription;
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::Uri};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct Socket {
    outgoing: UnboundedSender<Message>,
    news: UnboundedReceiver<Value>,
    /// The greeting's ICE servers.
    pub ice_servers: Value,
    to_relay: Trickle,
    from_relay: Trickle,
}

impl Socket {
    /// Open `path` on the server at `base`, as staff when `bearer` is given, and read the
    /// greeting.
    pub async fn open(base: &str, path: &str, bearer: Option<&str>) -> Self {
        Self::open_from(None, base, path, bearer)
            .await
            .expect("upgraded and greeted")
    }

    /// As `open`, from the local address `from` when given: many patients on one machine
    /// come from loopback addresses of their own, as they would from homes of their own.
    pub async fn open_from(
        from: Option<IpAddr>,
        base: &str,
        path: &str,
        bearer: Option<&str>,
    ) -> anyhow::Result<Self> {
        let (mut sink, mut stream) = connect(from, base, path, bearer).await?.split();
        let (outgoing, mut to_send) = unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(message) = to_send.recv().await {
                if sink.send(message).await.is_err() {
                    return;
                }
            }
        });
        let (news_tx, news) = unbounded_channel();
        let from_relay = Trickle::default();
        let candidates = from_relay.tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else { continue };
                let Ok(message) = serde_json::from_str::<Value>(&text) else {
                    return;
                };
                if message["type"] == "candidate" {
                    if let Ok(candidate) = serde_json::from_value(message["candidate"].clone()) {
                        let _ = candidates.send(candidate);
                    }
                } else {
                    let _ = news_tx.send(message);
                }
            }
        });
        let mut socket = Self {
            outgoing,
            news,
            ice_servers: Value::Null,
            to_relay: Trickle::default(),
            from_relay,
        };
        let hello = socket.next_of("hello").await?;
        socket.ice_servers = hello["ice_servers"].clone();
        Ok(socket)
    }

    pub fn send(&self, message: Value) {
        let _ = self.outgoing.send(message.to_string().into());
    }

    /// The next message that is not one of the relay's candidates.
    pub async fn next(&mut self) -> Value {
        self.try_next().await.expect("a message in time")
    }

    async fn try_next(&mut self) -> anyhow::Result<Value> {
        tokio::time::timeout(Duration::from_secs(10), self.news.recv())
            .await
            .context("no message in time")?
            .context("the socket closed")
    }

    /// The next message of type `kind`, passing over others, as a page passes over what it
    /// does not know; a refusal is an error.
    pub async fn next_of(&mut self, kind: &str) -> anyhow::Result<Value> {
        loop {
            let message = self.try_next().await?;
            match message["type"].as_str() {
                Some(found) if found == kind => return Ok(message),
                Some("refused") => anyhow::bail!("refused: {}", message["code"]),
                _ => {}
            }
        }
    }

    /// Close the socket as a page does when it goes away.
    pub fn close(&self) {
        let _ = self.outgoing.send(Message::Close(None));
    }

    /// The server closes the socket, with nothing more to say.
    pub async fn closes(&mut self) {
        let last = tokio::time::timeout(Duration::from_secs(10), self.news.recv())
            .await
            .expect("closed in time");
        assert_eq!(last, None, "nothing after the last word");
    }
}

async fn connect(
    from: Option<IpAddr>,
    base: &str,
    path: &str,
    bearer: Option<&str>,
) -> anyhow::Result<WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>> {
    let url = format!("{}{path}", base.replacen("http", "ws", 1));
    let mut request = url.as_str().into_client_request()?;
    if let Some(token) = bearer {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    let Some(from) = from else {
        return Ok(tokio_tungstenite::connect_async(request).await?.0);
    };
    let uri: Uri = url.parse()?;
    let server =
        tokio::net::lookup_host((uri.host().context("no host")?, uri.port_u16().context("no port")?))
            .await?
            .next()
            .context("no address")?;
    let tcp = tokio::net::TcpSocket::new_v4()?;
    tcp.bind((from, 0).into())?;
    let stream = tcp.connect(server).await?;
    Ok(
        tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await?
            .0,
    )
}

#[async_trait::async_trait]
impl Signalling for Socket {
    async fn exchange(&mut self, offer: RTCSessionDescription) -> anyhow::Result<RTCSessionDescription> {
        self.send(serde_json::json!({ "type": "offer", "sdp": offer.sdp }));
        if let Some(mut to_relay) = self.to_relay.take() {
            let outgoing = self.outgoing.clone();
            tokio::spawn(async move {
                while let Some(candidate) = to_relay.recv().await {
                    let message = serde_json::json!({ "type": "candidate", "candidate": candidate });
                    let _ = outgoing.send(message.to_string().into());
                }
            });
        }
        let answer = self.next_of("answer").await?;
        let sdp = answer["sdp"].as_str().context("an answer without SDP")?;
        Ok(RTCSessionDescription::answer(sdp.to_owned())?)
    }

    fn to_relay(&self) -> UnboundedSender<Option<IceCandidate>> {
        self.to_relay.tx.clone()
    }

    fn take_relay_candidates(&mut self) -> UnboundedReceiver<Option<IceCandidate>> {
        self.from_relay.take().expect("taken once")
    }
}
