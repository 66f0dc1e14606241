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
use super::{Seed, Shared, acm, cognito};

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
    let (caller, region) = credential_scope(request)?;
    {
        let mut world = shared.lock_world()?;
        *world.calls.entry(operation.to_owned()).or_default() += 1;
    }
    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = shared.lock_world()?.faults.take(operation) {
        return Err(fault.to_error());
    }
    if !shared.quotas.try_acquire(&caller, &region, operation) {
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
            region: &region,
            now,
            timings: shared.options.timings,
        };
        cognito::handle(&mut world, &call, operation, &input)
    } else {
        let call = acm::Call {
            region: &region,
            now,
            timings: shared.options.timings,
            ca: &shared.ca,
        };
        acm::handle(&mut world, &call, operation, &input)
    };
    result.unwrap_or_else(|| Err(AwsError::internal("operation not routed")))
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
    let regions: serde_json::Map<String, Value> = world
        .regions
        .iter()
        .map(|(name, r)| {
            (
                name.clone(),
                json!({
                    "pools": r.pools.len(),
                    "domains": r.domains.len(),
                    "certificates": r.certificates.len(),
                }),
            )
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "account_id": super::world::ACCOUNT_ID,
        "calls": world.calls,
        "throttled": world.throttled,
        "last_input": world.last_inputs,
        "faults": world.faults.armed(),
        "regions": regions,
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
    if let Some(account) = &request.account_id
        && account != super::world::ACCOUNT_ID
    {
        return HttpResponse::BadRequest()
            .json(json!({ "error": format!("unknown account {account:?}") }));
    }
    let certificate = match acm::issue_for_sandbox(&request, &shared.ca, OffsetDateTime::now_utc())
    {
        Ok(c) => c,
        Err(e) => return HttpResponse::BadRequest().json(json!({ "error": e })),
    };
    let Ok(mut world) = shared.lock_world() else {
        return HttpResponse::InternalServerError().finish();
    };
    let arn = certificate.arn.clone();
    world
        .region(&request.region)
        .certificates
        .insert(arn.clone(), certificate);
    HttpResponse::Ok().json(json!({ "CertificateArn": arn }))
}
