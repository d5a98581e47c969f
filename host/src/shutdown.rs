//! Coordinated shutdown: one trigger, observed by every long-lived task.
//!
//! The first trigger wins and records why the process stops; listeners stop accepting, the
//! gateway core stops its adapter (joining its threads), and `main` exits with the code the
//! reason calls for.

use std::sync::Arc;
use tokio::sync::watch;

/// Why the gateway stops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// A client asked (`shutdown` command): exit 0 so a supervisor restarts it.
    Requested(String),
    /// SIGINT or SIGTERM.
    Signal(&'static str),
    /// The gateway decided to stop (daily auto-reset, broker unreachable too long).
    Forced(String),
    /// Something broke that the gateway cannot recover from.
    Fatal(String),
}

impl ExitReason {
    /// The process exit code: 0 for planned stops, 1 for failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Requested(_) | Self::Signal(_) | Self::Forced(_) => 0,
            Self::Fatal(_) => 1,
        }
    }
}

/// A cloneable shutdown trigger and observer.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: Arc<watch::Sender<Option<ExitReason>>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// Not yet triggered.
    pub fn new() -> Self {
        Self { tx: Arc::new(watch::channel(None).0) }
    }

    /// Starts the shutdown; later triggers keep the first reason.
    pub fn trigger(&self, reason: ExitReason) {
        self.tx.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// The reason, once triggered.
    pub fn reason(&self) -> Option<ExitReason> {
        self.tx.borrow().clone()
    }

    /// Waits until triggered.
    pub async fn wait(&self) -> ExitReason {
        let mut rx = self.tx.subscribe();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                return ExitReason::Fatal("shutdown channel closed".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_reason_wins() {
        let s = Shutdown::new();
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        s.trigger(ExitReason::Requested("bye".into()));
        s.trigger(ExitReason::Fatal("later".into()));
        assert_eq!(waiter.await.expect("joined"), ExitReason::Requested("bye".into()));
        assert_eq!(s.reason().map(|r| r.exit_code()), Some(0));
    }
}
