//! The host side of the boundary: a loaded plugin object wrapped so that it
//! implements [`Plugin`] like any statically linked plugin, and the host
//! services handed to it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RSlice, RStr, RVec};
use async_ffi::FfiFuture;
use async_trait::async_trait;

use super::services::{FfiFsOutput, HostServicesFfi, HostServicesFfi_TO};
use super::{
    FfiCommandOutput, FfiCommandRequest, FfiContextData, FfiHttpRequest, FfiHttpResponse,
    FfiResult, HostServicesBox, PluginModule, PluginObject,
};
use crate::context::HostServices;
use crate::loader::Library;
use crate::services::FsOp;
use crate::{Buffer, Event, HandlerId, Health, Plugin, PluginContext, PluginError};

/// A plugin instance living in a loaded library.
///
/// Field order matters: `object` is dropped (through the library's own
/// `drop` function) before `library`, whose drop closes the library.
pub(crate) struct DynamicPlugin {
    object: PluginObject,
    library: Arc<Library>,
}

// SAFETY: the object is a `Glue<T>` with `T: Plugin`, and `Plugin` requires
// `Send + Sync`; the vtable is immutable static data.
unsafe impl Send for DynamicPlugin {}
// SAFETY: as above.
unsafe impl Sync for DynamicPlugin {}

impl DynamicPlugin {
    /// Constructs the plugin of `module` with the context `ctx`.
    ///
    /// # Safety
    ///
    /// `module` must point into `library` and have passed the header and
    /// layout checks of the loader.
    pub(crate) unsafe fn create(
        library: Arc<Library>,
        module: *const PluginModule,
        ctx: &PluginContext,
    ) -> Result<Self, PluginError> {
        // SAFETY: per this function's contract, `module` is a checked
        // `PluginModule` kept alive by `library`, which we hold.
        let module = unsafe { &*module };
        let data = ctx.data();
        let data = FfiContextData {
            plugin_id: data.plugin_id.into(),
            config_json: if data.config.is_null() {
                Default::default()
            } else {
                data.config.to_string().into()
            },
            data_dir: data.data_dir.to_string_lossy().into_owned().into(),
            temp_dir: data.temp_dir.to_string_lossy().into_owned().into(),
        };
        let services = services_for(ctx, Arc::downgrade(&library));
        match (module.create)(&data, services) {
            RResult::ROk(object) => Ok(DynamicPlugin { object, library }),
            RResult::RErr(err) => Err(err.into()),
        }
    }

    pub(crate) fn library(&self) -> &Arc<Library> {
        &self.library
    }
}

fn into_result<T>(r: FfiResult<T>) -> Result<T, PluginError> {
    r.into_result().map_err(PluginError::from)
}

#[async_trait]
impl Plugin for DynamicPlugin {
    // The library holds the context it was created with (the same one the
    // host passes here), so the `ctx` arguments are not sent across.

    async fn initialize(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        // SAFETY: `self.object` is live while `self` is, and the future
        // borrows `self`, so it cannot outlive the object.
        into_result(unsafe { (self.object.vtable.initialize)(self.object.this) }.await)
    }

    async fn start(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        // SAFETY: as in `initialize`.
        into_result(unsafe { (self.object.vtable.start)(self.object.this) }.await)
    }

    async fn stop(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        // SAFETY: as in `initialize`.
        into_result(unsafe { (self.object.vtable.stop)(self.object.this) }.await)
    }

    async fn cleanup(&self, _ctx: &PluginContext) -> Result<(), PluginError> {
        // SAFETY: as in `initialize`.
        into_result(unsafe { (self.object.vtable.cleanup)(self.object.this) }.await)
    }

    async fn health(&self, _ctx: &PluginContext) -> Health {
        // SAFETY: as in `initialize`.
        match into_result(unsafe { (self.object.vtable.health)(self.object.this) }.await) {
            Ok(h) => h.into(),
            // `health` has no error channel: a panic in the library is
            // re-raised here, so the host contains it exactly as it does a
            // static plugin's (resume_unwind does not run the panic hook).
            Err(e) if e.kind() == crate::ErrorKind::Panicked => {
                std::panic::resume_unwind(Box::new(e.message().to_owned()))
            }
            Err(e) => Health::Unhealthy(e.to_string()),
        }
    }

    async fn handle_event(
        &self,
        _ctx: &PluginContext,
        event: Event<'_>,
    ) -> Result<(), PluginError> {
        // SAFETY: as in `initialize`; the topic and payload borrows are
        // tied to the returned future by its lifetime.
        into_result(
            unsafe {
                (self.object.vtable.handle_event)(
                    self.object.this,
                    RStr::from_str(event.topic),
                    RSlice::from_slice(event.payload),
                )
            }
            .await,
        )
    }

