//! The HTTP side: AWS JSON 1.1 on `POST /`, and the `/_sandbox/*` control routes.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::error::AwsError;
use super::faults::Fault;
use super::input::Input;
use super::sts::{Caller, Refusal};
use super::{Seed, Shared, acm, cognito, query};

/// Larger bodies are refused (ImportCertificate's chain is the largest legitimate input).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
const COGNITO_PREFIX: &str = "AWSCognitoIdentityProviderService.";
const ACM_PREFIX: &str = "CertificateManager.";

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::post().to(aws_call))
        .route("/_sandbox/faults", web::post().to(arm_fault))
        .route("/_sandbox/faults", web::get().to(list_faults))
        .route("/_sandbox/faults", web::delete().to(clear_faults))
        .route("/_sandbox/reset", web::post().to(reset))
        .route("/_sandbox/state", web::get().to(state))
        .route("/_sandbox/latency", web::post().to(set_latency))
        .route("/_sandbox/ca", web::get().to(ca))
        .route("/_sandbox/certificates", web::post().to(create_certificate))
        .route("/_sandbox/roles", web::post().to(register_role))
        .route("/_sandbox/roles", web::get().to(list_roles))
        .route("/_sandbox/roles", web::delete().to(remove_role))
        .route("/_sandbox/max-session", web::post().to(set_max_session))
        .default_service(web::to(|| async {
            error_response(
                &request_id(),
                &AwsError::new(
                    StatusCode::NOT_FOUND,
                    "UnknownOperationException",
                    "Not found",
                ),
            )
        }));
}

async fn aws_call(
    request: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let request_id = request_id();
    if query::is_query(&request) {
        // STS on the Query protocol: same endpoint, form body, XML answers.
        let body = match read_body(payload).await {
            Ok(body) => body,
            Err(error) => return query::error_response(&request_id, &error),
        };
        let (access_key, _region) = match credential_scope(&request) {
            Ok(scope) => scope,
            Err(error) => return query::error_response(&request_id, &error),
        };
        return query::serve(
            &shared,
            &access_key,
            session_token(&request),
            &body,
            &request_id,
        )
        .await;
    }
    match serve_aws_call(&request, payload, &shared).await {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/x-amz-json-1.1")
            .insert_header(("x-amzn-RequestId", request_id))
            .body(body.to_string()),
        Err(error) => error_response(&request_id, &error),
    }
}

async fn serve_aws_call(
    request: &HttpRequest,
    payload: web::Payload,
    shared: &Shared,
) -> Result<Value, AwsError> {
    let body = read_body(payload).await?;
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (is_cognito, operation) = if let Some(op) = target.strip_prefix(COGNITO_PREFIX)
        && cognito::OPERATIONS.contains(&op)
    {
        (true, op)
    } else if let Some(op) = target.strip_prefix(ACM_PREFIX)
        && acm::OPERATIONS.contains(&op)
    {
        (false, op)
    } else {
        return Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("Unknown operation {target:?}"),
        ));
    };
    let (access_key, region) = credential_scope(request)?;
    let caller = identify(shared, operation, &access_key, session_token(request))?;
    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = shared.lock_world()?.faults.take(operation) {
        return Err(fault.to_error());
    }
    if !shared
        .quotas
        .try_acquire(&quota_principal(&caller), &region, operation)
    {
        *shared
            .lock_world()?
            .throttled
            .entry(operation.to_owned())
            .or_default() += 1;
        return Err(if is_cognito {
            AwsError::new(
                StatusCode::BAD_REQUEST,
                "TooManyRequestsException",
                "Too many requests",
            )
        } else {
            AwsError::new(
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded",
            )
        });
    }
    let document: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AwsError::serialization(format!("Malformed JSON body: {e}")))?
    };
    let Some(members) = document.as_object() else {
        return Err(AwsError::serialization(
            "The request body must be a JSON object",
        ));
    };
    let input = Input(members);
    let now = OffsetDateTime::now_utc();
    let mut world = shared.lock_world()?;
    if operation != "ImportCertificate" {
        world
            .last_inputs
            .insert(operation.to_owned(), document.clone());
    }
    world.settle(now);
    let result = if is_cognito {
        let call = cognito::Call {
            caller: &caller,
            account: &caller.account_id,
            region: &region,
            now,
            timings: shared.options.timings,
        };
        cognito::handle(&mut world, &call, operation, &input)
    } else {
        let call = acm::Call {
            account: &caller.account_id,
            region: &region,
            now,
            timings: shared.options.timings,
            ca: &shared.ca,
        };
        acm::handle(&mut world, &call, operation, &input)
    };
    result.unwrap_or_else(|| Err(AwsError::internal("operation not routed")))
}

