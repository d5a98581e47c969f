//! An adapter instance behind the C ABI: the host side of the vtable.
//!
//! [`FfiAdapter`] owns one instance created through a [`Descriptor`]'s vtable (the built-in
//! simulator's, linked in, or a loaded library's) and the host context its callbacks use. It
//! encodes requests, hands them over, and turns status codes back into [`AdapterError`]s; a
//! panic reported by the adapter marks the instance as panicked. The callbacks decode events and
//! pass them on; they never unwind into the adapter. One of the two modules of the host where
//! `unsafe` code is allowed.
#![allow(unsafe_code)]

use super::{AdapterLink, EventSink as Deliver};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use txtrader_plugin_api::abi::{status, Buf, Descriptor, HostCallbacks};
use txtrader_plugin_api::adapter::{encode_config, AdapterConfig, AdapterError};
use txtrader_plugin_api::wire::{self, AdapterRequest};

/// What the adapter's callbacks reach: the instance name, where events go, and whether the
/// instance was let go (then nothing it sends is delivered).
struct HostCtx {
    name: String,
    deliver: Deliver,
    closed: std::sync::atomic::AtomicBool,
}

unsafe extern "C" fn host_emit(ctx: *const c_void, data: *const u8, len: usize) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if ctx.is_null() || data.is_null() {
            return;
        }
        // SAFETY: ctx is the HostCtx this module lent the instance, alive until after destroy;
        // data/len are borrowed for the call (ABI contract).
        let (ctx, bytes) = unsafe { (&*ctx.cast::<HostCtx>(), std::slice::from_raw_parts(data, len)) };
        if ctx.closed.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        match wire::decode_event(bytes) {
            Ok(event) => (ctx.deliver)(event),
            Err(e) => tracing::error!(adapter = %ctx.name, cause = %e, "undecodable event from adapter"),
        }
    }));
}

unsafe extern "C" fn host_log(ctx: *const c_void, level: u32, msg: *const u8, len: usize) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if ctx.is_null() || msg.is_null() {
            return;
        }
        // SAFETY: as in host_emit.
        let (ctx, bytes) = unsafe { (&*ctx.cast::<HostCtx>(), std::slice::from_raw_parts(msg, len)) };
        let (adapter, text) = (ctx.name.as_str(), String::from_utf8_lossy(bytes));
        match level {
            0 => tracing::error!(adapter, "{text}"),
            1 => tracing::warn!(adapter, "{text}"),
            2 => tracing::info!(adapter, "{text}"),
            3 => tracing::debug!(adapter, "{text}"),
            _ => tracing::trace!(adapter, "{text}"),
        }
    }));
}

/// Takes an error buffer's text and gives the buffer back to the library that allocated it.
fn take_error(descriptor: &Descriptor, buf: Buf) -> String {
    // SAFETY: the buffer was filled (or left empty) by this descriptor's library during the
    // call that just returned, and is freed exactly once, by that library.
    unsafe {
        let text = buf.to_string_lossy();
        (descriptor.vtable.free_buf)(buf);
        text
    }
}

/// One adapter instance behind the C ABI.
pub struct FfiAdapter {
    name: String,
    descriptor: &'static Descriptor,
    instance: *mut c_void,
    ctx: *mut HostCtx,
    panicked: bool,
}

// SAFETY: the instance is only used through &mut self (one thread at a time, as the ABI
// requires); the HostCtx it points to is Send + Sync.
unsafe impl Send for FfiAdapter {}

impl std::fmt::Debug for FfiAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FfiAdapter").field("name", &self.name).field("panicked", &self.panicked).finish_non_exhaustive()
    }
}

impl FfiAdapter {
    /// Creates an instance through `descriptor`; its events go to `deliver`.
    ///
    /// # Errors
    /// The adapter's refusal (every configuration problem), or a caught panic.
    pub fn create(descriptor: &'static Descriptor, config: &AdapterConfig, deliver: Deliver) -> Result<Self, AdapterError> {
        let ctx = Box::into_raw(Box::new(HostCtx { name: config.instance.clone(), deliver, closed: false.into() }));
        let callbacks = HostCallbacks { ctx: ctx.cast_const().cast(), emit: host_emit, log: host_log };
        let bytes = encode_config(config);
        let mut instance = std::ptr::null_mut();
        let mut error = Buf::EMPTY;
        // SAFETY: valid pointers for the call; ctx stays alive until after destroy.
        let code = unsafe { (descriptor.vtable.create)(bytes.as_ptr(), bytes.len(), callbacks, &mut instance, &mut error) };
        let message = take_error(descriptor, error);
        if code != status::OK || instance.is_null() {
            // SAFETY: the instance was not created, so nothing can use ctx any more.
            drop(unsafe { Box::from_raw(ctx) });
            return Err(match code {
                status::BAD_INPUT => AdapterError::Config(message.split("; ").map(str::to_owned).collect()),
                status::PANIC => AdapterError::Failed(message),
                _ => AdapterError::Failed(if message.is_empty() { format!("create failed with status {code}") } else { message }),
            });
        }
        Ok(Self { name: config.instance.clone(), descriptor, instance, ctx, panicked: false })
    }

