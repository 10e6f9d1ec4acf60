//! A script pasted or a file uploaded in the playground is kept, after its
//! try, until it is activated: the page cannot hold an uploaded file (a
//! browser never fills a file input again), and what is activated must be
//! exactly what was tried. One draft per admin (only admins may activate),
//! the latest tried, in memory for [`KEPT_FOR`]; its SHA-256 in the page
//! names it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a tried draft can be activated.
const KEPT_FOR: Duration = Duration::from_secs(3600);

/// Bytes tried as the plugin file `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::console) struct Draft {
    pub(in crate::console) name: String,
    pub(in crate::console) bytes: Vec<u8>,
}

impl Draft {
    /// The SHA-256 of the bytes, in hex: how the page names the draft.
    pub(in crate::console) fn sha256(&self) -> String {
        Sha256::digest(&self.bytes).iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// The drafts, by user.
#[derive(Default)]
pub(in crate::console) struct Drafts {
    by_user: Mutex<HashMap<String, (Draft, Instant)>>,
}

impl Drafts {
    /// Keeps `draft` as `user`'s latest; returns its SHA-256.
    pub(in crate::console) fn keep(&self, user: &str, draft: Draft) -> String {
        let sha256 = draft.sha256();
        let mut drafts = self.lock();
        drafts.retain(|_, (_, kept)| kept.elapsed() < KEPT_FOR);
        drafts.insert(user.to_owned(), (draft, Instant::now()));
        sha256
    }

    /// `user`'s draft with this SHA-256, while it is kept.
    pub(in crate::console) fn find(&self, user: &str, sha256: &str) -> Option<Draft> {
        let drafts = self.lock();
        let (draft, kept) = drafts.get(user)?;
        (kept.elapsed() < KEPT_FOR && draft.sha256() == sha256).then(|| draft.clone())
    }

    /// Forgets `user`'s draft (activated).
    pub(in crate::console) fn forget(&self, user: &str) {
        self.lock().remove(user);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Draft, Instant)>> {
        self.by_user.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_is_found_by_its_user_and_hash_only() {
        let drafts = Drafts::default();
        let draft = Draft { name: "incidents.js".into(), bytes: b"exports.x = 1".to_vec() };
        let sha256 = drafts.keep("alice", draft.clone());
        assert_eq!(sha256.len(), 64);
        assert_eq!(drafts.find("alice", &sha256), Some(draft));
        assert_eq!(drafts.find("bob", &sha256), None, "another user's draft");
        let newer = drafts.keep("alice", Draft { name: "incidents.js".into(), bytes: b"exports.x = 2".to_vec() });
        assert_eq!(drafts.find("alice", &sha256), None, "only the latest is kept");
        drafts.forget("alice");
        assert_eq!(drafts.find("alice", &newer), None);
    }
}
