//! The plugin side of the boundary: vtable shims for a plugin type `T`, and
//! the proxy through which a loaded plugin reaches its host's services.
//!
//! Generated code names these through `sharelife_sdk::__private_v1`; they are
//! not meant to be called by hand.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use abi_stable::marker_type::ErasedObject;
use abi_stable::std_types::{RSlice, RStr, RVec};
use async_ffi::{BorrowingFfiFuture, FfiFuture};

use super::catch::{CatchUnwind, catch};
use super::{
    FfiContextData, FfiError, FfiHealth, FfiResult, HostServicesBox, PluginModule, PluginObject,
    PluginVTable,
};
use crate::context::{BoxFuture, ContextData, HostServices};
use crate::manifest::ProviderAccess;
use crate::plugin::Plugin;
use crate::services::{CommandOutput, CommandRequest, FsOp, FsOutput, HttpRequest, HttpResponse};
use crate::{Event, HandlerId, PluginContext, PluginError};

impl PluginModule {
    /// The module for plugin type `T` with the given manifest JSON.
    pub const fn new<T: Plugin + Default>(manifest: &'static str) -> Self {
        PluginModule {
            core_version: RStr::from_str(env!("CARGO_PKG_VERSION")),
            manifest: RStr::from_str(manifest),
            create: create::<T>,
        }
    }
}

/// The plugin instance behind a [`PluginObject`]: the author's value and
/// the context the host created it with.
struct Glue<T> {
    plugin: T,
    ctx: PluginContext,
}

struct VTableFor<T>(PhantomData<T>);

impl<T: Plugin> VTableFor<T> {
    const VTABLE: &'static PluginVTable = &PluginVTable {
        initialize: initialize::<T>,
        start: start::<T>,
        stop: stop::<T>,
        cleanup: cleanup::<T>,
        health: health::<T>,
        handle_event: handle_event::<T>,
        call: call::<T>,
        save_state: save_state::<T>,
        restore_state: restore_state::<T>,
        call_async: call_async::<T>,
        drop: drop_glue::<T>,
    };
}

extern "C" fn create<T: Plugin + Default>(
    data: &FfiContextData,
    services: HostServicesBox,
) -> FfiResult<PluginObject> {
    catch(move || {
        let config = match data.config_json.as_str() {
            "" => serde_json::Value::Null,
            text => serde_json::from_str(text)?,
        };
        let services = Arc::new(RemoteServices { host: services });
        super::log_bridge::install(&services);
        let ctx = PluginContext::new(
            ContextData {
                plugin_id: data.plugin_id.to_string(),
                config,
                data_dir: data.data_dir.as_str().into(),
                temp_dir: data.temp_dir.as_str().into(),
            },
            services,
        );
        let glue = Box::new(Glue {
            plugin: T::default(),
            ctx,
        });
        Ok(PluginObject {
            this: Box::into_raw(glue).cast::<ErasedObject>(),
            vtable: VTableFor::<T>::VTABLE,
        })
    })
    .map_err(FfiError::from)
    .into()
}

/// Reborrows the instance behind `this`.
///
/// # Safety
///
/// `this` must come from `create::<T>` and not have been passed to
/// `drop_glue::<T>`, and the instance must outlive `'a`. The host
/// guarantees both: it keeps the object alive until every future it got
/// from it is gone, and drops it exactly once.
unsafe fn glue<'a, T>(this: *const ErasedObject) -> &'a Glue<T> {
    // SAFETY: per this function's contract, `this` is the pointer
    // `Box::into_raw` returned for a live `Glue<T>`.
    unsafe { &*this.cast::<Glue<T>>() }
}

fn ffi_future<'a, R: Send + 'a>(
    make: impl FnOnce() -> BoxFuture<'a, Result<R, PluginError>>,
) -> BorrowingFfiFuture<'a, FfiResult<R>> {
    let fut = CatchUnwind::new(make);
    BorrowingFfiFuture::new(async move { fut.await.map_err(FfiError::from).into() })
}

unsafe extern "C" fn initialize<T: Plugin>(this: *const ErasedObject) -> FfiFuture<FfiResult<()>> {
    // SAFETY: the vtable contract: `this` is live until this future is gone.
    let g: &'static Glue<T> = unsafe { glue(this) };
    ffi_future(move || g.plugin.initialize(&g.ctx))
}

