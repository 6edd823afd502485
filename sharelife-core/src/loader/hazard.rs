//! [`HazardCell`]: a swappable `Option<Arc<T>>` whose readers take no
//! lock and execute no locked instruction.
//!
//! The host keeps the version of a plugin that calls reach in one of
//! these, so that a hot reload is one pointer swap while calls go on. A
//! call must keep the version it started on alive (its library mapped)
//! until it returns, and it must not pay much for that: a reference count
//! (or `arc_swap`'s debt slots) costs two atomic read-modify-writes per
//! call, ~19 ns on a Xeon, more than the rest of a call through the ABI.
//!
//! This is the hazard-pointer scheme (Michael, 2004) with asymmetric
//! barriers, as folly's `hazptr` does it:
//!
//! - **A reader** publishes the pointer it loaded in one of its thread's
//!   hazard slots (a plain store), orders that store before its next load
//!   with a *light* barrier, and loads the cell again: if the cell still
//!   holds the pointer, the object is protected until the reader clears
//!   its slot (a plain store).
//! - **A writer** swaps the pointer out, then issues a *heavy* barrier and
//!   scans every thread's hazard slots: the object is freed only once no
//!   slot names it. Until then it waits in a retire list; a reader that
//!   lets go of an object while the list is not empty (one load tells)
//!   checks whether its object is there and, if so, reclaims, so the last
//!   reader frees it, as with a reference count. [`reclaim`] (which the
//!   host's wait for calls in flight calls) looks at the list too.
//!
//! On Linux the heavy barrier is `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`,
//! which makes every running thread of the process execute a full memory
//! barrier, and the light one is then only a compiler fence: the reader's
//! publish-then-validate and the writer's swap-then-scan cannot both miss
//! each other (at least one side's store is visible to the other side's
//! load, the Dekker argument). Where the process cannot register for
//! `membarrier` (an old kernel, a seccomp filter), both barriers are full
//! fences (`fence(SeqCst)`); that is decided once, before the first cell
//! exists, and never changes. If the heavy barrier ever fails, nothing is
//! freed: a retired object stays alive rather than risk a reader.
//!
//! Each thread owns a record of [`SLOTS`] hazard slots (nested loads on
//! one thread take the next free slot); past that depth, or while the
//! thread is being torn down, a load takes a whole record from a shared
//! pool for its guard's lifetime. Records are never freed, only reused:
//! their number is the largest number of threads that ever read at once.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, compiler_fence, fence};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

/// Hazard slots per thread: how deeply loads can nest on one thread
/// before they take a pooled record.
const SLOTS: usize = 4;

/// One thread's hazard slots (or a pooled record's).
#[derive(Debug)]
struct Record {
    hazards: [AtomicPtr<()>; SLOTS],
}

/// Every record ever made (the writer scans them all), and the ones no
/// thread owns now.
#[derive(Default)]
struct Records {
    all: Vec<&'static Record>,
    free: Vec<&'static Record>,
}

static RECORDS: Mutex<Records> = Mutex::new(Records {
    all: Vec::new(),
    free: Vec::new(),
});

/// Objects swapped out while a hazard still named them: `(address, the
/// cell's reference to it)`.
type RetireList = Vec<(usize, Box<dyn Send>)>;

static RETIRED: Mutex<RetireList> = Mutex::new(Vec::new());

/// How many objects [`RETIRED`] holds: a reader letting go of an object
/// looks here (one load) to know whether it may have been the last to
/// hold a retired one.
static RETIRED_LEN: AtomicUsize = AtomicUsize::new(0);

/// A record for this thread (or a guard) to own: a free one, or a new one.
fn take_record() -> &'static Record {
    let mut records = RECORDS.lock();
    if let Some(r) = records.free.pop() {
        return r;
    }
    let r: &'static Record = Box::leak(Box::new(Record {
        hazards: [const { AtomicPtr::new(ptr::null_mut()) }; SLOTS],
    }));
    records.all.push(r);
    r
}

/// Gives a record back. One whose slots are not all clear (a guard
/// leaked) is kept out of the free list: it stays scanned, and what it
/// names stays alive.
fn give_back(r: &'static Record) {
    if r.hazards
        .iter()
        .all(|h| h.load(Ordering::Relaxed).is_null())
    {
        RECORDS.lock().free.push(r);
    }
}

