//! Forms sent as `multipart/form-data`: the one console form that uploads a
//! file (the plugin playground's). Its body is read whole before the handler
//! runs, to find its CSRF token (see [`super::session`]), so it is parsed
//! here from bytes, by both the token check and the handler.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};

/// The largest multipart form: a plugin as large as the API takes one, and
/// room for the records and the other fields.
pub const MAX_MULTIPART_BYTES: usize = crate::api::MAX_PLUGIN_BYTES + (8 << 20);

/// One field of a multipart form.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    /// The file's name, for a file input.
    pub file_name: Option<String>,
    pub bytes: Bytes,
}

impl Part {
    /// The value as text (a text field's value is UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Whether a request's body is a multipart form.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    content_type(headers).is_some_and(|value| value.starts_with("multipart/form-data"))
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok())
}

/// Every field of the multipart form in `bytes`, in order; why not, when it is not one.
pub async fn parts(headers: &HeaderMap, bytes: Bytes) -> Result<Vec<Part>, String> {
    let boundary = content_type(headers)
        .and_then(|value| multer::parse_boundary(value).ok())
        .ok_or("the form is not multipart/form-data with a boundary")?;
    let mut form = multer::Multipart::new(Body::from(bytes).into_data_stream(), boundary);
    let mut parts = Vec::new();
    while let Some(field) = form.next_field().await.map_err(|error| format!("the form cannot be read: {error}"))? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|error| format!("the form cannot be read: {error}"))?;
        parts.push(Part { name, file_name, bytes });
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[tokio::test]
    async fn fields_and_files_are_read_in_order() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("multipart/form-data; boundary=XyZ"));
        assert!(is_multipart(&headers));
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntoken\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.js\"\r\n\
                    Content-Type: text/javascript\r\n\r\nexports.x = 1\r\n--XyZ--\r\n";
        let parts = parts(&headers, Bytes::from(body)).await.unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), parts[0].text().as_str()), ("csrf", "token"));
        assert_eq!((parts[1].file_name.as_deref(), parts[1].text().as_str()), (Some("a.js"), "exports.x = 1"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        assert!(!is_multipart(&headers));
        assert!(super::parts(&headers, Bytes::new()).await.is_err());
    }
}
