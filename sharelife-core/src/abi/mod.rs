//! The stable ABI between a host and a plugin library.
//!
//! A plugin library exports one static [`PluginHeader`] under a symbol named
//! in its `.sharelife` section. The header's first fields never change:
//! a magic string, the header version, abi_stable's own [`AbiHeader`], and
//! the [`TypeLayout`] of the [`PluginModule`] the library was compiled
//! with. The host checks all of them — the layout with abi_stable's
//! structural checker, against its own `PluginModule` — before it touches
//! anything else. We do not use abi_stable's `RootModule` loading, which
//! caches one module per type per process and so cannot load two plugins.
//!
//! The plugin object crosses as a data pointer plus a [`PluginVTable`] of
//! `extern "C"` functions. Every one of them catches panics on the plugin
//! side and returns them as an [`FfiError`] of kind `Panicked`
//! (abi_stable's own shims would abort the process).
//!
//! Ownership rule: nothing allocated by the plugin outlives the call that
//! produced it. Handler output goes into a host-allocated buffer; errors and
//! health messages are copied into host strings at once. That is what lets
//! the loader `dlclose` a library for real once its plugin is dropped.
//!
//! This module and [`crate::loader`] are the only places with `unsafe`.
//!
//! The module is private: the loader uses it inside this crate, and the
//! `#[plugin]` macro's generated code reaches [`PluginHeader`] and
//! [`PluginModule`] only through the hidden, versioned
//! `sharelife_core::__private_v1` (re-exported as
//! `sharelife_sdk::__private_v1`), and can do no more with them than name
//! them and call their `const` constructors: their fields and everything
//! else here are crate-private.

pub(crate) mod catch;
pub(crate) mod export;
pub(crate) mod fingerprint;
#[cfg(feature = "host")]
pub(crate) mod import;
mod log_bridge;
mod services;

use abi_stable::StableAbi;
use abi_stable::library::AbiHeader;
use abi_stable::marker_type::ErasedObject;
use abi_stable::std_types::{RResult, RSlice, RStr, RString, RVec};
use abi_stable::type_layout::TypeLayout;
use async_ffi::{BorrowingFfiFuture, FfiFuture};

use crate::{ErrorKind, Health, PluginError};

/// Identifies a sharelife plugin header in memory.
pub(crate) const HEADER_MAGIC: [u8; 16] = *b"sharelife-plugin";

/// Version of the [`PluginHeader`] layout itself.
pub(crate) const HEADER_VERSION: u32 = 1;

/// The frozen entry of a plugin library. Its fields are read before the
/// module layout is checked, so this struct never changes; evolve
/// [`PluginModule`] instead.
#[repr(C)]
#[derive(Debug)]
pub struct PluginHeader {
    /// Always [`HEADER_MAGIC`].
    pub(crate) magic: [u8; 16],
    /// Always [`HEADER_VERSION`] for this layout.
    pub(crate) header_version: u32,
    /// The abi_stable version the plugin was built with.
    pub(crate) abi_stable: AbiHeader,
    /// The layout of the plugin's [`PluginModule`].
    pub(crate) module_layout: &'static TypeLayout,
    /// The plugin's [`PluginModule`]; only read once `module_layout` has
    /// been checked against the host's.
    pub(crate) module: *const PluginModule,
}

// SAFETY: `module` points to an immutable `static` that lives as long as the
// library; sharing a pointer to immutable data between threads is sound.
unsafe impl Sync for PluginHeader {}
// SAFETY: as above: the header only refers to immutable statics.
unsafe impl Send for PluginHeader {}

impl PluginHeader {
    /// The header for `module`; the `#[plugin]` macro puts it in a
    /// `static`.
    pub const fn new(module: &'static PluginModule) -> Self {
        PluginHeader {
            magic: HEADER_MAGIC,
            header_version: HEADER_VERSION,
            abi_stable: AbiHeader::VALUE,
            module_layout: <PluginModule as StableAbi>::LAYOUT,
            module,
        }
    }
}

/// Everything a library offers once its layout is known to match.
#[repr(C)]
#[derive(StableAbi)]
pub struct PluginModule {
    /// The version of `sharelife-core` the plugin was compiled against.
    pub(crate) core_version: RStr<'static>,
    /// The manifest JSON, byte for byte the one in the `.sharelife` section.
    pub(crate) manifest: RStr<'static>,
    /// Constructs the plugin object.
    pub(crate) create:
        extern "C" fn(data: &FfiContextData, services: HostServicesBox) -> FfiResult<PluginObject>,
}

/// A plugin instance owned by the host: the plugin's data pointer and its
/// vtable.
#[repr(C)]
#[derive(StableAbi)]
pub(crate) struct PluginObject {
    /// The plugin's instance, opaque to the host.
    pub(crate) this: *const ErasedObject,
    /// The functions that operate on `this`.
    pub(crate) vtable: &'static PluginVTable,
}

