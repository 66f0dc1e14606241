//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 document made from [`super::ROUTES`] (the
//! table actix serves), with the schemas of the answers written next to it.

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};

use super::problem::{KINDS, PROBLEM_BASE, PROBLEM_JSON};
use super::{Access, ROUTES};

/// The document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let mut operation = json!({
            "operationId": route.operation_id,
            "summary": route.summary,
            "parameters": route.parameters.iter().map(|p| json!({
                "name": p.name,
                "in": p.location,
                "required": p.required,
                "description": p.description,
                "schema": { "type": p.schema },
            })).collect::<Vec<_>>(),
            "responses": route.answers.iter().map(|a| {
                let media = if a.schema == Some("Problem") { PROBLEM_JSON } else { "application/json" };
                let mut answer = json!({ "description": a.description });
                let schema = a.schema.map_or_else(
                    || json!({ "type": "object" }),
                    |s| json!({ "$ref": format!("#/components/schemas/{s}") }),
                );
                answer["content"] = json!({ media: { "schema": schema } });
                (a.status.to_string(), answer)
            }).collect::<Map<_, _>>(),
        });
        operation["security"] = match route.access {
            Access::Public => json!([]),
            Access::Read | Access::Change => json!([{ "bearer": [] }, { "session": [] }]),
        };
        if route.access == Access::Change {
            operation["description"] = json!(
                "Needs a `change` token (or a signed-in session sending its CSRF token in `X-CSRF-Token`), and the user's role and teams as they are now."
            );
        }
        if let Some(schema) = route.request_body {
            operation["requestBody"] = json!({
                "required": true,
                "content": { "application/json": {
                    "schema": { "$ref": format!("#/components/schemas/{schema}") }
                } },
            });
        }
        let path = paths.entry(route.full_path()).or_insert_with(|| json!({}));
        path[route.method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "certdeck API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Rotate the TLS certificates of Amazon Cognito custom domains from a pipeline. Errors are application/problem+json (RFC 9457).",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from the \"My API tokens\" page (`cdk_…`).",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "certdeck_session",
                    "description": "A signed-in console session (`__Host-certdeck_session` behind HTTPS); writes also need its CSRF token in `X-CSRF-Token`.",
                },
            },
            "schemas": schemas(),
        },
    })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

fn schemas() -> Value {
    let problem_types: Vec<String> = KINDS
        .iter()
        .map(|(slug, ..)| format!("{PROBLEM_BASE}{slug}"))
        .collect();
    json!({
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": { "type": "string", "enum": problem_types },
                "title": { "type": "string" },
                "status": { "type": "integer" },
                "detail": { "type": "string" },
                "reasons": { "type": "array", "items": { "type": "string" } },
                "aws_error": { "type": "object" },
            },
        },
        "Pool": {
            "type": "object",
            "required": ["pool_id", "pool_name", "account", "region", "flags", "may_change"],
            "properties": {
                "pool_id": { "type": "string" },
                "pool_name": { "type": "string" },
                "account": { "type": "string" },
                "account_id": nullable("string"),
                "account_problem": nullable("string"),
                "region": { "type": "string" },
                "team": nullable("string"),
                "prefix_domain": nullable("string"),
                "custom_domain": nullable("string"),
                "security_policy": nullable("string"),
                "domain_status": nullable("string"),
                "certificate_arn": nullable("string"),
                "certificate_name": nullable("string"),
                "certificate_not_after": { "type": ["string", "null"], "format": "date-time" },
                "days_left": nullable("integer"),
                "flags": {
                    "type": "object",
                    "properties": {
                        "expires_soon": { "type": "boolean" },
                        "newer_eligible": { "type": "boolean" },
                        "domain_not_active": { "type": "boolean" },
                        "imported": { "type": "boolean" },
                        "discouraged_tls": { "type": "boolean" },
                    },
                },
                "may_change": { "type": "boolean" },
                "links": { "type": "object" },
            },
        },
        "PoolList": {
            "type": "object",
            "required": ["pools", "total", "page", "pages"],
            "properties": {
                "pools": { "type": "array", "items": { "$ref": "#/components/schemas/Pool" } },
                "total": { "type": "integer" },
                "page": { "type": "integer" },
                "pages": { "type": "integer" },
                "refreshed_at": { "type": "string", "format": "date-time" },
            },
        },
        "Certificate": {
            "type": "object",
            "required": ["arn", "eligible", "selectable", "current", "recommended", "reasons"],
            "properties": {
                "arn": { "type": "string" },
                "domain_name": nullable("string"),
                "names": { "type": "array", "items": { "type": "string" } },
                "status": nullable("string"),
                "type": nullable("string"),
                "key_algorithm": nullable("string"),
                "not_before": { "type": ["string", "null"], "format": "date-time" },
                "not_after": { "type": ["string", "null"], "format": "date-time" },
                "eligible": { "type": "boolean" },
                "selectable": { "type": "boolean", "description": "Eligible and not the one in place." },
                "current": { "type": "boolean" },
                "recommended": { "type": "boolean" },
                "reasons": { "type": "array", "items": { "type": "string" }, "description": "Why it cannot serve the domain; empty when it can." },
                "caution": nullable("string"),
            },
        },
        "CertificateList": {
            "type": "object",
            "required": ["pool_id", "domain", "certificates"],
            "properties": {
                "pool_id": { "type": "string" },
                "domain": { "type": "string" },
                "current_certificate_arn": nullable("string"),
                "certificates": { "type": "array", "items": { "$ref": "#/components/schemas/Certificate" } },
            },
        },
        "ChangeRequest": {
            "type": "object",
            "required": ["certificate_arn"],
            "properties": { "certificate_arn": { "type": "string" } },
        },
        "ChangeAccepted": {
            "type": "object",
            "required": ["propagation_id", "propagation"],
            "properties": {
                "propagation_id": { "type": "string" },
                "propagation": { "type": "string", "description": "The propagation's API path." },
                "page": { "type": "string" },
                "pool_id": { "type": "string" },
                "domain": { "type": "string" },
                "certificate_arn": { "type": "string" },
                "phase": { "type": "string" },
            },
        },
        "Propagation": {
            "type": "object",
            "required": ["id", "pool_id", "domain", "new_certificate_arn", "submitted_at", "deadline", "phase"],
            "properties": {
                "id": { "type": "string" },
                "pool_id": { "type": "string" },
                "domain": { "type": "string" },
                "old_certificate_arn": nullable("string"),
                "new_certificate_arn": { "type": "string" },
                "submitted_at": { "type": "integer", "description": "Unix seconds." },
                "deadline": { "type": "integer", "description": "Unix seconds." },
                "phase": { "type": "string", "enum": ["submitted", "updating", "distributed", "verified", "failed", "timed_out", "superseded"] },
                "cognito_status": nullable("string"),
                "served_serial": nullable("string"),
                "verified_at": nullable("integer"),
                "served_subject": nullable("string"),
                "served_not_after": nullable("string"),
                "probe_error": nullable("string"),
            },
        },
        "AuditPage": {
            "type": "object",
            "required": ["entries"],
            "properties": {
                "entries": { "type": "array", "items": { "type": "object" } },
                "next": { "type": ["string", "null"], "description": "The next (older) page, when there is one." },
            },
        },
    })
}

/// `GET /api/v1/openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(build())
}
