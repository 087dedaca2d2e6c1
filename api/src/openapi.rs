//! The OpenAPI document: the routes declare their own operations (utoipa), and this module
//! adds what holds for every operation alike, in one place, so no route can forget it:
//! errors are `application/problem+json`, and the answers every route can give (401 without
//! a session, 403 for a missing CSRF token or a role that may not, 404 for an unknown id,
//! 400/413/415/422 for a bad body, 412 for a stale `If-Match`, 503 with `Retry-After` when a
//! backing service is down) are documented.

use crate::error::{PROBLEM_JSON, Problem};
use enkaku_domain::ErrorCode;
use enkaku_domain::appointment::{DeliveryStatus, Kind, LinkStatus, Status};
use enkaku_domain::menu::{ConsultationMode, VisitType};
use enkaku_domain::values::{Channel, Provider};
use enkaku_infra::directory::Role;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{Array, Object, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{Content, HeaderBuilder, Ref, RefOr, Response};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "enkaku",
        description = "Video consultations for patients without an account. Errors are \
            `application/problem+json` (RFC 9457) with a stable `code`."
    ),
    components(schemas(Problem, crate::views::BookingView)),
    modifiers(&StaffAuthentication),
    security(("bearer" = []), ("session_cookie" = []))
)]
pub struct ApiDoc;

/// Staff authenticate with the token from login, as a bearer token or the session cookie
/// (cookie-authenticated changes also send `X-CSRF-Token`). Public endpoints opt out.
struct StaffAuthentication;

impl utoipa::Modify for StaffAuthentication {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Integrators fetch data keys with a credential an administrator issued, not a session.
        components.add_security_scheme(
            "integration",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::extract::SESSION_COOKIE))),
        );
    }
}

/// Complete a document whose paths the routers filled in (modifiers on [`ApiDoc`] run
/// before the routes are merged, so this runs after).
pub fn complete(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            (&mut item.get, false),
            (&mut item.put, true),
            (&mut item.post, true),
            (&mut item.delete, true),
            (&mut item.patch, true),
        ];
        for (operation, changes) in operations {
            let Some(operation) = operation else { continue };
            add_common_answers(operation, changes);
            constrain_headers(operation);
            for (status, response) in operation.responses.responses.iter_mut() {
                if let (RefOr::T(response), true) = (response, status.starts_with(['4', '5'])) {
                    as_problem(status, response);
                }
            }
        }
    }
}

/// Document the answers an operation can give because of what it takes, whatever it does.
fn add_common_answers(operation: &mut Operation, changes: bool) {
    let public = operation.security.as_ref().is_some_and(|requirements| {
        requirements
            .iter()
            .all(|r| serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty())))
    });
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let takes = |place: ParameterIn| parameters.iter().any(|p| p.parameter_in == place);
    let header = |name: &str| {
        parameters
            .iter()
            .any(|p| p.parameter_in == ParameterIn::Header && p.name.eq_ignore_ascii_case(name))
    };
    let mut answers: Vec<(&str, &str)> = Vec::new();
    if !public {
        answers.push((
            "401",
            "No session: log in first (bearer token or session cookie).",
        ));
        answers.push((
            "403",
            "`csrf_failed`: a cookie-authenticated change without the `X-CSRF-Token` from login; \
             `forbidden`: the staff member's role does not allow this (an auditor changes \
             nothing; only doctors start, join and end calls).",
        ));
    }
    if takes(ParameterIn::Path) {
        answers.push(("404", "No such resource, or one of another clinic."));
        if changes {
            answers.push((
                "409",
                "Its state does not allow this, or a concurrent change won.",
            ));
        }
    }
    if takes(ParameterIn::Query) {
        answers.push((
            "422",
            "A query parameter is missing or invalid; `field` names it.",
        ));
    }
    if header("If-Match") {
        answers.push(("400", "`If-Match` is not an entity tag."));
        answers.push(("412", "`If-Match` names a version that is no longer current."));
    }
    if header("Idempotency-Key") {
        answers.push(("409", "A request with this `Idempotency-Key` is still running."));
    }
    if has_json_body(operation.request_body.as_ref()) {
        answers.push(("400", "The body is not JSON."));
        answers.push(("413", "The body is over 1 MiB."));
        answers.push(("415", "The body is not `application/json`."));
        answers.push(("422", "A field is missing or invalid; `field` names it."));
    }
    answers.push((
        "503",
        "A backing service is unavailable; retry after `Retry-After` seconds.",
    ));
    for (status, description) in answers {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
}