    async fn save_state(&self, _ctx: &PluginContext) -> Result<Vec<u8>, PluginError> {
        // SAFETY: as in `initialize`. The state is copied into a host
        // vector at once: nothing from the library outlives the call.
        into_result(unsafe { (self.object.vtable.save_state)(self.object.this) }.await)
            .map(|v| v.to_vec())
    }

    async fn restore_state(&self, _ctx: &PluginContext, state: &[u8]) -> Result<(), PluginError> {
        // SAFETY: as in `initialize`; the state borrow is tied to the
        // returned future by its lifetime.
        into_result(
            unsafe {
                (self.object.vtable.restore_state)(self.object.this, RSlice::from_slice(state))
            }
            .await,
        )
    }

    #[inline]
    fn call(
        &self,
        _ctx: &PluginContext,
        handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError> {
        // SAFETY: `self.object` is live for the duration of this call.
        into_result(unsafe {
            (self.object.vtable.call)(
                self.object.this,
                handler.0,
                RSlice::from_slice(input),
                output,
            )
        })
    }

    async fn call_async(
        &self,
        _ctx: &PluginContext,
        handler: HandlerId,
        input: &[u8],
        output: &mut Buffer,
    ) -> Result<(), PluginError> {
        // SAFETY: as in `initialize`; input and output borrows are tied to
        // the returned future by its lifetime.
        into_result(
            unsafe {
                (self.object.vtable.call_async)(
                    self.object.this,
                    handler.0,
                    RSlice::from_slice(input),
                    output,
                )
            }
            .await,
        )
    }
}

impl Drop for DynamicPlugin {
    fn drop(&mut self) {
        // SAFETY: `drop` is called once, here, and no future borrowing the
        // object can exist any more: they all borrow `self`.
        let result = unsafe { (self.object.vtable.drop)(self.object.this) };
        if let RResult::RErr(err) = result {
            tracing::warn!(library = %self.library.path().display(), error = %PluginError::from(err), "plugin panicked while being dropped");
        }
    }
}

/// What the host offers one plugin, as an FFI trait object.
struct HostBridge {
    plugin_id: String,
    services: Arc<dyn HostServices>,
    /// The plugin's library, for the wakers of the futures handed to it.
    library: Weak<Library>,
}

/// A host future the plugin awaits (a timer, a request).
///
/// The plugin polls it with a waker whose code lives in the plugin's
/// library, and what the future registers (tokio's timer wheel, a socket)
/// may keep a clone after the plugin's future is gone: waking or dropping
/// it after the library is closed would jump into unmapped memory. So the
/// registered waker is a host-side shim: it calls the plugin's waker only
/// while it can hold the library open, and otherwise does nothing (the
/// task it would wake is gone with the library's objects).
struct LibraryWaking<F> {
    inner: Pin<Box<F>>,
    library: Weak<Library>,
}

struct WakerShim {
    /// The plugin's waker; `None` once dropped or leaked.
    waker: parking_lot::Mutex<Option<Waker>>,
    library: Weak<Library>,
}

impl Wake for WakerShim {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Holding the library open while its code runs; if this was its
        // last reference, it closes here, after the call.
        if let Some(_library) = self.library.upgrade()
            && let Some(waker) = &*self.waker.lock()
        {
            waker.wake_by_ref();
        }
    }
}

impl Drop for WakerShim {
    fn drop(&mut self) {
        let waker = self.waker.get_mut().take();
        match self.library.upgrade() {
            Some(_library) => drop(waker),
            // Its drop function is gone with the library: leak the waker
            // (it owns at most a reference count in freed plugin memory).
            None => std::mem::forget(waker),
        }
    }
}

impl<F: Future> Future for LibraryWaking<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Called from the plugin's code: its library is open now, so
        // cloning its waker is safe.
        let shim = Waker::from(Arc::new(WakerShim {
            waker: parking_lot::Mutex::new(Some(cx.waker().clone())),
            library: self.library.clone(),
        }));
        self.inner.as_mut().poll(&mut Context::from_waker(&shim))
    }
}

/// A task the plugin spawned, holding the plugin's library open while it
/// exists. Field order matters: the task (whose code is the library's) is
/// dropped before the library reference.
struct LibraryTask {
    task: FfiFuture<()>,
    _library: Arc<Library>,
}

impl Future for LibraryTask {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().task).poll(cx)
    }
}

impl HostBridge {
    fn future<T: 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> FfiFuture<T> {
        FfiFuture::new(LibraryWaking {
            inner: Box::pin(fut),
            library: self.library.clone(),
        })
    }
}

