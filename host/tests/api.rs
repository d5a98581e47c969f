//! The HTTP API and JSON-RPC, driven through the real router: authentication, every kind of
//! bad input, the initialization gate, and order flows on the simulated exchange.

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, Request, StatusCode};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use txtrader_host::adapters::{self, loader::AdapterIdentity, AdapterLink, AdapterSource, AdapterSpec};
use txtrader_host::compat::CompatConfig;
use txtrader_host::config::Config;
use txtrader_host::gateway::{self, GatewaySettings};
use txtrader_host::access::Access;
use txtrader_host::rpc::{self, App};
use txtrader_host::shutdown::Shutdown;
use txtrader_plugin_api::adapter::{AdapterConfig, AdapterError};
use txtrader_plugin_api::model::{ConnectionStatus, Route};
use txtrader_plugin_api::wire::AdapterRequest;

const ACCT: &str = "REALTICKDEMO.REALTICK.DEMO32.TRADING";

/// An adapter that takes requests and never answers: the gateway stays `Pending`.
struct Silent;

impl AdapterLink for Silent {
    fn name(&self) -> &str {
        "silent"
    }
    fn send(&mut self, _: &AdapterRequest) -> Result<(), AdapterError> {
        Ok(())
    }
    fn shutdown(&mut self) {}
}

/// An adapter that completes the handshake and snapshot itself, then refuses (synchronously) or
/// fails (with a `Failed` event) the requests it is told to.
struct Scripted {
    events: adapters::EventSink,
    refuse_hello: bool,
}

impl AdapterLink for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn send(&mut self, r: &AdapterRequest) -> Result<(), AdapterError> {
        use txtrader_plugin_api::model::{AccountId, LinkState};
        use txtrader_plugin_api::wire::{AdapterEvent, AdapterHello, BrokerSnapshot, ErrorCode, ReplyBody, RequestBody, WireError};
        let reply = |body| AdapterEvent::Reply { request_id: r.id, body };
        match &r.body {
            RequestBody::Hello(_) if self.refuse_hello => Err(AdapterError::Closed),
            RequestBody::Hello(_) => {
                let hello = AdapterHello { protocol_version: 1, name: "scripted".into(), version: "0".into(), features: vec![] };
                (self.events)(reply(ReplyBody::Hello(hello)));
                (self.events)(AdapterEvent::Link(LinkState::Connected));
                Ok(())
            }
            RequestBody::Snapshot => {
                let snap = BrokerSnapshot { accounts: vec![AccountId::new(ACCT).expect("a")], ..BrokerSnapshot::default() };
                (self.events)(reply(ReplyBody::Snapshot(snap)));
                Ok(())
            }
            RequestBody::Subscribe { .. } | RequestBody::SubmitOrder(_) => Err(AdapterError::Failed("broker link is down".into())),
            _ => {
                let error = WireError { code: ErrorCode::Internal, message: "broker says no".into() };
                (self.events)(AdapterEvent::Failed { request_id: r.id, error });
                Ok(())
            }
        }
    }
    fn shutdown(&mut self) {}
}

struct Harness {
    app: App,
    router: axum::Router,
}

fn config(extra: &[(&str, &str)]) -> Config {
    let mut env: BTreeMap<String, String> = extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    env.insert("TXTRADER_HTTP_MAX_BODY".into(), "4096".into());
    env.insert("TXTRADER_LOG_HTTP_RESPONSES".into(), "0".into());
    env.insert("TXTRADER_JOURNAL".into(), "0".into());
    Config::from_map(&env, "box").expect("config")
}

type MakeLink = fn(adapters::EventSink) -> Box<dyn AdapterLink>;

async fn harness(make: Option<MakeLink>, extra: &[(&str, &str)]) -> Harness {
    let config = config(extra);
    let route = Route { name: "DEMO".into(), params: None };
    let source = match make {
        Some(make) => {
            let identity = AdapterIdentity { name: "scripted".into(), version: "0".into(), ..AdapterIdentity::host() };
            AdapterSource::factory(identity, move |_, sink| Ok(make(sink)))
        }
        None => AdapterSource::builtin("sim").expect("sim is built in"),
    };
    let config_for = |name: &str| AdapterConfig {
        instance: name.into(),
        settings: config.adapter_settings.get(name).cloned().unwrap_or_default(),
        timezone: "America/New_York".into(),
        data_dir: None,
        api: Default::default(),
        quote_fields: Default::default(),
    };
    let mut specs = vec![AdapterSpec { name: "sim".into(), kind: "sim".into(), config: config_for("sim"), source }];
    // further instances: TXTRADER_MODE=sim,NAME=sim,...
    for entry in config.mode.iter().skip(1) {
        let source = AdapterSource::builtin(&entry.kind).expect("built in");
        specs.push(AdapterSpec { name: entry.name.clone(), kind: entry.kind.clone(), config: config_for(&entry.name), source });
    }
    let settings = GatewaySettings::from_config(&config, route, specs);
    let shutdown = Shutdown::new();
    let (gw, _core) = gateway::spawn(settings, shutdown.clone());
    let strategies = txtrader_host::strategies::runner::spawn(gw.clone(), shutdown.clone(), None).expect("wasm engine");
    let app = App {
        gateway: gw,
        strategies,
        compat: Arc::new(CompatConfig::from_config(&config)),
        shutdown,
        started: chrono::Local::now(),
        access: Access::legacy(&config.username, &config.password),
        max_body: config.http_max_body,
        body_timeout: config.http_body_timeout,
        log: Arc::new(config.log.clone()),
    };
    let router = rpc::router(app.clone()).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    Harness { app, router }
}

