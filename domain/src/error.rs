//! Domain errors: values with a stable machine `code`, never panics.

use thiserror::Error;

/// How the edge should classify an error; the HTTP layer maps these to status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input itself is wrong (422).
    Invalid,
    /// The input is fine but the appointment's current state forbids it (409).
    Conflict,
    /// Too many of these too soon; the error says when to try again (429).
    Limited,
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("the menu does not allow the consultation mode `{mode}`")]
    ModeNotAllowed { mode: &'static str },
    #[error("the appointment already exists")]
    AlreadyExists,
    #[error("no appointment with this id")]
    NotFound,
    #[error("the start time of a video call cannot be changed: cancel it and create a new one")]
    StartTimeImmutable,
    #[error("only video-URL appointments can be edited")]
    NotEditable,
    #[error("this appointment is in person and has no video call")]
    NoVideoCall,
    #[error("the appointment is cancelled")]
    Cancelled,
    #[error("the call has ended")]
    CallEnded,
    #[error("the call is in progress")]
    CallInProgress,
    #[error("the call has not started")]
    CallNotStarted,
    #[error("the video URL is valid only from one hour before the start until the same time the next day")]
    OutsideValidityWindow,
    #[error("the URL was sent already: use resend to send it again")]
    AlreadySent,
    #[error("no such delivery attempt")]
    UnknownDelivery,
    #[error("SMS can be sent only to mobile numbers of: {allowed}")]
    SmsCountryNotAllowed { allowed: String },
    #[error(
        "the URL of one appointment can be sent at most {per_hour} times an hour; try again in {retry_after_secs} s"
    )]
    SendLimited { per_hour: u32, retry_after_secs: u64 },
}

impl DomainError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            reason: reason.into(),
        }
    }

    /// Stable machine code, part of the HTTP contract (`problem+json` `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } => "validation_failed",
            Self::ModeNotAllowed { .. } => "mode_not_allowed",
            Self::AlreadyExists => "already_exists",
            Self::NotFound => "not_found",
            Self::StartTimeImmutable => "start_time_immutable",
            Self::NotEditable => "not_editable",
            Self::NoVideoCall => "no_video_call",
            Self::Cancelled => "appointment_cancelled",
            Self::CallEnded => "call_ended",
            Self::CallInProgress => "call_in_progress",
            Self::CallNotStarted => "call_not_started",
            Self::OutsideValidityWindow => "outside_validity_window",
            Self::AlreadySent => "already_sent",
            Self::UnknownDelivery => "unknown_delivery",
            Self::SmsCountryNotAllowed { .. } => "sms_country_not_allowed",
            Self::SendLimited { .. } => "send_limited",
        }
    }

    /// The request field the error is about, so a form can show it next to that field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            Self::ModeNotAllowed { .. } => Some("mode"),
            Self::StartTimeImmutable => Some("start_at"),
            Self::SmsCountryNotAllowed { .. } => Some("destination"),
            _ => None,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidField { .. }
            | Self::ModeNotAllowed { .. }
            | Self::StartTimeImmutable
            | Self::NotEditable
            | Self::UnknownDelivery
            | Self::SmsCountryNotAllowed { .. } => ErrorKind::Invalid,
            Self::AlreadyExists
            | Self::NotFound
            | Self::NoVideoCall
            | Self::Cancelled
            | Self::CallEnded
            | Self::CallInProgress
            | Self::CallNotStarted
            | Self::OutsideValidityWindow
            | Self::AlreadySent => ErrorKind::Conflict,
            Self::SendLimited { .. } => ErrorKind::Limited,
        }
    }

    /// Seconds until the same command may succeed, for errors of kind [`ErrorKind::Limited`].
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::SendLimited { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
        }
    }
}
