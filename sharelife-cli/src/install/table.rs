//! A plan as a table a person can read before saying yes: one block per
//! plugin (action, id, from → to, risk), its capabilities in plain words
//! with their risk and what the host's policy does with each, the scan's
//! warnings, and for an upgrade the capability diff, highlighted; then
//! whether it needs an admin's approval and why.

use std::fmt::Write as _;
use std::io::IsTerminal;

use sharelife_install::Plan;
use sharelife_install::pack::PackPlan;
use sharelife_install::plan::{ActionKind, PlanAction};

/// Bold yellow on a terminal, plain otherwise.
struct Style {
    on: bool,
}

impl Style {
    fn stdout() -> Style {
        Style {
            on: std::io::stdout().is_terminal(),
        }
    }

    fn mark(&self, text: &str) -> String {
        if self.on {
            format!("\x1b[1;33m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// The action in words.
pub(super) fn action_word(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Add => "add",
        ActionKind::Upgrade => "upgrade",
        ActionKind::Downgrade => "downgrade",
        ActionKind::Keep => "keep",
        ActionKind::Remove => "remove",
    }
}

fn version(v: Option<&semver::Version>) -> String {
    v.map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// The plan as text (ends with a newline).
pub(super) fn render(plan: &Plan, digest: &str) -> String {
    let style = Style::stdout();
    let mut out = String::new();
    let base = plan.base_generation.map_or_else(
        || "nothing installed".to_owned(),
        |g| format!("generation {g}"),
    );
    let source = match &plan.pack {
        Some(part) if part.registries.is_empty() => "packages from the pack".to_owned(),
        Some(part) => part
            .registries
            .iter()
            .map(|r| format!("registry `{}` snapshot {}", r.name, r.snapshot_version))
            .collect::<Vec<_>>()
            .join(", "),
        None => format!(
            "registry `{}` snapshot {}",
            plan.registry.name, plan.registry.snapshot_version
        ),
    };
    let _ = writeln!(
        out,
        "plan {} ({}: {}; {source}; made against {base})",
        &digest[..digest.len().min(12)],
        plan.operation,
        plan.requested.join(" "),
    );
    let _ = writeln!(
        out,
        "  {:<9} {:<28} {:<22} {:<6}",
        "ACTION", "PLUGIN", "FROM -> TO", "RISK"
    );
    for a in &plan.actions {
        action(&mut out, a, &style);
    }
    if let Some(part) = &plan.pack {
        pack(&mut out, part, &style);
    }
    if plan.admin.required {
        let _ = writeln!(
            out,
            "{} (threshold: {} risk):",
            style.mark("needs admin approval"),
            plan.admin.threshold
        );
        for r in &plan.admin.reasons {
            let _ = writeln!(out, "  - {r}");
        }
    } else {
        let _ = writeln!(
            out,
            "no admin approval needed (nothing at or above {} risk, no capability widened)",
            plan.admin.threshold
        );
    }
    out
}

/// What a pack changes besides its plugins.
fn pack(out: &mut String, part: &PackPlan, style: &Style) {
    let d = &part.diff;
    let _ = writeln!(
        out,
        "pack {} ({}; {})",
        &part.digest[..part.digest.len().min(12)],
        part.signer
            .as_ref()
            .map_or_else(|| "unsigned".to_owned(), |k| format!("signed by {k}")),
        if part.embedded {
            "packages embedded"
        } else {
            "packages fetched from their registries"
        }
    );
    if d.policy_rules_added.is_empty() && d.policy_rules_removed.is_empty() {
        let _ = writeln!(out, "  policy: unchanged");
    } else {
        let _ = writeln!(out, "  policy:");
    }
    for r in &d.policy_rules_added {
        let line = format!("+ {r}");
        let _ = writeln!(
            out,
            "    {}",
            if r.starts_with("allow ") {
                style.mark(&line)
            } else {
                line
            }
        );
    }
    for r in &d.policy_rules_removed {
        let _ = writeln!(out, "    - {r}");
    }
    for g in &d.grants_widened {
        let _ = writeln!(
            out,
            "    {}",
            style.mark(&format!(
                "GRANT WIDENED: {} may now {} ({} risk)",
                g.plugin, g.capability, g.risk
            ))
        );
    }
    if d.config.is_empty() {
        let _ = writeln!(out, "  config: unchanged");
    } else {
        let _ = writeln!(out, "  config:");
    }
    for c in &d.config {
        let show = |v: &Option<String>| {
            v.clone()
                .unwrap_or_else(|| "(secret, not shown)".to_owned())
        };
        let _ = match c.change.as_str() {
            "added" => writeln!(out, "    + {} = {}", c.key, show(&c.after)),
            "removed" => writeln!(out, "    - {}", c.key),
            _ => writeln!(
                out,
                "    ~ {}: {} -> {}",
                c.key,
                show(&c.before),
                show(&c.after)
            ),
        };
    }
    for (what, names) in [
        ("added", &d.pipelines_added),
        ("changed", &d.pipelines_changed),
        ("removed", &d.pipelines_removed),
    ] {
        if !names.is_empty() {
            let _ = writeln!(out, "  pipelines {what}: {}", names.join(", "));
        }
    }
    if !d.required_inputs.is_empty() {
        let _ = writeln!(out, "  required inputs (environment of the host):");
    }
    for i in &d.required_inputs {
        let state = if i.set {
            "set".to_owned()
        } else {
            style.mark("NOT SET")
        };
        let _ = writeln!(out, "    {:<40} {state:<8} for {}", i.var, i.key);
    }
}

fn action(out: &mut String, a: &PlanAction, style: &Style) {
    let moved = match a.action {
        ActionKind::Keep => version(a.to.as_ref()),
        _ => format!("{} -> {}", version(a.from.as_ref()), version(a.to.as_ref())),
    };
    let mut line = format!(
        "  {:<9} {:<28} {:<22} {:<6}",
        action_word(a.action),
        a.id,
        moved,
        a.risk.to_string()
    );
    if !a.requested {
        line.push_str("  (dependency)");
    }
    let _ = writeln!(out, "{}", line.trim_end());
    if a.action == ActionKind::Keep {
        return;
    }
    if a.action != ActionKind::Remove {
        if a.capabilities.is_empty() {
            let _ = writeln!(out, "      capabilities: none");
        } else {
            let _ = writeln!(out, "      capabilities:");
        }
        for c in &a.capabilities {
            let verdict = a
                .policy
                .iter()
                .find(|v| v.capability == c.plain)
                .map_or("", |v| {
                    if v.granted {
                        "policy grants"
                    } else {
                        "policy denies"
                    }
                });
            let _ = writeln!(
                out,
                "        {:<6}  {:<48} {verdict}",
                c.risk.to_string(),
                c.plain
            );
        }
    }
    if let Some(diff) = &a.diff {
        if diff.added.is_empty() && diff.removed.is_empty() && diff.risk_from == diff.risk_to {
            let _ = writeln!(out, "      capability diff: none");
        } else {
            let _ = writeln!(out, "      capability diff:");
        }
        for added in &diff.added {
            let _ = writeln!(out, "        {}", style.mark(&format!("+ {added}")));
        }
        for removed in &diff.removed {
            let _ = writeln!(out, "        - {removed}");
        }
        if diff.risk_to > diff.risk_from {
            let _ = writeln!(
                out,
                "        {}",
                style.mark(&format!(
                    "risk raised: {} -> {}",
                    diff.risk_from, diff.risk_to
                ))
            );
        } else if diff.risk_to < diff.risk_from {
            let _ = writeln!(
                out,
                "        risk lowered: {} -> {}",
                diff.risk_from, diff.risk_to
            );
        }
    }
    for w in &a.evidence {
        let _ = writeln!(out, "      {}", style.mark(&format!("WARNING: {w}")));
    }
    if a.build_from_source {
        let _ = writeln!(
            out,
            "      no library for this host: built from its source (cargo build --release --locked), only if install.toml enables execution"
        );
    }
}
