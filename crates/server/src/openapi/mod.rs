//! The OpenAPI document (`GET /openapi.json`) and a browsable page (`GET /docs`), served from
//! files vendored into the binary: nothing is fetched at build or run time.

use actix_web::{get, web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::routes;

mod responses;

#[derive(OpenApi)]
#[openapi(
    info(title = "hookledger", description = "Webhooks in, a hash-chained event log, projections and a double-entry ledger out."),
    paths(
        routes::health::health,
        routes::metrics::metrics,
        routes::api::events::list,
        routes::api::events::one,
        routes::api::verify::verify,
        routes::api::digest::digest,
        routes::api::tokens::create,
        routes::api::ledger::trial_balance,
        routes::api::ledger::journal,
        routes::api::ledger::register,
        routes::webhooks::order_status::order_status,
        routes::webhooks::v2::orders::orders,
        routes::webhooks::v2::test_endpoint::test,
        routes::webhooks::v2::signature_help::signature_help,
        routes::webhooks::v2::logs::logs,
        routes::webhooks::webhook_receiver::webhook_receiver,
        routes::webhooks::order_updates::order_updates,
        routes::webhooks::stripe::stripe,
        routes::api::orders::order,
        routes::api::orders::work_order,
        routes::api::subscriptions::create,
        routes::api::subscriptions::list,
        routes::api::subscriptions::remove,
        routes::api::subscriptions::rotate,
        routes::api::subscriptions::redeliver,
        routes::api::deliveries::list,
        routes::api::deliveries::one,
        routes::api::deliveries::retry,
        routes::api::webhook_test::webhook_test,
        routes::console::sign_in::index,
        routes::console::sign_in::sign_in,
        docs_page,
        openapi_json,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

/// The document served at `/openapi.json`: the generated one, with every answer's JSON body
/// filled in (see [`responses`]).
pub fn document() -> serde_json::Value {
    let generated = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    responses::describe_all(generated)
}

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The page at `/docs` loads the vendored Swagger UI assets from `/docs/`.
const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hookledger API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});</script>
</body></html>"##;

/// This browsable page of the API (Swagger UI, served offline).
#[utoipa::path(get, path = "/docs", tag = "meta",
    responses((status = 200, description = "An HTML page", content_type = "text/html")))]
#[get("/docs")]
async fn docs_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(DOCS_PAGE)
}

/// This OpenAPI document (served by the Swagger UI service below; declared here so that the
/// document lists it too).
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document of every endpoint")))]
#[allow(dead_code)]
fn openapi_json() {}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(docs_page).service(
        SwaggerUi::new("/docs/{_:.*}").external_url_unchecked("/openapi.json", document()),
    );
}
