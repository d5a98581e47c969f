//! The C ABI of adapter dynamic libraries, version 1.
//!
//! Rust has no stable ABI, so an adapter library exposes a small hand-written C interface that
//! carries serialized [`crate::wire`] messages: one exported symbol, [`ENTRY_SYMBOL`], returns a
//! static [`Descriptor`] (the exact [`ABI_VERSION`], the adapter's name and version, the build
//! id) holding a [`VTable`] of five functions. The host passes [`HostCallbacks`] to `create`;
//! the adapter reports every event through `emit` and logs through `log`.
//!
//! # Contract
//! - **Buffers**: whoever allocates a buffer frees it. Bytes passed as `(ptr, len)` are borrowed
//!   for the duration of the call only; the receiver copies. An error message returned in a
//!   [`Buf`] was allocated by the adapter and is given back through `free_buf`.
//! - **Panics** never cross the boundary: every exported function catches them and answers
//!   [`status::PANIC`] with the panic message.
//! - **Threads**: `emit` and `log` are thread-safe, non-blocking and never re-enter the
//!   adapter. The host calls `handle`, `shutdown` and `destroy` of one instance from one thread
//!   at a time. After `shutdown` returns, the adapter's threads are joined and it emits nothing.
//! - **Libraries are never unloaded in v1**: thread-local destructors make `dlclose` unsound, so
//!   a retired library stays mapped for the life of the process.
//!
//! An adapter does not write any of this by hand: [`crate::export_adapter!`] turns a safe
//! [`Adapter`] implementation into the exported symbol. This module is the only place of the
//! plugin API where `unsafe` code is allowed.
#![allow(unsafe_code)]

use crate::adapter::{self, Adapter, AdapterError, EventSink, Host, LogLevel};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

/// The ABI version this crate implements; the host requires an exact match.
pub const ABI_VERSION: u32 = 1;

/// The name of the exported entry function.
pub const ENTRY_SYMBOL: &str = "txtrader_adapter_v1";

/// Status codes of the vtable functions.
pub mod status {
    /// Done.
    pub const OK: i32 = 0;
    /// The adapter refused; the message says why.
    pub const ERROR: i32 = 1;
    /// The adapter panicked; the message is the panic's. The instance should be restarted.
    pub const PANIC: i32 = 2;
    /// The instance is shut down.
    pub const CLOSED: i32 = 3;
    /// The bytes were not a valid message or configuration.
    pub const BAD_INPUT: i32 = 4;
}

/// A borrowed UTF-8 string with static lifetime inside the library.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Str {
    /// First byte.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl Str {
    /// Points at a static string.
    pub const fn from_static(s: &'static str) -> Self {
        Self { ptr: s.as_ptr(), len: s.len() }
    }

    /// The string, when it is valid UTF-8.
    ///
    /// # Safety
    /// `ptr` must point at `len` readable bytes that live as long as `'a`.
    pub unsafe fn to_str<'a>(self) -> Option<&'a str> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: the caller guarantees ptr/len describe live, readable bytes.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        std::str::from_utf8(bytes).ok()
    }
}

/// A buffer allocated by the adapter; the host gives it back through [`VTable::free_buf`].
#[repr(C)]
#[derive(Debug)]
pub struct Buf {
    /// First byte (null for an empty buffer).
    pub ptr: *mut u8,
    /// Length.
    pub len: usize,
    /// Capacity of the allocation.
    pub cap: usize,
}

impl Buf {
    /// An empty buffer, nothing allocated.
    pub const EMPTY: Buf = Buf { ptr: std::ptr::null_mut(), len: 0, cap: 0 };

    fn from_string(s: String) -> Self {
        let mut bytes = std::mem::ManuallyDrop::new(s.into_bytes());
        Self { ptr: bytes.as_mut_ptr(), len: bytes.len(), cap: bytes.capacity() }
    }

    /// The bytes as text (lossy), for the side that received the buffer.
    ///
    /// # Safety
    /// The buffer must come from an adapter's vtable function and not be freed yet.
    pub unsafe fn to_string_lossy(&self) -> String {
        if self.ptr.is_null() {
            return String::new();
        }
        // SAFETY: the caller guarantees the buffer is live; len bytes are initialized.
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(self.ptr, self.len) }).into_owned()
    }
}

/// What the host lends an adapter instance.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HostCallbacks {
    /// The host's context, passed back to every callback.
    pub ctx: *const c_void,
    /// Receives one encoded [`crate::wire::AdapterEvent`] (borrowed for the call).
    pub emit: unsafe extern "C" fn(ctx: *const c_void, data: *const u8, len: usize),
    /// Receives one log line (borrowed for the call); `level` is 0 error … 4 trace.
    pub log: unsafe extern "C" fn(ctx: *const c_void, level: u32, msg: *const u8, len: usize),
}

