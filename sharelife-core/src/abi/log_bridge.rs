//! Forwards `tracing` records made inside a plugin library to the host.
//!
//! A cdylib has its own copy of `tracing` and so its own (empty) global
//! dispatcher: without this bridge a plugin's `tracing::info!` would go
//! nowhere. When the library's first plugin is created, a subscriber is
//! installed in the library's copy that turns each event into a host log
//! call. In a statically linked plugin `tracing` is the host's own, and the
//! bridge is never installed (`create` only runs for loaded libraries).
//!
//! Spans are not forwarded; events inside them are. The bridge registers no
//! thread-local destructors, so it does not pin the library in memory.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use super::export::RemoteServices;
use crate::context::HostServices;

struct Bridge {
    host: Arc<RemoteServices>,
}

pub(super) fn install(host: &Arc<RemoteServices>) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bridge = Bridge {
            host: Arc::clone(host),
        };
        let _ = tracing::subscriber::set_global_default(bridge);
        install_panic_hook(Arc::clone(host));
    });
}

/// Replaces this library's copy of std's panic hook.
///
/// The default hook prints to stderr and calls `std::thread::current()`,
/// which registers a thread-local destructor on the panicking thread: glibc
/// then keeps the library mapped after `dlclose` until that thread exits.
/// This hook touches no thread-locals and sends the message to the host's
/// log instead, where it carries the plugin id. The panic itself is still
/// caught at the boundary and returned as an error.
fn install_panic_hook(host: Arc<RemoteServices>) {
    std::panic::set_hook(Box::new(move |info| {
        let message = crate::error::panic_message(info.payload());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        host.log(
            "",
            tracing::Level::ERROR,
            "panic",
            &format!("plugin panicked{location}: {message}"),
        );
    }));
}

impl Subscriber for Bridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.host.max_level()
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(
            self.host.max_level(),
        ))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = TextVisitor::default();
        event.record(&mut text);
        let meta = event.metadata();
        self.host
            .log("", *meta.level(), meta.target(), &text.finish());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[derive(Default)]
struct TextVisitor {
    message: String,
    fields: String,
}

impl TextVisitor {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else {
            format!("{}{}", self.message, self.fields)
        }
    }
}

impl Visit for TextVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}
