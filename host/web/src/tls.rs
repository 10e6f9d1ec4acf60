//! Serves an axum [`Router`] over TLS (rustls with the ring provider).
//!
//! Built on `tokio-rustls` and `hyper-util`, as axum's own `low-level-rustls` example is: both are
//! already in the dependency tree through reqwest, so this costs no new crates, whereas
//! `axum-server` would add a crate (and its own rustls feature set to keep free of aws-lc-rs) for
//! the same forty lines. hyper-util's `auto` server speaks HTTP/1.1 and HTTP/2, so both are offered
//! by ALPN.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// How long a client may take to finish the TLS handshake before its connection is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long open connections may finish their requests after shutdown before they are dropped.
const GRACE: Duration = Duration::from_secs(5);

/// How long to wait before accepting again after the listener failed (out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// The listener's TLS settings read from PEM files: a certificate chain and its private key.
pub fn server_config(certificate: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let chain = read_certificates(certificate)?;
    let private_key = read_private_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS: {error}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|error| {
            format!("TLS key {}: cannot be used with certificate {}: {error}", key.display(), certificate.display())
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every certificate in the file, leaf first.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let problem = |error| format!("TLS certificate {}: {}", path.display(), describe(error, "certificate"));
    let chain =
        CertificateDer::pem_file_iter(path).map_err(problem)?.collect::<Result<Vec<_>, _>>().map_err(problem)?;
    if chain.is_empty() {
        return Err(problem(pem::Error::NoItemsFound));
    }
    Ok(chain)
}

/// The first private key in the file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| {
        format!("TLS key {}: {}", path.display(), describe(error, "private key (PKCS#8, PKCS#1 or SEC1)"))
    })
}

/// What is wrong with a PEM file, without quoting its contents (it may hold a key).
fn describe(error: pem::Error, wanted: &str) -> String {
    match error {
        pem::Error::Io(error) => format!("cannot read: {error}"),
        pem::Error::NoItemsFound => format!("no PEM {wanted} in the file"),
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line".to_string(),
        pem::Error::IllegalSectionStart { .. } => "a PEM section has a malformed BEGIN line".to_string(),
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64".to_string(),
        pem::Error::SectionTooLarge => "a PEM section is larger than 256 MB".to_string(),
        _ => "not a valid PEM file".to_string(),
    }
}

/// Serves `router` on `listener` over TLS until `shutdown` is cancelled; a failed handshake affects only that connection (logged at debug).
pub async fn serve(listener: TcpListener, router: Router, config: Arc<ServerConfig>, shutdown: CancellationToken) {
    let acceptor = TlsAcceptor::from(config);
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((stream, peer)) => {
                connections.spawn(connection(stream, peer, acceptor.clone(), router.clone(), shutdown.clone()));
            }
            Err(error) if is_per_connection(&error) => tracing::debug!("TLS listener: a connection failed: {error}"),
            Err(error) => {
                tracing::warn!("the TLS listener could not accept a connection: {error}");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(GRACE, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::debug!("dropping {} TLS connection(s) still open after {GRACE:?}", connections.len());
    }
    connections.shutdown().await;
}

/// Accept errors that concern one client, not the listener.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// One client: the handshake, then HTTP/1.1 or HTTP/2 until it hangs up or `shutdown` asks it to finish.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router,
    shutdown: CancellationToken,
) {
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!("TLS handshake with {peer} failed: {error}");
            return;
        }
        Err(_) => {
            tracing::debug!("TLS handshake with {peer} timed out after {HANDSHAKE_TIMEOUT:?}");
            return;
        }
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut served =
        std::pin::pin!(builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(router)));
    let result = tokio::select! {
        result = served.as_mut() => result,
        () = shutdown.cancelled() => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(error) = result {
        tracing::debug!("TLS connection from {peer} ended with an error: {error}");
    }
}

// The fixtures in host/web/tests/fixtures/tls were made, in that folder, with:
// openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out cert.pem -days 36500 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=serverAuth"
// (CA:FALSE because webpki refuses a CA certificate as a server's own.)
#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use axum::routing::get;

    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
    }

    fn client(http1_only: bool, addr: SocketAddr) -> reqwest::Client {
        let pem = std::fs::read(fixture("cert.pem")).unwrap();
        let builder = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .resolve("localhost", addr)
            .timeout(Duration::from_secs(5));
        let builder = if http1_only { builder.http1_only() } else { builder };
        builder.build().unwrap()
    }

    #[tokio::test]
    async fn serves_https_refuses_plain_http_and_stops() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = server_config(&fixture("cert.pem"), &fixture("key.pem")).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/health", get(|| async { "ok" }));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(listener, router, config, shutdown.clone()));

        let url = format!("https://localhost:{}/health", addr.port());
        let h2 = client(false, addr);
        for (client, version) in [(&h2, reqwest::Version::HTTP_2), (&client(true, addr), reqwest::Version::HTTP_11)] {
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.version(), version);
            assert_eq!(response.text().await.unwrap(), "ok");
        }

        let plain = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        assert!(plain.get(format!("http://{addr}/health")).send().await.is_err());
        let fresh = client(true, addr).get(&url).send().await.unwrap();
        assert_eq!(fresh.status(), 200, "a failed handshake affects only its own connection");

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(2), server).await.expect("serve ends soon after cancel").unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
    }

    #[test]
    fn config_errors_name_the_file_and_the_problem() {
        let (certificate, key) = (fixture("cert.pem"), fixture("key.pem"));
        assert!(server_config(&certificate, &key).is_ok());

        let missing = fixture("missing.pem");
        let error = server_config(&missing, &key).unwrap_err();
        assert!(error.starts_with(&format!("TLS certificate {}: cannot read: ", missing.display())), "{error}");
        let error = server_config(&certificate, &missing).unwrap_err();
        assert!(error.starts_with(&format!("TLS key {}: cannot read: ", missing.display())), "{error}");

        let empty = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(empty.path(), "no PEM here\n").unwrap();
        let error = server_config(empty.path(), &key).unwrap_err();
        assert_eq!(error, format!("TLS certificate {}: no PEM certificate in the file", empty.path().display()));

        let error = server_config(&key, &certificate).unwrap_err();
        assert_eq!(error, format!("TLS certificate {}: no PEM certificate in the file", key.display()));
        let error = server_config(&certificate, &certificate).unwrap_err();
        assert_eq!(
            error,
            format!("TLS key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in the file", certificate.display())
        );
        let key_text = std::fs::read_to_string(&key).unwrap();
        let key_body = key_text.lines().nth(1).unwrap();
        for error in [server_config(&key, &certificate).unwrap_err(), server_config(&key, &key).unwrap_err()] {
            assert!(!error.contains(key_body), "{error}");
        }
    }
}
