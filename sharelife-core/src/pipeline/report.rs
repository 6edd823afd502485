//! The run report: what happened to every step, and every output produced
//! so far — also when the run failed.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::format::Agent;
use super::gate::StepDecision;
use crate::audit::What;
use crate::{Buffer, PluginError};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Every step completed.
    Completed,
    /// The run went to its end, but at least one step was skipped or
    /// denied and produced nothing.
    CompletedWithSkips,
    /// A step failed with `abort`; the steps after it did not run.
    Failed,
    /// The run was cancelled at a step boundary.
    Cancelled,
}

impl RunStatus {
    /// The status as written in reports: `completed`,
    /// `completed_with_skips`, `failed`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::CompletedWithSkips => "completed_with_skips",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What happened to one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepStatus {
    /// It produced its output.
    Completed,
    /// It failed (or its input was missing) and its policy skipped it.
    Skipped,
    /// The capability check refused it; it was not called.
    Denied,
    /// It failed and stopped the run.
    Failed,
    /// The run stopped (failed or cancelled) before reaching it.
    NotRun,
    /// The run was cancelled at this step's boundary.
    Cancelled,
}

impl StepStatus {
    /// The status as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Completed => "completed",
            StepStatus::Skipped => "skipped",
            StepStatus::Denied => "denied",
            StepStatus::Failed => "failed",
            StepStatus::NotRun => "not_run",
            StepStatus::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The names and static facts of a compiled pipeline, shared by its
/// reports.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) origin: String,
    /// The clock runs read (raw ticks); it turns ticks into durations
    /// when a report is read, not while the run goes.
    pub(crate) clock: quanta::Clock,
    pub(crate) agent: Option<Agent>,
    pub(crate) steps: Vec<StepInfo>,
}

impl Layout {
    /// `ticks` of the layout's clock as a duration.
    pub(crate) fn duration(&self, ticks: u64) -> Duration {
        ticks_to_duration(&self.clock, ticks)
    }
}

/// Raw ticks of `clock` (a difference of two readings) as a duration.
pub(crate) fn ticks_to_duration(clock: &quanta::Clock, ticks: u64) -> Duration {
    clock.delta(0, ticks)
}

#[derive(Debug)]
pub(crate) struct StepInfo {
    pub(crate) step_id: String,
    pub(crate) output_key: String,
    pub(crate) alias: String,
    pub(crate) plugin_id: Arc<str>,
    pub(crate) plugin_version: Arc<str>,
    pub(crate) handler: String,
    pub(crate) input_from: String,
    pub(crate) decision: StepDecision,
    pub(crate) audit: Option<What>,
}

/// One step's record in a run.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) status: StepStatus,
    pub(crate) attempts: u32,
    /// The step's wall time in the clock's raw ticks.
    pub(crate) ticks: u64,
    pub(crate) waited: Duration,
    /// Boxed: errors are the cold path, and slots are made per run.
    pub(crate) error: Option<Box<PluginError>>,
    pub(crate) output: Option<Buffer>,
}

impl Slot {
    pub(crate) const NOT_RUN: Slot = Slot {
        status: StepStatus::NotRun,
        attempts: 0,
        ticks: 0,
        waited: Duration::ZERO,
        error: None,
        output: None,
    };
}

/// The report of one run.
///
/// It borrows the pipeline it reports on (the step names, the clock)
/// rather than sharing it: a run then touches no reference count. Those
/// two atomic operations measured 6–11 ns of a no-op 3-step run's
/// ~47 ns of orchestration on the benchmark machine. To keep a report
/// past the pipeline, or send it where a borrow cannot go, take
/// [`into_owned`](Self::into_owned).
#[derive(Debug)]
pub struct RunReport<'p> {
    pub(crate) run_id: u64,
    pub(crate) status: RunStatus,
    /// The run's wall time in raw ticks.
    pub(crate) ticks: u64,
    pub(crate) layout: LayoutRef<'p>,
    pub(crate) slots: Vec<Slot>,
}

/// A report's hold on its pipeline's layout: borrowed from the pipeline
/// as a run writes it, shared once [`RunReport::into_owned`] took it.
#[derive(Debug)]
pub(crate) enum LayoutRef<'p> {
    Borrowed(&'p Arc<Layout>),
    Shared(Arc<Layout>),
}

impl std::ops::Deref for LayoutRef<'_> {
    type Target = Layout;

    #[inline]
    fn deref(&self) -> &Layout {
        match self {
            LayoutRef::Borrowed(layout) => layout,
            LayoutRef::Shared(layout) => layout,
        }
    }
}

