//! Test harness: builds the real `txtraderd`, starts it on a free loopback port with a given
//! environment, and finds the project-local Python venv holding the real txTrader clients.
//!
//! Every daemon started here is killed when its [`Daemon`] is dropped, so tests stop by
//! themselves even when they fail.

use base64::Engine;
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
    /// The HTTPS port, when it was given a TLS certificate.
    pub https_port: u16,
    /// The TLS stream port, when it was given a TLS certificate.
    pub tls_tcp_port: u16,
    expect_tls: bool,
    /// Where its log goes.
    pub log: PathBuf,
    /// Its own data folder (journal), unless the test named one with `TXTRADER_DATA_DIR`.
    data: Option<tempfile::TempDir>,
    listening: Option<mpsc::Receiver<(&'static str, String)>>,
}

impl Daemon {
    /// Starts `txtraderd` on 127.0.0.1 with a free HTTP port and the given extra environment,
    /// and waits until it says where it listens.
    ///
    /// # Panics
    /// When it does not start within 60 s.
    pub fn start(name: &str, env: &[(&str, &str)]) -> Self {
        Self::start_binary(txtraderd(), name, env)
    }

    /// Like [`Daemon::start`], with another build of `txtraderd` (a benchmark's release build).
    ///
    /// # Panics
    /// When it does not start within 60 s.
    pub fn start_binary(bin: &Path, name: &str, env: &[(&str, &str)]) -> Self {
        let mut d = Self::spawn(bin, name, env);
        d.wait_listening();
        d
    }

    /// Starts `txtraderd` without waiting for it to listen (for a start that must fail).
    pub fn start_expecting_exit(name: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn(txtraderd(), name, env)
    }

    fn spawn(bin: &Path, name: &str, env: &[(&str, &str)]) -> Self {
        // A journal of its own, so tests never share books (a test that restarts a daemon on
        // the same books passes TXTRADER_DATA_DIR).
        let data = (!env.iter().any(|(k, _)| *k == "TXTRADER_DATA_DIR"))
            .then(|| tempfile::Builder::new().prefix(&format!("txtraderd-{name}-data-")).tempdir().expect("data folder"));
        let log = std::env::temp_dir().join(format!("txtraderd-{name}-{}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TXTRADER_HTTP_PORT", "0")
            .env("TXTRADER_TCP_PORT", "0")
            .env("TXTRADER_BIND_ADDRESS", "127.0.0.1")
            .env("TXTRADER_LOG_LEVEL", "INFO")
            .envs(data.iter().map(|d| ("TXTRADER_DATA_DIR", d.path().as_os_str())))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start txtraderd: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let kinds = [
                    ("http", "txtraderd: http listening on "),
                    ("tcp", "txtraderd: tcp listening on "),
                    ("https", "txtraderd: https listening on "),
                    ("tls-tcp", "txtraderd: tls tcp listening on "),
                ];
                for (kind, prefix) in kinds {
                    if let Some(addr) = line.strip_prefix(prefix) {
                        let _ = tx.send((kind, addr.to_owned()));
                    }
                }
            }
        });
        let expect_tls = env.iter().any(|(k, _)| *k == "TXTRADER_TLS_CERT_FILE");
        Self { child, http_port: 0, tcp_port: 0, https_port: 0, tls_tcp_port: 0, expect_tls, log, data, listening: Some(rx) }
    }

    fn wait_listening(&mut self) {
        let Some(rx) = self.listening.take() else { return };
        while self.http_port == 0 || self.tcp_port == 0 || (self.expect_tls && (self.https_port == 0 || self.tls_tcp_port == 0)) {
            let (kind, addr) = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
                let _ = self.child.kill();
                panic!("txtraderd did not start; log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default())
            });
            let port = addr.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
            match kind {
                "http" => self.http_port = port,
                "tcp" => self.tcp_port = port,
                "https" => self.https_port = port,
                _ => self.tls_tcp_port = port,
            }
        }
    }

    /// Its data folder, when the harness made one.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data.as_ref().map(tempfile::TempDir::path)
    }

    /// Kills it with SIGKILL (a crash: nothing is flushed, no handler runs) and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// Starts `txtraderd` on the data folder `data` (so a restart on the same folder has the same
