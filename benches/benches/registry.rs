//! The registry's costs (issue 12): publish stages, verify against a bare
//! sha256, search over 10,000 plugins. Placeholder while the benches are
//! written.

use criterion::{Criterion, criterion_group, criterion_main};

fn placeholder(_c: &mut Criterion) {}

criterion_group!(benches, placeholder);
criterion_main!(benches);
