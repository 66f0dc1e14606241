//! The JSON API `/api/v1` (PRODUCT.md §10): its routes are one table, [`ROUTES`], from
//! which both actix's routes and the OpenAPI document are made, so that neither can
//! name a route the other lacks.
//!
//! Authentication: an `Authorization: Bearer` token (read on `/api/v1` only, never from
//! a cookie), or a signed-in cookie session. A cookie session may read; its writes need
//! the session's CSRF token in an `X-CSRF-Token` header (the guard checks it as it
//! checks every POST), so a page elsewhere cannot make a browser write.

mod handlers;
pub mod openapi;
pub mod problem;

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpMessage, HttpRequest, Route, web};

pub use problem::{PROBLEM_JSON, Problem};

use crate::auth::CurrentUser;
use crate::auth::tokens::{ApiCaller, TokenScope};
use crate::domain::text::truncate_bytes;

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";
/// The largest JSON body the API reads.
const MAX_JSON_BYTES: usize = 16 * 1024;

/// Whether `path` is one of the API's (where bearer tokens are read).
pub fn is_api_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/api/v1/")
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the OpenAPI document).
    Public,
    /// Any token or signed-in session.
    Read,
    /// A `change` token (or a cookie session with its CSRF token), within the user's
    /// role and teams.
    Change,
}

/// A parameter of a route, for the OpenAPI document.
pub struct Param {
    pub name: &'static str,
    /// `path`, `query` or `header`.
    pub location: &'static str,
    pub required: bool,
    /// A JSON Schema type: `string` or `integer`.
    pub schema: &'static str,
    pub description: &'static str,
}

/// One answer of a route, for the OpenAPI document.
pub struct Answer {
    pub status: u16,
    pub description: &'static str,
    /// A schema of `components.schemas`; problems are `Problem`.
    pub schema: Option<&'static str>,
}

/// One route of `/api/v1`: how actix serves it and how the OpenAPI document describes
/// it.
pub struct ApiRoute {
    pub method: Method,
    /// Under `PREFIX`, with `{name}` segments (the same syntax in actix and OpenAPI).
    pub path: &'static str,
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub access: Access,
    pub parameters: &'static [Param],
    /// The schema of the JSON body, if it takes one.
    pub request_body: Option<&'static str>,
    pub answers: &'static [Answer],
    /// The handler on the route of `method`.
    handler: fn(Route) -> Route,
}

impl ApiRoute {
    /// The full path, as a client writes it.
    pub fn full_path(&self) -> String {
        format!("{PREFIX}{}", self.path)
    }
}

const POOL_ID: Param = Param {
    name: "pool_id",
    location: "path",
    required: true,
    schema: "string",
    description: "The user pool id, e.g. `us-east-1_AbCdEf123`.",
};

const DASHBOARD_FILTERS: &[Param] = &[
    Param {
        name: "q",
        location: "query",
        required: false,
        schema: "string",
        description: "Search in names, ids, domains and certificates.",
    },
    Param {
        name: "account",
        location: "query",
        required: false,
        schema: "string",
        description: "certdeck's name of an AWS account.",
    },
    Param {
        name: "region",
        location: "query",
        required: false,
        schema: "string",
        description: "An AWS region.",
    },
    Param {
        name: "status",
        location: "query",
        required: false,
        schema: "string",
        description: "A domain status (`ACTIVE`, `UPDATING`…) or `attention`, `expiring`, `newer`, `inactive`, `custom`, `none`.",
    },
    Param {
        name: "sort",
        location: "query",
        required: false,
        schema: "string",
        description: "`name`, `account`, `region`, `domain`, `expiry` or `status`.",
    },
    Param {
        name: "page",
        location: "query",
        required: false,
        schema: "integer",
        description: "The page (50 pools a page), from 1.",
    },
];