impl RunReport<'_> {
    /// The same report, holding its pipeline's layout by a shared
    /// reference of its own instead of a borrow: it outlives the
    /// [`Pipeline`](super::Pipeline) and can go to another thread or task.
    ///
    /// ```
    /// # use sharelife_core::{Buffer, Host, HandlerId, Plugin, PluginContext, PluginError};
    /// # use sharelife_core::manifest::{Handler, Manifest};
    /// # use sharelife_core::pipeline::{Pipeline, PipelineFile, RunReport, RunStatus};
    /// # struct Upper;
    /// # impl Plugin for Upper {
    /// #     fn call(&self, _: &PluginContext, _: HandlerId, input: &[u8], out: &mut Buffer)
    /// #         -> Result<(), PluginError> {
    /// #         out.extend_from_copy_slice(&input.to_ascii_uppercase());
    /// #         Ok(())
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut manifest = Manifest::new("acme.upper".parse()?, "1.2.0".parse()?, "^0.1".parse()?);
    /// # manifest.handlers.push(Handler::new("run", false));
    /// # let host = Host::builder().build()?;
    /// # let id = host.add(manifest, Box::new(Upper)).await?;
    /// # host.start(&id).await?;
    /// # let file = PipelineFile::from_yaml("shout.yaml", r#"
    /// # schema_version: sharelife.pipeline.v1
    /// # plugins: [ { alias: up, plugin: acme.upper } ]
    /// # steps: [ { step_id: once, plugin_ref: up } ]
    /// # "#)?;
    /// let pipeline = Pipeline::compile(&file, &host)?;
    /// let report: RunReport<'static> = pipeline.run(b"hi").await.into_owned();
    /// // The pipeline's handles go before the plugin is unloaded; the
    /// // report stays.
    /// drop(pipeline);
    /// host.unload(&id).await?;
    /// assert_eq!(report.status(), RunStatus::Completed);
    /// assert_eq!(report.step("once").map(|s| s.plugin_id()), Some("acme.upper"));
    /// assert_eq!(report.final_output(), Some(&b"HI"[..]));
    /// # Ok(()) }
    /// ```
    pub fn into_owned(self) -> RunReport<'static> {
        RunReport {
            run_id: self.run_id,
            status: self.status,
            ticks: self.ticks,
            layout: LayoutRef::Shared(match self.layout {
                LayoutRef::Borrowed(layout) => Arc::clone(layout),
                LayoutRef::Shared(layout) => layout,
            }),
            slots: self.slots,
        }
    }

    /// The run's id (unique in this process; also on its `tracing` span).
    pub fn run_id(&self) -> u64 {
        self.run_id
    }

    /// How the run ended.
    pub fn status(&self) -> RunStatus {
        self.status
    }

    /// Whether every step completed.
    pub fn is_completed(&self) -> bool {
        self.status == RunStatus::Completed
    }

    /// Wall time of the whole run.
    pub fn duration(&self) -> Duration {
        self.layout.duration(self.ticks)
    }

    /// The pipeline file the run came from.
    pub fn origin(&self) -> &str {
        &self.layout.origin
    }

    /// The agent the pipeline file names.
    pub fn agent(&self) -> Option<&Agent> {
        self.layout.agent.as_ref()
    }

    /// Every step, in order.
    pub fn steps(&self) -> impl ExactSizeIterator<Item = StepReport<'_>> {
        self.layout
            .steps
            .iter()
            .zip(&self.slots)
            .map(|(info, slot)| StepReport {
                info,
                slot,
                clock: &self.layout.clock,
            })
    }

    /// The step with this id.
    pub fn step(&self, step_id: &str) -> Option<StepReport<'_>> {
        self.steps().find(|s| s.step_id() == step_id)
    }

    /// The output kept under `key`, if its step completed.
    pub fn output(&self, key: &str) -> Option<&[u8]> {
        self.steps()
            .find(|s| s.output_key() == key)
            .and_then(|s| s.output())
    }

    /// The last step's output, if it completed: the run's result.
    pub fn final_output(&self) -> Option<&[u8]> {
        self.slots.last().and_then(|s| s.output.as_deref())
    }

    /// Every output produced, by key, in step order.
    pub fn outputs(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.steps()
            .filter_map(|s| s.output().map(|o| (s.info.output_key.as_str(), o)))
    }

    /// Takes the outputs, by key, without copying them.
    pub fn into_outputs(self) -> Vec<(String, Buffer)> {
        self.layout
            .steps
            .iter()
            .zip(self.slots)
            .filter_map(|(info, slot)| slot.output.map(|o| (info.output_key.clone(), o)))
            .collect()
    }

    /// The report as JSON (outputs as UTF-8 text where they are, else as
    /// byte arrays), for logs and tools.
    pub fn to_json(&self) -> serde_json::Value {
        let steps: Vec<_> = self
            .steps()
            .map(|s| {
                serde_json::json!({
                    "step_id": s.step_id(),
                    "plugin": s.plugin_id(),
                    "handler": s.handler(),
                    "status": s.status().as_str(),
                    "attempts": s.attempts(),
                    "duration_us": u64::try_from(s.duration().as_micros()).unwrap_or(u64::MAX),
                    "backoff_ms": u64::try_from(s.waited().as_millis()).unwrap_or(u64::MAX),
                    "error": s.error().map(|e| e.to_string()),
                    "decision": s.decision().map(|d| d.to_string()),
                })
            })
            .collect();
        let outputs: serde_json::Map<_, _> = self
            .outputs()
            .map(|(k, v)| {
                let v = match std::str::from_utf8(v) {
                    Ok(text) => serde_json::Value::String(text.to_owned()),
                    Err(_) => serde_json::json!(v),
                };
                (k.to_owned(), v)
            })
            .collect();
        serde_json::json!({
            "run_id": self.run_id,
            "pipeline": self.layout.origin,
            "status": self.status.as_str(),
            "duration_us": u64::try_from(self.duration().as_micros()).unwrap_or(u64::MAX),
            "steps": steps,
            "outputs": outputs,
        })
    }
}

