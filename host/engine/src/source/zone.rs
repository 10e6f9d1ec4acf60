//! Zone discovery: which Autotask server holds a user's database.
//!
//! Autotask databases live in zones (`webservices2.autotask.net`, ...). A
//! client asks `GET {lookup}/atservicesrest/v1.0/zoneInformation?user=EMAIL`
//! and sends every other request to the `url` it answers. The lookup host is
//! derived from the instance's `server.url`: a web address of Autotask's own
//! (`https://ww2.autotask.net`, anything under `autotask.net`) means Autotask's
//! global lookup host; any other address (the simulator, a proxy) is asked
//! itself. Answers are cached per credential ([`CredentialKey`]: server, user,
//! secret and integration code), never per user name alone: an answer one
//! server gave must never send another instance's secret anywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::Url;
use serde::Deserialize;

use super::credentials::CredentialKey;

/// Autotask's global zone lookup host.
pub const AUTOTASK_LOOKUP_URL: &str = "https://webservices.autotask.net/atservicesrest/";

/// What zone discovery answers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZoneInfo {
    pub zone_name: String,
    /// The REST base URL for this user (`https://webservices2.autotask.net/atservicesrest/`).
    pub url: String,
    pub web_url: String,
    #[serde(default)]
    pub ci: i64,
}

/// The `atservicesrest/` base that zone discovery for `server_url` is asked at.
pub fn lookup_base(server_url: &str) -> Result<Url, String> {
    let url = Url::parse(server_url.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme `{}` is not http or https", url.scheme()));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if host == "autotask.net" || host.ends_with(".autotask.net") {
        return Ok(Url::parse(AUTOTASK_LOOKUP_URL).expect("a valid constant URL"));
    }
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    let path = base.path().trim_end_matches('/').to_owned();
    let path =
        if path.to_ascii_lowercase().ends_with("/atservicesrest") { path } else { format!("{path}/atservicesrest") };
    base.set_path(&format!("{path}/"));
    Ok(base)
}

/// Zone answers shared by the clients of a process, by credential.
#[derive(Debug, Clone, Default)]
pub struct ZoneCache(Arc<Mutex<HashMap<CredentialKey, ZoneInfo>>>);

impl ZoneCache {
    /// The cached zone of a credential, if any.
    pub fn get(&self, key: &CredentialKey) -> Option<ZoneInfo> {
        self.lock().get(key).cloned()
    }

    /// Remembers a credential's zone.
    pub fn insert(&self, key: CredentialKey, zone: ZoneInfo) {
        self.lock().insert(key, zone);
    }

    /// Forgets a credential's zone (after the zone refuses it).
    pub fn forget(&self, key: &CredentialKey) {
        self.lock().remove(key);
    }

    /// Keeps only the zones of `keys` (the credentials still in use).
    pub fn retain(&self, keys: &std::collections::HashSet<CredentialKey>) {
        self.lock().retain(|key, _| keys.contains(key));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CredentialKey, ZoneInfo>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn autotask_web_addresses_use_the_global_lookup_host() {
        assert_eq!(lookup_base("https://ww2.autotask.net").unwrap().as_str(), AUTOTASK_LOOKUP_URL);
        assert_eq!(lookup_base("https://ww15.autotask.net/Mvc/Home").unwrap().as_str(), AUTOTASK_LOOKUP_URL);
    }

    #[test]
    fn other_addresses_are_asked_themselves() {
        assert_eq!(lookup_base("http://127.0.0.1:8080").unwrap().as_str(), "http://127.0.0.1:8080/atservicesrest/");
        assert_eq!(
            lookup_base("http://127.0.0.1:8080/atservicesrest/").unwrap().as_str(),
            "http://127.0.0.1:8080/atservicesrest/"
        );
        assert!(lookup_base("ftp://example.com").unwrap_err().contains("ftp"));
        assert!(lookup_base("ww2.autotask.net").is_err());
    }

    #[test]
    fn the_cache_keeps_each_credentials_answer_apart() {
        use super::super::credentials::{Connection, Credentials, Secret};
        let connection = |server: &str, secret: &str| Connection {
            server_url: server.into(),
            credentials: Credentials {
                username: "api@example.com".into(),
                secret: Secret::new(secret),
                integration_code: Secret::new("C"),
            },
        };
        let (victim, attacker) = (connection("http://127.0.0.1:1", "real"), connection("http://127.0.0.1:2", "any"));
        let cache = ZoneCache::default();
        let zone = ZoneInfo { zone_name: "z".into(), url: "http://127.0.0.1:2/".into(), web_url: "w".into(), ci: 1 };
        cache.insert(attacker.key(), zone.clone());
        assert_eq!(cache.get(&victim.key()), None, "an answer to one credential is not another's");
        assert_eq!(cache.get(&attacker.key()), Some(zone));
        cache.forget(&attacker.key());
        assert_eq!(cache.get(&attacker.key()), None);
    }
}