    /// True once the adapter reported a panic.
    pub fn panicked(&self) -> bool {
        self.panicked
    }
}

impl AdapterLink for FfiAdapter {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, request: &AdapterRequest) -> Result<(), AdapterError> {
        if self.instance.is_null() {
            return Err(AdapterError::Closed);
        }
        let bytes = wire::encode_request(request);
        let mut error = Buf::EMPTY;
        // SAFETY: the instance is alive (not destroyed); bytes are borrowed for the call.
        let code = unsafe { (self.descriptor.vtable.handle)(self.instance, bytes.as_ptr(), bytes.len(), &mut error) };
        let message = take_error(self.descriptor, error);
        match code {
            status::OK => Ok(()),
            status::CLOSED => Err(AdapterError::Closed),
            status::BAD_INPUT => Err(AdapterError::Decode(message)),
            status::PANIC => {
                self.panicked = true;
                Err(AdapterError::Failed(message))
            }
            _ => Err(AdapterError::Failed(if message.is_empty() { format!("status {code}") } else { message })),
        }
    }

    fn faulted(&self) -> bool {
        self.panicked
    }

    fn shutdown(&mut self) {
        if self.instance.is_null() {
            return;
        }
        // SAFETY: the instance is alive and not used after this call.
        let code = unsafe { (self.descriptor.vtable.shutdown)(self.instance) };
        if code == status::OK && !self.panicked {
            // SAFETY: a clean shutdown joined the adapter's threads and it emits nothing any
            // more, so destroying it and then freeing ctx is sound.
            unsafe {
                (self.descriptor.vtable.destroy)(self.instance);
                drop(Box::from_raw(self.ctx));
            }
        } else {
            // After a panic (reported earlier, or by this shutdown) the library's threads may
            // still run and call back with ctx, and use their instance: both are left alive for
            // the life of the process (the library is never unloaded), and ctx is closed so
            // nothing more is delivered. A bounded leak, one per faulted instance.
            tracing::error!(adapter = %self.name, code, panicked = self.panicked, "adapter stopped after a panic: its instance and callback context are left alive, closed, in case its threads still run");
            // SAFETY: ctx is alive (never freed on this path).
            unsafe { (*self.ctx).closed.store(true, std::sync::atomic::Ordering::Release) };
        }
        self.instance = std::ptr::null_mut();
        self.ctx = std::ptr::null_mut();
    }
}

impl Drop for FfiAdapter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use txtrader_plugin_api::adapter::Adapter;
    use txtrader_plugin_api::adapter::Host;
    use txtrader_plugin_api::wire::{AdapterEvent, RequestBody};

    /// Keeps emitting from a thread of its own that it never joins, and panics on a snapshot:
    /// a library whose threads outlive it.
    struct Runaway;

    static STOP: AtomicBool = AtomicBool::new(false);

    impl Adapter for Runaway {
        const NAME: &'static str = "runaway";
        const VERSION: &'static str = "0.0.1";

        fn create(_: AdapterConfig, host: Host) -> Result<Self, AdapterError> {
            std::thread::spawn(move || {
                while !STOP.load(Ordering::Acquire) {
                    host.emit(&AdapterEvent::Clock { time: txtrader_plugin_api::model::UnixNanos::now() });
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
            Ok(Self)
        }

        fn handle(&mut self, request: AdapterRequest) -> Result<(), AdapterError> {
            match request.body {
                RequestBody::Snapshot => panic!("boom"),
                _ => Ok(()),
            }
        }

        fn shutdown(&mut self) {}
    }

    static RUNAWAY: Descriptor = Descriptor::new::<Runaway>();

    #[test]
    fn after_a_panic_the_callback_context_outlives_the_threads_that_may_use_it() {
        let delivered = Arc::new(AtomicUsize::new(0));
        let count = delivered.clone();
        let deliver: Deliver = Arc::new(move |_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        let config = AdapterConfig { instance: "runaway".into(), ..AdapterConfig::default() };
        let mut a = FfiAdapter::create(&RUNAWAY, &config, deliver).expect("created");
        std::thread::sleep(Duration::from_millis(20));
        assert!(delivered.load(Ordering::Relaxed) > 0, "its thread emits");
        let snapshot = AdapterRequest { id: txtrader_plugin_api::wire::RequestId(1), body: RequestBody::Snapshot };
        assert!(matches!(a.send(&snapshot), Err(AdapterError::Failed(m)) if m.contains("boom")));
        assert!(a.faulted());
        a.shutdown();
        // its thread still runs and calls back: nothing is delivered, nothing is freed under it
        let after = delivered.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(delivered.load(Ordering::Relaxed), after, "a closed context delivers nothing");
        STOP.store(true, Ordering::Release);
        assert!(matches!(a.send(&snapshot), Err(AdapterError::Closed)));
    }
}
