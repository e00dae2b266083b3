//! Reading a Server-Sent Events stream in tests.

use std::time::Duration;

/// Reads SSE text into `buf` until `pred` holds for the text so far (at most 10 s).
pub async fn sse_until(res: &mut reqwest::Response, buf: &mut String, pred: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !pred(buf) {
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .expect("SSE timed out")
            .expect("SSE read");
        match chunk {
            Some(c) => buf.push_str(&String::from_utf8_lossy(&c)),
            None => panic!("SSE stream ended; got {buf}"),
        }
    }
}

/// Sends `req` (a `GET /api/v1/stream`) and returns the status and the first chunk of the
/// answer (at most 10 s): enough to see the stream's opening event or its refusal.
pub async fn sse_first_chunk(req: reqwest::RequestBuilder) -> (u16, String) {
    let mut res = req.send().await.expect("GET /stream");
    let status = res.status().as_u16();
    let chunk = tokio::time::timeout(Duration::from_secs(10), res.chunk())
        .await
        .expect("the stream answers within 10 s")
        .expect("read the stream")
        .unwrap_or_default();
    (status, String::from_utf8_lossy(&chunk).into_owned())
}
