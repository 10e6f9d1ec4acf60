//! The API's User and Organization secrets, which both the API and the
//! console's sign-in check.

use engine::config::ApiSettings;
use engine::manage::body::same_secret;

/// What a caller is told while no secrets are configured.
pub const CLOSED: &str = concat!(
    "the management API is closed: no secrets are configured (set [api] user_secret and organization_secret, or ",
    "AUTOTASK_EVENTS_USER_SECRET and AUTOTASK_EVENTS_ORGANIZATION_SECRET)"
);

/// Whether `user` and `organization` are the configured secrets; `None` when
/// none are configured. Both comparisons always run, so a right user secret
/// does not answer faster.
pub fn secrets_match(settings: &ApiSettings, user: &str, organization: &str) -> Option<bool> {
    let (Some(user_secret), Some(organization_secret)) = (&settings.user_secret, &settings.organization_secret) else {
        return None;
    };
    let user_ok = same_secret(user, user_secret.expose());
    let organization_ok = same_secret(organization, organization_secret.expose());
    Some(user_ok & organization_ok)
}

#[cfg(test)]
mod tests {
    use engine::config::{ORGANIZATION_SECRET_ENV, USER_SECRET_ENV};

    use super::*;

    #[test]
    fn the_closed_message_names_the_variables() {
        assert!(CLOSED.contains(USER_SECRET_ENV) && CLOSED.contains(ORGANIZATION_SECRET_ENV));
    }
}
