//! The credentials of an Autotask API user, and where a Cloud Elements
//! instance keeps them.
//!
//! The REST API wants three headers: `UserName`, `Secret` and
//! `ApiIntegrationCode`. A Cloud Elements instance body carries the first two
//! (`crm.autotask.username` / `.password`, or the `helpdesk.autotask.*` keys)
//! and the server URL, but no integration code, because Cloud Elements used
//! the SOAP API; the code comes from an extra configuration key or, failing
//! that, from the host (`AUTOTASK_INTEGRATION_CODE`).

use std::fmt;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The environment variable that supplies an integration code to instances without one.
pub const INTEGRATION_CODE_ENV: &str = "AUTOTASK_INTEGRATION_CODE";

/// A secret: its `Debug` never shows the value, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What the REST API needs to accept a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The API user's name (an email address); also the zone lookup key.
    pub username: String,
    /// The API user's secret.
    pub secret: Secret,
    /// The API tracking identifier of the integration.
    pub integration_code: Secret,
}

/// The Autotask connection settings of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Where zone discovery starts (`https://ww2.autotask.net`, or the simulator's address).
    pub server_url: String,
    pub credentials: Credentials,
}

/// A digest of everything that makes a credential: the server URL, the user,
/// the secret and the integration code. Whatever is learnt with a credential
/// (a client, a zone answer) is kept under it, so nothing learnt with one
/// credential is ever used with another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CredentialKey([u8; 32]);

impl Connection {
    /// This connection's [`CredentialKey`].
    pub fn key(&self) -> CredentialKey {
        let mut digest = Sha256::new();
        let credentials = &self.credentials;
        for part in [
            self.server_url.trim(),
            &credentials.username.to_ascii_lowercase(),
            credentials.secret.expose(),
            credentials.integration_code.expose(),
        ] {
            // Length-prefixed, so no two different tuples hash the same text.
            digest.update((part.len() as u64).to_le_bytes());
            digest.update(part.as_bytes());
        }
        CredentialKey(digest.finalize().into())
    }
}

/// What is missing or wrong in an instance's Autotask settings.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConnectionError {
    #[error("element `{0}` is not an Autotask element; use `autotaskcrm` or `autotaskhelpdesk`")]
    UnknownElement(String),
    #[error("configuration key `{key}` is missing or empty")]
    Missing { key: String },
    #[error(
        "no Autotask API integration code: the REST API needs one and a Cloud Elements instance does not carry it; \
         add `{key}` to the instance configuration, or give the host one ({INTEGRATION_CODE_ENV} in its environment)"
    )]
    MissingIntegrationCode { key: String },
}

/// The key prefix an element keeps its Autotask settings under.
pub fn key_prefix(element_key: &str) -> Result<&'static str, ConnectionError> {
    match element_key {
        "autotaskcrm" => Ok("crm.autotask"),
        "autotaskhelpdesk" => Ok("helpdesk.autotask"),
        other => Err(ConnectionError::UnknownElement(other.to_owned())),
    }
}

impl Connection {
    /// Reads the settings from an instance's `configuration`, taking the integration
    /// code from `<prefix>.integration.code` or else `host_integration_code`.
    pub fn from_configuration(
        element_key: &str,
        configuration: &Map<String, Value>,
        host_integration_code: Option<&str>,
    ) -> Result<Connection, ConnectionError> {
        let prefix = key_prefix(element_key)?;
        let text = |suffix: &str| {
            let key = format!("{prefix}.{suffix}");
            match configuration.get(&key).and_then(Value::as_str).map(str::trim) {
                Some(value) if !value.is_empty() => Ok(value.to_owned()),
                _ => Err(ConnectionError::Missing { key }),
            }
        };
        let username = text("username")?;
        let secret = Secret::new(text("password")?);
        let server_url = text("server.url")?;
        let integration_code = match text("integration.code") {
            Ok(code) => code,
            Err(ConnectionError::Missing { key }) => match host_integration_code.map(str::trim) {
                Some(code) if !code.is_empty() => code.to_owned(),
                _ => return Err(ConnectionError::MissingIntegrationCode { key }),
            },
            Err(other) => return Err(other),
        };
        let credentials = Credentials { username, secret, integration_code: Secret::new(integration_code) };
        Ok(Connection { server_url, credentials })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn configuration(value: Value) -> Map<String, Value> {
        let Value::Object(map) = value else { unreachable!() };
        map
    }

    #[test]
    fn reads_the_element_keys_and_takes_the_code_from_the_instance_first() {
        let config = configuration(json!({
            "crm.autotask.username": "api@example.com",
            "crm.autotask.password": "s3cret",
            "crm.autotask.server.url": "https://ww2.autotask.net",
            "crm.autotask.integration.code": "INSTANCECODE",
        }));
        let connection = Connection::from_configuration("autotaskcrm", &config, Some("HOSTCODE")).unwrap();
        assert_eq!(connection.server_url, "https://ww2.autotask.net");
        assert_eq!(connection.credentials.username, "api@example.com");
        assert_eq!(connection.credentials.secret.expose(), "s3cret");
        assert_eq!(connection.credentials.integration_code.expose(), "INSTANCECODE");
    }

    #[test]
    fn falls_back_to_the_host_code_and_says_where_to_put_one() {
        let config = configuration(json!({
            "helpdesk.autotask.username": "api@example.com",
            "helpdesk.autotask.password": "s3cret",
            "helpdesk.autotask.server.url": "https://ww2.autotask.net",
        }));
        let connection = Connection::from_configuration("autotaskhelpdesk", &config, Some("HOSTCODE")).unwrap();
        assert_eq!(connection.credentials.integration_code.expose(), "HOSTCODE");
        let error = Connection::from_configuration("autotaskhelpdesk", &config, None).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("`helpdesk.autotask.integration.code`"), "{text}");
        assert!(text.contains(INTEGRATION_CODE_ENV), "{text}");
    }

    #[test]
    fn every_part_of_a_credential_changes_its_key() {
        let connection = |server: &str, user: &str, secret: &str, code: &str| Connection {
            server_url: server.into(),
            credentials: Credentials {
                username: user.into(),
                secret: Secret::new(secret),
                integration_code: Secret::new(code),
            },
        };
        let key = connection("https://ww2.autotask.net", "api@example.com", "s", "C").key();
        assert_eq!(key, connection("https://ww2.autotask.net", "API@example.com", "s", "C").key());
        for other in [
            connection("https://evil.example", "api@example.com", "s", "C"),
            connection("https://ww2.autotask.net", "other@example.com", "s", "C"),
            connection("https://ww2.autotask.net", "api@example.com", "t", "C"),
            connection("https://ww2.autotask.net", "api@example.com", "s", "D"),
            connection("https://ww2.autotask.net", "api@example.com", "sC", ""),
        ] {
            assert_ne!(other.key(), key, "{other:?}");
        }
    }

    #[test]
    fn names_missing_keys_and_never_shows_secrets() {
        let config =
            configuration(json!({"crm.autotask.username": "api@example.com", "crm.autotask.password": "s3cret"}));
        let error = Connection::from_configuration("autotaskcrm", &config, Some("CODE")).unwrap_err();
        assert_eq!(error.to_string(), "configuration key `crm.autotask.server.url` is missing or empty");
        assert!(Connection::from_configuration("sfdc", &config, None).is_err());
        let credentials =
            Credentials { username: "u".into(), secret: Secret::new("s3cret"), integration_code: Secret::new("C0DE") };
        let shown = format!("{credentials:?}");
        assert!(!shown.contains("s3cret") && !shown.contains("C0DE"), "{shown}");
    }
}
