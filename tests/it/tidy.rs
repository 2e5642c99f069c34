//! Conventions made mechanical: paper keys resolve, files open with `//!`, library crates
//! enable no Burn backend, no code picks a device implicitly, and no recipe imports another.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Every file under `dir` whose name ends in `ext`, skipping `target/`.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                out.extend(files(&path, ext));
            }
        } else if path.to_string_lossy().ends_with(ext) {
            out.push(path);
        }
    }
    out
}

fn sources() -> Vec<PathBuf> {
    let root = root();
    ["crates", "xtask", "tests"].iter().flat_map(|d| files(&root.join(d), ".rs")).collect()
}

/// `KARRAS22`, `SONG21DDIM`: capitals, two digits, optional capitals.
fn is_key(word: &str) -> bool {
    let letters = word.chars().take_while(|c| c.is_ascii_uppercase()).count();
    let digits = word[letters..].chars().take_while(|c| c.is_ascii_digit()).count();
    let rest = &word[letters + digits..];
    letters >= 2 && digits == 2 && rest.chars().all(|c| c.is_ascii_uppercase())
}

/// The paper keys cited in `text`: the first word of each `;`-separated part of a `[...]`.
fn cited_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for (i, _) in text.match_indices('[') {
        let Some(end) = text[i + 1..].find(']') else { continue };
        for part in text[i + 1..i + 1 + end].split(';') {
            let word: String = part
                .trim()
                .trim_start_matches('\\')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if is_key(&word) {
                keys.push(word);
            }
        }
    }
    keys
}

#[test]
fn every_cited_paper_key_resolves_in_docs_papers_md() {
    let papers = fs::read_to_string(root().join("docs/papers.md")).unwrap();
    let known: Vec<&str> = papers
        .lines()
        .filter_map(|l| l.strip_prefix("| ")?.split(" |").next())
        .filter(|k| is_key(k))
        .collect();
    assert!(known.len() > 20, "docs/papers.md lists {} keys", known.len());
    let mut missing = Vec::new();
    for path in sources() {
        for key in cited_keys(&fs::read_to_string(&path).unwrap()) {
            if !known.contains(&key.as_str()) {
                missing.push(format!("{}: {key}", path.display()));
            }
        }
    }
    assert!(missing.is_empty(), "keys missing from docs/papers.md:\n{}", missing.join("\n"));
    assert_eq!(
        cited_keys("[KARRAS22, Eq. 5] \\[LIU22\\] [LIPMAN23; TONG24] [x]"),
        ["KARRAS22", "LIU22", "LIPMAN23", "TONG24"]
    );
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let bare: Vec<String> = sources()
        .into_iter()
        .filter(|p| !fs::read_to_string(p).unwrap().trim_start().starts_with("//!"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(bare.is_empty(), "files without a //! opening:\n{}", bare.join("\n"));
}

#[test]
fn no_library_crate_enables_a_burn_backend() {
    const BACKENDS: [&str; 9] =
        ["flex", "ndarray", "wgpu", "vulkan", "cuda", "rocm", "metal", "tch", "candle"];
    for crate_name in
        ["stoke-core", "stoke-data", "stoke-diffusion", "stoke-estimators", "stoke-nn"]
    {
        let manifest =
            fs::read_to_string(root().join("crates").join(crate_name).join("Cargo.toml")).unwrap();
        let deps = manifest.split("[dependencies]").nth(1).unwrap_or("");
        let deps = deps.split("\n[").next().unwrap_or("");
        for line in deps.lines().filter(|l| l.trim_start().starts_with("burn")) {
            for backend in BACKENDS {
                assert!(!line.contains(&format!("\"{backend}\"")), "{crate_name}: {line}");
            }
        }
        assert!(!manifest.contains("[features]\ndefault"), "{crate_name} has default features");
    }
}

#[test]
fn no_code_picks_a_device_implicitly() {
    let needle = ["Device", "::default()"].concat();
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|p| fs::read_to_string(p).unwrap().contains(&needle))
        .map(|p| p.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "{needle} in:\n{}", offenders.join("\n"));
}

#[test]
fn no_recipe_names_a_sibling_recipe() {
    let recipes = root().join("crates/stoke-train/src/recipes");
    let all: Vec<PathBuf> =
        files(&recipes, ".rs").into_iter().filter(|p| !p.ends_with("mod.rs")).collect();
    assert!(all.len() >= 7, "{all:?}");
    let names: Vec<String> =
        all.iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
    for (path, own) in all.iter().zip(&names) {
        let text = fs::read_to_string(path).unwrap();
        for other in names.iter().filter(|n| *n != own) {
            assert!(
                !text.contains(&format!("{other}::")) && !text.contains(&format!("::{other}")),
                "{} names the recipe {other}",
                path.display()
            );
        }
    }
}
