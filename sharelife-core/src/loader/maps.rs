use std::path::Path;

/// Whether the library file at `path` is mapped into this process.
///
/// Reads `/proc/self/maps` on Linux; `None` where the platform offers no
/// such view. After a library is closed this says whether the platform
/// really unmapped it: glibc keeps a library mapped while a live thread
/// holds a thread-local destructor registered by it.
pub fn is_mapped(path: &Path) -> Option<bool> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    Some(maps.lines().any(|line| Path::new(pathname(line)) == target))
}

/// The pathname field of a maps line: what follows the five
/// space-separated fields (address perms offset dev inode); it may itself
/// contain spaces.
fn pathname(line: &str) -> &str {
    let mut rest = line;
    for _ in 0..5 {
        rest = rest.trim_start();
        rest = rest.find(char::is_whitespace).map_or("", |i| &rest[i..]);
    }
    rest.trim()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pathname_is_the_sixth_field_and_may_contain_spaces() {
        let line = "7f00-7f01 r-xp 00000000 08:01 1234                       /tmp/a dir/libx.so";
        assert_eq!(super::pathname(line), "/tmp/a dir/libx.so");
        assert_eq!(super::pathname("7f00-7f01 rw-p 00000000 00:00 0 "), "");
    }
}
