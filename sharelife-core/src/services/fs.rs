//! File access: resolve, ask the gateway, then act through a directory
//! handle (cap-std) rooted at the granting rule's root, so that a symlink
//! swapped in after the check still cannot lead outside it.

use std::path::{Path, PathBuf};

use super::gated::Inner;
use super::{FsOp, FsOutput};
use crate::PluginError;
use crate::capability::Request;
use crate::manifest::FileAccess;

pub(super) fn run(s: &Inner, op: FsOp<'_>, path: &str) -> Result<FsOutput, PluginError> {
    let access = match op {
        FsOp::Read | FsOp::List => FileAccess::Read,
        FsOp::Write(_) | FsOp::Remove => FileAccess::Write,
    };
    let resolved = resolve(s.data_dir(), path).map_err(|e| {
        s.refuse(
            &Request::File {
                access,
                path: Path::new(path),
            },
            e,
        )
    })?;
    let req = Request::File {
        access,
        path: &resolved,
    };
    let rule = s.check(&req)?;
    let root = s
        .gateway
        .file_root(rule)
        .ok_or_else(|| PluginError::new("internal: a file grant without a root"))?;
    let rel = resolved
        .strip_prefix(root)
        .map_err(|_| PluginError::new("internal: granted path outside its root"))?;
    let io = |e: std::io::Error| PluginError::new(format!("{} {path:?}: {e}", op_name(op)));
    if access == FileAccess::Write {
        // A write grant may create its own root (it is where writes go).
        std::fs::create_dir_all(root).map_err(io)?;
    }
    let dir = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority()).map_err(io)?;
    let mut out = FsOutput::default();
    match op {
        FsOp::Read => {
            out.bytes = dir.read(rel).map_err(io)?;
            s.charge(rule, out.bytes.len(), &req)?;
        }
        FsOp::Write(bytes) => {
            s.charge(rule, bytes.len(), &req)?;
            if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
                dir.create_dir_all(parent).map_err(io)?;
            }
            dir.write(rel, bytes).map_err(io)?;
        }
        FsOp::List => {
            let entries = if rel.as_os_str().is_empty() {
                dir.entries()
            } else {
                dir.read_dir(rel)
            }
            .map_err(io)?;
            for entry in entries {
                out.names.push(
                    entry
                        .map_err(io)?
                        .file_name()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
            out.names.sort();
        }
        FsOp::Remove => dir.remove_file(rel).map_err(io)?,
    }
    Ok(out)
}

fn op_name(op: FsOp<'_>) -> &'static str {
    match op {
        FsOp::Read => "read",
        FsOp::Write(_) => "write",
        FsOp::List => "list",
        FsOp::Remove => "remove",
    }
}

/// The absolute path `path` really names: relative to the data dir, `.`
/// and `..` resolved, and every symlink in its existing part followed.
pub(crate) fn resolve(data_dir: &Path, path: &str) -> Result<PathBuf, PluginError> {
    if path.is_empty() || path.contains('\0') {
        return Err(PluginError::invalid_input(format!(
            "{path:?} is not a path"
        )));
    }
    let p = Path::new(path);
    let absolute = if p.is_absolute() {
        p.to_owned()
    } else {
        data_dir.join(p)
    };
    let normalized = crate::capability::normalize_lexically(&absolute);
    // Canonicalize the longest existing ancestor; what does not exist yet
    // holds no symlinks.
    let mut existing = normalized.clone();
    let mut missing = Vec::new();
    loop {
        match std::fs::canonicalize(&existing) {
            Ok(mut real) => {
                real.extend(missing.iter().rev());
                return Ok(real);
            }
            Err(_) => match existing.file_name() {
                Some(name) => {
                    missing.push(name.to_owned());
                    existing.pop();
                }
                None => return Ok(normalized),
            },
        }
    }
}
