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

/// Whether the dynamic linker still holds a library opened from `path`
/// (the path string exactly as it was handed to `dlopen`), from its own
/// list of loaded objects (`dl_iterate_phdr`): no file is read and no
/// system call made, where [`is_mapped`] reads and parses
/// `/proc/self/maps` (tens of microseconds, more than the `dlclose` it
/// checks). glibc unmaps an object when it takes it off that list, so
/// "not listed" is "not mapped"; when it is still listed, [`is_mapped`]
/// has the last word. `None` where there is no such list (not glibc Linux).
pub(crate) fn is_loaded(path: &Path) -> Option<bool> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if !phdr::listed(path) {
            return Some(false);
        }
    }
    is_mapped(path)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod phdr {
    use std::ffi::{CStr, c_char, c_int, c_void};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    /// The first two fields of glibc's `struct dl_phdr_info`, the only
    /// ones read; the callback gets the struct's size, checked below.
    #[repr(C)]
    struct DlPhdrInfo {
        addr: usize,
        name: *const c_char,
    }

    unsafe extern "C" {
        fn dl_iterate_phdr(
            callback: unsafe extern "C" fn(*mut DlPhdrInfo, usize, *mut c_void) -> c_int,
            data: *mut c_void,
        ) -> c_int;
    }

    unsafe extern "C" fn visit(info: *mut DlPhdrInfo, size: usize, data: *mut c_void) -> c_int {
        if size < std::mem::size_of::<DlPhdrInfo>() {
            return 0;
        }
        // SAFETY: `data` is the `&[u8]` `listed` passed, alive for the
        // whole iteration; `info` points to a `dl_phdr_info` of at least
        // `size` bytes (checked above) that glibc keeps valid during the
        // callback, and `name` is a NUL-terminated string or null.
        unsafe {
            let wanted = &*data.cast::<&[u8]>();
            let name = (*info).name;
            if !name.is_null() && CStr::from_ptr(name).to_bytes() == *wanted {
                return 1;
            }
        }
        0
    }

    /// Whether an object named `path` is on the dynamic linker's list.
    pub(super) fn listed(path: &Path) -> bool {
        let mut wanted: &[u8] = path.as_os_str().as_bytes();
        // SAFETY: `visit` matches the callback type glibc declares and only
        // reads through the pointers it is handed; `wanted` outlives the
        // call. The iteration holds glibc's loader lock, which `visit`
        // does not take.
        unsafe { dl_iterate_phdr(visit, (&raw mut wanted).cast()) != 0 }
    }
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
    fn a_library_never_opened_is_not_loaded() {
        // Whether a closed library is unlisted is tested end to end
        // (tests/tests/unload_unmaps_library.rs, and
        // thread_local_keeps_library_mapped.rs for one that stays).
        let missing = std::path::Path::new("/nonexistent/libnot-there.so");
        assert_ne!(super::is_loaded(missing), Some(true));
    }

    #[test]
    fn pathname_is_the_sixth_field_and_may_contain_spaces() {
        let line = "7f00-7f01 r-xp 00000000 08:01 1234                       /tmp/a dir/libx.so";
        assert_eq!(super::pathname(line), "/tmp/a dir/libx.so");
        assert_eq!(super::pathname("7f00-7f01 rw-p 00000000 00:00 0 "), "");
    }
}
