//! Users, roles and TLS on the real `txtraderd`: each role allowed and refused on each interface
//! (HTTP leaf routes, JSON-RPC, the stream), orders on another trader's account refused, orders
//! recording their user, bearer tokens and their rate, the legacy pair still working for the
//! real `txtrader-client`; HTTPS checked with `curl --cacert`, the TLS stream with Python's
//! `ssl`, client certificates (mTLS) accepted and refused; and a flood of 2,000 idle and garbage
//! connections from one address while an authenticated client trades unaffected.

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use txtrader_tests::{txtraderd, venv, workspace, Daemon, Http, StreamRecorder};

const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";
const LEGACY: (&str, &str) = ("txtrader_user", "legacy-secret");

/// A password's argon2 hash, made by `txtraderd hash-password` as an operator would.
fn hash(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(txtraderd())
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("txtraderd hash-password");
    child.stdin.take().expect("stdin").write_all(format!("{password}\n").as_bytes()).expect("write");
    let out = child.wait_with_output().expect("hash");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

/// A new bearer token and its stored form, from `txtraderd new-token`.
fn token() -> (String, String) {
    let out = Command::new(txtraderd()).arg("new-token").output().expect("txtraderd new-token");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let token = text.lines().find_map(|l| l.strip_prefix("token (give it to the client; it is not stored): ")).expect("token line");
    let stored = text.split('"').nth(1).expect("stored form");
    (token.to_owned(), stored.to_owned())
}

/// The users file of these tests (in `dir`), and the bot's bearer token.
fn users_file(dir: &Path) -> (PathBuf, String) {
    let (bot_token, bot_stored) = token();
    let text = format!(
        r#"
[users.reader]
password = "{reader}"
roles = ["read"]

[users.trader]
password = "{trader}"
roles = ["read", "trade"]
accounts = ["{ACCT}"]

[users.elsewhere]
password = "{elsewhere}"
roles = ["read", "trade"]
accounts = ["OTHER.ACCOUNT"]

[users.ops]
password = "{ops}"
roles = ["read", "operator"]

[users.bot]
tokens = ["{bot_stored}"]
roles = ["read", "trade"]
accounts = ["*"]
requests_per_second = 5

[users.alice]
certificate = "alice"
roles = ["read"]
"#,
        reader = hash("read-pw"),
        trader = hash("trade-pw"),
        elsewhere = hash("else-pw"),
        ops = hash("ops-pw"),
    );
    let path = dir.join("users.toml");
    std::fs::write(&path, text).expect("users file");
    (path, bot_token)
}

/// A CA, the server's certificate for localhost and 127.0.0.1, a client certificate for
/// `alice` from that CA, and one for `alice` from a CA the gateway does not trust.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    alice: (PathBuf, PathBuf),
    stranger: (PathBuf, PathBuf),
}

fn ca(name: &str) -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("CA");
    (Issuer::new(params, key), cert.pem())
}

fn leaf(issuer: &Issuer<'static, KeyPair>, cn: &str, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("sign");
    (cert.pem(), key.serialize_pem())
}