/// This thread's record, taken on its first load and given back when the
/// thread ends.
struct Local {
    record: &'static Record,
}

impl Drop for Local {
    fn drop(&mut self) {
        give_back(self.record);
    }
}

thread_local! {
    static LOCAL: Local = Local { record: take_record() };
}

/// How readers and writers order their hazard accesses (see the module
/// docs); decided once, before the first cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Barriers {
    /// Light: a compiler fence; heavy: `membarrier`.
    Membarrier,
    /// Both: `fence(SeqCst)`.
    Fences,
}

static BARRIERS: OnceLock<Barriers> = OnceLock::new();

fn barriers() -> Barriers {
    *BARRIERS.get_or_init(|| {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::thread::{MembarrierCommand, membarrier};
            if membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok() {
                return Barriers::Membarrier;
            }
        }
        Barriers::Fences
    })
}

/// The reader's side: orders its hazard store before its next load.
#[inline(always)]
fn light_barrier() {
    match BARRIERS.get() {
        Some(Barriers::Membarrier) => compiler_fence(Ordering::SeqCst),
        _ => fence(Ordering::SeqCst),
    }
}

/// The writer's side: after it, every reader's published hazard is
/// visible, and every reader that publishes later sees the swap. `false`
/// if the barrier could not be made (then nothing may be freed).
fn heavy_barrier() -> bool {
    match barriers() {
        Barriers::Fences => {
            fence(Ordering::SeqCst);
            true
        }
        Barriers::Membarrier => {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            {
                use rustix::thread::{MembarrierCommand, membarrier};
                match membarrier(MembarrierCommand::PrivateExpedited) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!(error = %e, "membarrier failed: retired plugin versions are kept alive");
                        false
                    }
                }
            }
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            false
        }
    }
}

/// Every address a hazard names now. Call after [`heavy_barrier`].
fn protected() -> Vec<usize> {
    let records = RECORDS.lock();
    let mut out = Vec::new();
    for r in &records.all {
        for h in &r.hazards {
            let p = h.load(Ordering::Acquire);
            if !p.is_null() {
                out.push(p as usize);
            }
        }
    }
    out
}

/// Frees (drops the cell's reference to) every retired object no hazard
/// names any longer. The drops run after the locks are let go: one may
/// be the last reference to a plugin version, and close its library.
pub fn reclaim() {
    let freed: RetireList = {
        let mut retired = RETIRED.lock();
        if retired.is_empty() || !heavy_barrier() {
            return;
        }
        let protected = protected();
        let (keep, free) = std::mem::take(&mut *retired)
            .into_iter()
            .partition(|(addr, _)| protected.contains(addr));
        *retired = keep;
        RETIRED_LEN.store(retired.len(), Ordering::Relaxed);
        free
    };
    drop(freed);
}

/// A reader let go of `addr` while objects were retired: if `addr` is one
/// of them, it may have been the last reader, so reclaim now (the object
/// is freed when its last reader returns, as a counted reference would
/// be, not at some later reclaim).
#[cold]
fn released_while_retired(addr: usize) {
    let named = RETIRED.lock().iter().any(|(a, _)| *a == addr);
    if named {
        reclaim();
    }
}

/// Whether an object swapped out of a cell is still named by a hazard.
#[cfg(test)]
fn is_retired(addr: usize) -> bool {
    RETIRED.lock().iter().any(|(a, _)| *a == addr)
}

/// A swappable `Option<Arc<T>>` with lock-free, RMW-free reads (see the
/// module docs).
pub struct HazardCell<T: Send + Sync + 'static> {
    /// From `Arc::into_raw`: the cell owns that reference.
    ptr: AtomicPtr<T>,
    _owns: PhantomData<Arc<T>>,
}

