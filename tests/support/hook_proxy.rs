//! A stand-in for what sits between Autotask and the service's public URL
//! (a load balancer, a tunnel): it forwards every request to the service, and
//! can be taken down to answer 502, as a gateway does when its backend is
//! unreachable. Push tests point `[server] public_url` at it, so that
//! Autotask's callouts can fail while the service itself keeps polling.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(Default)]
struct Inner {
    target: Mutex<Option<SocketAddr>>,
    down: AtomicBool,
    forwarded: AtomicU64,
    refused: AtomicU64,
    http: reqwest::Client,
}

/// The proxy; it stops when dropped.
pub struct HookProxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HookProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HookProxy {
    /// Starts on a free loopback port, forwarding nowhere yet (502).
    pub async fn start() -> HookProxy {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let inner = Arc::new(Inner::default());
        let router = Router::new().fallback(forward).with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("the proxy serves");
        });
        HookProxy { addr, inner, task }
    }

    /// Its base URL: the service's `public_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Forwards to the service listening at `target` from now on.
    pub fn forward_to(&self, target: SocketAddr) {
        *self.inner.target.lock().unwrap() = Some(target);
    }

    /// Takes the path to the service down (`true`: every request gets 502) or back up.
    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    /// Requests forwarded, and refused while down.
    pub fn counts(&self) -> (u64, u64) {
        (self.inner.forwarded.load(Ordering::SeqCst), self.inner.refused.load(Ordering::SeqCst))
    }
}

async fn forward(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = *inner.target.lock().unwrap();
    let Some(target) = target.filter(|_| !inner.down.load(Ordering::SeqCst)) else {
        inner.refused.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::BAD_GATEWAY, "the service is unreachable").into_response();
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = inner.http.request(method, format!("http://{target}{path}")).body(body);
    for name in ["content-type", "x-hook-signature"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(response) => {
            inner.forwarded.fetch_add(1, Ordering::SeqCst);
            let status = response.status();
            let bytes = response.bytes().await.unwrap_or_default();
            (status, bytes).into_response()
        }
        Err(_) => {
            inner.refused.fetch_add(1, Ordering::SeqCst);
            (StatusCode::BAD_GATEWAY, "the service did not answer").into_response()
        }
    }
}
