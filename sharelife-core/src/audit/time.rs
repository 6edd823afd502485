//! RFC 3339 timestamps for the audit log.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    fn the_written_time_parses_back() {
        let t = UNIX_EPOCH + Duration::new(1_795_000_000, 123_456_789);
        assert_eq!(humantime::parse_rfc3339(&super::rfc3339(t)).unwrap(), t);
    }
}
