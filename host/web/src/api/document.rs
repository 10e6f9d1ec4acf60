//! The API's OpenAPI 3.1 document: what [`super::router`] routes, each
//! operation described by its handler's `#[utoipa::path]`, the answers by the
//! engine's view types, and the whole served, open like `/health`, at
//! `{prefix}/openapi.json`. The routes and their documentation are registered
//! together, so a handler cannot be routed without being documented.

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;
use utoipa::Modify;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{OpenApi, Server};

/// The name operations give their security requirement.
pub const SECURITY_SCHEME: &str = "authorization";

/// The document's fixed parts; the operations come from the router.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "autotask-events management API",
        description = "Cloud Elements compatible: the same bodies, the same `Authorization` header, \
                       the same base path. Every refusal answers `{\"message\", \"field\", \"problems\"}`: \
                       `field` names the body's JSON path or the query parameter (`?limit`) at fault, \
                       `problems` lists every problem when there are several.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Authorization),
    components(schemas(super::error::ApiError)),
    tags(
        (name = "instances", description = "Create, read, change and remove instances"),
        (name = "events", description = "An instance's messages, their delivery, and sending them again"),
        (name = "polling", description = "Polls on demand, dry runs, and each resource's state"),
        (name = "plugins", description = "The plugins, their reloads, uploaded versions and tries"),
        (name = "document", description = "This document"),
    )
)]
pub(super) struct ApiDoc;

/// The `Authorization` header, as Cloud Elements reads it.
struct Authorization;

impl Modify for Authorization {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`User <user secret>, Organization <organization secret>[, Element <instance token>]`: \
                 the User secret says which user calls; calls about one instance also take that \
                 instance's token. A missing or wrong header answers 401.",
            ))),
        );
    }
}

/// The document as the listener serves it: `servers` says the API's prefix.
pub(super) fn finish(mut document: OpenApi, prefix: &str) -> OpenApi {
    let url = if prefix.is_empty() { "/" } else { prefix };
    document.servers = Some(vec![Server::new(url)]);
    document
}

/// The document as text, as served (and committed as docs/openapi.json).
pub(super) fn served_text(document: &OpenApi) -> String {
    let mut json = serde_json::to_value(document).expect("the OpenAPI document serializes");
    name_link_fields_as_openapi_does(&mut json);
    serde_json::to_string_pretty(&json).expect("JSON writes") + "\n"
}

/// utoipa 5.5 writes a Link object's fields as in Rust (`operation_id`); OpenAPI
/// names them `operationId`, `operationRef` and `requestBody`, and tools ignore
/// a link without them.
fn name_link_fields_as_openapi_does(document: &mut Value) {
    let responses = document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|operations| operations.values_mut())
        .filter_map(|operation| operation.get_mut("responses").and_then(Value::as_object_mut))
        .flat_map(|responses| responses.values_mut());
    let links = responses
        .filter_map(|response| response.get_mut("links").and_then(Value::as_object_mut))
        .flat_map(|links| links.values_mut())
        .filter_map(Value::as_object_mut);
    for link in links {
        for (rust, openapi) in
            [("operation_id", "operationId"), ("operation_ref", "operationRef"), ("request_body", "requestBody")]
        {
            if let Some(value) = link.remove(rust) {
                link.insert(openapi.to_owned(), value);
            }
        }
    }
}

/// The served document's text, made once when the router is.
#[derive(Clone)]
pub(super) struct Served(pub Arc<str>);

/// This document: open, like `/health`, so a client generator needs no secrets.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "document",
    operation_id = "getOpenApiDocument",
    summary = "This OpenAPI document",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object, content_type = "application/json")),
)]
pub(super) async fn serve(Extension(Served(text)): Extension<Served>) -> impl IntoResponse {
    // It changes only with the service's version: let clients keep it a while.
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "public, max-age=300")], text.to_string())
}

/// The `POST /instances` body of docs/management-api.md, the document's example of it.
pub(super) fn documented_instance_body() -> Value {
    let page = include_str!("../../../../docs/management-api.md");
    let section = &page[page.find("### Create an instance: `POST /instances`").expect("the page has the section")..];
    let start = section.find("```json\n").expect("a JSON block") + "```json\n".len();
    let end = start + section[start..].find("```").expect("the block ends");
    serde_json::from_str(&section[start..end]).expect("the documented body is JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed copy, for reading without a running service, is what the
    /// service serves under the default prefix.
    #[test]
    fn docs_openapi_json_is_the_served_document() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let served = served_text(&crate::api::openapi(engine::config::DEFAULT_API_PREFIX));
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &served).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == served,
            "docs/openapi.json is not the served document; regenerate it with \
             `UPDATE_OPENAPI=1 cargo test -p autotask-events-web docs_openapi_json`"
        );
    }

    #[test]
    fn the_documented_instance_body_is_read_from_the_docs() {
        let body = documented_instance_body();
        assert_eq!(body["element"]["key"], "autotaskcrm");
        assert!(body["configuration"]["event.poller.configuration"]["incidents"]["url"].is_string());
    }
}
