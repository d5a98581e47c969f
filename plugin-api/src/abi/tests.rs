//! The vtable driven as a host would: through raw pointers and the C calling convention.

use super::*;
use crate::adapter::AdapterConfig;
use crate::wire::{self, AdapterEvent, AdapterHello, AdapterRequest, ReplyBody, RequestBody, RequestId};

struct Echo {
    host: Host,
}

impl Adapter for Echo {
    const NAME: &'static str = "echo";
    const VERSION: &'static str = "1.2.3";

    fn create(config: AdapterConfig, host: Host) -> Result<Self, AdapterError> {
        if config.settings.contains_key("panic") {
            panic!("boom in create");
        }
        if config.settings.contains_key("fail") {
            return Err(AdapterError::Config(vec!["fail was asked for".into(), "and a second problem".into()]));
        }
        host.log(LogLevel::Info, "echo created");
        Ok(Self { host })
    }

    fn handle(&mut self, request: AdapterRequest) -> Result<(), AdapterError> {
        match request.body {
            RequestBody::Hello(_) => {
                let hello = AdapterHello { protocol_version: 1, name: "echo".into(), version: "1.2.3".into(), features: vec![] };
                self.host.reply(request.id, ReplyBody::Hello(hello));
                Ok(())
            }
            RequestBody::Snapshot => panic!("boom in handle"),
            _ => Err(AdapterError::Failed("not supported by echo".into())),
        }
    }

    fn shutdown(&mut self) {}
}

/// A host context: what the adapter emitted and logged.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Vec<u8>>>,
    logs: Mutex<Vec<String>>,
}

unsafe extern "C" fn emit(ctx: *const c_void, data: *const u8, len: usize) {
    // SAFETY: ctx is the Recorder the test lent; data/len are borrowed for the call.
    let (rec, bytes) = unsafe { (&*ctx.cast::<Recorder>(), std::slice::from_raw_parts(data, len)) };
    rec.events.lock().expect("lock").push(bytes.to_vec());
}

unsafe extern "C" fn log(ctx: *const c_void, _level: u32, msg: *const u8, len: usize) {
    // SAFETY: as for emit.
    let (rec, bytes) = unsafe { (&*ctx.cast::<Recorder>(), std::slice::from_raw_parts(msg, len)) };
    rec.logs.lock().expect("lock").push(String::from_utf8_lossy(bytes).into_owned());
}

static DESCRIPTOR: Descriptor = Descriptor::new::<Echo>();

fn callbacks(rec: &Recorder) -> HostCallbacks {
    HostCallbacks { ctx: std::ptr::from_ref(rec).cast(), emit, log }
}

fn config(settings: &[&str]) -> Vec<u8> {
    let c = AdapterConfig {
        instance: "echo".into(),
        settings: settings.iter().map(|k| ((*k).to_owned(), "1".to_owned())).collect(),
        timezone: "UTC".into(),
        data_dir: None,
        api: Default::default(),
        quote_fields: Default::default(),
    };
    adapter::encode_config(&c)
}

/// Calls `create`; answers the status, the instance and the error text (freed as required).
fn call_create(rec: &Recorder, settings: &[&str]) -> (i32, *mut c_void, String) {
    let cfg = config(settings);
    let mut instance = std::ptr::null_mut();
    let mut error = Buf::EMPTY;
    // SAFETY: valid pointers for the call; the recorder outlives the instance.
    let code = unsafe { (DESCRIPTOR.vtable.create)(cfg.as_ptr(), cfg.len(), callbacks(rec), &mut instance, &mut error) };
    // SAFETY: the error buffer came from this library and is freed once.
    let text = unsafe { error.to_string_lossy() };
    // SAFETY: as above.
    unsafe { (DESCRIPTOR.vtable.free_buf)(error) };
    (code, instance, text)
}

fn call_handle(instance: *mut c_void, bytes: &[u8]) -> (i32, String) {
    let mut error = Buf::EMPTY;
    // SAFETY: instance is alive; bytes are borrowed for the call.
    let code = unsafe { (DESCRIPTOR.vtable.handle)(instance, bytes.as_ptr(), bytes.len(), &mut error) };
    // SAFETY: as in call_create.
    let text = unsafe { error.to_string_lossy() };
    // SAFETY: as in call_create.
    unsafe { (DESCRIPTOR.vtable.free_buf)(error) };
    (code, text)
}

