#!/usr/bin/env bash
# Runs one fuzz target under libFuzzer (coverage-guided) through
# cargo-bolero, for a number of inputs. Not part of CI; see README.md.
#
#   fuzz/run.sh <target> [runs] [extra cargo-bolero args...]
#
# The checked-in corpus (fuzz/corpus/<target>) is copied to a scratch
# corpus under $FUZZ_WORK (default /tmp/sharelife-fuzz), which libFuzzer
# grows; crashes land in $FUZZ_WORK/crashes/<target>. The checked-in
# corpus is never written. Needs `cargo install cargo-bolero` and a C++
# compiler; runs on the stable toolchain (no sanitizer; pass
# `--sanitizer address --toolchain nightly` for ASan).
set -euo pipefail
target=${1:?usage: fuzz/run.sh <target> [runs] [cargo-bolero args...]}
runs=${2:-1000000}
shift $(( $# < 2 ? $# : 2 ))
here="$(cd "$(dirname "$0")" && pwd)"
work=${FUZZ_WORK:-/tmp/sharelife-fuzz}
mkdir -p "$work/corpus/$target" "$work/crashes/$target"
cp -n "$here/corpus/$target/"* "$work/corpus/$target/" 2>/dev/null || true

# cargo-bolero builds with `--profile fuzz`; define it here rather than in
# the workspace manifest.
export CARGO_PROFILE_FUZZ_INHERITS=dev
export CARGO_PROFILE_FUZZ_OPT_LEVEL=3
export CARGO_PROFILE_FUZZ_DEBUG_ASSERTIONS=true
export CARGO_PROFILE_FUZZ_OVERFLOW_CHECKS=true
export CARGO_PROFILE_FUZZ_INCREMENTAL=false
export CARGO_PROFILE_FUZZ_CODEGEN_UNITS=1

cd "$here/.."
exec cargo bolero test "$target" \
  --package sharelife-fuzz \
  --engine libfuzzer \
  --sanitizer NONE \
  --runs "$runs" \
  --corpus-dir "$work/corpus/$target" \
  --crashes-dir "$work/crashes/$target" \
  --target-dir "${FUZZ_TARGET_DIR:-$work/target}" \
  "$@"
