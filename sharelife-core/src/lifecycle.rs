//! The plugin lifecycle: seven states and the one table of legal moves.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// Where a plugin is in its life.
///
/// ```text
///  Unloaded ─▶ Loading ─▶ Loaded ─▶ Active ⇄ Inactive
///                 │          │        │         │
///                 │          └────────┼────────▶│  (held back: a dependency
///                 │          │        │         │   failed to start)
///                 ▼          ▼        ▼         ▼
///               Error ◀──────┴────────┴─────────┘
///                 │  ▲
///   Active ◀──────┘  │   (restart from Error)
///                    │
///  Loaded, Inactive, Error ─▶ Unloading ─▶ Unloaded
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum PluginState {
    /// Not in the host.
    Unloaded = 0,
    /// The library is being opened, checked and initialized.
    Loading = 1,
    /// Initialized, not started.
    Loaded = 2,
    /// Started; handlers and events are delivered.
    Active = 3,
    /// Stopped, or never started because a dependency failed to start;
    /// can be started (again) or unloaded.
    Inactive = 4,
    /// A hook failed or the plugin panicked; can be restarted or unloaded.
    Error = 5,
    /// Stopping, cleaning up and closing the library.
    Unloading = 6,
}

impl PluginState {
    const ALL: [PluginState; 7] = [
        PluginState::Unloaded,
        PluginState::Loading,
        PluginState::Loaded,
        PluginState::Active,
        PluginState::Inactive,
        PluginState::Error,
        PluginState::Unloading,
    ];

    /// The transition table. Every state change in sharelife goes through
    /// this one function.
    pub fn can_move_to(self, to: PluginState) -> bool {
        use PluginState::*;
        matches!(
            (self, to),
            (Unloaded, Loading)
                | (Loading, Loaded | Error)
                | (Loaded, Active | Inactive | Error | Unloading)
                | (Active, Inactive | Error)
                | (Inactive, Active | Error | Unloading)
                | (Error, Active | Unloading)
                | (Unloading, Unloaded | Error)
        )
    }

    /// Lowercase name, as used in logs and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Unloaded => "unloaded",
            PluginState::Loading => "loading",
            PluginState::Loaded => "loaded",
            PluginState::Active => "active",
            PluginState::Inactive => "inactive",
            PluginState::Error => "error",
            PluginState::Unloading => "unloading",
        }
    }

    fn from_u8(v: u8) -> Self {
        Self::ALL[usize::from(v)]
    }
}

impl fmt::Display for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A transition the table does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin:?} cannot move from {from} to {to}")]
pub struct IllegalTransition {
    /// The plugin concerned.
    pub plugin: String,
    /// Its state at the time.
    pub from: PluginState,
    /// The state asked for.
    pub to: PluginState,
}

/// A plugin's current state, readable without a lock (the hot call path
/// checks it on every call) and changed only through [`Lifecycle::move_to`].
#[derive(Debug)]
pub struct Lifecycle {
    plugin: String,
    state: AtomicU8,
}

impl Lifecycle {
    /// A lifecycle starting in [`PluginState::Unloaded`].
    pub fn new(plugin: impl Into<String>) -> Self {
        Lifecycle {
            plugin: plugin.into(),
            state: AtomicU8::new(PluginState::Unloaded as u8),
        }
    }

    /// The current state.
    #[inline]
    pub fn state(&self) -> PluginState {
        PluginState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Moves to `to` if the table allows it from the current state, and
    /// emits a `tracing` event either way.
    ///
    /// # Errors
    ///
    /// [`IllegalTransition`] naming both states; the state is unchanged.
    pub fn move_to(&self, to: PluginState) -> Result<PluginState, IllegalTransition> {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let from = PluginState::from_u8(current);
            if !from.can_move_to(to) {
                tracing::warn!(plugin = %self.plugin, from = %from, to = %to, "illegal lifecycle transition refused");
                return Err(IllegalTransition {
                    plugin: self.plugin.clone(),
                    from,
                    to,
                });
            }
            match self.state.compare_exchange(
                current,
                to as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    tracing::info!(plugin = %self.plugin, from = %from, to = %to, "lifecycle transition");
                    return Ok(from);
                }
                Err(actual) => current = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_allows_the_documented_path_and_nothing_else() {
        use PluginState::*;
        let allowed = [
            (Unloaded, Loading),
            (Loading, Loaded),
            (Loading, Error),
            (Loaded, Active),
            (Loaded, Inactive),
            (Loaded, Error),
            (Loaded, Unloading),
            (Active, Inactive),
            (Active, Error),
            (Inactive, Active),
            (Inactive, Error),
            (Inactive, Unloading),
            (Error, Active),
            (Error, Unloading),
            (Unloading, Unloaded),
            (Unloading, Error),
        ];
        for from in PluginState::ALL {
            for to in PluginState::ALL {
                assert_eq!(
                    from.can_move_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn illegal_transition_names_both_states_and_keeps_the_state() {
        let lc = Lifecycle::new("acme.echo");
        let err = lc.move_to(PluginState::Active).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin \"acme.echo\" cannot move from unloaded to active"
        );
        assert_eq!(lc.state(), PluginState::Unloaded);
        assert_eq!(lc.move_to(PluginState::Loading), Ok(PluginState::Unloaded));
        assert_eq!(lc.state(), PluginState::Loading);
    }
}