fn pki(dir: &Path) -> Pki {
    let (issuer, ca_pem) = ca("txtrader test CA");
    let (stranger_issuer, _) = ca("somebody else's CA");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let (cert, key) = leaf(&issuer, "localhost", &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let (alice_cert, alice_key) = leaf(&issuer, "alice", &[], ExtendedKeyUsagePurpose::ClientAuth);
    let (s_cert, s_key) = leaf(&stranger_issuer, "alice", &[], ExtendedKeyUsagePurpose::ClientAuth);
    Pki {
        ca: write("ca.pem", &ca_pem),
        cert: write("server.pem", &cert),
        key: write("server-key.pem", &key),
        alice: (write("alice.pem", &alice_cert), write("alice-key.pem", &alice_key)),
        stranger: (write("stranger.pem", &s_cert), write("stranger-key.pem", &s_key)),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `curl` over HTTPS: answers the HTTP status (0 when the connection or handshake failed) and
/// the body.
fn curl(url: &str, ca: &Path, extra: &[&str]) -> (u16, String) {
    let out = Command::new("timeout")
        .args(["20", "curl", "-sS", "--cacert", s(ca), "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn probe(args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = Command::new("timeout")
        .arg("120")
        .arg(venv().join("bin/python"))
        .arg(workspace().join("tests/compat/access_probe.py"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("python probe");
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_else(|| panic!("probe {args:?} printed nothing; stderr:\n{}", String::from_utf8_lossy(&out.stderr)));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("probe output {last:?}: {e}"))
}

fn start(name: &str, users: &Path, extra: &[(&str, &str)]) -> (Daemon, Http) {
    let mut env = vec![
        ("TXTRADER_USERS_FILE", s(users)),
        ("TXTRADER_USERNAME", LEGACY.0),
        ("TXTRADER_PASSWORD", LEGACY.1),
        ("TXTRADER_SIM_FILL_DELAY_MS", "50"),
    ];
    env.extend_from_slice(extra);
    let d = Daemon::start(name, &env);
    let http = Http::new(d.http_port).with_user(LEGACY.0, LEGACY.1);
    http.wait_status("Up");
    (d, http)
}

#[test]
fn each_role_is_allowed_and_refused_on_every_interface() {
    let dir = tempfile::tempdir().expect("dir");
    let (users, bot_token) = users_file(dir.path());
    let (d, legacy) = start("access-roles", &users, &[]);
    let as_user = |u: &str, p: &str| legacy.with_user(u, p);
    let (reader, trader, elsewhere, ops) = (as_user("reader", "read-pw"), as_user("trader", "trade-pw"), as_user("elsewhere", "else-pw"), as_user("ops", "ops-pw"));
    let order = json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 10});

    // HTTP leaf routes
    assert_eq!(reader.call("query_positions", &json!({})).0, 200);
    let (status, body) = reader.call("market_order", &order);
    assert_eq!(status, 403, "{body}");
    assert!(body["errorMsg"].as_str().is_some_and(|m| m.contains("lacks the trade role for market_order")), "{body}");
    let (status, placed) = trader.call("market_order", &order);
    assert_eq!(status, 200, "{placed}");
    assert_eq!(placed["user"], "trader", "the order records who placed it: {placed}");
    let permid = placed["permid"].as_str().expect("permid").to_owned();
    assert_eq!(legacy.wait_order(&permid, &["Filled"])["user"], "trader");
    let (status, body) = elsewhere.call("market_order", &order);
    assert_eq!(status, 403, "{body}");
    assert!(body["errorMsg"].as_str().is_some_and(|m| m.contains(&format!("may not trade account {ACCT}"))), "{body}");
    let (status, body) = elsewhere.call("global_cancel", &json!({}));
    assert_eq!(status, 403, "global_cancel reaches every account: {body}");
    assert_eq!(trader.call("kill_switch", &json!({})).0, 403);
    assert_eq!(ops.call("market_order", &order).0, 403, "an operator does not trade");
    assert_eq!(ops.call("query_adapters", &json!({})).0, 200);
    assert_eq!(legacy.with_user("reader", "wrong").call("status", &json!({})).0, 401);
    assert_eq!(legacy.with_user("nobody", "read-pw").call("status", &json!({})).0, 401);

    // JSON-RPC
    let (status, body) = reader.rpc("market_order", &order);
    assert_eq!((status, body["error"]["code"].as_i64()), (200, Some(-32007)), "{body}");
    let (status, body) = trader.rpc("limit_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 5, "limit_price": 1.0}));
    assert_eq!(status, 200, "{body}");
    let resting = body["result"]["permid"].as_str().expect("resting order").to_owned();
    assert_eq!(elsewhere.rpc("cancel_order", &json!({"id": resting})).1["error"]["code"], -32007, "another account's order");
    assert!(trader.rpc("cancel_order", &json!({"id": resting})).1.get("result").is_some());
    let (_, body) = ops.rpc("rearm", &json!({}));
    assert_eq!(body["result"]["state"], "ACTIVE", "{body}");

    // bearer token, and its rate: 5 a second
    let bot = legacy.with_authorization(&format!("Bearer {bot_token}"));
    assert_eq!(bot.rpc("status", &json!({})).1["result"], "Up");
    let statuses: Vec<u16> = (0..12).map(|_| bot.call("status", &json!({})).0).collect();
    assert!(statuses.contains(&429), "12 requests at once exceed 5 a second: {statuses:?}");
    assert_eq!(legacy.with_authorization("Bearer not-a-token").call("status", &json!({})).0, 401);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(bot.call("status", &json!({})).0, 200, "the bucket refills");

    // the stream
    let mut read_session = StreamRecorder::connect_as(d.tcp_port, "reader read-pw", "{}");
    read_session.wait_for(Duration::from_secs(10), |m| m.starts_with(".Authorized"));
    read_session.send("positions");
    read_session.wait_for(Duration::from_secs(10), |m| m.starts_with("rtx.positions: "));
    read_session.send(&format!("marketorder {ACCT} DEMO IBM 10"));
    read_session.wait_for(Duration::from_secs(10), |m| m.starts_with(".error: forbidden: user \"reader\" lacks the trade role for marketorder"));
    read_session.send("killswitch");
    read_session.wait_for(Duration::from_secs(10), |m| m.contains("lacks the operator role for killswitch"));
    let mut trade_session = StreamRecorder::connect_as(d.tcp_port, "trader trade-pw", r#"{"order-notification": 1}"#);
    trade_session.wait_for(Duration::from_secs(10), |m| m.starts_with(".Authorized"));
    trade_session.send(&format!("marketorder {ACCT} DEMO IBM 10"));
    trade_session.wait_for(Duration::from_secs(10), |m| m.starts_with("rtx.order") && m.contains("\"user\":\"trader\""));
    let bad = StreamRecorder::connect_as(d.tcp_port, "trader wrong", "{}");
    bad.wait_for(Duration::from_secs(10), |m| m == ".Authorization required!");

    // the real txtrader-client with the legacy pair, and with a reader's credentials
    let port = d.http_port.to_string();
    let env = |u: &'static str, p: &'static str| vec![("TXTRADER_HOST", "127.0.0.1"), ("TXTRADER_HTTP_PORT", port.as_str()), ("TXTRADER_USERNAME", u), ("TXTRADER_PASSWORD", p)];
    let out = probe(&["client", ACCT], &env(LEGACY.0, LEGACY.1));
    assert_eq!(out["status"], "Up", "{out}");
    assert_eq!(out["order"]["user"], LEGACY.0, "{out}");
    let out = probe(&["client", ACCT], &env("reader", "read-pw"));
    assert_eq!(out["status"], "Up", "{out}");
    assert!(out.get("order").is_none() && out["error"].as_str().is_some_and(|e| e.contains("403")), "{out}");

    // shutdown: refused to a trader, done for an operator; then the journal shows the user
    assert_eq!(trader.call("shutdown", &json!({"message": "no"})).0, 403);
    assert_eq!(ops.call("shutdown", &json!({"message": "access test done"})).0, 200);
    let mut d = d;
    assert!(d.wait_exit(Duration::from_secs(30)).is_some(), "the operator's shutdown stops it");
    let conn = rusqlite::Connection::open(d.data_dir().expect("data").join("journal.sqlite")).expect("journal");
    let mut stmt = conn.prepare("SELECT body FROM records WHERE kind = 'submitted'").expect("query");
    let bodies: Vec<String> = stmt.query_map([], |r| r.get(0)).expect("rows").map(|r| r.expect("row")).collect();
    assert!(bodies.iter().any(|b| b.contains("\"user\":\"trader\"")), "the journal records the user: {bodies:?}");
}

#[test]
fn https_and_the_tls_stream_serve_with_a_certificate_that_is_renewed_in_place() {
    let dir = tempfile::tempdir().expect("dir");
    let (users, _) = users_file(dir.path());
    let pki = pki(dir.path());
    let tls = [("TXTRADER_TLS_CERT_FILE", s(&pki.cert)), ("TXTRADER_TLS_KEY_FILE", s(&pki.key)), ("TXTRADER_TLS_HTTP_PORT", "0"), ("TXTRADER_TLS_TCP_PORT", "0")];
    let (d, _) = start("access-tls", &users, &tls);
    let url = |path: &str| format!("https://localhost:{}/{path}", d.https_port);
    let resolve = format!("localhost:{}:127.0.0.1", d.https_port);

    let (code, body) = curl(&url("query_accounts"), &pki.ca, &["--resolve", &resolve, "-u", "reader:read-pw"]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(ACCT), "{body}");
    let (code, _) = curl(&url("market_order"), &pki.ca, &["--resolve", &resolve, "-u", "reader:read-pw", "-d", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 1}).to_string()]);
    assert_eq!(code, 403, "roles hold over TLS too");
    let (code, _) = curl(&url("status"), &pki.ca, &["--resolve", &resolve]);
    assert_eq!(code, 401, "TLS is no credential");
    // a client that does not trust the certificate gets no answer
    let (stranger_ca, _) = (dir.path().join("stranger.pem"), ());
    assert_eq!(curl(&url("status"), &stranger_ca, &["--resolve", &resolve, "-u", "reader:read-pw"]).0, 0);

    let port = d.tls_tcp_port.to_string();
    let out = probe(&["tls-stream", &port, s(&pki.ca), "-", "-", "auth trader trade-pw", "positions"], &[]);
    let messages: Vec<&str> = out["messages"].as_array().expect("messages").iter().filter_map(Value::as_str).collect();
    assert!(messages.iter().any(|m| m.starts_with(".connected: ")), "{out}");
    assert!(messages.iter().any(|m| m.starts_with(".Authorized")), "{out}");
    assert!(messages.iter().any(|m| m.starts_with("rtx.positions: ")), "{out}");

    // the certificate is renewed in place: new connections get the new one
    let (issuer, ca_pem) = ca("txtrader renewed CA");
    let (cert, key) = leaf(&issuer, "localhost", &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let new_ca = dir.path().join("renewed-ca.pem");
    std::fs::write(&new_ca, ca_pem).expect("ca");
    std::fs::write(&pki.key, key).expect("key");
    std::fs::write(&pki.cert, cert).expect("cert");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if curl(&url("status"), &new_ca, &["--resolve", &resolve, "-u", "reader:read-pw"]).0 == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the renewed certificate was never served; log:\n{}", d.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(d.log_text().contains("TLS certificate reloaded"));
    // a broken renewal keeps the certificate in force
    std::fs::write(&pki.cert, "not a certificate").expect("cert");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(curl(&url("status"), &new_ca, &["--resolve", &resolve, "-u", "reader:read-pw"]).0, 200);
    assert!(d.log_text().contains("TLS files refused; the certificate in force stays"));
}

#[test]
fn client_certificates_sign_users_in_and_strangers_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let (users, _) = users_file(dir.path());
    let pki = pki(dir.path());
    let tls = [
        ("TXTRADER_TLS_CERT_FILE", s(&pki.cert)),
        ("TXTRADER_TLS_KEY_FILE", s(&pki.key)),
        ("TXTRADER_TLS_CLIENT_CA_FILE", s(&pki.ca)),
        ("TXTRADER_TLS_HTTP_PORT", "0"),
        ("TXTRADER_TLS_TCP_PORT", "0"),
    ];
    let (d, _) = start("access-mtls", &users, &tls);
    let url = format!("https://localhost:{}/query_positions", d.https_port);
    let resolve = format!("localhost:{}:127.0.0.1", d.https_port);
    let (alice_cert, alice_key) = (s(&pki.alice.0), s(&pki.alice.1));

    let (code, body) = curl(&url, &pki.ca, &["--resolve", &resolve, "--cert", alice_cert, "--key", alice_key]);
    assert_eq!(code, 200, "alice's certificate signs her in: {body}");
    let (code, body) = curl(&format!("https://localhost:{}/kill_switch", d.https_port), &pki.ca, &["--resolve", &resolve, "--cert", alice_cert, "--key", alice_key]);
    assert_eq!(code, 403, "as alice, who only reads: {body}");
    assert_eq!(curl(&url, &pki.ca, &["--resolve", &resolve, "-u", "reader:read-pw"]).0, 0, "no client certificate: refused at the handshake");
    let (stranger_cert, stranger_key) = (s(&pki.stranger.0), s(&pki.stranger.1));
    assert_eq!(curl(&url, &pki.ca, &["--resolve", &resolve, "--cert", stranger_cert, "--key", stranger_key]).0, 0, "a certificate from another CA");

    let port = d.tls_tcp_port.to_string();
    let out = probe(&["tls-stream", &port, s(&pki.ca), alice_cert, alice_key, "auth alice -", "orders", "killswitch"], &[]);
    let messages: Vec<&str> = out["messages"].as_array().unwrap_or_else(|| panic!("{out}")).iter().filter_map(Value::as_str).collect();
    assert!(messages.iter().any(|m| m.starts_with(".Authorized")), "the certificate is alice's credential: {out}");
    assert!(messages.iter().any(|m| m.starts_with("rtx.orders: ")), "{out}");
    assert!(messages.iter().any(|m| m.contains("lacks the operator role for killswitch")), "{out}");
    let out = probe(&["tls-stream", &port, s(&pki.ca), stranger_cert, stranger_key, "auth alice -"], &[]);
    assert!(out.get("error").is_some() || out["messages"].as_array().is_some_and(Vec::is_empty), "a stranger's certificate is refused: {out}");
    let log = d.log_text();
    assert!(log.contains("TLS handshake failed"), "refusals are logged");
    assert!(!log.contains("read-pw") && !log.contains("trade-pw"), "no credential in the log");
}

#[test]
fn a_flood_of_idle_and_garbage_connections_never_locks_out_a_trader() {
    let dir = tempfile::tempdir().expect("dir");
    let (users, _) = users_file(dir.path());
    let (d, _) = start("access-flood", &users, &[("TXTRADER_STREAM_AUTH_TIMEOUT", "3"), ("TXTRADER_HTTP_HEADER_TIMEOUT", "3")]);
    let trader = Http::new(d.http_port).with_user("trader", "trade-pw");
    let session = StreamRecorder::connect_as(d.tcp_port, "trader trade-pw", r#"{"order-notification": 1}"#);
    session.wait_for(Duration::from_secs(10), |m| m.starts_with(".Authorized"));

    let (http_port, tcp_port) = (d.http_port.to_string(), d.tcp_port.to_string());
    // each flood connection waits up to 60 s for the gateway to close it (its deadlines are 3 s;
    // a loaded machine may take a while to accept 2,000 connections)
    let flood = std::thread::spawn(move || probe(&["flood", "127.0.0.2", &http_port, &tcp_port, "2000", "60"], &[]));
    std::thread::sleep(Duration::from_millis(1500));
    // while 2,000 connections from 127.0.0.2 press on both ports, a trader from 127.0.0.1 trades
    for _ in 0..5 {
        let (status, order) = trader.call("market_order", &json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 1}));
        assert_eq!(status, 200, "{order}");
        trader.wait_order(order["permid"].as_str().expect("permid"), &["Filled"]);
    }
    let late = StreamRecorder::connect_as(d.tcp_port, "reader read-pw", "{}");
    late.wait_for(Duration::from_secs(10), |m| m.starts_with(".Authorized"));
    let stats = flood.join().expect("flood");
    eprintln!("flood: {stats}");
    assert_eq!(stats["connected"].as_u64().unwrap_or(0) + stats["refused"].as_u64().unwrap_or(0), 2000, "{stats}");
    assert_eq!(stats["open_at_end"], 0, "the gateway closed every idle or garbage connection, none held without a deadline: {stats}");
    session.wait_for(Duration::from_secs(10), |m| m.starts_with("rtx.order-notification") || m.starts_with("rtx.order"));
    let log = d.log_text();
    assert!(log.contains("too many connections from this address"), "the per-address cap refused the flood");
}

#[test]
fn an_exposed_plain_listener_or_the_default_password_off_loopback_is_refused_at_start() {
    let mut d = Daemon::start_expecting_exit("access-exposed-plain", &[("TXTRADER_BIND_ADDRESS", "0.0.0.0"), ("TXTRADER_PASSWORD", "long-and-random")]);
    let status = d.wait_exit(Duration::from_secs(30)).expect("it stops by itself");
    assert_eq!(status.code(), Some(2), "an invalid configuration");
    let log = d.log_text();
    assert!(log.contains("0.0.0.0 is not a loopback address") && log.contains("TXTRADER_ALLOW_PLAIN_NETWORK"), "{log}");
    let mut d = Daemon::start_expecting_exit("access-exposed-default", &[("TXTRADER_BIND_ADDRESS", "0.0.0.0"), ("TXTRADER_ALLOW_PLAIN_NETWORK", "1")]);
    assert_eq!(d.wait_exit(Duration::from_secs(30)).expect("it stops by itself").code(), Some(2));
    assert!(d.log_text().contains("the default password is refused on a non-loopback address"), "{}", d.log_text());
}

#[test]
fn a_changed_users_file_takes_effect_and_a_broken_one_leaves_the_users_in_force() {
    let dir = tempfile::tempdir().expect("dir");
    let (users, _) = users_file(dir.path());
    let (_d, legacy) = start("access-reload", &users, &[]);
    let order = json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 1});
    let reader = legacy.with_user("reader", "read-pw");
    assert_eq!(reader.call("market_order", &order).0, 403);
    let text = std::fs::read_to_string(&users).expect("users").replacen("roles = [\"read\"]\n", &format!("roles = [\"read\", \"trade\"]\naccounts = [\"{ACCT}\"]\n"), 1);
    std::fs::write(&users, text).expect("write");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while reader.call("market_order", &order).0 != 200 {
        assert!(std::time::Instant::now() < deadline, "the reader never got the trade role");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::fs::write(&users, "[users.reader\n").expect("write");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(reader.call("market_order", &order).0, 200, "a broken file leaves the users in force");
}