// SAFETY: the host guarantees that ctx and both callbacks may be used from any thread for as
// long as the instance exists (module contract).
unsafe impl Send for HostCallbacks {}
// SAFETY: as above.
unsafe impl Sync for HostCallbacks {}

/// Who built the library.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BuildId {
    /// The plugin-api version it was built against.
    pub plugin_api: Str,
    /// `rustc --version` of the build.
    pub rustc: Str,
    /// Target triple.
    pub target: Str,
    /// Cargo profile (`debug` or `release`).
    pub profile: Str,
}

impl BuildId {
    /// The build id of this compilation.
    pub const CURRENT: BuildId = BuildId {
        plugin_api: Str::from_static(env!("CARGO_PKG_VERSION")),
        rustc: Str::from_static(env!("TXTRADER_BUILD_RUSTC")),
        target: Str::from_static(env!("TXTRADER_BUILD_TARGET")),
        profile: Str::from_static(env!("TXTRADER_BUILD_PROFILE")),
    };
}

/// The functions of an adapter library.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct VTable {
    /// Creates an instance from encoded [`crate::adapter::AdapterConfig`]; on success writes
    /// the instance to `instance`; on failure writes a message to `error`.
    pub create: unsafe extern "C" fn(
        config: *const u8,
        len: usize,
        host: HostCallbacks,
        instance: *mut *mut c_void,
        error: *mut Buf,
    ) -> i32,
    /// Hands one encoded [`crate::wire::AdapterRequest`] to an instance.
    pub handle: unsafe extern "C" fn(instance: *mut c_void, request: *const u8, len: usize, error: *mut Buf) -> i32,
    /// Stops an instance and joins its threads. Idempotent.
    pub shutdown: unsafe extern "C" fn(instance: *mut c_void) -> i32,
    /// Frees an instance (after `shutdown`).
    pub destroy: unsafe extern "C" fn(instance: *mut c_void),
    /// Frees a buffer this library allocated.
    pub free_buf: unsafe extern "C" fn(buf: Buf),
}

/// What the entry symbol returns.
#[repr(C)]
#[derive(Debug)]
pub struct Descriptor {
    /// Must equal the host's [`ABI_VERSION`].
    pub abi_version: u32,
    /// Adapter name (its kind), e.g. `sim`.
    pub name: Str,
    /// Adapter version.
    pub version: Str,
    /// Who built it.
    pub build: BuildId,
    /// Its functions.
    pub vtable: VTable,
}

// SAFETY: a descriptor only holds pointers to static strings and function pointers.
unsafe impl Sync for Descriptor {}

/// The type of the entry function.
pub type EntryFn = unsafe extern "C" fn() -> *const Descriptor;

impl Descriptor {
    /// The descriptor of adapter `A` (what [`crate::export_adapter!`] exports).
    pub const fn new<A: Adapter>() -> Self {
        Self {
            abi_version: ABI_VERSION,
            name: Str::from_static(A::NAME),
            version: Str::from_static(A::VERSION),
            build: BuildId::CURRENT,
            vtable: VTable {
                create: create::<A>,
                handle: handle::<A>,
                shutdown: shutdown::<A>,
                destroy: destroy::<A>,
                free_buf,
            },
        }
    }
}

/// Exports a safe [`Adapter`] implementation as an adapter library: defines the entry symbol
/// `txtrader_adapter_v1`. Use it once, in a `cdylib` crate.
///
/// ```ignore
/// txtrader_plugin_api::export_adapter!(MyAdapter);
/// ```
#[macro_export]
macro_rules! export_adapter {
    ($adapter:ty) => {
        /// The adapter library's entry point.
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        pub extern "C" fn txtrader_adapter_v1() -> *const $crate::abi::Descriptor {
            static DESCRIPTOR: $crate::abi::Descriptor = $crate::abi::Descriptor::new::<$adapter>();
            &DESCRIPTOR
        }
    };
}

// ----- the adapter side of the boundary

/// The instance behind the opaque pointer. The mutex only guards against a host that breaks
/// the one-thread-at-a-time contract; it is never contended otherwise.
struct Instance<A> {
    adapter: Mutex<A>,
}

/// Emits through the host's callbacks.
struct CallbackSink(HostCallbacks);

impl EventSink for CallbackSink {
    fn emit(&self, event: &[u8]) {
        // SAFETY: the host keeps ctx and the callbacks valid while the instance exists; the
        // bytes are borrowed for the call only.
        unsafe { (self.0.emit)(self.0.ctx, event.as_ptr(), event.len()) }
    }

    fn log(&self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Error => 0,
            LogLevel::Warn => 1,
            LogLevel::Info => 2,
            LogLevel::Debug => 3,
            LogLevel::Trace => 4,
        };
        // SAFETY: as for emit.
        unsafe { (self.0.log)(self.0.ctx, level, message.as_ptr(), message.len()) }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".into())
}