/// The headers every route reads alike, with the syntax the server accepts.
fn constrain_headers(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        let mut schema = Object::with_type(Type::String);
        match parameter.name.to_ascii_lowercase().as_str() {
            // One entity tag: 412 unless it is the appointment's current version, strong.
            "if-match" => schema.pattern = Some(r#"^(\*|(W/)?"[!#-~]*")$"#.to_owned()),
            "idempotency-key" => {
                schema.pattern = Some("^[!-~]+$".to_owned());
                schema.min_length = Some(1);
                schema.max_length = Some(255);
            }
            _ => continue,
        }
        parameter.schema = Some(RefOr::T(schema.into()));
    }
}

fn has_json_body(body: Option<&RequestBody>) -> bool {
    body.is_some_and(|b| b.content.contains_key("application/json"))
}

/// Errors are sent as `application/problem+json` with a [`Problem`] body; 429 and 503 also
/// carry `Retry-After`.
fn as_problem(status: &str, response: &mut Response) {
    let problem = Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem"))));
    response.content.clear();
    response.content.insert(PROBLEM_JSON.to_owned(), problem);
    if response.description.is_empty() {
        response.description = "An error; `code` says which.".to_owned();
    }
    if status == "429" || status == "503" {
        response.headers.insert(
            "Retry-After".to_owned(),
            HeaderBuilder::new()
                .schema(Object::with_type(Type::Integer))
                .description(Some("Seconds to wait before trying again."))
                .build(),
        );
    }
}

/// The booking fields an appointment carries flattened: all of them (an in-clinic
/// booking) or none (a video URL, where `patient_name` is absent).
pub fn flattened_booking() -> Schema {
    let mut absent = Object::with_type(Type::Object);
    absent
        .properties
        .insert("patient_name".to_owned(), Object::with_type(Type::Null).into());
    Schema::OneOf(
        OneOfBuilder::new()
            .item(Ref::from_schema_name("BookingView"))
            .item(absent)
            .build(),
    )
}

/// A string schema whose values are the wire names of a domain enum.
fn names(values: impl IntoIterator<Item = &'static str>) -> Object {
    let mut object = Object::with_type(SchemaType::new(Type::String));
    object.enum_values = Some(values.into_iter().map(Into::into).collect());
    object
}

pub fn channel() -> Object {
    names(Channel::ALL.map(|c| c.as_str()))
}

pub fn provider() -> Object {
    names(Provider::ALL.map(|p| p.as_str()))
}

/// A provider, or null.
pub fn optional_provider() -> Object {
    or_null(provider())
}

/// `schema`'s values, or null.
fn or_null(mut schema: Object) -> Object {
    schema.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    schema
        .enum_values
        .get_or_insert_with(Vec::new)
        .push(serde_json::Value::Null);
    schema
}

pub fn mode() -> Object {
    names(ConsultationMode::ALL.map(|m| m.as_str()))
}

pub fn modes() -> Array {
    Array::new(mode())
}

/// The modes a menu allows: at least one.
pub fn menu_modes() -> Array {
    let mut modes = modes();
    modes.min_items = Some(1);
    modes
}

/// A menu's modes, or nothing (in a change: unchanged).
pub fn optional_menu_modes() -> Array {
    let mut modes = menu_modes();
    modes.schema_type = SchemaType::from_iter([Type::Array, Type::Null]);
    modes
}

