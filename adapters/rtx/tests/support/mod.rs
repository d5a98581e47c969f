//! The fake RTGW, for the tests of this crate.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// `fake_rtgw.py` on an ephemeral loopback port, under `timeout`; stopped when dropped.
pub struct Fake {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl Fake {
    /// Starts it with extra environment (`FAKE_RTGW_*`).
    pub fn start(env: &[(&str, &str)]) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/peers/fake_rtgw.py");
        let mut child = Command::new("timeout")
            .args(["120", "python3", script])
            .env("FAKE_RTGW_PORT", "0")
            .env("FAKE_RTGW_FILL_DELAY", "0.05")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs fake_rtgw.py");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("the fake says where it listens");
        let port = line.split("127.0.0.1:").nth(1).and_then(|p| p.trim().parse().ok()).unwrap_or_else(|| panic!("no port in {line:?}"));
        // it goes on printing what happens: read it, or its prints fail on a closed pipe
        std::thread::spawn(move || {
            let mut sink = String::new();
            while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        Self { child, port }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        // SIGTERM to `timeout`, which passes it on to the fake (a SIGKILL would orphan it)
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

