//! `Elements-Webhook-Signature`: `sha256=` + base64(HMAC-SHA256(key, exact body bytes)),
//! as Cloud Elements signs its notifications.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Elements-Webhook-Signature";

/// The header value for `body` signed with `key`.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// Whether `header` is a valid signature of `body` with `key` (compared in constant time).
pub fn verify(key: &[u8], body: &[u8], header: &str) -> bool {
    let Some(encoded) = header.trim().strip_prefix("sha256=") else { return false };
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(encoded) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_known_hmac_sha256() {
        // RFC 4231 test case 2.
        let signature = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(signature, "sha256=W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
        assert!(verify(b"Jefe", b"what do ya want for nothing?", &signature));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", &signature));
        assert!(!verify(b"other", b"what do ya want for nothing?", &signature));
        assert!(!verify(b"Jefe", b"x", "md5=abc"));
    }
}
