//! Which provider carries each channel: Twilio for SMS and SMTP for e-mail where they are
//! configured, each on its own; the embedded outbox for a channel that is not.

use crate::outbox::Outbox;
use async_trait::async_trait;
use enkaku_commands::channel::{HandedOver, OutgoingMessage, SendError, UrlSender};
use enkaku_domain::values::{Channel, Destination, Provider};
use std::sync::Arc;

/// A configured provider for one channel.
#[derive(Clone)]
pub struct Route {
    pub provider: Provider,
    pub sender: Arc<dyn UrlSender>,
}

#[derive(Clone)]
pub struct Channels {
    pub sms: Option<Route>,
    pub email: Option<Route>,
    pub outbox: Outbox,
}

impl Channels {
    /// Everything to the outbox: the embedded default.
    pub fn outbox_only(outbox: Outbox) -> Self {
        Self {
            sms: None,
            email: None,
            outbox,
        }
    }

    /// Who carries `channel` (for `/healthz` and the 送信ボックス).
    pub fn provider(&self, channel: Channel) -> Provider {
        self.route(channel).map_or(Provider::Outbox, |r| r.provider)
    }

    fn route(&self, channel: Channel) -> Option<&Route> {
        match channel {
            Channel::Sms => self.sms.as_ref(),
            Channel::Email => self.email.as_ref(),
        }
    }

    fn sender(&self, channel: Channel) -> &dyn UrlSender {
        match self.route(channel) {
            Some(route) => route.sender.as_ref(),
            None => &self.outbox,
        }
    }
}

#[async_trait]
impl UrlSender for Channels {
    async fn send(&self, message: &OutgoingMessage) -> Result<HandedOver, SendError> {
        self.sender(message.destination.channel()).send(message).await
    }

    fn repeat_is_harmless(&self, destination: &Destination) -> bool {
        self.sender(destination.channel()).repeat_is_harmless(destination)
    }
}
