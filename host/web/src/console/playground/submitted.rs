//! The playground's form as the browser sent it (a multipart form, for its
//! file input), and what it asks to try. Everything typed is kept, to show
//! the form again as it was; an uploaded file cannot be shown again.

use axum::body::Bytes;

use super::multipart::Part;
use super::records::{FieldError, RecordSource};

/// Where the new side of a try comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NewSource {
    /// Another stored version.
    Version,
    /// A script typed or pasted into the form.
    Script,
    /// A file uploaded with the form.
    File,
}

impl NewSource {
    pub(super) const ALL: [NewSource; 3] = [NewSource::Version, NewSource::Script, NewSource::File];

    pub(super) fn value(self) -> &'static str {
        match self {
            NewSource::Version => "version",
            NewSource::Script => "script",
            NewSource::File => "file",
        }
    }
}

/// The script languages a pasted script can be: file extension, label.
pub(super) const LANGUAGES: [(&str, &str); 2] = [("js", "JavaScript (.js)"), ("py", "Python (.py)")];

/// The extensions an uploaded plugin file may have.
pub(super) const FILE_EXTENSIONS: [&str; 3] = ["wasm", "js", "py"];

/// The form's values.
#[derive(Debug, Clone)]
pub(super) struct TryForm {
    pub(super) resource: String,
    pub(super) new_source: NewSource,
    /// The stored version chosen, as sent.
    pub(super) version: String,
    pub(super) language: String,
    pub(super) script: String,
    /// The uploaded file's name and bytes, when one was chosen.
    pub(super) file: Option<(String, Bytes)>,
    pub(super) records_source: RecordSource,
    pub(super) records_json: String,
}

impl TryForm {
    /// The form as first shown for `resource`: another stored version when
    /// there is one, else a pasted script, over recent records.
    pub(super) fn new(resource: &str, has_other_versions: bool) -> TryForm {
        TryForm {
            resource: resource.to_owned(),
            new_source: if has_other_versions { NewSource::Version } else { NewSource::Script },
            version: String::new(),
            language: "js".into(),
            script: String::new(),
            file: None,
            records_source: RecordSource::Recent,
            records_json: String::new(),
        }
    }

    /// The form as sent, and the choice it does not know, named, if it has one.
    pub(super) fn submitted(parts: &[Part]) -> (TryForm, Option<FieldError>) {
        let text = |name: &str| parts.iter().find(|part| part.name == name).map(Part::text).unwrap_or_default();
        let file = parts.iter().find(|part| part.name == "file").and_then(|part| {
            part.file_name.clone().filter(|name| !name.is_empty()).map(|name| (name, part.bytes.clone()))
        });
        let new_source = text("new");
        let records_source = text("records");
        let mut form = TryForm {
            resource: text("resource"),
            new_source: NewSource::Script,
            version: text("version"),
            language: text("language"),
            script: text("script"),
            file,
            records_source: RecordSource::Pasted,
            records_json: text("records_json"),
        };
        match NewSource::ALL.into_iter().find(|source| source.value() == new_source) {
            Some(source) => form.new_source = source,
            None => return (form, Some(("new", format!("`{new_source}` is not a choice of the new version")))),
        }
        match RecordSource::parse(&records_source) {
            Some(source) => form.records_source = source,
            None => return (form, Some(("records", format!("`{records_source}` is not a choice of records")))),
        }
        (form, None)
    }

    /// The file name and bytes of the new side when it is a script or a
    /// file, named as a plugin of the resource (`incidents.js`).
    pub(super) fn new_bytes(&self) -> Result<(String, Vec<u8>), FieldError> {
        match self.new_source {
            NewSource::Version => Err(("version", "a stored version has no bytes here".into())),
            NewSource::Script => {
                let Some((extension, _)) = LANGUAGES.iter().find(|(extension, _)| *extension == self.language) else {
                    return Err(("language", format!("`{}` is not a script language: `js` or `py`", self.language)));
                };
                if self.script.trim().is_empty() {
                    return Err(("script", "Script is empty: paste the new version's script".into()));
                }
                Ok((format!("{}.{extension}", self.resource), self.script.clone().into_bytes()))
            }
            NewSource::File => {
                let Some((file_name, bytes)) = &self.file else {
                    return Err(("file", "File: choose a .wasm, .js or .py file".into()));
                };
                let extension = file_name.rsplit_once('.').map(|(_, extension)| extension).unwrap_or_default();
                if !FILE_EXTENSIONS.contains(&extension) {
                    return Err(("file", format!("File `{file_name}` is not a .wasm, .js or .py file")));
                }
                let limit = crate::api::MAX_PLUGIN_BYTES;
                if bytes.len() > limit {
                    return Err(("file", format!("File `{file_name}` is larger than {} MiB", limit >> 20)));
                }
                Ok((format!("{}.{extension}", self.resource), bytes.to_vec()))
            }
        }
    }

    /// The stored version chosen.
    pub(super) fn version_number(&self) -> Result<i64, FieldError> {
        self.version
            .parse::<i64>()
            .ok()
            .filter(|number| *number >= 1)
            .ok_or_else(|| ("version", "Stored version: choose one of the stored versions".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, value: &str) -> Part {
        Part { name: name.into(), file_name: None, bytes: Bytes::from(value.to_owned()) }
    }

    #[test]
    fn a_pasted_script_is_named_after_the_resource_and_its_language() {
        let parts = [
            part("resource", "incidents"),
            part("new", "script"),
            part("language", "py"),
            part("script", "def map_record(r, m): pass"),
            part("records", "sample"),
            Part { name: "file".into(), file_name: Some(String::new()), bytes: Bytes::new() },
        ];
        let (form, refused) = TryForm::submitted(&parts);
        assert!(refused.is_none(), "{refused:?}");
        assert_eq!(
            (form.new_source, form.records_source, form.file.is_none()),
            (NewSource::Script, RecordSource::Sample, true)
        );
        assert_eq!(form.new_bytes().unwrap(), ("incidents.py".into(), b"def map_record(r, m): pass".to_vec()));
    }

    #[test]
    fn what_is_missing_or_wrong_is_named() {
        let form = TryForm::new("incidents", false);
        assert_eq!(form.new_bytes().unwrap_err().0, "script");
        let file = |name: &str| TryForm {
            new_source: NewSource::File,
            file: Some((name.into(), Bytes::from_static(b"x"))),
            ..form.clone()
        };
        assert_eq!(file("mapper.txt").new_bytes().unwrap_err().0, "file");
        assert_eq!(file("mapper.js").new_bytes().unwrap().0, "incidents.js");
        assert_eq!(TryForm { new_source: NewSource::File, ..form.clone() }.new_bytes().unwrap_err().0, "file");
        assert_eq!(
            TryForm { language: "rb".into(), script: "x".into(), ..form.clone() }.new_bytes().unwrap_err().0,
            "language"
        );
        assert_eq!(form.version_number().unwrap_err().0, "version");
        let (kept, refused) = TryForm::submitted(&[part("new", "magic"), part("script", "kept")]);
        assert_eq!((refused.unwrap().0, kept.script.as_str()), ("new", "kept"));
    }
}