unsafe extern "C" fn start<T: Plugin>(this: *const ErasedObject) -> FfiFuture<FfiResult<()>> {
    // SAFETY: the vtable contract: `this` is live until this future is gone.
    let g: &'static Glue<T> = unsafe { glue(this) };
    ffi_future(move || g.plugin.start(&g.ctx))
}

unsafe extern "C" fn stop<T: Plugin>(this: *const ErasedObject) -> FfiFuture<FfiResult<()>> {
    // SAFETY: the vtable contract: `this` is live until this future is gone.
    let g: &'static Glue<T> = unsafe { glue(this) };
    ffi_future(move || g.plugin.stop(&g.ctx))
}

unsafe extern "C" fn cleanup<T: Plugin>(this: *const ErasedObject) -> FfiFuture<FfiResult<()>> {
    // SAFETY: the vtable contract: `this` is live until this future is gone.
    let g: &'static Glue<T> = unsafe { glue(this) };
    ffi_future(move || g.plugin.cleanup(&g.ctx))
}

unsafe extern "C" fn health<T: Plugin>(
    this: *const ErasedObject,
) -> FfiFuture<FfiResult<FfiHealth>> {
    // SAFETY: the vtable contract: `this` is live until this future is gone.
    let g: &'static Glue<T> = unsafe { glue(this) };
    ffi_future(move || {
        let fut = g.plugin.health(&g.ctx);
        Box::pin(async move { Ok(FfiHealth::from(fut.await)) })
    })
}

unsafe extern "C" fn handle_event<'a, T: Plugin>(
    this: *const ErasedObject,
    topic: RStr<'a>,
    payload: RSlice<'a, u8>,
) -> BorrowingFfiFuture<'a, FfiResult<()>> {
    // SAFETY: the vtable contract: `this` is live until this future is gone.
    let g: &'a Glue<T> = unsafe { glue(this) };
    ffi_future(move || {
        g.plugin.handle_event(
            &g.ctx,
            Event {
                topic: topic.as_str(),
                payload: payload.as_slice(),
            },
        )
    })
}

unsafe extern "C" fn save_state<T: Plugin>(
    this: *const ErasedObject,
) -> FfiFuture<FfiResult<RVec<u8>>> {
    // SAFETY: the vtable contract: `this` is live until this future is gone.
    let g: &'static Glue<T> = unsafe { glue(this) };
    ffi_future(move || {
        let fut = g.plugin.save_state(&g.ctx);
        Box::pin(async move { fut.await.map(RVec::from) })
    })
}

unsafe extern "C" fn restore_state<'a, T: Plugin>(
    this: *const ErasedObject,
    state: RSlice<'a, u8>,
) -> BorrowingFfiFuture<'a, FfiResult<()>> {
    // SAFETY: the vtable contract: `this` is live until this future is gone.
    let g: &'a Glue<T> = unsafe { glue(this) };
    ffi_future(move || g.plugin.restore_state(&g.ctx, state.as_slice()))
}

unsafe extern "C" fn call<'a, T: Plugin>(
    this: *const ErasedObject,
    handler: u32,
    input: RSlice<'a, u8>,
    output: &'a mut RVec<u8>,
) -> FfiResult<()> {
    // SAFETY: the vtable contract: `this` is live for the whole call.
    let g: &Glue<T> = unsafe { glue(this) };
    catch(|| {
        g.plugin
            .call(&g.ctx, HandlerId(handler), input.as_slice(), output)
    })
    .map_err(FfiError::from)
    .into()
}

unsafe extern "C" fn call_async<'a, T: Plugin>(
    this: *const ErasedObject,
    handler: u32,
    input: RSlice<'a, u8>,
    output: &'a mut RVec<u8>,
) -> BorrowingFfiFuture<'a, FfiResult<()>> {
    // SAFETY: the vtable contract: `this` is live until this future is gone.
    let g: &'a Glue<T> = unsafe { glue(this) };
    ffi_future(move || {
        g.plugin
            .call_async(&g.ctx, HandlerId(handler), input.as_slice(), output)
    })
}

unsafe extern "C" fn drop_glue<T: Plugin>(this: *const ErasedObject) -> FfiResult<()> {
    catch(|| {
        // SAFETY: the vtable contract: called once, after every borrow of
        // `this` has ended; `this` came from `Box::into_raw` in `create`.
        drop(unsafe { Box::from_raw(this.cast::<Glue<T>>().cast_mut()) });
        Ok(())
    })
    .map_err(FfiError::from)
    .into()
}

