//! The API's users and Organization secret, which both the API and the
//! console's sign-in check, as the configuration says at the time of the call.

use engine::config::{ApiSettings, ApiUser};
use engine::manage::body::same_secret;
use sha2::{Digest, Sha256};

/// What a caller is told while no secrets are configured.
pub const CLOSED: &str = concat!(
    "the management API is closed: no secrets are configured (set [api] organization_secret and user_secret or ",
    "[[api.users]], or AUTOTASK_EVENTS_USER_SECRET and AUTOTASK_EVENTS_ORGANIZATION_SECRET)"
);

/// What presented secrets are.
#[derive(Debug, PartialEq, Eq)]
pub enum Check<'a> {
    /// No users or no organization secret are configured: nobody gets in.
    Closed,
    Refused,
    User(&'a ApiUser),
}

/// The user whose secret `user` is, when `organization` is the organization
/// secret. Every comparison runs, for every user: the answer time tells
/// neither which part was wrong nor which user matched.
pub fn authenticate<'a>(settings: &'a ApiSettings, user: &str, organization: &str) -> Check<'a> {
    let Some(organization_secret) = settings.organization_secret.as_ref().filter(|_| settings.is_open()) else {
        return Check::Closed;
    };
    let organization_ok = same_secret(organization, organization_secret.expose());
    let mut matched = None;
    for candidate in &settings.users {
        // No early exit: a match halfway down the list answers no sooner.
        if same_secret(user, candidate.secret.expose()) {
            matched = Some(candidate);
        }
    }
    match matched {
        Some(user) if organization_ok => Check::User(user),
        _ => Check::Refused,
    }
}

/// A digest of the secrets `user` signs in with now: a console session keeps
/// it, and ends when it no longer matches (the secret was rotated away).
pub fn credentials_digest(settings: &ApiSettings, user: &ApiUser) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(user.secret.expose().as_bytes());
    digest.update([0]);
    digest.update(settings.organization_secret.as_ref().map_or("", |secret| secret.expose()).as_bytes());
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use engine::config::{ORGANIZATION_SECRET_ENV, Secret, USER_SECRET_ENV};

    use super::*;

    fn settings() -> ApiSettings {
        let user = |name: &str, secret: &str, admin| ApiUser { name: name.into(), secret: Secret::new(secret), admin };
        ApiSettings {
            users: vec![user("alice", "alice-secret-0123456789", false), user("ops", "ops-secret-0123456789", true)],
            organization_secret: Some(Secret::new("organization-secret-0123")),
            ..ApiSettings::default()
        }
    }

    #[test]
    fn the_closed_message_names_the_variables() {
        assert!(CLOSED.contains(USER_SECRET_ENV) && CLOSED.contains(ORGANIZATION_SECRET_ENV));
    }

    #[test]
    fn a_user_secret_names_its_user_only_with_the_organization_secret() {
        let settings = settings();
        let found = |user, organization| match authenticate(&settings, user, organization) {
            Check::User(user) => Some(user.name.clone()),
            _ => None,
        };
        assert_eq!(found("alice-secret-0123456789", "organization-secret-0123").as_deref(), Some("alice"));
        assert_eq!(found("ops-secret-0123456789", "organization-secret-0123").as_deref(), Some("ops"));
        assert_eq!(found("ops-secret-0123456789", "wrong"), None);
        assert_eq!(found("organization-secret-0123", "organization-secret-0123"), None);
        assert_eq!(authenticate(&ApiSettings::default(), "a", "b"), Check::Closed);
    }

    #[test]
    fn the_credentials_digest_changes_with_either_secret() {
        let before = settings();
        let digest = credentials_digest(&before, &before.users[0]);
        let mut rotated = settings();
        rotated.users[0].secret = Secret::new("alice-new-secret-0123456789");
        assert_ne!(digest, credentials_digest(&rotated, &rotated.users[0]));
        let mut organization = settings();
        organization.organization_secret = Some(Secret::new("organization-rotated-0123"));
        assert_ne!(digest, credentials_digest(&organization, &organization.users[0]));
        assert_eq!(digest, credentials_digest(&settings(), &settings().users[0]));
    }
}
