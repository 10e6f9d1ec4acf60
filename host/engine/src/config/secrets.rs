//! Secret references: a configuration value that is exactly `${env:NAME}` or
//! `${file:PATH}` is replaced by that environment variable or that file's
//! contents (trailing newline removed), so secrets need not sit in the file.

use std::path::Path;

/// The value `text` stands for; `Ok(None)` when it is not a reference.
/// `base` resolves relative file paths. Errors never contain the secret.
pub fn resolve(text: &str, base: &Path) -> Result<Option<String>, String> {
    let Some(inner) = text.trim().strip_prefix("${").and_then(|rest| rest.strip_suffix('}')) else {
        return Ok(None);
    };
    if let Some(name) = inner.strip_prefix("env:") {
        return match std::env::var(name) {
            Ok(value) if !value.is_empty() => Ok(Some(value)),
            _ => Err(format!("environment variable `{name}` is not set")),
        };
    }
    if let Some(path) = inner.strip_prefix("file:") {
        let path = base.join(path);
        return match std::fs::read_to_string(&path) {
            Ok(value) => Ok(Some(value.trim_end_matches(['\n', '\r']).to_owned())),
            Err(error) => Err(format!("cannot read secret file `{}`: {error}", path.display())),
        };
    }
    Ok(None)
}

/// The file a `${file:PATH}` reference reads, relative to `base`; `None` for
/// other text. The configuration watches it, so a rotated secret file counts.
pub fn referenced_file(text: &str, base: &Path) -> Option<std::path::PathBuf> {
    let inner = text.trim().strip_prefix("${")?.strip_suffix('}')?;
    inner.strip_prefix("file:").map(|path| base.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_and_leaves_other_text_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s3cret\n").unwrap();
        assert_eq!(resolve("${file:secret.txt}", dir.path()).unwrap().as_deref(), Some("s3cret"));
        assert_eq!(resolve("plain", dir.path()).unwrap(), None);
        assert_eq!(resolve("/x?since=${date:yyyy}", dir.path()).unwrap(), None);
        assert_eq!(referenced_file("${file:secret.txt}", dir.path()), Some(dir.path().join("secret.txt")));
        assert_eq!(referenced_file("${env:PATH}", dir.path()), None);
        let error = resolve("${file:missing.txt}", dir.path()).unwrap_err();
        assert!(error.contains("missing.txt"), "{error}");
    }

    #[test]
    fn reads_the_environment_and_names_a_missing_variable() {
        // PATH is set in every test environment; a fresh name is not.
        assert!(resolve("${env:PATH}", Path::new(".")).unwrap().is_some());
        let error = resolve("${env:AUTOTASK_EVENTS_TEST_SURELY_UNSET}", Path::new(".")).unwrap_err();
        assert_eq!(error, "environment variable `AUTOTASK_EVENTS_TEST_SURELY_UNSET` is not set");
    }
}
