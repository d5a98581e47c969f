//! Request bodies, read up to the configured limit (`TXTRADER_HTTP_MAX_BODY`).

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use axum::body::Body;

/// Why a request body could not be used.
#[derive(Debug)]
pub enum BodyError {
    /// Over the configured limit.
    TooLarge(usize),
    /// The connection failed while reading.
    Read(String),
    /// The body did not arrive within the deadline.
    Timeout(std::time::Duration),
}

/// Reads a body up to `limit` bytes, within `deadline`.
///
/// # Errors
/// [`BodyError`].
pub async fn read_body(body: Body, limit: usize, deadline: std::time::Duration) -> Result<axum::body::Bytes, BodyError> {
    let read = tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await.map_err(|_| BodyError::Timeout(deadline))?;
    read.map_err(|e| {
        let inner = e.into_inner();
        if inner.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            BodyError::TooLarge(limit)
        } else {
            BodyError::Read(inner.to_string())
        }
    })
}
