//! Domain errors: values with a stable machine `code`, never panics; and `ErrorCode`, every
//! code an error answer can carry.

use thiserror::Error;

/// How the edge should classify an error; the HTTP layer maps these to status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input itself is wrong (422).
    Invalid,
    /// The input is fine but the current state (of the appointment, the clinic's staff)
    /// forbids it (409).
    Conflict,
    /// Too many of these too soon; the error says when to try again (429).
    Limited,
}

/// Declares `ErrorCode` from one list, so its variants, `ALL` and `as_str` cannot drift.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident => $code:literal,)+) => {
        /// Every machine code an error answer can carry (`problem+json` `code`, part of the
        /// HTTP contract): a closed list, so the UI has a Japanese message for each and the
        /// OpenAPI document lists them. The domain's errors name theirs; the HTTP edge adds
        /// its own.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)+
        }

        impl ErrorCode {
            /// Every value, for documents and tests that list them.
            pub const ALL: &[Self] = &[$(Self::$name),+];

            /// The code as sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$name => $code,)+
                }
            }
        }
    };
}

error_codes! {
    /// A request field is missing or wrong (`field` names it).
    ValidationFailed => "validation_failed",
    /// The menu does not offer the chosen consultation mode.
    ModeNotAllowed => "mode_not_allowed",
    /// The appointment exists already.
    AlreadyExists => "already_exists",
    /// No such resource, or not one of this clinic's.
    NotFound => "not_found",
    /// A video URL's start cannot be changed.
    StartTimeImmutable => "start_time_immutable",
    /// Only video URLs can be edited.
    NotEditable => "not_editable",
    /// An in-person booking has no video call.
    NoVideoCall => "no_video_call",
    /// The appointment is cancelled.
    AppointmentCancelled => "appointment_cancelled",
    /// The call has ended.
    CallEnded => "call_ended",
    /// The call is in progress.
    CallInProgress => "call_in_progress",
    /// The call has not started.
    CallNotStarted => "call_not_started",
    /// The appointment's personal data was erased: it takes no change that needs it.
    AppointmentErased => "appointment_erased",
    /// The video URL is not valid at this time.
    OutsideValidityWindow => "outside_validity_window",
    /// The URL was sent already: resend instead.
    AlreadySent => "already_sent",
    /// No such delivery attempt.
    UnknownDelivery => "unknown_delivery",
    /// SMS may not go to numbers of that country.
    SmsCountryNotAllowed => "sms_country_not_allowed",
    /// The URL was sent too often this hour.
    SendLimited => "send_limited",
    /// No such doctor in the clinic.
    UnknownDoctor => "unknown_doctor",
    /// No such menu in the clinic.
    UnknownMenu => "unknown_menu",
    /// The booking is outside the doctor's hours that day; staff may confirm it.
    OutsideHours => "outside_hours",
    /// The change would leave the clinic without an active administrator.
    LastAdmin => "last_admin",
    /// Another staff member (of this or another clinic) has this e-mail address.
    EmailTaken => "email_taken",
    /// The staff member is deactivated: reactivate them first.
    StaffInactive => "staff_inactive",
    /// `If-Match` names an older version (412).
    VersionConflict => "version_conflict",
    /// Another change landed at the same moment; try again.
    ConcurrentModification => "concurrent_modification",
    /// This build cannot read the appointment's stored history.
    UnreadableHistory => "unreadable_history",
    /// `If-Match` is not `*` or one entity tag.
    MalformedIfMatch => "malformed_if_match",
    /// `Idempotency-Key` is not 1 to 255 visible ASCII characters.
    InvalidIdempotencyKey => "invalid_idempotency_key",
    /// A request with this `Idempotency-Key` is still running.
    IdempotencyKeyInUse => "idempotency_key_in_use",
    /// This `Idempotency-Key` came with a different request.
    IdempotencyKeyReused => "idempotency_key_reused",
    /// The body is not the JSON expected.
    MalformedJson => "malformed_json",
    /// The body is not `application/json`.
    UnsupportedMediaType => "unsupported_media_type",
    /// The body is over the size limit.
    BodyTooLarge => "body_too_large",
    /// The path does not take this method.
    MethodNotAllowed => "method_not_allowed",
    /// The address speaks WebSocket only (426).
    UpgradeRequired => "upgrade_required",
    /// No valid session or token.
    Unauthorized => "unauthorized",
    /// Wrong e-mail address or password.
    InvalidCredentials => "invalid_credentials",
    /// The password was right; sign-in needs the person's second factor too (401): a code from
    /// their authenticator app or a recovery code.
    TwoFactorRequired => "two_factor_required",
    /// The two-factor code is wrong, was used already, or is no code at all.
    InvalidTwoFactorCode => "invalid_two_factor_code",
    /// The clinic requires two-factor sign-in and this session's person has not enrolled:
    /// it may only enrol (403).
    TwoFactorEnrolmentRequired => "two_factor_enrolment_required",
    /// The clinic requires two-factor sign-in, so it cannot be turned off (409).
    TwoFactorRequiredByClinic => "two_factor_required_by_clinic",
    /// No two-factor enrolment was started to confirm (409).
    TwoFactorNotStarted => "two_factor_not_started",
    /// A cookie-authenticated change lacks the CSRF token.
    CsrfFailed => "csrf_failed",
    /// The staff member's role does not allow this (403): an auditor changes nothing, only
    /// doctors start and end calls.
    Forbidden => "forbidden",
    /// A provider's callback is not signed with the account's credentials (403).
    InvalidSignature => "invalid_signature",
    /// The set-up link was used, replaced by a newer one, or has expired (410).
    SetupLinkGone => "setup_link_gone",
    /// Too many requests from this address.
    RateLimited => "rate_limited",
    /// Too many logins at once, from everywhere.
    TooManyLogins => "too_many_logins",
    /// Too many failed logins for this account.
    TooManyFailures => "too_many_failures",
    /// The server is at its limit for this work.
    Busy => "busy",
    /// A backing service (database, broker) is unavailable.
    Unavailable => "unavailable",
    /// An unexpected failure on the server.
    Internal => "internal",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("the menu does not allow the consultation mode `{mode}`")]
    ModeNotAllowed { mode: &'static str },
    #[error("the appointment already exists")]
    AlreadyExists,
    /// No such appointment, staff member, menu or closure, or not one of this clinic's.
    #[error("no such resource in this clinic")]
    NotFound,
    #[error("the start time of a video URL cannot be changed: cancel it and create a new one")]
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
    #[error("the appointment's personal data was erased: it can no longer be sent, edited or called")]
    Erased,
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
    #[error("the clinic must keep at least one active administrator")]
    LastAdmin,
    #[error("another staff member of the clinic has this e-mail address")]
    EmailTaken,
    #[error(
        "the booking is outside the doctor's hours that day (or the day is closed): send allow_outside_hours: true to book it all the same"
    )]
    OutsideHours,
}

