//! `docs/storage.md` names every table of the migrated schema, each in a section of its own
//! (`### table`), and every column of the table in that section.

use super::sqlite::Sqlite;
use serde_json::Value;

#[test]
fn the_storage_doc_names_every_table_and_column() {
    let db = Sqlite::migrated();
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/storage.md"),
    )
    .expect("docs/storage.md");
    let section = |table: &str| -> Option<&str> {
        doc.split("\n### ")
            .skip(1)
            .find(|s| s.lines().next().map(str::trim) == Some(table))
    };
    let Value::String(tables) = db.value(
        "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master \
         WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name)",
    ) else {
        panic!("no tables");
    };
    let mut missing = Vec::new();
    for table in tables.split(' ') {
        let Some(text) = section(table) else {
            missing.push(format!("table {table}"));
            continue;
        };
        let Value::String(columns) = db.value(&format!(
            "SELECT group_concat(name, ' ') FROM pragma_table_info('{table}')"
        )) else {
            continue;
        };
        if table == "sqlite_sequence" {
            continue;
        }
        for column in columns.split(' ') {
            let named = text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| word == column);
            if !named {
                missing.push(format!("{table}.{column}"));
            }
        }
    }
    assert!(missing.is_empty(), "not in docs/storage.md: {missing:?}");
}
