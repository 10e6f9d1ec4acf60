//! Zone discovery: which Autotask server holds a user's database.
//!
//! Autotask databases live in zones (`webservices2.autotask.net`, ...). A
//! client asks `GET {lookup}/atservicesrest/v1.0/zoneInformation?user=EMAIL`
//! and sends every other request to the `url` it answers. The lookup host is
//! derived from the instance's `server.url`: a web address of Autotask's own
//! (`https://ww2.autotask.net`, anything under `autotask.net`) means Autotask's
//! global lookup host; any other address (the simulator, a proxy) is asked
//! itself. Answers are cached per user name: zones change only when Autotask
//! moves a database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::Url;
use serde::Deserialize;

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

/// Zone answers shared by every client of the process, by user name.
#[derive(Debug, Clone, Default)]
pub struct ZoneCache(Arc<Mutex<HashMap<String, ZoneInfo>>>);

impl ZoneCache {
    /// The cached zone of `username`, if any.
    pub fn get(&self, username: &str) -> Option<ZoneInfo> {
        self.lock().get(&username.to_ascii_lowercase()).cloned()
    }

    /// Remembers `username`'s zone.
    pub fn insert(&self, username: &str, zone: ZoneInfo) {
        self.lock().insert(username.to_ascii_lowercase(), zone);
    }

    /// Forgets `username`'s zone (after the zone refuses to know the user).
    pub fn forget(&self, username: &str) {
        self.lock().remove(&username.to_ascii_lowercase());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ZoneInfo>> {
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
    fn the_cache_ignores_user_name_case() {
        let cache = ZoneCache::default();
        let zone = ZoneInfo { zone_name: "z".into(), url: "u".into(), web_url: "w".into(), ci: 1 };
        cache.insert("Api@Example.com", zone.clone());
        assert_eq!(cache.get("api@example.com"), Some(zone));
        cache.forget("API@EXAMPLE.COM");
        assert_eq!(cache.get("api@example.com"), None);
    }
}