impl<T: Send + Sync + 'static> std::fmt::Debug for HazardCell<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HazardCell")
            .field("ptr", &self.ptr.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T: Send + Sync + 'static> Default for HazardCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync + 'static> HazardCell<T> {
    /// An empty cell.
    pub fn new() -> Self {
        // Decided before any reader of any cell can run.
        barriers();
        HazardCell {
            ptr: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// The object in the cell, protected until the guard drops (on this
    /// thread). `None` when the cell is empty.
    #[inline]
    pub fn load(&self) -> Option<Protected<'_, T>> {
        LOCAL
            .try_with(|local| {
                let record = local.record;
                let slot = record
                    .hazards
                    .iter()
                    .position(|h| h.load(Ordering::Relaxed).is_null())?;
                Some(self.protect(record, slot, false))
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| self.protect(take_record(), 0, true))
    }

    /// Publishes the cell's pointer in `record`'s hazard `slot` and checks
    /// it is still the cell's.
    #[inline(always)]
    fn protect(
        &self,
        record: &'static Record,
        slot: usize,
        pooled: bool,
    ) -> Option<Protected<'_, T>> {
        let hazard = &record.hazards[slot];
        let mut p = self.ptr.load(Ordering::Acquire);
        loop {
            if p.is_null() {
                hazard.store(ptr::null_mut(), Ordering::Relaxed);
                if pooled {
                    give_back(record);
                }
                return None;
            }
            hazard.store(p.cast(), Ordering::Relaxed);
            light_barrier();
            let again = self.ptr.load(Ordering::Acquire);
            if again == p {
                return Some(Protected {
                    ptr: p,
                    hazard,
                    record: pooled.then_some(record),
                    _cell: PhantomData,
                });
            }
            p = again;
        }
    }

    /// The object in the cell as a counted reference.
    pub fn load_full(&self) -> Option<Arc<T>> {
        let guard = self.load()?;
        // SAFETY: `guard.ptr` came from `Arc::into_raw` and is protected:
        // the reference the cell (or, once swapped out, the retire list)
        // holds is not dropped while the hazard names it, so the count is
        // at least one here and the new reference is a real one.
        unsafe {
            Arc::increment_strong_count(guard.ptr);
            Some(Arc::from_raw(guard.ptr))
        }
    }

    /// Whether the cell holds an object (without protecting it).
    pub fn is_some(&self) -> bool {
        !self.ptr.load(Ordering::Acquire).is_null()
    }

    /// Whether the cell holds `object` (compared by address).
    pub fn holds(&self, object: &T) -> bool {
        ptr::eq(self.ptr.load(Ordering::Acquire), object)
    }

    /// Puts `new` in the cell and returns what was there. Readers that
    /// still hold the old object keep it alive: the cell's reference to it
    /// is retired, and dropped when the last of them lets go (or by a
    /// [`reclaim`] after that), so `Arc::strong_count` of the returned
    /// reference reaches one only then. Frees nothing else: the caller may
    /// hold locks that dropping another retired object (closing its
    /// library) must not run under.
    pub fn swap(&self, new: Option<Arc<T>>) -> Option<Arc<T>> {
        let new = new.map_or(ptr::null_mut(), |a| Arc::into_raw(a).cast_mut());
        let old = self.ptr.swap(new, Ordering::AcqRel);
        if old.is_null() {
            return None;
        }
        // SAFETY: `old` came from `Arc::into_raw` when it was put in the
        // cell, and the swap took it out: this takes back the cell's
        // reference, once.
        let owned = unsafe { Arc::from_raw(old) };
        let returned = Arc::clone(&owned);
        let addr = old as usize;
        // Retired before the scan: a reader that lets go after the scan
        // sees the retire list non-empty and reclaims it itself.
        {
            let mut retired = RETIRED.lock();
            retired.push((addr, Box::new(owned)));
            RETIRED_LEN.store(retired.len(), Ordering::Relaxed);
        }
        if heavy_barrier() && !protected().contains(&addr) {
            // No reader holds it: the cell's reference goes now (never the
            // last one: `returned` is another).
            let mine = {
                let mut retired = RETIRED.lock();
                let entry = retired
                    .iter()
                    .position(|(a, _)| *a == addr)
                    .map(|i| retired.swap_remove(i));
                RETIRED_LEN.store(retired.len(), Ordering::Relaxed);
                entry
            };
            drop(mine);
        }
        Some(returned)
    }
}

impl<T: Send + Sync + 'static> Drop for HazardCell<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: the cell's own reference, from `Arc::into_raw`. No
            // guard can exist: each borrows the cell.
            drop(unsafe { Arc::from_raw(p) });
        }
    }
}

