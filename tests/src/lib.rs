//! Test harness: builds the real `txtraderd`, starts it on a free loopback port with a given
//! environment, and finds the project-local Python venv holding the real txTrader clients.
//!
//! Every daemon started here is killed when its [`Daemon`] is dropped, so tests stop by
//! themselves even when they fail.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The `txtraderd` binary, built once per test process.
///
/// # Panics
/// When the build fails.
pub fn txtraderd() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let run = escargot::CargoBuild::new()
            .package("txtrader-host")
            .bin("txtraderd")
            .manifest_path(workspace().join("Cargo.toml"))
            .run()
            .unwrap_or_else(|e| panic!("cannot build txtraderd: {e}"));
        run.path().to_path_buf()
    })
}

/// The venv with `txtrader-client` and `txtrader-monitor` (`scripts/compat-venv.sh` makes it).
///
/// # Panics
/// When it does not exist: the conformance tests need the real clients.
pub fn venv() -> PathBuf {
    let dir = std::env::var_os("TXTRADER_COMPAT_VENV").map_or_else(|| workspace().join(".venv-compat"), PathBuf::from);
    let dir = if dir.is_relative() { workspace().join(dir) } else { dir };
    assert!(
        dir.join("bin/txtrader").exists(),
        "the Python client venv {} is missing: run scripts/compat-venv.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// A running `txtraderd`.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    /// The HTTP port it listens on.
    pub http_port: u16,
    /// The stream port it listens on.
    pub tcp_port: u16,
    /// Where its log goes.
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `txtraderd` on 127.0.0.1 with a free HTTP port and the given extra environment,
    /// and waits until it says where it listens.
    ///
    /// # Panics
    /// When it does not start within 60 s.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!("txtraderd-{name}-{}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let mut cmd = Command::new(txtraderd());
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TXTRADER_HTTP_PORT", "0")
            .env("TXTRADER_TCP_PORT", "0")
            .env("TXTRADER_BIND_ADDRESS", "127.0.0.1")
            .env("TXTRADER_LOG_LEVEL", "INFO")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start txtraderd: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                for (kind, prefix) in [("http", "txtraderd: http listening on "), ("tcp", "txtraderd: tcp listening on ")] {
                    if let Some(addr) = line.strip_prefix(prefix) {
                        let _ = tx.send((kind, addr.to_owned()));
                    }
                }
            }
        });
        let (mut http_port, mut tcp_port) = (0u16, 0u16);
        while http_port == 0 || tcp_port == 0 {
            let (kind, addr) = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("txtraderd did not start; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default())
            });
            let port = addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
            if kind == "http" { http_port = port } else { tcp_port = port }
        }
        Self { child, http_port, tcp_port, log }
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
