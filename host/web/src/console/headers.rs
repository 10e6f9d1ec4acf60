//! The security headers of every console answer: pages, fragments, assets,
//! redirects and error pages alike.
//!
//! The pages need nothing but their own origin: htmx and the stylesheet are
//! served from here, there is no inline script or style (htmx's own indicator
//! `<style>` is turned off by the `htmx-config` meta tag), and `hx-headers`
//! is JSON, not script, so no `'unsafe-inline'` or `'unsafe-eval'` is allowed.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Only this origin's scripts, styles, images, requests and form targets; no
/// framing, no plugins, no `<base>` elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
     object-src 'none'";

/// Every header set, with its value: what the console's tests check too.
pub const SECURITY_HEADERS: [(HeaderName, &str); 5] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    // Pages show instance details and carry the CSRF token: never kept by a cache.
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// Sets [`SECURITY_HEADERS`] on the answer, replacing any of them a handler set.
pub async fn secure(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