impl DomainError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            reason: reason.into(),
        }
    }

    /// Stable machine code, part of the HTTP contract (`problem+json` `code`).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidField { .. } => ErrorCode::ValidationFailed,
            Self::ModeNotAllowed { .. } => ErrorCode::ModeNotAllowed,
            Self::AlreadyExists => ErrorCode::AlreadyExists,
            Self::NotFound => ErrorCode::NotFound,
            Self::StartTimeImmutable => ErrorCode::StartTimeImmutable,
            Self::NotEditable => ErrorCode::NotEditable,
            Self::NoVideoCall => ErrorCode::NoVideoCall,
            Self::Cancelled => ErrorCode::AppointmentCancelled,
            Self::CallEnded => ErrorCode::CallEnded,
            Self::CallInProgress => ErrorCode::CallInProgress,
            Self::CallNotStarted => ErrorCode::CallNotStarted,
            Self::Erased => ErrorCode::AppointmentErased,
            Self::OutsideValidityWindow => ErrorCode::OutsideValidityWindow,
            Self::AlreadySent => ErrorCode::AlreadySent,
            Self::UnknownDelivery => ErrorCode::UnknownDelivery,
            Self::SmsCountryNotAllowed { .. } => ErrorCode::SmsCountryNotAllowed,
            Self::SendLimited { .. } => ErrorCode::SendLimited,
            Self::LastAdmin => ErrorCode::LastAdmin,
            Self::EmailTaken => ErrorCode::EmailTaken,
            Self::OutsideHours => ErrorCode::OutsideHours,
        }
    }

    /// The request field the error is about, so a form can show it next to that field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::InvalidField { field, .. } => Some(field),
            Self::ModeNotAllowed { .. } => Some("mode"),
            Self::StartTimeImmutable => Some("start_at"),
            Self::SmsCountryNotAllowed { .. } => Some("destination"),
            Self::EmailTaken => Some("email"),
            Self::OutsideHours => Some("start_at"),
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
            | Self::SmsCountryNotAllowed { .. }
            | Self::OutsideHours => ErrorKind::Invalid,
            Self::AlreadyExists
            | Self::NotFound
            | Self::NoVideoCall
            | Self::Cancelled
            | Self::CallEnded
            | Self::CallInProgress
            | Self::CallNotStarted
            | Self::Erased
            | Self::OutsideValidityWindow
            | Self::AlreadySent
            | Self::LastAdmin
            | Self::EmailTaken => ErrorKind::Conflict,
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

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use std::collections::HashSet;

    #[test]
    fn every_code_is_distinct_and_in_snake_case() {
        let codes: HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        for code in codes {
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !code.starts_with('_'),
                "{code}"
            );
        }
    }
}