/// The plugin's functions. All take the `this` pointer of the
/// [`PluginObject`] they came with; the host guarantees it stays alive
/// until every returned future has completed or been dropped. Each field
/// mirrors the [`Plugin`](crate::Plugin) method of the same name.
#[repr(C)]
#[derive(StableAbi)]
pub(crate) struct PluginVTable {
    pub(crate) initialize:
        unsafe extern "C" fn(this: *const ErasedObject) -> FfiFuture<FfiResult<()>>,
    pub(crate) start: unsafe extern "C" fn(this: *const ErasedObject) -> FfiFuture<FfiResult<()>>,
    pub(crate) stop: unsafe extern "C" fn(this: *const ErasedObject) -> FfiFuture<FfiResult<()>>,
    pub(crate) cleanup: unsafe extern "C" fn(this: *const ErasedObject) -> FfiFuture<FfiResult<()>>,
    pub(crate) health:
        unsafe extern "C" fn(this: *const ErasedObject) -> FfiFuture<FfiResult<FfiHealth>>,
    pub(crate) handle_event: for<'a> unsafe extern "C" fn(
        this: *const ErasedObject,
        topic: RStr<'a>,
        payload: RSlice<'a, u8>,
    )
        -> BorrowingFfiFuture<'a, FfiResult<()>>,
    pub(crate) call: for<'a> unsafe extern "C" fn(
        this: *const ErasedObject,
        handler: u32,
        input: RSlice<'a, u8>,
        output: &'a mut RVec<u8>,
    ) -> FfiResult<()>,
    pub(crate) save_state:
        unsafe extern "C" fn(this: *const ErasedObject) -> FfiFuture<FfiResult<RVec<u8>>>,
    pub(crate) restore_state: for<'a> unsafe extern "C" fn(
        this: *const ErasedObject,
        state: RSlice<'a, u8>,
    )
        -> BorrowingFfiFuture<'a, FfiResult<()>>,
    pub(crate) call_async: for<'a> unsafe extern "C" fn(
        this: *const ErasedObject,
        handler: u32,
        input: RSlice<'a, u8>,
        output: &'a mut RVec<u8>,
    )
        -> BorrowingFfiFuture<'a, FfiResult<()>>,
    /// Drops the instance. Called exactly once, after every future is gone.
    pub(crate) drop: unsafe extern "C" fn(this: *const ErasedObject) -> FfiResult<()>,
}

/// A result crossing the boundary.
pub(crate) type FfiResult<T> = RResult<T, FfiError>;

/// [`PluginError`] as plain data.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub(crate) struct FfiError {
    /// [`ErrorKind`] code; unknown codes read as `Failed`.
    pub(crate) kind: u8,
    /// Whether retrying may help.
    pub(crate) retryable: bool,
    /// The message.
    pub(crate) message: RString,
}

impl From<PluginError> for FfiError {
    fn from(err: PluginError) -> Self {
        FfiError {
            kind: err.kind().code(),
            retryable: err.is_retryable(),
            message: err.message().into(),
        }
    }
}

impl From<FfiError> for PluginError {
    fn from(err: FfiError) -> Self {
        PluginError::from_parts(
            ErrorKind::from_code(err.kind),
            err.message.into_string(),
            err.retryable,
        )
    }
}

/// [`Health`] as plain data.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub(crate) struct FfiHealth {
    /// 0 healthy, 1 degraded, 2 unhealthy.
    pub(crate) status: u8,
    /// Why, for degraded and unhealthy.
    pub(crate) message: RString,
}

impl From<Health> for FfiHealth {
    fn from(h: Health) -> Self {
        match h {
            Health::Healthy => FfiHealth {
                status: 0,
                message: RString::new(),
            },
            Health::Degraded(m) => FfiHealth {
                status: 1,
                message: m.into(),
            },
            Health::Unhealthy(m) => FfiHealth {
                status: 2,
                message: m.into(),
            },
        }
    }
}

impl From<FfiHealth> for Health {
    fn from(h: FfiHealth) -> Self {
        match h.status {
            0 => Health::Healthy,
            1 => Health::Degraded(h.message.into_string()),
            _ => Health::Unhealthy(h.message.into_string()),
        }
    }
}

/// [`crate::ContextData`] as plain data, handed to `create`.
#[repr(C)]
#[derive(StableAbi, Debug)]
pub(crate) struct FfiContextData {
    /// The plugin's id.
    pub(crate) plugin_id: RString,
    /// The config as JSON text.
    pub(crate) config_json: RString,
    /// The data directory.
    pub(crate) data_dir: RString,
    /// The temp directory.
    pub(crate) temp_dir: RString,
}

pub(crate) use self::services::{
    FfiCommandOutput, FfiCommandRequest, FfiHttpRequest, FfiHttpResponse, HostServicesBox,
};