pub fn visit_type() -> Object {
    names(VisitType::ALL.map(|v| v.as_str()))
}

pub fn status() -> Object {
    names(Status::ALL.map(|s| s.as_str()))
}

pub fn kind() -> Object {
    names(Kind::ALL.map(|k| k.as_str()))
}

pub fn error_code() -> Object {
    names(ErrorCode::ALL.iter().map(|c| c.as_str()))
}

/// A staff member's role.
pub fn role() -> Object {
    names(Role::ALL.map(|r| r.as_str()))
}

/// A staff member's role, or nothing (in a change: unchanged).
pub fn optional_role() -> Object {
    or_null(role())
}

pub fn link_status() -> Object {
    names(LinkStatus::ALL.map(|l| l.as_str()))
}

/// How far a delivery attempt got.
pub fn delivery_status() -> Object {
    names(DeliveryStatus::ALL.map(|d| d.as_str()))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    /// The schemas of the whole document, as served.
    fn schemas() -> Value {
        let doc = serde_json::to_value(crate::routes::openapi()).unwrap();
        doc["components"]["schemas"].clone()
    }

    /// A property of a schema, also when the schema is an `allOf` (a view with flattened
    /// fields, such as `AppointmentView`).
    fn property<'a>(schemas: &'a Value, schema: &str, field: &str) -> &'a Value {
        let schema = &schemas[schema];
        let parts = schema["allOf"].as_array().into_iter().flatten();
        std::iter::once(schema)
            .chain(parts)
            .map(|part| &part["properties"][field])
            .find(|property| !property.is_null())
            .unwrap_or(&Value::Null)
    }

    #[test]
    fn the_vocabularies_of_views_are_documented_as_enums_of_their_names() {
        let schemas = schemas();
        let kinds = json!(["in_clinic", "video_url"]);
        let statuses = json!(["booked", "in_call", "ended", "cancelled"]);
        let modes = json!(["in_person", "online"]);
        let channels = json!(["sms", "email"]);
        let delivery_statuses = json!(["pending", "kept", "sent", "delivered", "failed", "unknown"]);
        let providers = json!(["outbox", "twilio", "smtp"]);
        for (schema, field, names) in [
            ("AppointmentView", "kind", &kinds),
            ("AppointmentView", "status", &statuses),
            ("BookingView", "visit_type", &json!(["first", "revisit"])),
            ("BookingView", "mode", &modes),
            ("DeliveryView", "channel", &channels),
            ("DeliveryView", "status", &delivery_statuses),
            ("OutboxMessageView", "status", &delivery_statuses),
            ("OutboxList", "sms_provider", &providers),
            ("ChannelsHealth", "email", &providers),
            ("EntryView", "kind", &kinds),
            ("EntryView", "status", &statuses),
            ("EntryView", "mode", &modes),
            ("CheckedDestination", "channel", &channels),
            ("OutboxMessageView", "channel", &channels),
            ("StaffView", "role", &json!(["doctor", "reception", "auditor"])),
            (
                "PatientLinkView",
                "status",
                &json!(["not_yet_open", "open", "expired", "cancelled", "ended", "revoked"]),
            ),
        ] {
            let property = property(&schemas, schema, field);
            assert_eq!(property["type"], "string", "{schema}.{field}: {property}");
            assert_eq!(&property["enum"], names, "{schema}.{field}: {property}");
        }
        // Null until a provider took the message.
        let provider = property(&schemas, "DeliveryView", "provider");
        assert_eq!(provider["type"], json!(["string", "null"]), "{provider}");
        assert_eq!(
            provider["enum"],
            json!(["outbox", "twilio", "smtp", null]),
            "{provider}"
        );
        let menu_modes = property(&schemas, "MenuView", "modes");
        assert_eq!(menu_modes["type"], "array", "{menu_modes}");
        assert_eq!(menu_modes["items"]["enum"], modes, "{menu_modes}");
    }
}
