//! RFC 3339 timestamps for the audit log, and the cheap clock the file
//! sink stamps decisions with.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The cheap clock: the CPU's time-stamp counter where `quanta` finds a
/// usable one (a few ns a read, against ~25 for `SystemTime::now`), else
/// the monotonic clock. Calibrated once per process.
#[cfg(feature = "host")]
fn clock() -> &'static quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Prepares the cheap clock (its calibration takes a while, once).
pub(super) fn warm_up() {
    let _ = ticks();
}

/// A reading of the cheap clock, comparable only through an [`Anchor`].
#[inline]
pub(super) fn ticks() -> u64 {
    #[cfg(feature = "host")]
    {
        clock().raw()
    }
    #[cfg(not(feature = "host"))]
    {
        static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        u64::try_from(
            BASE.get_or_init(std::time::Instant::now)
                .elapsed()
                .as_nanos(),
        )
        .unwrap_or(u64::MAX)
    }
}

/// Nanoseconds from `start` to `end` (two [`ticks`]); 0 when `end` is not
/// later (readings on two cores may disagree by a hair).
fn delta_nanos(start: u64, end: u64) -> u64 {
    #[cfg(feature = "host")]
    {
        clock().delta_as_nanos(start, end)
    }
    #[cfg(not(feature = "host"))]
    {
        end.saturating_sub(start)
    }
}

/// A wall-clock time and a cheap-clock reading taken together: converts
/// readings taken before it into wall time with a subtraction. The writer
/// takes one per group, after it took the group from the queue, so every
/// reading in the group is at or before it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Anchor {
    wall_nanos: u128,
    ticks: u64,
}

impl Anchor {
    /// Now.
    pub(super) fn now() -> Anchor {
        let ticks = ticks();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Anchor {
            wall_nanos: wall.as_nanos(),
            ticks,
        }
    }

    /// The wall time, as seconds and nanoseconds after the epoch, of the
    /// reading `ticks`.
    pub(super) fn wall(&self, ticks: u64) -> (u64, u32) {
        let at = self
            .wall_nanos
            .saturating_sub(u128::from(delta_nanos(ticks, self.ticks)));
        (
            u64::try_from(at / 1_000_000_000).unwrap_or(u64::MAX),
            (at % 1_000_000_000) as u32,
        )
    }
}

/// `2026-11-22T04:50:00.123456789Z`: UTC, always nine fractional digits
/// (the format the log has always written). A clock before 1970 or past
/// 9999 is written as the nearest instant the format can hold.
pub(super) fn rfc3339(at: SystemTime) -> String {
    // The last nanosecond of 9999-12-31, which `humantime` can format.
    let last = UNIX_EPOCH + Duration::new(253_402_300_799, 999_999_999);
    humantime::format_rfc3339_nanos(at.clamp(UNIX_EPOCH, last)).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_known_instants() {
        assert_eq!(super::rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_795_000_000, 5);
        assert_eq!(super::rfc3339(t), "2026-11-18T11:06:40.000000005Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&super::rfc3339(leap)[..10], "2000-02-29");
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(super::rfc3339(before), "1970-01-01T00:00:00.000000000Z");
        let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert_eq!(super::rfc3339(far), "9999-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn an_anchor_converts_earlier_readings_to_earlier_times() {
        let before = super::ticks();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let anchor = super::Anchor::now();
        let (s0, n0) = anchor.wall(before);
        let (s1, n1) = anchor.wall(anchor.ticks);
        let early = u128::from(s0) * 1_000_000_000 + u128::from(n0);
        let late = u128::from(s1) * 1_000_000_000 + u128::from(n1);
        assert!(early < late, "{early} {late}");
        assert_eq!(late, anchor.wall_nanos);
    }

    #[test]
    fn the_written_time_parses_back() {
        let t = UNIX_EPOCH + Duration::new(1_795_000_000, 123_456_789);
        assert_eq!(humantime::parse_rfc3339(&super::rfc3339(t)).unwrap(), t);
    }
}