/// Writes an error message for the host, if it gave a place for one.
///
/// # Safety
/// `error` is null or points at a writable [`Buf`].
unsafe fn set_error(error: *mut Buf, message: String) {
    if !error.is_null() {
        // SAFETY: checked non-null; the caller guarantees it is writable.
        unsafe { error.write(Buf::from_string(message)) };
    }
}

fn code_of(e: &AdapterError) -> i32 {
    match e {
        AdapterError::Closed => status::CLOSED,
        AdapterError::Decode(_) | AdapterError::Config(_) => status::BAD_INPUT,
        AdapterError::Failed(_) => status::ERROR,
    }
}

/// `create` for adapter `A`.
///
/// # Safety
/// `config` points at `len` readable bytes; `instance` and `error` are writable (or `error`
/// null); `host` obeys the module contract.
pub unsafe extern "C" fn create<A: Adapter>(
    config: *const u8,
    len: usize,
    host: HostCallbacks,
    instance: *mut *mut c_void,
    error: *mut Buf,
) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees config/len describe readable bytes for this call.
        let bytes = if config.is_null() { &[][..] } else { unsafe { std::slice::from_raw_parts(config, len) } };
        adapter::create_from_bytes::<A>(bytes, Host::new(Arc::new(CallbackSink(host))))
    }));
    match result {
        Ok(Ok(adapter)) => {
            let boxed = Box::new(Instance { adapter: Mutex::new(adapter) });
            if instance.is_null() {
                return status::ERROR;
            }
            // SAFETY: checked non-null; the caller guarantees it is writable.
            unsafe { instance.write(Box::into_raw(boxed).cast::<c_void>()) };
            status::OK
        }
        Ok(Err(e)) => {
            // SAFETY: error is null or writable (caller contract).
            unsafe { set_error(error, e.to_string()) };
            code_of(&e)
        }
        Err(p) => {
            // SAFETY: as above.
            unsafe { set_error(error, format!("adapter panicked in create: {}", panic_message(&*p))) };
            status::PANIC
        }
    }
}

/// `handle` for adapter `A`.
///
/// # Safety
/// `instance` comes from `create::<A>` and is not destroyed; `request` points at `len`
/// readable bytes; `error` is null or writable.
pub unsafe extern "C" fn handle<A: Adapter>(instance: *mut c_void, request: *const u8, len: usize, error: *mut Buf) -> i32 {
    if instance.is_null() {
        return status::CLOSED;
    }
    // SAFETY: the caller guarantees instance came from create::<A> and is alive.
    let inst = unsafe { &*instance.cast::<Instance<A>>() };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: request/len describe readable bytes for this call.
        let bytes = if request.is_null() { &[][..] } else { unsafe { std::slice::from_raw_parts(request, len) } };
        let mut adapter = inst.adapter.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        adapter::handle_bytes(&mut *adapter, bytes)
    }));
    match result {
        Ok(Ok(())) => status::OK,
        Ok(Err(e)) => {
            // SAFETY: error is null or writable (caller contract).
            unsafe { set_error(error, e.to_string()) };
            code_of(&e)
        }
        Err(p) => {
            // SAFETY: as above.
            unsafe { set_error(error, format!("adapter panicked in handle: {}", panic_message(&*p))) };
            status::PANIC
        }
    }
}

/// `shutdown` for adapter `A`.
///
/// # Safety
/// `instance` comes from `create::<A>` and is not destroyed.
pub unsafe extern "C" fn shutdown<A: Adapter>(instance: *mut c_void) -> i32 {
    if instance.is_null() {
        return status::CLOSED;
    }
    // SAFETY: the caller guarantees instance came from create::<A> and is alive.
    let inst = unsafe { &*instance.cast::<Instance<A>>() };
    let result = catch_unwind(AssertUnwindSafe(|| {
        inst.adapter.lock().unwrap_or_else(std::sync::PoisonError::into_inner).shutdown();
    }));
    if result.is_ok() { status::OK } else { status::PANIC }
}

/// `destroy` for adapter `A`.
///
/// # Safety
/// `instance` comes from `create::<A>`, was shut down, and is not used afterwards.
pub unsafe extern "C" fn destroy<A: Adapter>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: the caller hands back ownership of the Box made in create::<A>.
    let boxed = unsafe { Box::from_raw(instance.cast::<Instance<A>>()) };
    // A panicking Drop must not unwind into the host.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}

/// `free_buf`: gives back a buffer this library allocated.
///
/// # Safety
/// `buf` was produced by this library and is freed once.
pub unsafe extern "C" fn free_buf(buf: Buf) {
    if !buf.ptr.is_null() {
        // SAFETY: ptr/len/cap come from a Vec<u8> this library leaked in Buf::from_string.
        drop(unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) });
    }
}

#[cfg(test)]
mod tests;