/// Who the request acts as, counting the call (in its account when known). Expired
/// credentials get `ExpiredTokenException`, revoked ones `AccessDeniedException`.
fn identify(
    shared: &Shared,
    operation: &str,
    access_key: &str,
    session_token: Option<&str>,
) -> Result<Caller, AwsError> {
    let mut world = shared.lock_world()?;
    let caller = world.identities.caller(
        &shared.key_secret,
        access_key,
        session_token,
        OffsetDateTime::now_utc(),
    );
    world.count_call(
        operation,
        caller.as_ref().ok().map(|c| c.account_id.as_str()),
    );
    caller.map_err(|refusal| match refusal {
        Refusal::Expired => AwsError::new(
            StatusCode::BAD_REQUEST,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
        Refusal::Revoked => AwsError::new(
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            "The security token included in the request is invalid: its credentials were revoked.",
        ),
    })
}

/// Whose quota a call spends: an assumed role's account — quotas are per account and
/// region — or, for keys the sandbox did not issue, the key itself, so that separate
/// clients (and tests) sharing the base account do not throttle each other.
fn quota_principal(caller: &Caller) -> String {
    if caller.role_arn.is_some() {
        format!("account:{}", caller.account_id)
    } else {
        format!("key:{}", caller.access_key_id)
    }
}

/// The SigV4 session token header, for temporary credentials.
fn session_token(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok())
}

