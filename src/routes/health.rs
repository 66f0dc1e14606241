use actix_web::{HttpResponse, web};

use crate::startup::AppState;

/// Liveness: the process answers.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Readiness: the database answers and an inventory was read at least once.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let database = state.store.ping().await;
    let inventory = !state.inventory.view().is_empty_start();
    let body = format!("database: {}\ninventory: {}\n", ok(database), ok(inventory));
    if database && inventory {
        HttpResponse::Ok().content_type("text/plain").body(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(body)
    }
}

fn ok(yes: bool) -> &'static str {
    if yes { "ok" } else { "not ready" }
}
