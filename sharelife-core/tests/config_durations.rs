//! The host config's duration strings: whole seconds, a number with a unit,
//! and spans of several (parsed by `humantime`).

use std::time::Duration;

use sharelife_core::HostConfig;

fn interval(value: &str) -> Result<Option<Duration>, String> {
    HostConfig::parse(&format!("health_check_interval = {value}\n"), None, &|_| {
        None
    })
    .map(|c| c.health_check_interval)
    .map_err(|e| e.to_string())
}

#[test]
fn whole_seconds_and_single_units_are_accepted() {
    assert_eq!(interval("30"), Ok(Some(Duration::from_secs(30))));
    assert_eq!(interval(r#""500ms""#), Ok(Some(Duration::from_millis(500))));
    assert_eq!(interval(r#""30s""#), Ok(Some(Duration::from_secs(30))));
    assert_eq!(interval(r#""5m""#), Ok(Some(Duration::from_secs(300))));
    assert_eq!(interval(r#""1h""#), Ok(Some(Duration::from_secs(3600))));
}

#[test]
fn spans_of_several_units_are_added() {
    assert_eq!(interval(r#""1h 30m""#), Ok(Some(Duration::from_secs(5400))));
    assert_eq!(interval(r#""1m30s""#), Ok(Some(Duration::from_secs(90))));
}

#[test]
fn zero_and_non_durations_are_refused() {
    let zero = interval(r#""0s""#).unwrap_err();
    assert!(zero.contains("must be longer than zero"), "{zero}");
    for bad in [
        r#""soon""#,
        r#""30""#,
        r#""5 parsecs""#,
        r#""-1s""#,
        r#""""#,
    ] {
        let err = interval(bad).unwrap_err();
        assert!(err.contains("is not a duration"), "{bad}: {err}");
    }
}

#[test]
fn the_schema_pattern_accepts_what_the_parser_accepts() {
    let schema: serde_json::Value =
        serde_json::from_str(&sharelife_core::host::config::json_schema()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let valid =
        |text: &str| validator.is_valid(&serde_json::json!({ "health_check_interval": text }));
    for good in [
        "500ms", "30s", "5m", "1h", "1h 30m", "1m30s", "2 days", "1.5h",
    ] {
        assert!(interval(&format!("{good:?}")).is_ok(), "{good}");
        assert!(valid(good), "{good}");
    }
    for bad in ["soon", "30", "5 parsecs", "-1s", ""] {
        assert!(interval(&format!("{bad:?}")).is_err(), "{bad}");
        assert!(!valid(bad), "{bad}");
    }
}