impl HostServicesFfi for HostBridge {
    fn log(&self, level: u8, target: RStr<'_>, message: RStr<'_>) {
        self.services.log(
            &self.plugin_id,
            super::level_from_u8(level),
            target.as_str(),
            message.as_str(),
        );
    }

    fn max_level(&self) -> u8 {
        super::level_to_u8(self.services.max_level())
    }

    fn sleep(&self, nanos: u64) -> FfiFuture<()> {
        self.future(self.services.sleep(Duration::from_nanos(nanos)))
    }

    fn fs(&self, op: u8, path: RStr<'_>, data: RSlice<'_, u8>) -> FfiResult<FfiFsOutput> {
        let op = match op {
            0 => FsOp::Read,
            1 => FsOp::Write(data.as_slice()),
            2 => FsOp::List,
            3 => FsOp::Remove,
            other => {
                return RResult::RErr(
                    PluginError::invalid_input(format!("unknown file operation {other}")).into(),
                );
            }
        };
        self.services
            .fs(op, path.as_str())
            .map(|o| FfiFsOutput {
                bytes: o.bytes.into(),
                names: o.names.into_iter().map(Into::into).collect(),
            })
            .map_err(Into::into)
            .into()
    }

    fn http(&self, request: FfiHttpRequest) -> FfiFuture<FfiResult<FfiHttpResponse>> {
        let fut = self.services.http((&request).into());
        self.future(async move {
            fut.await
                .map(FfiHttpResponse::from)
                .map_err(Into::into)
                .into()
        })
    }

    fn connect(&self, host: RStr<'_>, port: u16) -> FfiResult<i64> {
        self.services
            .connect(host.as_str(), port)
            .and_then(stream_into_fd)
            .map_err(Into::into)
            .into()
    }

    fn command(&self, request: FfiCommandRequest) -> FfiFuture<FfiResult<FfiCommandOutput>> {
        let fut = self.services.command((&request).into());
        self.future(async move {
            fut.await
                .map(FfiCommandOutput::from)
                .map_err(Into::into)
                .into()
        })
    }

    fn provider(&self, name: RStr<'_>, access: u8, input: RSlice<'_, u8>) -> FfiResult<RVec<u8>> {
        let Some(access) = super::access_from_u8(access) else {
            return RResult::RErr(
                PluginError::invalid_input(format!("unknown provider access {access}")).into(),
            );
        };
        self.services
            .provider(name.as_str(), access, input.as_slice())
            .map(Into::into)
            .map_err(Into::into)
            .into()
    }

    fn mcp(&self, server: RStr<'_>, tool: RStr<'_>, args: RSlice<'_, u8>) -> FfiResult<RVec<u8>> {
        self.services
            .mcp(server.as_str(), tool.as_str(), args.as_slice())
            .map(Into::into)
            .map_err(Into::into)
            .into()
    }

    fn publish(&self, topic: RStr<'_>, payload: RSlice<'_, u8>) -> FfiResult<()> {
        self.services
            .publish(topic.as_str(), payload.as_slice())
            .map_err(Into::into)
            .into()
    }

    fn spawn(&self, task: FfiFuture<()>) -> FfiResult<()> {
        // The plugin is calling, so its library is open: dropping `task`
        // here (on a refusal) runs its code while it is mapped. The
        // services drop a running task when they are revoked, before the
        // host lets go of the library; the reference held with it makes
        // that order hold even if they were not.
        let Some(library) = self.library.upgrade() else {
            return RResult::RErr(
                PluginError::with_kind(
                    crate::ErrorKind::Denied,
                    "spawn denied: the plugin's library is being closed",
                )
                .into(),
            );
        };
        self.services
            .spawn(Box::pin(LibraryTask {
                task,
                _library: library,
            }))
            .map_err(Into::into)
            .into()
    }
}

/// Hands a connected stream's descriptor over to the plugin, which takes
/// ownership of it.
fn stream_into_fd(stream: std::net::TcpStream) -> Result<i64, PluginError> {
    #[cfg(unix)]
    {
        use std::os::fd::IntoRawFd;
        Ok(i64::from(stream.into_raw_fd()))
    }
    #[cfg(not(unix))]
    {
        drop(stream);
        Err(PluginError::new(
            "raw TCP connections are only supported on Unix hosts",
        ))
    }
}

fn services_for(ctx: &PluginContext, library: Weak<Library>) -> HostServicesBox {
    HostServicesFfi_TO::from_value(
        HostBridge {
            plugin_id: ctx.plugin_id().to_owned(),
            services: Arc::clone(ctx.services()),
            library,
        },
        TD_Opaque,
    )
}
