//! What the fixture tests share: the README tables of events/* and the
//! conventional principals the hand-written fixtures are named after.
#![allow(dead_code, clippy::unwrap_used)]
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `events/<name>` in the workspace.
pub fn events_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name)
}

/// The names of the `.json` files in `dir`.
pub fn json_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect()
}

/// The rows of `dir/README.md`'s file table (lines starting with "| `"), each
/// split into its trimmed cells; every row must have `columns` cells.
pub fn readme_table(dir: &Path, columns: usize) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("README.md")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            assert_eq!(cells.len(), columns, "README row {l:?}");
            cells
        })
        .collect()
}

/// A cell written as `code`.
pub fn tick(cell: &str) -> String {
    cell.trim_matches('`').to_string()
}

/// The conventional principals of the fixtures (events/detect/README.md).
pub const CONVENTIONS_POLICY: &str = r#"
version: 1
identities:
  own:
    - principal: "arn:aws:iam::*:role/driftguard-remediation"
      unique_id: "AROA3EXAMPLEDRIFTGRD1"
      session_name: "driftguard-*"
  pipeline:
    - principal: "arn:aws:iam::*:role/deploy-pipeline"
      session_name: "codepipeline-*"
  break_glass:
    - principal: "arn:aws:iam::*:role/BreakGlass"
      not_before: 2026-03-14T00:00:00Z
      not_after: 2026-03-21T00:00:00Z
      reason: on-call emergency role
"#;