async fn sim() -> Harness {
    let h = harness(None, &[]).await;
    let up = tokio::time::timeout(Duration::from_secs(10), h.app.gateway.wait_status(|s| s == ConnectionStatus::Up)).await;
    assert_eq!(up.expect("up in time"), ConnectionStatus::Up);
    h
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

struct Reply {
    status: StatusCode,
    reason: Option<String>,
    allow: Option<String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

impl Harness {
    async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let reason = resp.extensions().get::<hyper::ext::ReasonPhrase>().map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
        let allow = resp.headers().get(header::ALLOW).map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body").to_vec();
        Reply { status, reason, allow, body }
    }

    async fn raw(&self, method: &str, path: &str, body: &str, auth: Option<&str>) -> Reply {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        self.send(b.body(Body::from(body.to_owned())).expect("request")).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.raw("GET", path, "", Some(&basic("txtrader_user", "change_this_password"))).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.raw("POST", path, &body.to_string(), Some(&basic("txtrader_user", "change_this_password"))).await
    }

    async fn ok(&self, path: &str, body: Value) -> Value {
        let r = self.post(path, body).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    async fn wait_order(&self, permid: &str, want: &[&str]) -> Value {
        for _ in 0..100 {
            let o = self.ok("/query_order", json!({"id": permid})).await;
            if want.contains(&o["status"].as_str().unwrap_or_default()) {
                return o;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("order {permid} never reached {want:?}");
    }
}

#[tokio::test]
async fn every_request_needs_credentials() {
    let h = sim().await;
    for auth in [None, Some(basic("txtrader_user", "wrong")), Some(basic("intruder", "change_this_password")), Some("Bearer x".into())] {
        for path in ["/status", "/help", "/no_such_thing", "/rpc"] {
            let r = h.raw("GET", path, "", auth.as_deref()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path} with {auth:?}");
            assert_eq!(r.json(), json!({"status": "Unauthorized"}));
        }
    }
    assert_eq!(h.get("/status").await.json(), json!("Up"));
}

#[tokio::test]
async fn health_probes_answer_without_credentials_and_say_nothing_else() {
    let h = sim().await;
    tokio::time::timeout(Duration::from_secs(10), h.app.gateway.wait_status(|s| s == ConnectionStatus::Up)).await.expect("up");
    for (path, word) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let r = h.raw("GET", path, "", None).await;
        assert_eq!((r.status, std::str::from_utf8(&r.body).unwrap_or("")), (StatusCode::OK, word), "{path}");
        let with = h.get(path).await;
        assert_eq!((with.status, std::str::from_utf8(&with.body).unwrap_or("")), (StatusCode::OK, word), "{path} with credentials too");
    }
    // what is not a probe still needs credentials, however it is spelled
    for path in ["/healthz/x", "/readyz2", "/metrics"] {
        assert_eq!(h.raw("GET", path, "", None).await.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn not_ready_until_every_adapter_is_linked() {
    let h = harness(Some(|_| Box::new(Silent)), &[]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.raw("GET", "/healthz", "", None).await.status, StatusCode::OK, "the process answers");
    let r = h.raw("GET", "/readyz", "", None).await;
    assert_eq!((r.status, std::str::from_utf8(&r.body).unwrap_or("")), (StatusCode::SERVICE_UNAVAILABLE, "not ready"));
}

#[tokio::test]
async fn bad_input_gets_precise_errors_and_harms_no_one() {
    let h = sim().await;
    let cases: Vec<(Reply, StatusCode, &str)> = vec![
        (h.get("/no_such_command").await, StatusCode::NOT_FOUND, "no such command"),
        (h.get("/").await, StatusCode::NOT_FOUND, "no such command"),
        (h.raw("POST", "/add_symbol", "{not json", Some(&basic("txtrader_user", "change_this_password"))).await, StatusCode::BAD_REQUEST, "not valid JSON"),
        (h.raw("POST", "/add_symbol", "", Some(&basic("txtrader_user", "change_this_password"))).await, StatusCode::BAD_REQUEST, "not valid JSON"),
        (h.post("/add_symbol", json!(["IBM"])).await, StatusCode::BAD_REQUEST, "must be a JSON object, got an array"),
        (h.post("/add_symbol", json!({})).await, StatusCode::BAD_REQUEST, "missing argument 'symbol'"),
        (h.post("/market_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": "ten"})).await, StatusCode::BAD_REQUEST, "invalid argument 'quantity'"),
        (h.post("/market_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 1.5})).await, StatusCode::BAD_REQUEST, "not a whole number"),
        (h.post("/limit_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 1, "limit_price": "cheap"})).await, StatusCode::BAD_REQUEST, "invalid argument 'limit_price'"),
        (h.post("/query_account", json!({"account": ACCT, "fields": ["CASH_BALANCE"]})).await, StatusCode::BAD_REQUEST, "comma-separated"),
        (h.post("/shutdown", json!({})).await, StatusCode::BAD_REQUEST, "missing argument 'message'"),
        (h.post("/set_order_route", json!({"route": [1, 2]})).await, StatusCode::UNPROCESSABLE_ENTITY, "cannot set order route"),
        (h.post("/add_symbol", json!({"symbol": "x".repeat(5000)})).await, StatusCode::PAYLOAD_TOO_LARGE, "over 4096 bytes"),
    ];
    for (r, status, needle) in cases {
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        let body = r.json();
        assert_eq!(body["status"], "Error");
        assert!(body["errorMsg"].as_str().unwrap_or_default().contains(needle), "{body} lacks {needle:?}");
    }
    let put = h.raw("PUT", "/status", "", Some(&basic("txtrader_user", "change_this_password"))).await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(put.allow.as_deref(), Some("GET, HEAD, POST"));
    // the gateway still serves, and the route was not changed by the bad one
    assert_eq!(h.get("/status").await.json(), json!("Up"));
    assert_eq!(h.get("/get_order_route").await.json(), json!({"DEMO": null}));
}

#[tokio::test]
async fn leaf_routes_and_string_arguments() {
    let h = sim().await;
    assert_eq!(h.get("/status/extra/segments").await.json(), json!("Up"));
    assert_eq!(h.raw("HEAD", "/status", "", Some(&basic("txtrader_user", "change_this_password"))).await.status, StatusCode::OK);
    assert_eq!(h.get("/add_symbol?symbol=ibm").await.json()["symbol"], "IBM");
    // GET values are strings: "False" is a non-empty string, hence true
    assert!(h.get("/query_symbols?data=False").await.json().is_object());
    assert_eq!(h.get("/query_symbols").await.json(), json!(["IBM"]));
    // absurd dates are refused as the original refuses bad bar arguments (an alert with the
    // reason, the answer null), never a panic: in a JSON-RPC batch the order placed beside them
    // keeps its answer
    let absurd = json!({"symbol": "IBM", "period": "W", "start": "-99999999999999", "end": "."});
    assert_eq!(h.ok("/query_bars", absurd.clone()).await, Value::Null);
    let batch = h
        .ok(
            "/rpc",
            json!([
                {"jsonrpc": "2.0", "method": "market_order", "params": {"account": "REALTICKDEMO.REALTICK.DEMO32.TRADING", "route": "DEMO", "symbol": "IBM", "quantity": 1}, "id": 1},
                {"jsonrpc": "2.0", "method": "query_bars", "params": absurd, "id": 2},
            ]),
        )
        .await;
    let answers = batch.as_array().expect("batch");
    assert!(answers.iter().any(|a| a["id"] == 1 && a["result"]["permid"].is_string()), "{batch}");
    assert!(answers.iter().any(|a| a["id"] == 2 && a["result"].is_null() && a.get("result").is_some()), "{batch}");
    let help = h.get("/help").await.json();
    assert_eq!(help.as_object().map(|m| m.len()), Some(49), "35 original commands, 3 adapter, 4 strategy, 2 journal, 4 risk commands and modify_order");
    assert!(h.get("/query_journal").await.json().is_null(), "this harness runs without a journal");
    let compact = h.get("/compact_journal").await;
    assert_eq!(compact.status, StatusCode::CONFLICT);
    assert!(compact.json().to_string().contains("without a journal"), "{}", compact.json());
    let version = h.get("/version").await.json();
    let keys: Vec<&String> = version.as_object().expect("dict").keys().collect();
    assert_eq!(keys, ["txtrader", "python", "flags", "revision"]);
    assert_eq!(version["flags"].as_object().map(|m| m.len()), Some(6));
    let uptime = h.get("/uptime").await.json();
    let re = uptime.as_str().expect("string");
    assert!(re.starts_with("started ") && re.contains("(elapsed 0:00:0"), "{re}");
}

#[tokio::test]
async fn not_initialized_until_up() {
    let h = harness(Some(|_| Box::new(Silent)), &[]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(h.get("/status").await.json(), json!("Pending"));
    for path in ["/version", "/uptime", "/help"] {
        assert_eq!(h.get(path).await.status, StatusCode::OK, "{path} works before Up");
    }
    for path in ["/query_orders", "/add_symbol?symbol=IBM", "/time", "/market_order"] {
        let r = h.get(path).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(r.reason.as_deref(), Some("Gateway not Initialized"));
        assert_eq!(r.json(), json!(false));
    }
    let rpc = h.post("/rpc", json!({"jsonrpc": "2.0", "method": "query_orders", "id": 1})).await.json();
    assert_eq!(rpc["error"]["code"], -32001);
    let rpc = h.post("/rpc", json!({"jsonrpc": "2.0", "method": "status", "id": 2})).await.json();
    assert_eq!(rpc["result"], "Pending");
}

#[tokio::test]
async fn adapter_failures_are_answered_precisely() {
    let h = harness(Some(|events| Box::new(Scripted { events, refuse_hello: false })), &[]).await;
    let up = || tokio::time::timeout(Duration::from_secs(10), h.app.gateway.wait_status(|s| s == ConnectionStatus::Up));
    up().await.expect("up");
    // an adapter that cannot even queue a request is answered at once, faulted and restarted
    let r = h.post("/add_symbol", json!({"symbol": "IBM"})).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["errorMsg"].as_str().unwrap_or_default().contains("broker link is down"));
    assert_ne!(h.get("/status").await.json(), json!("Up"));
    up().await.expect("restarted");
    let o = h.ok("/market_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 5})).await;
    assert_eq!(o["status"], "Error");
    let reason = o["raw"]["REASON"].as_str().unwrap_or_default();
    assert!(reason.contains("adapter refused the order") && reason.contains("broker link is down"), "{reason}");
    up().await.expect("restarted again");
    let a = h.get("/query_adapters").await.json();
    assert_eq!((a["adapters"]["sim"]["generation"].clone(), a["adapters"]["sim"]["state"].clone()), (json!(3), json!("ready")));
    // a request the adapter took but failed later is only that request's failure
    let r = h.post("/query_account", json!({"account": ACCT})).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert!(r.json()["errorMsg"].as_str().unwrap_or_default().contains("broker says no"));
    // still serving, and the refused order is on the books
    assert_eq!(h.get("/status").await.json(), json!("Up"));
    assert_eq!(h.get("/query_orders").await.json().as_object().map(|m| m.len()), Some(1));
}

#[tokio::test]
async fn a_refused_handshake_stops_the_gateway() {
    let h = harness(Some(|events| Box::new(Scripted { events, refuse_hello: true })), &[]).await;
    let reason = tokio::time::timeout(Duration::from_secs(5), h.app.shutdown.wait()).await.expect("stops");
    assert!(matches!(&reason, txtrader_host::shutdown::ExitReason::Fatal(m) if m.contains("hello")), "{reason:?}");
    assert_eq!(reason.exit_code(), 1);
}

#[tokio::test]
async fn json_rpc_2() {
    let h = sim().await;
    let r = h.post("/rpc", json!({"jsonrpc": "2.0", "method": "query_accounts", "id": "a"})).await.json();
    assert_eq!(r, json!({"jsonrpc": "2.0", "result": ["REALTICKDEMO.REALTICK.DEMO31.TRADING", ACCT], "id": "a"}));
    let batch = h
        .post(
            "/rpc",
            json!([
                {"jsonrpc": "2.0", "method": "add_symbol", "params": {"symbol": "msft"}, "id": 1},
                {"jsonrpc": "2.0", "method": "teleport", "id": 2},
                {"jsonrpc": "2.0", "method": "add_symbol", "params": {}, "id": 3},
                {"jsonrpc": "2.0", "method": "add_symbol", "params": ["IBM"], "id": 4},
                {"jsonrpc": "2.0", "method": "set_account", "params": {"account": ACCT}},
                {"jsonrpc": "1.0", "method": "status", "id": 5},
                {"jsonrpc": "2.0", "method": "query_account", "params": {"account": ACCT, "fields": "CASH_BALANCE"}, "id": 6},
                17
            ]),
        )
        .await
        .json();
    let items = batch.as_array().expect("array");
    assert_eq!(items.len(), 7, "the notification gets no answer: {batch}");
    assert_eq!(items[0]["result"]["symbol"], "MSFT");
    assert_eq!(items[1]["error"]["code"], -32601);
    assert_eq!(items[2]["error"]["code"], -32602);
    assert!(items[2]["error"]["data"].as_str().unwrap_or_default().contains("missing argument 'symbol'"));
    assert_eq!(items[3]["error"]["code"], -32602);
    assert_eq!((items[4]["error"]["code"].clone(), items[4]["id"].clone()), (json!(-32600), json!(5)));
    assert_eq!(items[5]["result"], json!({"CASH_BALANCE": 100000.0}));
    assert_eq!((items[6]["error"]["code"].clone(), items[6]["id"].clone()), (json!(-32600), Value::Null));
    let bad = h.raw("POST", "/rpc", "{oops", Some(&basic("txtrader_user", "change_this_password"))).await.json();
    assert_eq!((bad["error"]["code"].clone(), bad["id"].clone()), (json!(-32700), Value::Null));
    assert_eq!(h.post("/rpc", json!([])).await.json()["error"]["code"], -32600);
    let quiet = h.post("/rpc", json!([{"jsonrpc": "2.0", "method": "status"}])).await;
    assert_eq!(quiet.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get("/rpc").await.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn symbol_barchart_loads_todays_bars_before_answering() {
    let h = harness(None, &[("TXTRADER_ENABLE_SYMBOL_BARCHART", "1")]).await;
    tokio::time::timeout(Duration::from_secs(10), h.app.gateway.wait_status(|s| s == ConnectionStatus::Up)).await.expect("up");
    let export = h.ok("/add_symbol", json!({"symbol": "IBM"})).await;
    let bars = export["bars"].as_array().expect("the export carries bars").clone();
    // today's bars from the session open to now: none before the open or on a weekend
    for b in &bars {
        let b = b.as_array().expect("bar");
        assert_eq!(b.len(), 7);
        assert!(b[2].is_f64() && b[6].is_i64());
    }
    assert_eq!(h.ok("/query_symbol_bars", json!({"symbol": "IBM"})).await, Value::Array(bars));
    assert_eq!(h.ok("/query_symbol_bars", json!({"symbol": "MSFT"})).await, Value::Null);
    assert_eq!(h.get("/version").await.json()["flags"]["SYMBOL_BARCHART"], true);
}

#[tokio::test]
async fn orders_on_the_simulated_exchange() {
    let h = sim().await;
    // market order: answered at the broker's first word, then filled
    let o = h.ok("/market_order", json!({"account": ACCT, "route": "DEMOEUR", "symbol": "ibm", "quantity": "100"})).await;
    assert_eq!(o["status"], "Submitted");
    assert_eq!(o["raw"]["EXIT_VEHICLE"], "DEMOEUR");
    assert_eq!(h.get("/get_order_route").await.json(), json!({"DEMOEUR": null}), "an order's route replaces the default");
    let permid = o["permid"].as_str().expect("permid").to_owned();
    let filled = h.wait_order(&permid, &["Filled"]).await;
    assert_eq!(filled["filled"], 100);
    assert_eq!(filled["text"], "Buy 100 IBM (Filled)");
    let execs = h.ok("/query_order_executions", json!({"id": permid})).await;
    let exec = execs.as_object().expect("dict").values().next().expect("one execution");
    assert_eq!(exec.as_object().map(|m| m.len()), Some(23));
    assert_eq!(exec["ORIGINAL_ORDER_ID"], permid.as_str());
    assert_eq!(h.ok("/query_positions", json!({"x": 1})).await[ACCT]["IBM"], 100);
    // rejections: first and only answer
    let bad = h.ok("/market_order", json!({"account": ACCT, "route": "DEMO", "symbol": "BADSYMBOL", "quantity": 100})).await;
    assert_eq!(bad["status"], "Error");
    let zero = h.ok("/market_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 0})).await;
    assert_eq!(zero["status"], "Error");
    let who = h.ok("/market_order", json!({"account": "NO.SUCH.ACCT.X", "route": "DEMO", "symbol": "IBM", "quantity": 1})).await;
    assert_eq!(who, json!({"status": "Error", "errorMsg": "account unknown"}));
    let neg = h.ok("/limit_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 1, "limit_price": -5})).await;
    assert_eq!(neg["status"], "Error");
    assert!(neg["errorMsg"].as_str().unwrap_or_default().contains("limit price must be positive"));
    // a resting limit order, cancelled; cancelling again is refused precisely
    let lim = h.ok("/limit_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 1.05})).await;
    let lid = lim["permid"].as_str().expect("permid").to_owned();
    h.wait_order(&lid, &["Pending"]).await;
    assert_eq!(h.ok("/cancel_order", json!({"id": lid})).await, json!({"msg": "OnOtherAck", "status": "1"}));
    h.wait_order(&lid, &["Cancelled"]).await;
    assert_eq!(h.ok("/cancel_order", json!({"id": lid})).await, json!({"status": "Error", "errorMsg": "Already canceled.", "id": lid}));
    assert_eq!(h.ok("/cancel_order", json!({"id": "000"})).await, json!({"status": "Error", "errorMsg": "Order not found", "id": "000"}));
    // staged ticket: a ticket, not an order; cancelled it settles in Error with User cancel
    let t = h.ok("/stage_market_order", json!({"tag": "T1", "account": ACCT, "route": "DEMO", "symbol": "GOOG", "quantity": 10})).await;
    assert_eq!((t["class"].clone(), t["type"].clone()), (json!("ticket"), json!("UserSubmitStagedOrder")));
    let tid = t["permid"].as_str().expect("permid").to_owned();
    assert!(h.get("/query_tickets").await.json().get(&tid).is_some());
    assert!(h.get("/query_orders").await.json().get(&tid).is_none());
    h.ok("/cancel_order", json!({"id": tid})).await;
    let t = h.wait_order(&tid, &["Error"]).await;
    assert_eq!(t["raw"]["REASON"], "User cancel");
}

#[tokio::test]
async fn a_working_order_changes_its_quantity_and_price_and_then_fills_on_them() {
    let h = sim().await;
    let lim = h.ok("/limit_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 1.05})).await;
    let id = lim["permid"].as_str().expect("permid").to_owned();
    h.wait_order(&id, &["Pending"]).await;
    let sent = json!({"msg": "OnOtherAck", "status": "1"});
    assert_eq!(h.ok("/modify_order", json!({"id": id, "quantity": 20, "limit_price": "1.10"})).await, sent);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let changed = loop {
        let o = h.ok("/query_order", json!({"id": id})).await;
        if o["quantity"] == 20 {
            break o;
        }
        assert!(std::time::Instant::now() < deadline, "the change did not arrive: {o}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(changed["status"], "Pending", "{changed}");
    let types: Vec<&str> = changed["updates"].as_array().expect("updates").iter().filter_map(|u| u["type"].as_str()).collect();
    assert_eq!(types.iter().filter(|t| **t == "UserSubmitChange").count(), 2, "asked, then confirmed: {types:?}");
    // what does not fit the order is refused with the reason; nothing is sent
    let err = |msg: &str| json!({"status": "Error", "errorMsg": msg, "id": id});
    assert_eq!(h.ok("/modify_order", json!({"id": id, "stop_price": 1})).await, err("Change refused: a limit order has no stop price"));
    assert_eq!(h.ok("/modify_order", json!({"id": id})).await, err("Change refused: nothing to change: give quantity, limit_price or stop_price"));
    assert_eq!(h.post("/modify_order", json!({"id": id, "quantity": -5})).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.ok("/modify_order", json!({"id": "000", "quantity": 5})).await, json!({"status": "Error", "errorMsg": "Order not found", "id": "000"}));
    // through JSON-RPC: priced through the market, it fills its 20 at once
    let r = h.post("/rpc", json!({"jsonrpc": "2.0", "method": "modify_order", "params": {"id": id, "limit_price": 100000}, "id": 1})).await.json();
    assert_eq!(r["result"], sent, "{r}");
    let filled = h.wait_order(&id, &["Filled"]).await;
    assert_eq!(filled["filled"], 20, "{filled}");
    assert_eq!(h.ok("/modify_order", json!({"id": id, "quantity": 30})).await, err("Order not live (Filled)."));
}

#[tokio::test]
async fn operators_query_reload_and_unload_adapters() {
    let h = sim().await;
    let q = h.get("/query_adapters").await.json();
    let a = &q["adapters"]["sim"];
    assert_eq!((a["generation"].clone(), a["state"].clone(), a["kind"].clone()), (json!(1), json!("ready"), json!("sim")));
    assert_eq!(a["source"], "built in");
    assert_eq!(a["version"], env!("CARGO_PKG_VERSION"), "the sim shares the workspace version");
    assert!(a["build_id"].as_str().unwrap_or_default().starts_with("plugin-api "), "{a}");
    assert!(a["accounts"].as_array().expect("accounts").contains(&json!(ACCT)));
    assert!(a["features"].as_array().expect("features").contains(&json!("state-handover")));
    assert!(a["loaded_at"].is_string() && a["last_error"].is_null(), "{a}");
    assert_eq!(q["rejected"], json!([]));

    // a position, a resting order and the cash they leave
    let o = h.ok("/market_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 10})).await;
    h.wait_order(o["permid"].as_str().expect("permid"), &["Filled"]).await;
    let lim = h.ok("/limit_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 10, "limit_price": 1.05})).await;
    let lid = lim["permid"].as_str().expect("permid").to_owned();
    h.wait_order(&lid, &["Pending"]).await;
    let cash = h.ok("/query_account", json!({"account": ACCT, "fields": "CASH_BALANCE"})).await;

    // reload: a new generation takes the exchange state over
    let r = h.ok("/reload_adapter", json!({"name": "sim"})).await;
    assert_eq!((r["generation"].clone(), r["state"].clone(), r["retired_generations"].clone()), (json!(2), json!("ready"), json!(1)));
    assert_eq!(h.ok("/query_account", json!({"account": ACCT, "fields": "CASH_BALANCE"})).await, cash);
    assert_eq!(h.get("/query_positions").await.json()[ACCT]["IBM"], 10);
    assert_eq!(h.ok("/cancel_order", json!({"id": lid})).await, json!({"msg": "OnOtherAck", "status": "1"}));
    h.wait_order(&lid, &["Cancelled"]).await;
    let o = h.ok("/market_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 5})).await;
    h.wait_order(o["permid"].as_str().expect("permid"), &["Filled"]).await;
    assert_eq!(h.get("/query_positions").await.json()[ACCT]["IBM"], 15);

    // unload: the exchange goes away with its resting orders
    let lim = h.ok("/limit_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 1, "limit_price": 1.05})).await;
    let resting = lim["permid"].as_str().expect("permid").to_owned();
    h.wait_order(&resting, &["Pending"]).await;
    let u = h.ok("/unload_adapter", json!({"name": "sim"})).await;
    assert_eq!((u["state"].clone(), u["retired_generations"].clone()), (json!("unloaded"), json!(2)));
    assert_eq!(h.get("/status").await.json(), json!("Disconnected"));
    assert_eq!(h.get("/market_order").await.status, StatusCode::SERVICE_UNAVAILABLE);
    let again = h.post("/unload_adapter", json!({"name": "sim"})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json()["errorMsg"], "adapter sim is not running");

    // reload after an unload starts afresh; the order it no longer knows is closed with a reason
    let r = h.ok("/reload_adapter", json!({"name": "sim"})).await;
    assert_eq!(r["generation"], 3);
    tokio::time::timeout(Duration::from_secs(10), h.app.gateway.wait_status(|s| s == ConnectionStatus::Up)).await.expect("up again");
    let closed = h.wait_order(&resting, &["Cancelled"]).await;
    assert!(closed["raw"]["REASON"].as_str().unwrap_or_default().contains("unknown to the broker"), "{closed}");

    // bad requests
    let nope = h.post("/reload_adapter", json!({"name": "nope"})).await;
    assert_eq!(nope.status, StatusCode::CONFLICT);
    assert_eq!(nope.json()["errorMsg"], "no adapter instance named \"nope\"");
    assert_eq!(h.post("/unload_adapter", json!({})).await.status, StatusCode::BAD_REQUEST);
    let rpc = h.post("/rpc", json!({"jsonrpc": "2.0", "method": "reload_adapter", "params": {"name": "nope"}, "id": 1})).await.json();
    assert_eq!(rpc["error"]["code"], -32005);
    let rpc = h.post("/rpc", json!({"jsonrpc": "2.0", "method": "query_adapters", "id": 2})).await.json();
    assert_eq!(rpc["result"]["adapters"]["sim"]["generation"], 3);
}

#[tokio::test]
async fn two_simulated_exchanges_each_with_its_accounts() {
    let h = harness(None, &[("TXTRADER_MODE", "sim,paper=sim"), ("TXTRADER_PAPER_ACCOUNTS", "PAPER.SIM.DEMO.1"), ("TXTRADER_PAPER_CASH", "5000")]).await;
    tokio::time::timeout(Duration::from_secs(10), h.app.gateway.wait_status(|s| s == ConnectionStatus::Up)).await.expect("up");
    assert_eq!(
        h.get("/query_accounts").await.json(),
        json!(["PAPER.SIM.DEMO.1", "REALTICKDEMO.REALTICK.DEMO31.TRADING", ACCT])
    );
    let a = h.get("/query_adapters").await.json();
    assert_eq!(a["adapters"]["paper"]["accounts"], json!(["PAPER.SIM.DEMO.1"]));
    assert_eq!(a["adapters"]["sim"]["accounts"], json!(["REALTICKDEMO.REALTICK.DEMO31.TRADING", ACCT]));
    // each account's order goes to its own exchange: cash moves only there
    let paper = h.ok("/query_account", json!({"account": "PAPER.SIM.DEMO.1", "fields": "CASH_BALANCE"})).await;
    assert_eq!(paper, json!({"CASH_BALANCE": 5000.0}));
    let o = h.ok("/market_order", json!({"account": "PAPER.SIM.DEMO.1", "route": "DEMO", "symbol": "IBM", "quantity": 3})).await;
    h.wait_order(o["permid"].as_str().expect("permid"), &["Filled"]).await;
    let paper = h.ok("/query_account", json!({"account": "PAPER.SIM.DEMO.1", "fields": "CASH_BALANCE"})).await;
    assert!(paper["CASH_BALANCE"].as_f64().expect("cash") < 5000.0, "{paper}");
    let sim = h.ok("/query_account", json!({"account": ACCT, "fields": "CASH_BALANCE"})).await;
    assert_eq!(sim, json!({"CASH_BALANCE": 100000.0}));
    let positions = h.get("/query_positions").await.json();
    assert_eq!(positions["PAPER.SIM.DEMO.1"]["IBM"], 3);
    assert_eq!(positions[ACCT], json!({}));
    // unloading one leaves the other trading
    h.ok("/unload_adapter", json!({"name": "paper"})).await;
    assert_eq!(h.get("/status").await.json(), json!("Up"));
    let o = h.ok("/market_order", json!({"account": ACCT, "route": "DEMO", "symbol": "IBM", "quantity": 2})).await;
    h.wait_order(o["permid"].as_str().expect("permid"), &["Filled"]).await;
    let refused = h.ok("/market_order", json!({"account": "PAPER.SIM.DEMO.1", "route": "DEMO", "symbol": "IBM", "quantity": 1})).await;
    assert_eq!(refused["status"], "Error");
    assert!(refused["raw"]["REASON"].as_str().unwrap_or_default().contains("adapter paper is unloaded"), "{refused}");
}

#[tokio::test]
async fn a_directly_linked_adapter_trades_like_one_behind_the_abi() {
    let config = config(&[]);
    let adapter = AdapterConfig { instance: "sim".into(), settings: Default::default(), timezone: "America/New_York".into(), data_dir: None, api: Default::default(), quote_fields: Default::default() };
    let source = AdapterSource::linked::<txtrader_adapter_sim::SimAdapter>();
    assert_eq!(source.origin(), "built in");
    let spec = AdapterSpec { name: "sim".into(), kind: "sim".into(), config: adapter, source };
    let settings = GatewaySettings::from_config(&config, Route { name: "DEMO".into(), params: None }, vec![spec]);
    let (gw, _core) = gateway::spawn(settings, Shutdown::new());
    tokio::time::timeout(Duration::from_secs(10), gw.wait_status(|s| s == ConnectionStatus::Up)).await.expect("up");
    let order = gateway::NewOrder {
        account: txtrader_plugin_api::model::AccountId::new(ACCT).expect("acct"),
        symbol: txtrader_plugin_api::model::Symbol::new("IBM").expect("sym"),
        side: txtrader_plugin_api::model::Side::Buy,
        quantity: txtrader_plugin_api::model::Quantity::from_u64(3),
        order_type: txtrader_plugin_api::model::OrderType::Market,
        time_in_force: txtrader_plugin_api::model::TimeInForce::Day,
        route: None,
        sets_default_route: false,
        staged_tag: None,
        origin: txtrader_plugin_api::model::OrderOrigin::Client,
        user: None,
        client_order_id: None,
        intended_duplicate: false,
    };
    let view = gw.submit(order).await.expect("acknowledged");
    let id = view.order.key().to_owned();
    for _ in 0..100 {
        if gw.order(id.clone()).await.expect("order").is_some_and(|o| o.order.status == txtrader_plugin_api::model::OrderStatus::Filled) {
            // a swap works the same way: state handed over through the trait
            let swapped = gw.reload_adapter("sim".into()).await.expect("swapped");
            assert_eq!(swapped.generation, 2);
            assert_eq!(gw.positions().await.expect("positions")[&view.order.request.account].len(), 1);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never filled");
}

/// An adapter that answers account requests 300 ms late, from its own thread, and records
/// whether it was shut down before it answered.
struct Slow {
    events: adapters::EventSink,
    down: Arc<std::sync::atomic::AtomicBool>,
    broken_promises: Arc<std::sync::atomic::AtomicUsize>,
}

impl AdapterLink for Slow {
    fn name(&self) -> &str {
        "slow"
    }
    fn send(&mut self, r: &AdapterRequest) -> Result<(), AdapterError> {
        use std::sync::atomic::Ordering;
        use txtrader_plugin_api::model::{AccountId, AccountSummary, LinkState, Money, UnixNanos};
        use txtrader_plugin_api::wire::{AdapterEvent, AdapterHello, BrokerSnapshot, ReplyBody, RequestBody};
        let id = r.id;
        match &r.body {
            RequestBody::Hello(_) => {
                let hello = AdapterHello { protocol_version: 1, name: "slow".into(), version: "0".into(), features: vec![] };
                (self.events)(AdapterEvent::Reply { request_id: id, body: ReplyBody::Hello(hello) });
                (self.events)(AdapterEvent::Link(LinkState::Connected));
            }
            RequestBody::Snapshot => {
                let snap = BrokerSnapshot { accounts: vec![AccountId::new(ACCT).expect("a")], ..BrokerSnapshot::default() };
                (self.events)(AdapterEvent::Reply { request_id: id, body: ReplyBody::Snapshot(snap) });
            }
            RequestBody::Account { account } => {
                let (events, down, broken) = (self.events.clone(), self.down.clone(), self.broken_promises.clone());
                let summary = AccountSummary {
                    account: account.clone(),
                    currency: "USD".into(),
                    cash: Money::new(7.into()),
                    equity: Money::new(7.into()),
                    excess_equity: Money::new(7.into()),
                    gross_position_value: Money::ZERO,
                    buying_power: Money::new(7.into()),
                    ts_event: UnixNanos::now(),
                };
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(300));
                    if down.load(Ordering::SeqCst) {
                        broken.fetch_add(1, Ordering::SeqCst);
                    }
                    events(AdapterEvent::Reply { request_id: id, body: ReplyBody::Account { summary: Some(summary) } });
                });
            }
            _ => {}
        }
        Ok(())
    }
    fn shutdown(&mut self) {
        self.down.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_replaced_generation_drains_before_it_is_shut_down() {
    let broken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let b = broken.clone();
    let identity = AdapterIdentity { name: "slow".into(), version: "0".into(), ..AdapterIdentity::host() };
    let source = AdapterSource::factory(identity, move |_, events| {
        Ok(Box::new(Slow { events, down: Arc::default(), broken_promises: b.clone() }))
    });
    let config = config(&[]);
    let adapter = AdapterConfig { instance: "slow".into(), settings: Default::default(), timezone: "America/New_York".into(), data_dir: None, api: Default::default(), quote_fields: Default::default() };
    let spec = AdapterSpec { name: "slow".into(), kind: "slow".into(), config: adapter, source };
    let settings = GatewaySettings::from_config(&config, Route { name: "DEMO".into(), params: None }, vec![spec]);
    let (gw, _core) = gateway::spawn(settings, Shutdown::new());
    tokio::time::timeout(Duration::from_secs(10), gw.wait_status(|s| s == ConnectionStatus::Up)).await.expect("up");
    let acct = txtrader_plugin_api::model::AccountId::new(ACCT).expect("acct");
    // a request in flight to generation 1 when generation 2 takes over
    let asking = tokio::spawn({
        let gw = gw.clone();
        async move { gw.account_summary(acct).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let view = gw.reload_adapter("slow".into()).await.expect("swapped");
    assert_eq!((view.generation, view.retired_generations), (2, 1));
    let summary = asking.await.expect("task").expect("answered by the draining generation");
    assert_eq!(summary.map(|s| s.cash), Some(txtrader_plugin_api::model::Money::new(7.into())));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(broken.load(std::sync::atomic::Ordering::SeqCst), 0, "no generation was shut down owing an answer");
    // the new generation serves too
    let acct = txtrader_plugin_api::model::AccountId::new(ACCT).expect("acct");
    assert!(gw.account_summary(acct).await.expect("answered").is_some());
}

/// An adapter whose subscriptions answer with the instrument and no prices (as TWS does: its
/// ticks come one by one afterwards); `LATE` gets a quote and a trade 200 ms later, `DARK` none.
struct Quoteless {
    events: adapters::EventSink,
}

impl AdapterLink for Quoteless {
    fn name(&self) -> &str {
        "quoteless"
    }
    fn send(&mut self, r: &AdapterRequest) -> Result<(), AdapterError> {
        use txtrader_plugin_api::model::{AccountId, Instrument, LinkState, Price, Quantity, Quote, SessionHours, Symbol, Trade, UnixNanos};
        use txtrader_plugin_api::wire::{AdapterEvent, AdapterHello, BrokerSnapshot, MarketSnapshot, ReplyBody, RequestBody};
        let reply = |body| AdapterEvent::Reply { request_id: r.id, body };
        match &r.body {
            RequestBody::Hello(_) => {
                let hello = AdapterHello { protocol_version: 1, name: "quoteless".into(), version: "0".into(), features: vec![] };
                (self.events)(reply(ReplyBody::Hello(hello)));
                (self.events)(AdapterEvent::Link(LinkState::Connected));
            }
            RequestBody::Snapshot => {
                let snap = BrokerSnapshot { accounts: vec![AccountId::new(ACCT).expect("a")], ..BrokerSnapshot::default() };
                (self.events)(reply(ReplyBody::Snapshot(snap)));
            }
            RequestBody::Subscribe { symbol, .. } => {
                let session = SessionHours {
                    start: chrono::NaiveTime::from_hms_opt(9, 30, 0).expect("t"),
                    stop: chrono::NaiveTime::from_hms_opt(16, 0, 0).expect("t"),
                    timezone: "America/New_York".into(),
                };
                let instrument = Instrument { symbol: symbol.clone(), name: format!("{symbol} INC"), cusip: None, exchange: None, currency: "USD".into(), session };
                (self.events)(reply(ReplyBody::Market(MarketSnapshot { instrument, quote: None, last_trade: None, stats: None })));
                if symbol.as_str() == "LATE" {
                    let (events, symbol): (adapters::EventSink, Symbol) = (self.events.clone(), symbol.clone());
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(200));
                        let px = |s: &str| Price::new(s.parse().expect("price"));
                        let q = Quote { symbol: symbol.clone(), bid: Some(px("41.10")), bid_size: Quantity::from_u64(100), ask: Some(px("41.20")), ask_size: Quantity::from_u64(100), ts_event: UnixNanos::now() };
                        events(AdapterEvent::Quote(q));
                        events(AdapterEvent::Trade(Trade { symbol, price: px("41.15"), size: Quantity::from_u64(300), ts_event: UnixNanos::now() }));
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }
    fn shutdown(&mut self) {}
}

#[tokio::test]
async fn add_symbol_answers_with_the_first_prices_or_what_it_has_at_the_timeout() {
    let h = harness(Some(|events| Box::new(Quoteless { events })), &[("TXTRADER_TIMEOUT_ADDSYMBOL", "1")]).await;
    let up = tokio::time::timeout(Duration::from_secs(10), h.app.gateway.wait_status(|s| s == ConnectionStatus::Up)).await;
    assert_eq!(up.expect("up in time"), ConnectionStatus::Up);
    let late = h.ok("/add_symbol", json!({"symbol": "LATE"})).await;
    assert_eq!(late["last"], 41.15, "the answer waited for the first trade: {late}");
    let dark = h.ok("/add_symbol", json!({"symbol": "DARK"})).await;
    assert_eq!((dark["symbol"].as_str(), dark["last"].as_f64()), (Some("DARK"), Some(0.0)), "no prices within the timeout: what it has: {dark}");
    let again = h.ok("/add_symbol", json!({"symbol": "DARK"})).await;
    assert_eq!(again["symbol"], "DARK", "an active symbol answers at once");
}

/// An order's route becomes the default route, as the original's order commands set it, in the
/// same step as the order; an unusable route leaves the default alone and the order goes on it.
#[tokio::test]
async fn an_orders_route_becomes_the_default_route() {
    let h = sim().await;
    assert_eq!(h.ok("/get_order_route", json!({})).await, json!({"DEMO": null}));
    let o = h.ok("/market_order", json!({"account": ACCT, "route": {"ALGO": {"STRAT_ID": "X"}}, "symbol": "IBM", "quantity": 3})).await;
    assert_eq!(o["raw"]["EXIT_VEHICLE"], "ALGO", "{o}");
    assert_eq!(h.ok("/get_order_route", json!({})).await, json!({"ALGO": {"STRAT_ID": "X"}}));
    let o = h.ok("/market_order", json!({"account": ACCT, "route": [1, 2], "symbol": "IBM", "quantity": 3})).await;
    assert_eq!(o["raw"]["EXIT_VEHICLE"], "ALGO", "an unusable route: the default: {o}");
    assert_eq!(h.ok("/get_order_route", json!({})).await, json!({"ALGO": {"STRAT_ID": "X"}}));
}
