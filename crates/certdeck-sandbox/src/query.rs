//! STS on the AWS Query protocol: a form-encoded `POST /` (`Action=AssumeRole&…`)
//! answered in XML, as `sts.amazonaws.com` does.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Shared;
use super::error::AwsError;
use super::sts::{AssumeRoleRequest, Caller, Refusal, xml_escape};

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const VERSION: &str = "2011-06-15";
/// The Query actions the sandbox answers.
pub const ACTIONS: [&str; 2] = ["AssumeRole", "GetCallerIdentity"];

/// Whether a request is a Query-protocol call (a form body, no JSON target).
pub fn is_query(request: &actix_web::HttpRequest) -> bool {
    request.headers().get("x-amz-target").is_none()
        && request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            })
}

/// Serves one STS call; `access_key` and `session_token` come from the SigV4 headers.
pub async fn serve(
    shared: &Shared,
    access_key: &str,
    session_token: Option<&str>,
    body: &[u8],
    request_id: &str,
) -> HttpResponse {
    match answer(shared, access_key, session_token, body, request_id).await {
        Ok(xml) => HttpResponse::Ok()
            .content_type("text/xml")
            .insert_header(("x-amzn-RequestId", request_id.to_owned()))
            .body(xml),
        Err(error) => error_response(request_id, &error),
    }
}

async fn answer(
    shared: &Shared,
    access_key: &str,
    session_token: Option<&str>,
    body: &[u8],
    request_id: &str,
) -> Result<String, AwsError> {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
        AwsError::new(
            StatusCode::BAD_REQUEST,
            "MalformedQueryString",
            format!("The form body cannot be read: {e}"),
        )
    })?;
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let action = field("Action").unwrap_or_default();
    if !ACTIONS.contains(&action) || field("Version").is_some_and(|v| v != VERSION) {
        return Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("Could not find operation {action} for version {VERSION}"),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let caller = {
        let mut world = shared.lock_world()?;
        let caller = world
            .identities
            .caller(&shared.key_secret, access_key, session_token, now);
        world.count_call(action, caller.as_ref().ok().map(|c| c.account_id.as_str()));
        caller.map_err(|refusal| match refusal {
            Refusal::Expired => AwsError::new(
                StatusCode::BAD_REQUEST,
                "ExpiredToken",
                "The security token included in the request is expired",
            ),
            Refusal::Revoked => AwsError::new(
                StatusCode::FORBIDDEN,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
        })?
    };
    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut world = shared.lock_world()?;
    if let Some(fault) = world.faults.take(action) {
        return Err(fault.to_error());
    }
    match action {
        "AssumeRole" => {
            let request = AssumeRoleRequest {
                role_arn: field("RoleArn"),
                session_name: field("RoleSessionName"),
                external_id: field("ExternalId"),
                source_identity: field("SourceIdentity"),
                duration_seconds: field("DurationSeconds"),
            };
            let session = world.identities.assume_role(
                &shared.key_secret,
                &caller,
                &request,
                shared.max_session(),
                now,
            )?;
            let expiration = session
                .expires_at
                .format(&Rfc3339)
                .map_err(|e| AwsError::internal(e.to_string()))?;
            let source_identity = session
                .source_identity
                .as_deref()
                .map(|s| format!("<SourceIdentity>{}</SourceIdentity>", xml_escape(s)))
                .unwrap_or_default();
            Ok(format!(
                r#"<AssumeRoleResponse xmlns="{NAMESPACE}">
  <AssumeRoleResult>
    {source_identity}
    <AssumedRoleUser>
      <AssumedRoleId>{}:{}</AssumedRoleId>
      <Arn>arn:aws:sts::{}:assumed-role/{}/{}</Arn>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{}</AccessKeyId>
      <SecretAccessKey>{}</SecretAccessKey>
      <SessionToken>{}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>{request_id}</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
"#,
                session.role_id,
                xml_escape(&session.session_name),
                session.account_id,
                xml_escape(&session.role_name),
                xml_escape(&session.session_name),
                session.access_key_id,
                xml_escape(&session.secret_access_key),
                xml_escape(&session.session_token),
            ))
        }
        _ => Ok(caller_identity(&caller, request_id)),
    }
}

fn caller_identity(caller: &Caller, request_id: &str) -> String {
    format!(
        r#"<GetCallerIdentityResponse xmlns="{NAMESPACE}">
  <GetCallerIdentityResult>
    <Arn>{}</Arn>
    <UserId>{}</UserId>
    <Account>{}</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>{request_id}</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>
"#,
        xml_escape(&caller.arn()),
        xml_escape(&caller.user_id()),
        caller.account_id,
    )
}

/// An error as the Query protocol sends it.
pub fn error_response(request_id: &str, error: &AwsError) -> HttpResponse {
    let kind = if error.status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    HttpResponse::build(error.status)
        .content_type("text/xml")
        .insert_header(("x-amzn-RequestId", request_id.to_owned()))
        .body(format!(
            r#"<ErrorResponse xmlns="{NAMESPACE}">
  <Error>
    <Type>{kind}</Type>
    <Code>{}</Code>
    <Message>{}</Message>
  </Error>
  <RequestId>{request_id}</RequestId>
</ErrorResponse>
"#,
            xml_escape(&error.code),
            xml_escape(&error.message),
        ))
}