#[test]
fn the_descriptor_says_who_and_what() {
    assert_eq!(DESCRIPTOR.abi_version, ABI_VERSION);
    // SAFETY: the strings are static in this binary.
    unsafe {
        assert_eq!(DESCRIPTOR.name.to_str(), Some("echo"));
        assert_eq!(DESCRIPTOR.version.to_str(), Some("1.2.3"));
        assert_eq!(DESCRIPTOR.build.plugin_api.to_str(), Some(env!("CARGO_PKG_VERSION")));
        assert!(DESCRIPTOR.build.rustc.to_str().is_some_and(|r| r.starts_with("rustc ")));
        assert!(DESCRIPTOR.build.target.to_str().is_some_and(|t| !t.is_empty()));
        assert!(DESCRIPTOR.build.profile.to_str().is_some_and(|p| p == "debug" || p == "release"));
    }
}

#[test]
fn messages_cross_as_bytes_and_panics_do_not() {
    let rec = Recorder::default();
    let (code, instance, _) = call_create(&rec, &[]);
    assert_eq!(code, status::OK);
    assert!(!instance.is_null());
    assert_eq!(rec.logs.lock().expect("lock").as_slice(), ["echo created"]);

    let hello = wire::encode_request(&AdapterRequest {
        id: RequestId(1),
        body: RequestBody::Hello(wire::HostHello { protocol_version: 1, host_version: "t".into(), features: vec![] }),
    });
    assert_eq!(call_handle(instance, &hello), (status::OK, String::new()));
    let events = rec.events.lock().expect("lock").clone();
    assert!(matches!(wire::decode_event(&events[0]), Ok(AdapterEvent::Reply { request_id: RequestId(1), .. })));

    let (code, text) = call_handle(instance, b"\x00not a request");
    assert_eq!(code, status::BAD_INPUT);
    assert!(text.contains("cannot decode"), "{text}");

    let unsupported = wire::encode_request(&AdapterRequest { id: RequestId(2), body: RequestBody::Unknown });
    assert_eq!(call_handle(instance, &unsupported), (status::ERROR, "not supported by echo".into()));

    let boom = wire::encode_request(&AdapterRequest { id: RequestId(3), body: RequestBody::Snapshot });
    let (code, text) = call_handle(instance, &boom);
    assert_eq!(code, status::PANIC);
    assert!(text.contains("boom in handle"), "{text}");
    // the instance is still usable after a caught panic
    assert_eq!(call_handle(instance, &hello).0, status::OK);

    // SAFETY: instance came from create and is shut down, then destroyed, once.
    unsafe {
        assert_eq!((DESCRIPTOR.vtable.shutdown)(instance), status::OK);
        (DESCRIPTOR.vtable.destroy)(instance);
    }
}

#[test]
fn create_failures_are_codes_with_every_reason() {
    let rec = Recorder::default();
    let (code, instance, text) = call_create(&rec, &["fail"]);
    assert_eq!(code, status::BAD_INPUT);
    assert!(instance.is_null());
    assert!(text.contains("fail was asked for") && text.contains("and a second problem"), "{text}");
    let (code, instance, text) = call_create(&rec, &["panic"]);
    assert_eq!(code, status::PANIC);
    assert!(instance.is_null());
    assert!(text.contains("boom in create"), "{text}");
    // garbage configuration
    let mut inst = std::ptr::null_mut();
    let mut error = Buf::EMPTY;
    // SAFETY: valid pointers for the call.
    let code = unsafe { (DESCRIPTOR.vtable.create)(b"{".as_ptr(), 1, callbacks(&rec), &mut inst, &mut error) };
    assert_eq!(code, status::BAD_INPUT);
    // SAFETY: freed once.
    unsafe { (DESCRIPTOR.vtable.free_buf)(error) };
}

#[test]
fn null_instances_are_refused_not_dereferenced() {
    let (code, _) = call_handle(std::ptr::null_mut(), b"{}");
    assert_eq!(code, status::CLOSED);
    // SAFETY: null is explicitly allowed.
    unsafe {
        assert_eq!((DESCRIPTOR.vtable.shutdown)(std::ptr::null_mut()), status::CLOSED);
        (DESCRIPTOR.vtable.destroy)(std::ptr::null_mut());
        (DESCRIPTOR.vtable.free_buf)(Buf::EMPTY);
    }
}
