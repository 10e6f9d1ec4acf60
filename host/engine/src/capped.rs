//! Reading an HTTP answer's body up to a cap: a peer that sends without end
//! must not be able to grow the service's memory.

/// At most `cap` bytes of `response`'s body, read chunk by chunk; reading stops
/// at the cap (the rest is never read, and the connection is dropped with the
/// response). The flag says whether the body went past the cap.
pub async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::with_capacity(response.content_length().map_or(0, |len| len.min(cap as u64) as usize));
    while let Some(chunk) = response.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}