pub(crate) fn level_to_u8(level: tracing::Level) -> u8 {
    match level {
        tracing::Level::ERROR => 1,
        tracing::Level::WARN => 2,
        tracing::Level::INFO => 3,
        tracing::Level::DEBUG => 4,
        tracing::Level::TRACE => 5,
    }
}

pub(crate) fn level_from_u8(level: u8) -> tracing::Level {
    match level {
        0 | 1 => tracing::Level::ERROR,
        2 => tracing::Level::WARN,
        3 => tracing::Level::INFO,
        4 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    }
}

pub(crate) fn access_to_u8(access: crate::manifest::ProviderAccess) -> u8 {
    match access {
        crate::manifest::ProviderAccess::Read => 0,
        crate::manifest::ProviderAccess::Write => 1,
        crate::manifest::ProviderAccess::Rotate => 2,
    }
}

#[cfg(feature = "host")]
pub(crate) fn access_from_u8(access: u8) -> Option<crate::manifest::ProviderAccess> {
    match access {
        0 => Some(crate::manifest::ProviderAccess::Read),
        1 => Some(crate::manifest::ProviderAccess::Write),
        2 => Some(crate::manifest::ProviderAccess::Rotate),
        _ => None,
    }
}

fn pairs_to_ffi(
    pairs: Vec<(String, String)>,
) -> RVec<abi_stable::std_types::Tuple2<RString, RString>> {
    pairs
        .into_iter()
        .map(|(k, v)| abi_stable::std_types::Tuple2(k.into(), v.into()))
        .collect()
}

fn pairs_from_ffi(
    pairs: &RVec<abi_stable::std_types::Tuple2<RString, RString>>,
) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|t| (t.0.to_string(), t.1.to_string()))
        .collect()
}

impl From<crate::services::HttpRequest> for FfiHttpRequest {
    fn from(r: crate::services::HttpRequest) -> Self {
        FfiHttpRequest {
            method: r.method.into(),
            url: r.url.into(),
            headers: pairs_to_ffi(r.headers),
            body: r.body.into(),
            timeout_ms: u64::try_from(r.timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl From<&FfiHttpRequest> for crate::services::HttpRequest {
    fn from(r: &FfiHttpRequest) -> Self {
        crate::services::HttpRequest {
            method: r.method.to_string(),
            url: r.url.to_string(),
            headers: pairs_from_ffi(&r.headers),
            body: r.body.to_vec(),
            timeout: std::time::Duration::from_millis(r.timeout_ms),
        }
    }
}

impl From<crate::services::HttpResponse> for FfiHttpResponse {
    fn from(r: crate::services::HttpResponse) -> Self {
        FfiHttpResponse {
            status: r.status,
            headers: pairs_to_ffi(r.headers),
            body: r.body.into(),
        }
    }
}

impl From<&FfiHttpResponse> for crate::services::HttpResponse {
    fn from(r: &FfiHttpResponse) -> Self {
        crate::services::HttpResponse {
            status: r.status,
            headers: pairs_from_ffi(&r.headers),
            body: r.body.to_vec(),
        }
    }
}

impl From<crate::services::CommandRequest> for FfiCommandRequest {
    fn from(r: crate::services::CommandRequest) -> Self {
        FfiCommandRequest {
            argv: r.argv.into_iter().map(RString::from).collect(),
            stdin: r.stdin.into(),
            timeout_ms: u64::try_from(r.timeout.as_millis()).unwrap_or(u64::MAX),
            max_output: r.max_output as u64,
            cwd: r.cwd.map(RString::from).into(),
        }
    }
}

impl From<&FfiCommandRequest> for crate::services::CommandRequest {
    fn from(r: &FfiCommandRequest) -> Self {
        crate::services::CommandRequest {
            argv: r.argv.iter().map(RString::to_string).collect(),
            stdin: r.stdin.to_vec(),
            timeout: std::time::Duration::from_millis(r.timeout_ms),
            max_output: usize::try_from(r.max_output).unwrap_or(usize::MAX),
            cwd: r.cwd.as_ref().map(RString::to_string).into_option(),
        }
    }
}

impl From<crate::services::CommandOutput> for FfiCommandOutput {
    fn from(o: crate::services::CommandOutput) -> Self {
        FfiCommandOutput {
            status: o.status.into(),
            stdout: o.stdout.into(),
            stderr: o.stderr.into(),
            timed_out: o.timed_out,
            truncated: o.truncated,
        }
    }
}

impl From<&FfiCommandOutput> for crate::services::CommandOutput {
    fn from(o: &FfiCommandOutput) -> Self {
        crate::services::CommandOutput {
            status: o.status.into_option(),
            stdout: o.stdout.to_vec(),
            stderr: o.stderr.to_vec(),
            timed_out: o.timed_out,
            truncated: o.truncated,
        }
    }
}
