//! A page's signalling socket, speaking the protocol of `/api/v1/media/…`: the offer out, the
//! relay's answer back, then the call's news. Messages of a type it does not wait for are
//! passed over, as a page passes over what it does not know.

use anyhow::Context;
use rtc::peer_connection::sdp::RTCSessionDescription;
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::Uri};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct Signalling(WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>);

impl Signalling {
    /// Open `path` on the server at `base`, as staff when `bearer` is given.
    pub async fn open(base: &str, path: &str, bearer: Option<&str>) -> Self {
        Self::open_from(None, base, path, bearer).await.expect("upgraded")
    }

    /// As `open`, from the local address `from` when given: many patients on one machine
    /// come from loopback addresses of their own, as they would from homes of their own.
    pub async fn open_from(
        from: Option<IpAddr>,
        base: &str,
        path: &str,
        bearer: Option<&str>,
    ) -> anyhow::Result<Self> {
        let url = format!("{}{path}", base.replacen("http", "ws", 1));
        let mut request = url.as_str().into_client_request()?;
        if let Some(token) = bearer {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse()?);
        }
        let socket = match from {
            None => tokio_tungstenite::connect_async(request).await?.0,
            Some(from) => {
                let uri: Uri = url.parse()?;
                let server = tokio::net::lookup_host((
                    uri.host().context("no host")?,
                    uri.port_u16().context("no port")?,
                ))
                .await?
                .next()
                .context("no address")?;
                let tcp = tokio::net::TcpSocket::new_v4()?;
                tcp.bind((from, 0).into())?;
                let stream = tcp.connect(server).await?;
                tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
                    .await?
                    .0
            }
        };
        Ok(Self(socket))
    }

    /// The next message from the server.
    pub async fn next(&mut self) -> Value {
        self.try_next().await.expect("a message in time")
    }

    async fn try_next(&mut self) -> anyhow::Result<Value> {
        use futures::StreamExt;
        loop {
            let message = tokio::time::timeout(Duration::from_secs(10), self.0.next())
                .await
                .context("no message in time")?
                .context("the socket closed")??;
            if let Message::Text(text) = message {
                return Ok(serde_json::from_str(&text)?);
            }
        }
    }

    /// The next message of type `kind`, passing over others; a refusal is an error.
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

    /// Send the offer and bring back the relay's answer.
    pub async fn exchange(&mut self, offer: RTCSessionDescription) -> anyhow::Result<RTCSessionDescription> {
        use futures::SinkExt;
        let offer = serde_json::json!({ "type": "offer", "sdp": offer.sdp }).to_string();
        self.0.send(offer.into()).await?;
        let answer = self.next_of("answer").await?;
        let sdp = answer["sdp"].as_str().context("an answer without SDP")?;
        Ok(RTCSessionDescription::answer(sdp.to_owned())?)
    }
}