/// The report for people: a header, one row per step (with the gate's
/// refusal or the error under a step that has one), and the final output.
///
/// ```text
/// pipeline demo.yaml: completed_with_skips in 1.4ms
///   shout        upper.run       completed  attempts 1  160µs
///   check        suffix.verify   skipped    attempts 1  90µs
///       error: "HELLO WORLD" does not end with " ::verified"
///   sign         suffix.run      completed  attempts 1  70µs
/// output: HELLO WORLD ::verified
/// ```
impl fmt::Display for RunReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "pipeline {}: {} in {}",
            self.layout.origin,
            self.status,
            human_duration(self.duration())
        )?;
        let id_width = self.steps().map(|s| s.step_id().len()).max().unwrap_or(0);
        let call_width = self
            .steps()
            .map(|s| s.alias().len() + 1 + s.handler().len())
            .max()
            .unwrap_or(0);
        for s in self.steps() {
            write!(
                f,
                "  {:<id_width$}  {:<call_width$}  {:<9}  attempts {}  {}",
                s.step_id(),
                format!("{}.{}", s.alias(), s.handler()),
                s.status(),
                s.attempts(),
                human_duration(s.duration()),
            )?;
            if !s.waited().is_zero() {
                write!(f, " (backoff {})", human_duration(s.waited()))?;
            }
            writeln!(f)?;
            match (s.decision().filter(|d| !d.allowed), s.error()) {
                (Some(d), _) => writeln!(f, "      gate: {d}")?,
                (None, Some(e)) => writeln!(f, "      error: {e}")?,
                (None, None) => {}
            }
        }
        match (self.final_output(), self.steps().last()) {
            (Some(output), _) => writeln!(f, "output: {}", output_text(output)),
            (None, Some(last)) => writeln!(
                f,
                "output: none (the last step, {:?}, is {})",
                last.step_id(),
                last.status()
            ),
            (None, None) => writeln!(f, "output: none"),
        }
    }
}

/// A duration for people: `850µs`, `12.3ms`, `1.25s`.
pub fn human_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{:.1}ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// Bytes for people: the text if they are UTF-8, else hex (up to 64
/// bytes) or just the count.
pub fn output_text(bytes: &[u8]) -> String {
    const HEX_LIMIT: usize = 64;
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) if bytes.len() <= HEX_LIMIT => {
            let hex = hex::encode(bytes);
            format!("<{} bytes, not UTF-8: {hex}>", bytes.len())
        }
        Err(_) => format!("<{} bytes, not UTF-8>", bytes.len()),
    }
}

/// One step in a [`RunReport`].
#[derive(Debug, Clone, Copy)]
pub struct StepReport<'a> {
    info: &'a StepInfo,
    slot: &'a Slot,
    clock: &'a quanta::Clock,
}

impl<'a> StepReport<'a> {
    /// The step's id.
    pub fn step_id(&self) -> &'a str {
        &self.info.step_id
    }

    /// The plugin's alias in the file.
    pub fn alias(&self) -> &'a str {
        &self.info.alias
    }

    /// The plugin's id.
    pub fn plugin_id(&self) -> &'a str {
        &self.info.plugin_id
    }

    /// The handler called.
    pub fn handler(&self) -> &'a str {
        &self.info.handler
    }

    /// Where the step's input came from (`$input`, a step id or a key).
    pub fn input_from(&self) -> &'a str {
        &self.info.input_from
    }

    /// The key its output is kept under.
    pub fn output_key(&self) -> &'a str {
        &self.info.output_key
    }

    /// What happened.
    pub fn status(&self) -> StepStatus {
        self.slot.status
    }

    /// Calls made (0 when denied, not run, or its input was missing).
    pub fn attempts(&self) -> u32 {
        self.slot.attempts
    }

    /// Wall time of the step, backoff included.
    pub fn duration(&self) -> Duration {
        ticks_to_duration(self.clock, self.slot.ticks)
    }

    /// Time spent waiting between retries, as the backoff settings
    /// computed it.
    pub fn waited(&self) -> Duration {
        self.slot.waited
    }

    /// The last error (for a skipped, denied or failed step).
    pub fn error(&self) -> Option<&'a PluginError> {
        self.slot.error.as_deref()
    }

    /// The capability decision, for a step the run reached.
    pub fn decision(&self) -> Option<&'a StepDecision> {
        match self.slot.status {
            StepStatus::NotRun | StepStatus::Cancelled => None,
            _ => Some(&self.info.decision),
        }
    }

    /// The output, if the step completed.
    pub fn output(&self) -> Option<&'a [u8]> {
        self.slot.output.as_deref()
    }
}