const AUDIT_FILTERS: &[Param] = &[
    Param {
        name: "actor",
        location: "query",
        required: false,
        schema: "string",
        description: "Who acted.",
    },
    Param {
        name: "pool_id",
        location: "query",
        required: false,
        schema: "string",
        description: "A user pool id.",
    },
    Param {
        name: "action",
        location: "query",
        required: false,
        schema: "string",
        description: "An action, e.g. `certificate.update.requested`.",
    },
    Param {
        name: "outcome",
        location: "query",
        required: false,
        schema: "string",
        description: "An outcome, e.g. `success`, `denied`.",
    },
    Param {
        name: "account",
        location: "query",
        required: false,
        schema: "string",
        description: "certdeck's name of an AWS account.",
    },
    Param {
        name: "from",
        location: "query",
        required: false,
        schema: "string",
        description: "Inclusive lower bound: a date (`2026-11-29`) or an RFC 3339 time.",
    },
    Param {
        name: "to",
        location: "query",
        required: false,
        schema: "string",
        description: "Inclusive upper bound, same forms (a date means its whole day).",
    },
    Param {
        name: "before",
        location: "query",
        required: false,
        schema: "integer",
        description: "Keyset paging: entries with a smaller id (the `next` link carries it).",
    },
    Param {
        name: "limit",
        location: "query",
        required: false,
        schema: "integer",
        description: "Entries a page, 1 to 200 (default 50).",
    },
];

const UNAUTHORIZED: Answer = Answer {
    status: 401,
    description: "No valid token or session.",
    schema: Some("Problem"),
};
const BAD_REQUEST: Answer = Answer {
    status: 400,
    description: "A query, path or body that does not parse.",
    schema: Some("Problem"),
};
const NOT_FOUND: Answer = Answer {
    status: 404,
    description: "No such resource.",
    schema: Some("Problem"),
};

/// Every route of `/api/v1`.
pub static ROUTES: &[ApiRoute] = &[
    ApiRoute {
        method: Method::GET,
        path: "/openapi.json",
        operation_id: "getOpenApi",
        summary: "This OpenAPI 3.1 document.",
        access: Access::Public,
        parameters: &[],
        request_body: None,
        answers: &[Answer {
            status: 200,
            description: "The document.",
            schema: None,
        }],
        handler: |r| r.to(openapi::document),
    },
    ApiRoute {
        method: Method::GET,
        path: "/pools",
        operation_id: "listPools",
        summary: "The user pools of every configured account and region, with the dashboard's filters.",
        access: Access::Read,
        parameters: DASHBOARD_FILTERS,
        request_body: None,
        answers: &[
            Answer {
                status: 200,
                description: "One page of pools.",
                schema: Some("PoolList"),
            },
            BAD_REQUEST,
            UNAUTHORIZED,
        ],
        handler: |r| r.to(handlers::list_pools),
    },
    ApiRoute {
        method: Method::GET,
        path: "/pools/{pool_id}",
        operation_id: "getPool",
        summary: "One user pool.",
        access: Access::Read,
        parameters: &[POOL_ID],
        request_body: None,
        answers: &[
            Answer {
                status: 200,
                description: "The pool.",
                schema: Some("Pool"),
            },
            UNAUTHORIZED,
            NOT_FOUND,
        ],
        handler: |r| r.to(handlers::get_pool),
    },
    ApiRoute {
        method: Method::GET,
        path: "/pools/{pool_id}/certificates",
        operation_id: "listPoolCertificates",
        summary: "Every us-east-1 certificate of the pool's account, with whether it can serve the pool's custom domain and why not.",
        access: Access::Read,
        parameters: &[POOL_ID],
        request_body: None,
        answers: &[
            Answer {
                status: 200,
                description: "The certificates, best first.",
                schema: Some("CertificateList"),
            },
            UNAUTHORIZED,
            NOT_FOUND,
        ],
        handler: |r| r.to(handlers::pool_certificates),
    },
    ApiRoute {
        method: Method::POST,
        path: "/pools/{pool_id}/certificate",
        operation_id: "changePoolCertificate",
        summary: "Changes the certificate of the pool's custom domain (the same guarded change as the form: scope read from AWS tags, eligibility re-checked, audited, one UpdateUserPoolDomain).",
        access: Access::Change,
        parameters: &[
            POOL_ID,
            Param {
                name: "Idempotency-Key",
                location: "header",
                required: false,
                schema: "string",
                description: "A retry with the same key (1 to 255 visible ASCII characters) answers the first answer again without a second change; the same key with another body is refused (422). Kept 24 hours.",
            },
        ],
        request_body: Some("ChangeRequest"),
        answers: &[
            Answer {
                status: 202,
                description: "AWS took the change; its propagation is followed.",
                schema: Some("ChangeAccepted"),
            },
            BAD_REQUEST,
            UNAUTHORIZED,
            Answer {
                status: 403,
                description: "A read token, or outside the user's role or teams.",
                schema: Some("Problem"),
            },
            NOT_FOUND,
            Answer {
                status: 409,
                description: "The domain is being changed, or the same key is still running.",
                schema: Some("Problem"),
            },
            Answer {
                status: 422,
                description: "The certificate is not offered or not eligible, or the key was used with another body.",
                schema: Some("Problem"),
            },
            Answer {
                status: 502,
                description: "AWS refused the change or did not answer clearly.",
                schema: Some("Problem"),
            },
            Answer {
                status: 503,
                description: "AWS's quota is busy; nothing was sent.",
                schema: Some("Problem"),
            },
        ],
        handler: |r| r.to(handlers::change_certificate),
    },
    ApiRoute {
        method: Method::GET,
        path: "/propagations/{id}",
        operation_id: "getPropagation",
        summary: "A change's propagation: its phase, Cognito's status and the certificate the edge serves.",
        access: Access::Read,
        parameters: &[Param {
            name: "id",
            location: "path",
            required: true,
            schema: "string",
            description: "The propagation id a change answered.",
        }],
        request_body: None,
        answers: &[
            Answer {
                status: 200,
                description: "The propagation.",
                schema: Some("Propagation"),
            },
            UNAUTHORIZED,
            NOT_FOUND,
        ],
        handler: |r| r.to(handlers::get_propagation),
    },
    ApiRoute {
        method: Method::GET,
        path: "/audit",
        operation_id: "listAudit",
        summary: "The audit log, newest first, with the audit page's filters and keyset pages.",
        access: Access::Read,
        parameters: AUDIT_FILTERS,
        request_body: None,
        answers: &[
            Answer {
                status: 200,
                description: "One page of entries.",
                schema: Some("AuditPage"),
            },
            BAD_REQUEST,
            UNAUTHORIZED,
        ],
        handler: |r| r.to(handlers::list_audit),
    },
];