/// Host services reached across the boundary.
pub(crate) struct RemoteServices {
    pub(super) host: HostServicesBox,
}

impl HostServices for RemoteServices {
    fn log(&self, _plugin_id: &str, level: tracing::Level, target: &str, message: &str) {
        // The host side knows which plugin it serves.
        self.host
            .log(super::level_to_u8(level), target.into(), message.into());
    }

    fn max_level(&self) -> tracing::Level {
        super::level_from_u8(self.host.max_level())
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Box::pin(self.host.sleep(nanos))
    }

    fn fs(&self, op: FsOp<'_>, path: &str) -> Result<FsOutput, PluginError> {
        let (code, data) = match op {
            FsOp::Read => (0, &[][..]),
            FsOp::Write(bytes) => (1, bytes),
            FsOp::List => (2, &[][..]),
            FsOp::Remove => (3, &[][..]),
        };
        let out = self
            .host
            .fs(code, path.into(), RSlice::from_slice(data))
            .into_result()
            .map_err(PluginError::from)?;
        Ok(FsOutput {
            bytes: out.bytes.to_vec(),
            names: out.names.iter().map(ToString::to_string).collect(),
        })
    }

    fn http(&self, request: HttpRequest) -> BoxFuture<'static, Result<HttpResponse, PluginError>> {
        let fut = self.host.http(request.into());
        Box::pin(async move {
            fut.await
                .into_result()
                .map(|r| HttpResponse::from(&r))
                .map_err(PluginError::from)
        })
    }

    fn connect(&self, host: &str, port: u16) -> Result<std::net::TcpStream, PluginError> {
        let fd = self
            .host
            .connect(host.into(), port)
            .into_result()
            .map_err(PluginError::from)?;
        stream_from_fd(fd)
    }

    fn command(
        &self,
        request: CommandRequest,
    ) -> BoxFuture<'static, Result<CommandOutput, PluginError>> {
        let fut = self.host.command(request.into());
        Box::pin(async move {
            fut.await
                .into_result()
                .map(|o| CommandOutput::from(&o))
                .map_err(PluginError::from)
        })
    }

    fn provider(
        &self,
        name: &str,
        access: ProviderAccess,
        input: &[u8],
    ) -> Result<Vec<u8>, PluginError> {
        self.host
            .provider(
                name.into(),
                super::access_to_u8(access),
                RSlice::from_slice(input),
            )
            .into_result()
            .map(|v| v.to_vec())
            .map_err(PluginError::from)
    }

    fn mcp(&self, server: &str, tool: &str, args: &[u8]) -> Result<Vec<u8>, PluginError> {
        self.host
            .mcp(server.into(), tool.into(), RSlice::from_slice(args))
            .into_result()
            .map(|v| v.to_vec())
            .map_err(PluginError::from)
    }

    fn publish(&self, topic: &str, payload: &[u8]) -> Result<(), PluginError> {
        self.host
            .publish(topic.into(), RSlice::from_slice(payload))
            .into_result()
            .map_err(PluginError::from)
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) -> Result<(), PluginError> {
        // A panic must not unwind into the host's runtime: it ends the
        // task here, in the library, and is logged.
        let task = CatchUnwind::new(move || -> BoxFuture<'static, Result<(), PluginError>> {
            Box::pin(async move {
                task.await;
                Ok(())
            })
        });
        let task = FfiFuture::new(async move {
            if let Err(e) = task.await {
                tracing::warn!(target: "sharelife::plugin", error = %e, "a plugin task failed; it is stopped");
            }
        });
        self.host
            .spawn(task)
            .into_result()
            .map_err(PluginError::from)
    }
}

/// Takes ownership of a descriptor the host connected and handed over.
fn stream_from_fd(fd: i64) -> Result<std::net::TcpStream, PluginError> {
    #[cfg(unix)]
    {
        use std::os::fd::FromRawFd;
        let fd = i32::try_from(fd)
            .map_err(|_| PluginError::new(format!("the host returned a bad descriptor {fd}")))?;
        // SAFETY: the host created this descriptor for a connected TCP
        // socket with `into_raw_fd` and gave up ownership of it to us;
        // nothing else refers to it.
        Ok(unsafe { std::net::TcpStream::from_raw_fd(fd) })
    }
    #[cfg(not(unix))]
    {
        let _ = fd;
        Err(PluginError::new(
            "raw TCP connections are only supported on Unix hosts",
        ))
    }
}
