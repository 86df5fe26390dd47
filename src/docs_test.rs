//! The docs themselves: the README stays short enough for a newcomer, and every relative link in
//! the README and in `docs/` leads to a file that exists.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The relative link targets of a markdown text (`](target)`), anchors dropped.
fn links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|t| !t.starts_with("http") && !t.starts_with('#') && !t.is_empty())
        .map(|t| t.split('#').next().unwrap_or(t).to_owned())
        .collect()
}

#[test]
fn the_readme_is_at_most_15_kb() {
    let size = std::fs::metadata(root().join("README.md")).unwrap().len();
    assert!(size <= 15 * 1024, "README.md is {size} bytes");
}

#[test]
fn every_relative_link_in_the_docs_leads_to_a_file() {
    let mut pages = vec![
        root().join("README.md"),
        root().join("fake-platform/README.md"),
    ];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let dir = page.parent().unwrap();
        for target in links(&text) {
            if !dir.join(&target).exists() {
                broken.push(format!("{} -> {target}", page.display()));
            }
        }
    }
    assert!(pages.len() > 8, "the docs were read");
    assert!(broken.is_empty(), "broken links: {broken:?}");
}
