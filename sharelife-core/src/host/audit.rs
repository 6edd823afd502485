//! The audit part of a host (`host.audit()`): the sink every gateway
//! decision and lifecycle change is recorded in, its health and flush.

use std::sync::Arc;

use crate::audit::{AuditError, AuditHealth, AuditSink};

/// The host's audit sink, as a part (`host.audit()`).
#[derive(Debug)]
pub struct Audit {
    sink: Arc<dyn AuditSink>,
}

impl Audit {
    pub(crate) fn new(sink: Arc<dyn AuditSink>) -> Self {
        Audit { sink }
    }

    /// Blocks until every audit record made so far is durable (written and
    /// `fsync`ed): read the log after this to see all of it.
    ///
    /// # Errors
    ///
    /// The sink's failure ([`AuditError::WriterStopped`] once it has
    /// stopped).
    pub fn flush(&self) -> Result<(), AuditError> {
        self.sink.flush()
    }

    /// The sink's health: whether it is writing (a sink that failed stays
    /// failed, and decisions are then denied unless the host was built
    /// with [`AuditFailure::AllowAndAlert`](crate::audit::AuditFailure)),
    /// and how many records wait to be made durable.
    pub fn health(&self) -> AuditHealth {
        self.sink.health()
    }

    /// The sink itself.
    pub fn sink(&self) -> &Arc<dyn AuditSink> {
        &self.sink
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::MemorySink;

    #[test]
    fn flush_and_health_are_the_sinks() {
        let audit = Audit::new(Arc::new(MemorySink::default()));
        assert!(audit.health().is_healthy());
        audit.flush().unwrap();
    }
}