/// Registers `/api/v1`: the routes of [`ROUTES`], problem answers for what does not
/// parse, and a problem 404 for any other path under it.
pub fn configure(config: &mut web::ServiceConfig) {
    let mut scope = web::scope(PREFIX)
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_JSON_BYTES)
                .error_handler(|e, _| {
                    Problem::new(
                        "bad-request",
                        format!(
                            "The body is not the JSON this route takes ({}).",
                            truncate_bytes(&e.to_string(), 300)
                        ),
                    )
                    .into()
                }),
        )
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            Problem::new(
                "bad-request",
                format!(
                    "The query string does not parse ({}).",
                    truncate_bytes(&e.to_string(), 300)
                ),
            )
            .into()
        }))
        .app_data(web::PathConfig::default().error_handler(|e, _| {
            Problem::new(
                "bad-request",
                format!(
                    "The path does not parse ({}).",
                    truncate_bytes(&e.to_string(), 300)
                ),
            )
            .into()
        }));
    for route in ROUTES {
        scope = scope.route(
            route.path,
            (route.handler)(web::method(route.method.clone())),
        );
    }
    config.service(
        scope.default_service(web::to(|req: HttpRequest| async move {
            Err::<actix_web::HttpResponse, _>(Problem::new(
                "not-found",
                format!(
                    "There is no route {} in /api/v1 (see /api/v1/openapi.json).",
                    super::request_line(&req)
                ),
            ))
        })),
    );
}

impl FromRequest for ApiCaller {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    /// The bearer token's caller the guard put in the request, or the signed-in
    /// session (whose writes carried the session's CSRF token).
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let extensions = req.extensions();
        let caller = extensions.get::<ApiCaller>().cloned().or_else(|| {
            extensions.get::<CurrentUser>().map(|user| ApiCaller {
                user: user.clone(),
                scope: TokenScope::Change,
                token_id: None,
            })
        });
        ready(caller.ok_or_else(|| {
            Problem::new(
                "unauthorized",
                "Send an API token: Authorization: Bearer cdk_…",
            )
            .into()
        }))
    }
}