/// books), with fills 50 ms after an order and `extra` settings, and waits until it is `Up`.
///
/// # Panics
/// As [`Daemon::start`] and [`Http::wait_status`].
pub fn start_on(name: &str, data: &Path, extra: &[(&str, &str)]) -> (Daemon, Http) {
    let mut env = vec![("TXTRADER_DATA_DIR", data.to_str().expect("utf-8 data folder")), ("TXTRADER_SIM_FILL_DELAY_MS", "50")];
    env.extend_from_slice(extra);
    let d = Daemon::start(name, &env);
    let http = Http::new(d.http_port);
    http.wait_status("Up");
    (d, http)
}

/// A fresh, empty folder under the system temp dir, unique to this process and `name`.
///
/// # Panics
/// When it cannot be created.
pub fn temp_folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("txtrader-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Builds an adapter crate of the workspace as a dynamic library, stamped with `version`
/// (`TXTRADER_ADAPTER_BUILD_VERSION`, for adapters that honour it), and returns a copy of the
/// `.so` that later builds do not overwrite.
///
/// Builds go to `target/adapter-builds`, apart from the workspace's own target folder, so that
/// stamping a version never invalidates the build the tests run from. Builds are serialized.
///
/// # Panics
/// When the build fails.
pub fn build_adapter(package: &str, version: Option<&str>) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let target = workspace().join("target/adapter-builds");
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace())
        .args(["build", "--locked", "--quiet", "--lib", "-p", package, "--target-dir"])
        .arg(&target);
    match version {
        Some(v) => cmd.env("TXTRADER_ADAPTER_BUILD_VERSION", v),
        None => cmd.env_remove("TXTRADER_ADAPTER_BUILD_VERSION"),
    };
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    assert!(out.status.success(), "building {package} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let lib = target.join("debug").join(format!("lib{}.so", package.replace('-', "_")));
    let stage = target.join("stage");
    std::fs::create_dir_all(&stage).unwrap_or_else(|e| panic!("cannot create {}: {e}", stage.display()));
    let copy = stage.join(format!("{package}-{}.so", version.unwrap_or("plain")));
    std::fs::copy(&lib, &copy).unwrap_or_else(|e| panic!("cannot copy {}: {e}", lib.display()));
    copy
}

/// A txTrader HTTP API client (JSON over HTTP with basic auth), for tests that drive the gateway
/// from Rust; the Python `txtrader-client` is exercised by the conformance tests.
#[derive(Debug, Clone)]
pub struct Http {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

impl Http {
    /// The same client with another `Authorization` header value (e.g. `Bearer …`).
    pub fn with_authorization(&self, value: &str) -> Self {
        Self { auth: value.to_owned(), ..self.clone() }
    }