/// A protected object of a [`HazardCell`]; clears its hazard when
/// dropped. Not `Send`: a hazard slot is written by its owning thread
/// only.
pub struct Protected<'c, T> {
    ptr: *const T,
    hazard: &'static AtomicPtr<()>,
    /// The pooled record to give back, when the guard took one.
    record: Option<&'static Record>,
    _cell: PhantomData<(&'c T, Cell<()>)>,
}

impl<T> std::ops::Deref for Protected<'_, T> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the hazard names `ptr` and was validated against the
        // cell after it was published: neither the cell nor a reclaim
        // drops the object's last reference while that holds (module
        // docs), and the guard cannot outlive the cell it borrows.
        unsafe { &*self.ptr }
    }
}

impl<T> Drop for Protected<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.hazard.store(ptr::null_mut(), Ordering::Release);
        // Orders the clear before the loads that follow: of the retire
        // list's length here, and of a waiting unload's announcement in
        // the caller (`released`). A writer retires (or announces) before
        // its heavy barrier and scans after it, so either it sees the
        // clear or this thread sees what it retired.
        light_barrier();
        if RETIRED_LEN.load(Ordering::Relaxed) != 0 {
            released_while_retired(self.ptr as usize);
        }
        if let Some(record) = self.record {
            give_back(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swapped_out_object_lives_until_its_reader_lets_go() {
        let cell = HazardCell::new();
        assert!(cell.load().is_none());
        cell.swap(Some(Arc::new(String::from("v1"))));
        let reader = cell.load().expect("full");
        let old = cell.swap(Some(Arc::new(String::from("v2")))).expect("v1");
        assert_eq!(*old, "v1");
        let addr = Arc::as_ptr(&old) as usize;
        // The cell's reference waits in the retire list while the reader
        // holds it: two references, and the reader still reads "v1".
        assert!(is_retired(addr));
        assert_eq!(Arc::strong_count(&old), 2);
        assert_eq!(*reader, "v1");
        assert_eq!(*cell.load().expect("full"), "v2");
        // The last reader letting go frees it: no reclaim needed.
        drop(reader);
        assert!(!is_retired(addr));
        assert_eq!(Arc::strong_count(&old), 1);
    }

    #[test]
    fn loads_nest_past_the_thread_slots_on_pooled_records() {
        let cell = HazardCell::new();
        cell.swap(Some(Arc::new(7_u32)));
        let guards: Vec<_> = (0..SLOTS * 3).map(|_| cell.load().expect("full")).collect();
        assert!(guards.iter().all(|g| **g == 7));
        let old = cell.swap(None).expect("7");
        let addr = Arc::as_ptr(&old) as usize;
        assert!(is_retired(addr));
        drop(guards);
        assert!(!is_retired(addr));
        assert_eq!(Arc::strong_count(&old), 1);
        assert!(cell.load().is_none());
    }

    #[test]
    fn a_swap_with_no_reader_frees_at_once() {
        let cell = HazardCell::new();
        cell.swap(Some(Arc::new(1_u8)));
        let old = cell.swap(Some(Arc::new(2_u8))).expect("1");
        assert_eq!(Arc::strong_count(&old), 1);
        assert_eq!(cell.load_full().map(|a| *a), Some(2));
    }

    #[test]
    fn readers_on_many_threads_never_see_a_freed_object() {
        // An object poisons itself as it is dropped; readers check every
        // object they read is whole, so reading one after its drop fails.
        struct Versioned(u64, Box<[u64; 8]>);
        impl Drop for Versioned {
            fn drop(&mut self) {
                self.0 = u64::MAX - 1;
                self.1.fill(u64::MAX);
            }
        }
        let cell = Arc::new(HazardCell::new());
        cell.swap(Some(Arc::new(Versioned(0, Box::new([0; 8])))));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (cell, stop) = (Arc::clone(&cell), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut reads = 0_u64;
                    while !stop.load(Ordering::Relaxed) {
                        let g = cell.load().expect("always full");
                        assert!(g.1.iter().all(|x| *x == g.0), "a torn or freed object");
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for v in 1..=2_000_u64 {
            let old = cell
                .swap(Some(Arc::new(Versioned(v, Box::new([v; 8])))))
                .expect("full");
            assert_eq!(old.0, v - 1);
            drop(old);
            reclaim();
        }
        stop.store(true, Ordering::Relaxed);
        let reads: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
        assert!(reads > 0);
        reclaim();
    }
}
