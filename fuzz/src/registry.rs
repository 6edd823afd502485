//! The registry's index: a per-plugin index file (JSON lines) and the
//! search summary.

use sharelife_registry::index::{self, Summary};

/// Fuzzes [`index::parse_index_file`] (for the id `examples.echo`): no
/// panic; what it accepts holds only lines of that id with unique
/// versions and sha256 checksums, and renders and parses back equal. The
/// same bytes go to [`Summary::parse`] (no panic; what it accepts
/// searches without panicking).
pub fn index_file(input: &[u8]) {
    let id = "examples.echo";
    if let Ok(lines) = index::parse_index_file("index/ex/am/examples.echo", id, input) {
        let mut versions: Vec<_> = lines.iter().map(|l| &l.vers).collect();
        versions.sort();
        versions.dedup();
        assert_eq!(versions.len(), lines.len());
        for line in &lines {
            assert_eq!(line.id, id);
            assert_eq!(line.cksum.len(), 64);
        }
        let text = index::render_index_file(&lines);
        let again = index::parse_index_file("again", id, text.as_bytes())
            .expect("a rendered index file parses");
        assert_eq!(again, lines);
    }
    if let Ok(summary) = Summary::parse(input) {
        let _ = summary.search("echo");
    }
}
