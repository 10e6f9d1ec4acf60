//! Cloud Elements instance bodies as the management calls take and give them: only the
//! parts that configure an instance are kept, secrets are shown as
//! `"********"`, and PATCH merges (RFC 7396) with a shown mask meaning
//! "unchanged", so a body read with GET can be sent back as it is.

use serde_json::{Map, Value};

/// What a secret looks like in answers.
pub const MASK: &str = "********";

/// The top-level fields of a body that configure an instance.
const BODY_FIELDS: [&str; 4] = ["name", "element", "configuration", "tags"];

/// Whether a configuration key holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.ends_with(".password")
        || key.ends_with(".secret")
        || key.ends_with(".integration.code")
        || key.ends_with("signature.key")
        || key.ends_with(".token")
}

/// The body's configuring parts; anything else a client sent (ids, dates,
/// flags read from an earlier answer) is dropped.
pub fn instance_body(body: &Value) -> Value {
    let mut kept = Map::new();
    if let Some(object) = body.as_object() {
        for field in BODY_FIELDS {
            if let Some(value) = object.get(field) {
                kept.insert(field.to_owned(), value.clone());
            }
        }
    }
    Value::Object(kept)
}

/// `configuration` with every secret value replaced by [`MASK`].
pub fn masked_configuration(body: &Value) -> Map<String, Value> {
    let Some(configuration) = body.get("configuration").and_then(Value::as_object) else {
        return Map::new();
    };
    configuration
        .iter()
        .map(|(key, value)| {
            let shown = if is_secret_key(key) && !value.is_null() { Value::String(MASK.into()) } else { value.clone() };
            (key.clone(), shown)
        })
        .collect()
}

/// `patch` merged into `target` as RFC 7396 says (objects merge, `null`
/// removes, anything else replaces), except that a secret given as [`MASK`]
/// keeps the value it had.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    merge(target, patch, false);
}

fn merge(target: &mut Value, patch: &Value, in_configuration: bool) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else if in_configuration && is_secret_key(key) && value.as_str() == Some(MASK) {
            continue;
        } else {
            let entry = target.entry(key.clone()).or_insert(Value::Null);
            merge(entry, value, key == "configuration" && !in_configuration);
        }
    }
}

/// The Autotask secrets (`*.password`, `*.integration.code`) that `merged`
/// would take over from `stored` although its server URL is not the stored
/// one: those the patch does not give again. A stored secret is only ever
/// sent to the server it was stored with, so a new server URL needs them anew.
pub fn secrets_for_new_server(stored: &Value, patch: &Value, merged: &Value) -> Vec<String> {
    let configuration =
        |body: &Value| body.get("configuration").and_then(Value::as_object).cloned().unwrap_or_default();
    let (before, given, after) = (configuration(stored), configuration(patch), configuration(merged));
    let server_moved = after
        .iter()
        .filter(|(key, _)| key.ends_with(".server.url"))
        .any(|(key, url)| before.get(key).and_then(Value::as_str).map(str::trim) != url.as_str().map(str::trim));
    if !server_moved {
        return Vec::new();
    }
    let given_anew = |key: &str| given.get(key).and_then(Value::as_str).is_some_and(|value| value != MASK);
    after
        .iter()
        .filter(|(key, value)| {
            (key.ends_with(".password") || key.ends_with(".integration.code"))
                && !value.is_null()
                && before.get(*key) == Some(*value)
                && !given_anew(key)
        })
        .map(|(key, _)| key.clone())
        .collect()
}

/// Whether `presented` is `expected`, in time that depends on neither: both
/// are compared as SHA-256 digests, in constant time.
pub fn same_secret(presented: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    presented.ct_eq(&expected).into()
}

/// A new instance token: 32 random bytes, URL-safe base64.
pub fn new_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_and_the_rest_shown() {
        let body = json!({"configuration": {
            "crm.autotask.username": "api@example.com",
            "crm.autotask.password": "s3cret",
            "crm.autotask.integration.code": "C0DE",
            "event.notification.signature.key": "k3y",
            "event.poller.refresh_interval": "15"
        }});
        let shown = masked_configuration(&body);
        assert_eq!(shown["crm.autotask.username"], "api@example.com");
        assert_eq!(shown["event.poller.refresh_interval"], "15");
        for key in ["crm.autotask.password", "crm.autotask.integration.code", "event.notification.signature.key"] {
            assert_eq!(shown[key], MASK, "{key}");
        }
    }

    #[test]
    fn patches_merge_remove_and_keep_masked_secrets() {
        let mut body = json!({"name": "A", "tags": ["x"], "configuration": {
            "crm.autotask.password": "s3cret",
            "event.poller.refresh_interval": "15",
            "event.poller.configuration": {"incidents": {"url": "/a", "idField": "id"}}
        }});
        merge_patch(
            &mut body,
            &json!({"tags": ["y"], "configuration": {
                "crm.autotask.password": MASK,
                "event.poller.refresh_interval": null,
                "event.poller.configuration": {"contacts": {"url": "/c"}}
            }}),
        );
        assert_eq!(body["name"], "A");
        assert_eq!(body["tags"], json!(["y"]));
        assert_eq!(body["configuration"]["crm.autotask.password"], "s3cret");
        assert!(body["configuration"].get("event.poller.refresh_interval").is_none());
        assert_eq!(body["configuration"]["event.poller.configuration"]["incidents"]["url"], "/a");
        assert_eq!(body["configuration"]["event.poller.configuration"]["contacts"]["url"], "/c");
        merge_patch(&mut body, &json!({"configuration": {"crm.autotask.password": "n3w"}}));
        assert_eq!(body["configuration"]["crm.autotask.password"], "n3w");
    }

    #[test]
    fn compares_whole_secrets_only() {
        assert!(same_secret("s3cret-value", "s3cret-value"));
        assert!(!same_secret("s3cret-valu", "s3cret-value"));
        assert!(!same_secret("", "s3cret-value"));
    }

    #[test]
    fn only_configuring_fields_are_kept_and_tokens_differ() {
        let body = instance_body(&json!({"name": "A", "id": 7, "token": "t", "configuration": {}}));
        assert_eq!(body, json!({"name": "A", "configuration": {}}));
        let token = new_token();
        assert_eq!(token.len(), 43);
        assert_ne!(token, new_token());
    }
}