    /// The same client with other Basic credentials.
    pub fn with_user(&self, user: &str, password: &str) -> Self {
        self.with_authorization(&format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))))
    }

    /// POSTs a JSON-RPC 2.0 call to `/rpc`; answers the HTTP status and the JSON body.
    ///
    /// # Panics
    /// When the request cannot be made or the body is not JSON.
    pub fn rpc(&self, method: &str, params: &serde_json::Value) -> (u16, serde_json::Value) {
        let body = serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        let resp = self
            .agent
            .post(format!("{}/rpc", self.base))
            .header("Authorization", &self.auth)
            .send_json(&body)
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.into_body().read_json().unwrap_or_else(|e| panic!("{method}: body is not JSON: {e}")))
    }

    /// A client of the daemon's HTTP port with the default credentials.
    pub fn new(port: u16) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        let credentials = "txtrader_user:change_this_password";
        Self { agent, base: format!("http://127.0.0.1:{port}"), auth: format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials)) }
    }

    /// POSTs a command with JSON arguments; answers the HTTP status and the JSON body.
    ///
    /// # Panics
    /// When the request cannot be made or the body is not JSON.
    pub fn call(&self, command: &str, args: &serde_json::Value) -> (u16, serde_json::Value) {
        let resp = self
            .agent
            .post(format!("{}/{command}", self.base))
            .header("Authorization", &self.auth)
            .send_json(args)
            .unwrap_or_else(|e| panic!("{command}: {e}"));
        let status = resp.status().as_u16();
        let body = resp.into_body().read_json().unwrap_or_else(|e| panic!("{command}: body is not JSON: {e}"));
        (status, body)
    }

    /// Like [`Http::call`], but `None` when the gateway does not answer (it was killed).
    pub fn try_call(&self, command: &str, args: &serde_json::Value) -> Option<(u16, serde_json::Value)> {
        let resp = self.agent.post(format!("{}/{command}", self.base)).header("Authorization", &self.auth).send_json(args).ok()?;
        let status = resp.status().as_u16();
        let body = resp.into_body().read_json().ok()?;
        Some((status, body))
    }

    /// Like [`Http::call`], insisting on `200`.
    ///
    /// # Panics
    /// On any other status.
    pub fn ok(&self, command: &str, args: &serde_json::Value) -> serde_json::Value {
        let (status, body) = self.call(command, args);
        assert_eq!(status, 200, "{command} {args}: {body}");
        body
    }

    /// Waits until the gateway status is `want`.
    ///
    /// # Panics
    /// After 30 s.
    pub fn wait_status(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.ok("status", &serde_json::json!({})) != want {
            assert!(Instant::now() < deadline, "gateway never became {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls `query_order` until the order's status is one of `want`.
    ///
    /// # Panics
    /// After 30 s.
    pub fn wait_order(&self, permid: &str, want: &[&str]) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let o = self.ok("query_order", &serde_json::json!({"id": permid}));
            if want.iter().any(|w| o["status"] == *w) {
                return o;
            }
            assert!(Instant::now() < deadline, "order {permid} stuck in {}", o["status"]);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One adapter instance from `query_adapters`.
    pub fn adapter(&self, name: &str) -> serde_json::Value {
        self.ok("query_adapters", &serde_json::json!({}))["adapters"][name].clone()
    }

    /// Polls `query_adapters` until `pred` holds for the instance.
    ///
    /// # Panics
    /// After `within`.
    pub fn wait_adapter(&self, name: &str, within: Duration, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let a = self.adapter(name);
            if pred(&a) {
                return a;
            }
            assert!(Instant::now() < deadline, "adapter {name} never got there; last seen {a}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A stream session that records every message it receives on a background thread.
#[derive(Debug)]
pub struct StreamRecorder {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    writer: std::net::TcpStream,
}

impl StreamRecorder {
    /// Connects, authorizes with the default credentials and `options`, and starts recording.
    ///
    /// # Panics
    /// When the connection or the authorization fails.
    pub fn connect(port: u16, options: &str) -> Self {
        let me = Self::connect_as(port, "txtrader_user change_this_password", options);
        me.wait_for(Duration::from_secs(10), |m| m.starts_with(".Authorized"));
        me
    }

    /// Connects and sends `auth CREDENTIALS OPTIONS` (credentials are `user password`) without
    /// waiting for the answer.
    ///
    /// # Panics
    /// When the connection fails.
    pub fn connect_as(port: u16, credentials: &str, options: &str) -> Self {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the stream");
        let mut writer = stream.try_clone().expect("clone");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            while let Some(message) = read_netstring(&mut reader) {
                sink.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(message);
            }
        });
        write_netstring(&mut writer, &format!("auth {credentials} {options}"));
        Self { lines, writer }
    }

    /// Sends a command.
    pub fn send(&mut self, command: &str) {
        write_netstring(&mut self.writer, command);
    }

    /// Everything received so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Waits until a received message satisfies `pred`, and answers it.
    ///
    /// # Panics
    /// After `within`.
    pub fn wait_for(&self, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(m) = self.lines().into_iter().find(|m| pred(m)) {
                return m;
            }
            assert!(Instant::now() < deadline, "stream message never came; got:\n{}", self.lines().join("\n"));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn write_netstring(w: &mut impl std::io::Write, text: &str) {
    let frame = format!("{}:{text},", text.len());
    w.write_all(frame.as_bytes()).expect("stream write");
}

fn read_netstring(r: &mut impl BufRead) -> Option<String> {
    let mut len = Vec::new();
    r.read_until(b':', &mut len).ok()?;
    let n: usize = std::str::from_utf8(len.strip_suffix(b":")?).ok()?.parse().ok()?;
    let mut body = vec![0; n + 1];
    std::io::Read::read_exact(r, &mut body).ok()?;
    (body.pop() == Some(b',')).then(|| String::from_utf8_lossy(&body).into_owned())
}

/// Builds the example strategies and test fixtures of `plugins/` for `wasm32-wasip2` (once per
/// test process) and answers the folder holding the `.wasm` components.
///
/// # Panics
/// When the build fails (is the `wasm32-wasip2` target installed? `rustup target add
/// wasm32-wasip2`).
pub fn strategy_components() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let target = workspace().join("target/wasm");
        let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(workspace().join("plugins"))
            .args(["build", "--locked", "--quiet", "--release", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(&target)
            .output()
            .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
        assert!(out.status.success(), "building the strategies failed:\n{}", String::from_utf8_lossy(&out.stderr));
        target.join("wasm32-wasip2/release")
    })
}

/// `fake_rtgw.py` (the fake RealTick RTGW gateway) on an ephemeral loopback port, under
/// `timeout`; stopped when dropped.
#[derive(Debug)]
pub struct FakeRtgw {
    child: std::process::Child,
    /// Its port.
    pub port: u16,
}

impl FakeRtgw {
    /// Starts it with extra environment (`FAKE_RTGW_*`).
    ///
    /// # Panics
    /// When it does not start.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let script = workspace().join("tests/peers/fake_rtgw.py");
        let mut child = std::process::Command::new("timeout")
            .arg("300")
            .arg("python3")
            .arg(&script)
            .env("FAKE_RTGW_PORT", "0")
            .env("FAKE_RTGW_FILL_DELAY", "0.05")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("python3 runs fake_rtgw.py");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).expect("the fake says where it listens");
        let port = line.split("127.0.0.1:").nth(1).and_then(|p| p.trim().parse().ok()).unwrap_or_else(|| panic!("no port in {line:?}"));
        // it goes on printing: read it, or its prints fail on a closed pipe
        std::thread::spawn(move || {
            let mut sink = String::new();
            while std::io::BufRead::read_line(&mut out, &mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
        });
        Self { child, port }
    }
}

impl Drop for FakeRtgw {
    fn drop(&mut self) {
        // SIGTERM to `timeout`, which passes it on to the fake
        let _ = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// A folder holding the workspace's adapter `package` built as a dynamic library, under the
/// file name txtraderd looks for (`lib<package>.so`), for `TXTRADER_ADAPTER_DIR`.
///
/// # Panics
/// When the build or the copy fails.
pub fn adapter_folder(package: &str, name: &str) -> PathBuf {
    let lib = build_adapter(package, None);
    let dir = temp_folder(&format!("adapters-{name}"));
    std::fs::copy(&lib, dir.join(format!("lib{}.so", package.replace('-', "_")))).unwrap_or_else(|e| panic!("cannot copy {}: {e}", lib.display()));
    dir
}

/// Polls `f` every 100 ms until it holds.
///
/// # Panics
/// When it does not hold within `within`.
pub fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Which QuickFIX acceptor a [`FixPeer`] runs (`../shared/spec/fix.md`, section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixPeerKind {
    /// Debian's prebuilt C++ `executor`: fills every limit order at once (FIX 4.2 and 4.4).
    Executor,
    /// Debian's prebuilt C++ `ordermatch`: a real book with partial fills and cancels (FIX 4.2).
    Ordermatch,
    /// `tests/peers/fix/fix_exchange.py` on QuickFIX's Python binding (FIX 4.2 and 4.4).
    Exchange,
}

impl FixPeerKind {
    /// Its TargetCompID.
    pub fn comp_id(self) -> &'static str {
        match self {
            Self::Executor => "EXECUTOR",
            Self::Ordermatch => "ORDERMATCH",
            Self::Exchange => "EXCHANGE",
        }
    }
}

/// A QuickFIX acceptor on 127.0.0.1 with its store in a fresh folder, under `timeout`; set up by
/// `scripts/fix-peers.sh`.
#[derive(Debug)]
pub struct FixPeer {
    child: std::process::Child,
    /// Held open: ordermatch reads commands from stdin and spins once it ends.
    _stdin: Option<std::process::ChildStdin>,
    /// Its port.
    pub port: u16,
    /// Its folder (settings, store, output).
    pub dir: PathBuf,
    /// Which acceptor.
    pub kind: FixPeerKind,
}

impl FixPeer {
    /// Starts one and waits until it accepts connections.
    ///
    /// # Panics
    /// When the peers are not set up or it does not start.
    pub fn start(kind: FixPeerKind) -> Self {
        Self::start_with(kind, "")
    }

    /// Starts one with `extra` lines in its settings' `[DEFAULT]` section (for `fix_exchange.py`:
    /// `SocketUseSSL=Y` and the certificate files serve TLS).
    ///
    /// # Panics
    /// As [`FixPeer::start`].
    pub fn start_with(kind: FixPeerKind, extra: &str) -> Self {
        static SET_UP: OnceLock<bool> = OnceLock::new();
        let root = workspace();
        // once per test process: tests starting peers in parallel must not set up at once
        let ready = *SET_UP.get_or_init(|| std::process::Command::new(root.join("scripts/fix-peers.sh")).status().is_ok_and(|s| s.success()));
        assert!(ready, "scripts/fix-peers.sh failed: the FIX peers are not set up");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port");
        let dir = temp_folder(&format!("fixpeer-{}-{port}", kind.comp_id().to_lowercase()));
        let template = match kind {
            FixPeerKind::Executor => "fix_executor.cfg.in",
            FixPeerKind::Ordermatch => "fix_ordermatch.cfg.in",
            FixPeerKind::Exchange => "fix_exchange.cfg.in",
        };
        let text = std::fs::read_to_string(root.join("tests/peers/fix").join(template)).expect("the template");
        let cfg = dir.join("peer.cfg");
        let dict = root.join(".venv-fix/share/quickfix");
        let text = text.replace("@PORT@", &port.to_string()).replace("@WORK_DIR@", &dir.join("work").display().to_string()).replace("@DICT_DIR@", &dict.display().to_string());
        let text = text.replacen("[SESSION]", &format!("{extra}\n[SESSION]"), 1);
        std::fs::write(&cfg, text).expect("write the settings");
        let out = std::fs::File::create(dir.join("peer.out")).expect("output file");
        let mut cmd = std::process::Command::new("timeout");
        cmd.arg("900");
        match kind {
            FixPeerKind::Executor => cmd.arg(root.join("target/fixpeer/bin/executor")).arg(&cfg),
            FixPeerKind::Ordermatch => cmd.arg(root.join("target/fixpeer/bin/ordermatch")).arg(&cfg),
            FixPeerKind::Exchange => cmd.arg(root.join(".venv-fix/bin/python")).arg(root.join("tests/peers/fix/fix_exchange.py")).arg(&cfg).arg("890"),
        };
        cmd.stdin(if kind == FixPeerKind::Ordermatch { std::process::Stdio::piped() } else { std::process::Stdio::null() });
        let mut child = cmd.stdout(out.try_clone().expect("dup")).stderr(out).spawn().expect("the FIX peer starts");
        let stdin = child.stdin.take();
        let peer = Self { child, _stdin: stdin, port, dir, kind };
        if kind == FixPeerKind::Exchange {
            // it says when it listens; a bare connect would cost its SSL acceptor a handshake
            wait_until("the FIX peer to listen", Duration::from_secs(30), || peer.output().contains("ready"));
        } else {
            wait_until("the FIX peer to listen", Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        }
        peer
    }

    /// What it printed, and the message logs QuickFIX wrote (`fix_exchange.py` logs to files).
    pub fn output(&self) -> String {
        let logs = std::fs::read_dir(self.dir.join("work/log")).into_iter().flatten().flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default());
        std::iter::once(std::fs::read_to_string(self.dir.join("peer.out")).unwrap_or_default()).chain(logs).collect::<String>().replace('\u{1}', "|")
    }

    /// Settings for a txtraderd FIX instance named `instance` logging on to this peer.
    pub fn instance_env(&self, instance: &str, begin_string: &str, accounts: &str) -> Vec<(String, String)> {
        let p = format!("TXTRADER_{}_", instance.to_uppercase());
        [
            ("PORT", self.port.to_string()),
            ("SENDER_COMP_ID", "GATEWAY".to_owned()),
            ("TARGET_COMP_ID", self.kind.comp_id().to_owned()),
            ("BEGIN_STRING", begin_string.to_owned()),
            ("ACCOUNTS", accounts.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("{p}{k}"), v))
        .collect()
    }
}

impl Drop for FixPeer {
    fn drop(&mut self) {
        // SIGTERM to `timeout`, which passes it on
        let _ = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}
