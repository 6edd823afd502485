//! One fuzz test per target, and one smoke test per target.
//!
//! `cargo test -p sharelife-fuzz` runs, per target, bolero's random
//! engine for about a second (`fn <target>`) and the checked-in corpus
//! plus mutants of it for about a second and a half (`fn
//! <target>_corpus`). `cargo bolero test <target>` runs the same `fn
//! <target>` under libFuzzer; see `fuzz/README.md`.

use std::time::Duration;

/// The smoke run's time budget per target.
const SMOKE: Duration = Duration::from_millis(1500);

macro_rules! targets {
    ($($name:ident, $corpus:ident;)*) => {$(
        #[test]
        fn $name() {
            bolero::check!()
                .with_max_len(16 * 1024)
                .for_each(|input: &[u8]| sharelife_fuzz::$name(input));
        }

        #[test]
        fn $corpus() {
            let smoke = sharelife_fuzz::smoke::run(stringify!($name), SMOKE);
            assert!(smoke.mutants > 0, "{smoke:?}");
        }
    )*};
}

targets! {
    manifest_section, manifest_section_corpus;
    manifest_json, manifest_json_corpus;
    host_config, host_config_corpus;
    pipeline_file, pipeline_file_corpus;
    policy, policy_corpus;
    package_file_list, package_file_list_corpus;
    index_file, index_file_corpus;
}

#[test]
fn every_target_has_a_test_and_a_corpus() {
    for name in sharelife_fuzz::TARGETS {
        assert!(sharelife_fuzz::target(name).is_some(), "{name}");
        assert!(
            !sharelife_fuzz::smoke::corpus(name).is_empty(),
            "{name} has no corpus"
        );
    }
}