/// Reads the body up to the limit; past it, drains the rest so the client still gets
/// the error instead of a reset connection.
async fn read_body(mut payload: web::Payload) -> Result<web::BytesMut, AwsError> {
    let mut body = web::BytesMut::new();
    let mut too_large = false;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| AwsError::serialization(format!("Cannot read the body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            too_large = true;
            body.clear();
        } else if !too_large {
            body.extend_from_slice(&chunk);
        }
    }
    if too_large {
        return Err(AwsError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
            format!("The request body exceeds {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(body)
}

/// The access key id and region of the SigV4 credential scope
/// (`Credential=AKID/20261129/us-east-1/cognito-idp/aws4_request`). The signature itself
/// is not checked: any credentials are accepted.
fn credential_scope(request: &HttpRequest) -> Result<(String, String), AwsError> {
    let missing = || {
        AwsError::new(
            StatusCode::BAD_REQUEST,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
    };
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    let credential = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .and_then(|rest| {
            rest.split(',')
                .find_map(|part| part.trim().strip_prefix("Credential="))
        })
        .ok_or_else(|| {
            AwsError::new(
                StatusCode::BAD_REQUEST,
                "IncompleteSignatureException",
                "Authorization header requires 'Credential' parameter.",
            )
        })?;
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [key, _date, region, _service, "aws4_request"] if !key.is_empty() && !region.is_empty() => {
            Ok(((*key).to_owned(), (*region).to_owned()))
        }
        _ => Err(AwsError::new(
            StatusCode::BAD_REQUEST,
            "IncompleteSignatureException",
            "Credential should be scoped to a valid region.",
        )),
    }
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn error_response(request_id: &str, error: &AwsError) -> HttpResponse {
    HttpResponse::build(error.status)
        .content_type("application/x-amz-json-1.1")
        .insert_header(("x-amzn-RequestId", request_id.to_owned()))
        .insert_header(("x-amzn-ErrorType", error.code.clone()))
        .body(json!({ "__type": error.code, "message": error.message }).to_string())
}

async fn arm_fault(body: web::Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return HttpResponse::BadRequest().json(json!({ "error": e.to_string() })),
    };
    let Ok(mut world) = shared.lock_world() else {
        return HttpResponse::InternalServerError().finish();
    };
    match world.faults.arm(fault) {
        Ok(()) => HttpResponse::Created().json(json!({ "faults": world.faults.armed() })),
        Err(e) => HttpResponse::BadRequest().json(json!({ "error": e })),
    }
}

async fn list_faults(shared: web::Data<Arc<Shared>>) -> HttpResponse {
    match shared.lock_world() {
        Ok(world) => HttpResponse::Ok().json(json!({ "faults": world.faults.armed() })),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

async fn clear_faults(shared: web::Data<Arc<Shared>>) -> HttpResponse {
    match shared.lock_world() {
        Ok(mut world) => {
            world.faults.clear();
            HttpResponse::NoContent().finish()
        }
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

#[derive(Deserialize, Default)]
struct ResetRequest {
    seed: Option<Seed>,
}

async fn reset(body: web::Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let request: ResetRequest = if body.is_empty() {
        ResetRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return HttpResponse::BadRequest().json(json!({ "error": e.to_string() })),
        }
    };
    match shared.reset(request.seed.unwrap_or(shared.options.seed)) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => HttpResponse::InternalServerError().json(json!({ "error": format!("{e:#}") })),
    }
}

async fn state(shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let Ok(mut world) = shared.lock_world() else {
        return HttpResponse::InternalServerError().finish();
    };
    world.settle(OffsetDateTime::now_utc());
    let counts = |r: &super::world::Region| {
        [
            ("pools", r.pools.len()),
            ("domains", r.domains.len()),
            ("certificates", r.certificates.len()),
        ]
    };
    // `regions`: every account together, as before several accounts existed.
    let mut regions: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, usize>> =
        std::collections::BTreeMap::new();
    let mut accounts = serde_json::Map::new();
    for (id, account) in &world.accounts {
        let mut own = serde_json::Map::new();
        for (name, region) in &account.regions {
            let totals = regions.entry(name).or_default();
            for (what, n) in counts(region) {
                *totals.entry(what).or_default() += n;
            }
            own.insert(
                name.clone(),
                json!({
                    "pools": region.pools.len(),
                    "domains": region.domains.len(),
                    "certificates": region.certificates.len(),
                }),
            );
        }
        accounts.insert(
            id.clone(),
            json!({ "regions": own, "calls": account.calls }),
        );
    }
    HttpResponse::Ok().json(json!({
        "account_id": super::world::ACCOUNT_ID,
        "calls": world.calls,
        "throttled": world.throttled,
        "last_input": world.last_inputs,
        "faults": world.faults.armed(),
        "regions": regions,
        "accounts": accounts,
        "updates": world.updates,
        "roles": world.identities.roles.len(),
        "sessions": world.identities.session_count(),
    }))
}

#[derive(Deserialize)]
struct LatencyRequest {
    ms: u64,
}

async fn set_latency(
    body: web::Json<LatencyRequest>,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    shared
        .latency_ms
        .store(body.ms, std::sync::atomic::Ordering::Relaxed);
    HttpResponse::NoContent().finish()
}

async fn ca(shared: web::Data<Arc<Shared>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .body(shared.ca.certificate_pem().to_owned())
}

/// `POST /_sandbox/certificates`: makes an ISSUED ACME-issued or CloudFront-managed
/// certificate, which AWS's JSON API cannot (see `acm::IssueRequest`).
async fn create_certificate(body: web::Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let request: acm::IssueRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return HttpResponse::BadRequest().json(json!({ "error": e.to_string() })),
    };
    let certificate = match acm::issue_for_sandbox(&request, &shared.ca, OffsetDateTime::now_utc())
    {
        Ok(c) => c,
        Err(e) => return HttpResponse::BadRequest().json(json!({ "error": e })),
    };
    let Ok(mut world) = shared.lock_world() else {
        return HttpResponse::InternalServerError().finish();
    };
    let arn = certificate.arn.clone();
    let account = request
        .account_id
        .as_deref()
        .unwrap_or(super::world::ACCOUNT_ID);
    world
        .region(account, &request.region)
        .certificates
        .insert(arn.clone(), certificate);
    HttpResponse::Ok().json(json!({ "CertificateArn": arn }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleRequest {
    role_arn: String,
    #[serde(default)]
    external_id: Option<String>,
}

/// `POST /_sandbox/roles`: registers (or replaces) a role AssumeRole accepts.
async fn register_role(body: web::Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let request: RoleRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return HttpResponse::BadRequest().json(json!({ "error": e.to_string() })),
    };
    let Ok(mut world) = shared.lock_world() else {
        return HttpResponse::InternalServerError().finish();
    };
    match world
        .identities
        .register(&request.role_arn, request.external_id.as_deref())
    {
        Ok(role) => HttpResponse::Created().json(role_json(&role)),
        Err(e) => HttpResponse::BadRequest().json(json!({ "error": e })),
    }
}

/// `DELETE /_sandbox/roles`: removes a role and revokes its credentials.
async fn remove_role(body: web::Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Removal {
        role_arn: String,
    }
    let request: Removal = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return HttpResponse::BadRequest().json(json!({ "error": e.to_string() })),
    };
    let Ok(mut world) = shared.lock_world() else {
        return HttpResponse::InternalServerError().finish();
    };
    if world.identities.remove(&request.role_arn) {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::NotFound().json(json!({ "error": format!("no role {:?}", request.role_arn) }))
    }
}

/// `GET /_sandbox/roles`.
async fn list_roles(shared: web::Data<Arc<Shared>>) -> HttpResponse {
    let Ok(world) = shared.lock_world() else {
        return HttpResponse::InternalServerError().finish();
    };
    let roles: Vec<Value> = world.identities.roles.values().map(role_json).collect();
    HttpResponse::Ok().json(json!({ "roles": roles }))
}

fn role_json(role: &super::sts::Role) -> Value {
    json!({
        "role_arn": role.arn,
        "account_id": role.account_id,
        "external_id": role.external_id,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaxSessionRequest {
    secs: u64,
}

/// `POST /_sandbox/max-session` `{"secs": N}`: the longest session AssumeRole hands out.
async fn set_max_session(body: web::Bytes, shared: web::Data<Arc<Shared>>) -> HttpResponse {
    match serde_json::from_slice::<MaxSessionRequest>(&body) {
        Ok(r) if (1..=43_200).contains(&r.secs) => {
            shared.set_max_session(std::time::Duration::from_secs(r.secs));
            HttpResponse::NoContent().finish()
        }
        Ok(_) => HttpResponse::BadRequest().json(json!({ "error": "secs must be 1 to 43200" })),
        Err(e) => HttpResponse::BadRequest().json(json!({ "error": e.to_string() })),
    }
}
