//! The test fixtures in `../shared` beside the repository: Delta conformance tables, Spark's
//! golden files, TPC-H. A clone without them fails with what is missing, not a missing file
//! deep inside a test.

use std::path::{Path, PathBuf};

/// `../shared/<sub>`, which must exist.
pub fn shared_dir(sub: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let dir = root.join(sub);
    assert!(
        dir.is_dir(),
        "{} is missing. These tests read the fixtures in `shared/` beside the repository \
         (conformance tables, Spark's SQL golden files, TPC-H answers): put that directory next \
         to this clone, so that `../shared` from the repository root reaches it, and run again",
        dir.display()
    );
    dir
}
