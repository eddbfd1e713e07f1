//! The UI's TypeScript types are generated from the app API's Rust structs (ts-rs) and committed
//! in `ui/src/generated/`. This test generates them afresh and fails when the committed files
//! differ, so the UI cannot drift from the API. `bash scripts/gen-types.sh` (this test with
//! `BIGREACH_WRITE_BINDINGS=1`) rewrites them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bigreach_core::app::{Answer, AppError, Operation};
use ts_rs::{Config, TS};

const HEADER: &str =
    "// Generated from the Rust app API by `bash scripts/gen-types.sh`; do not edit.\n";

fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/generated")
}

/// Every generated file, by name, as it should be committed.
fn generate() -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // JSON numbers, not bigint: every u64 the API sends is far below 2^53.
    let config = Config::new()
        .with_large_int("number")
        .with_out_dir(dir.path());
    Operation::export_all(&config).expect("exporting Operation");
    Answer::export_all(&config).expect("exporting Answer");
    AppError::export_all(&config).expect("exporting AppError");
    let mut files = BTreeMap::new();
    collect(dir.path(), dir.path(), &mut files);
    let types: Vec<String> = files
        .keys()
        .map(|name| name.trim_end_matches(".ts").to_owned())
        .collect();
    let mut index = String::from(HEADER);
    for path in &types {
        let name = path.rsplit('/').next().unwrap_or(path);
        index.push_str(&format!("export type {{ {name} }} from \"./{path}\";\n"));
    }
    index.push_str("export type { AnswerOf, Op } from \"./operations\";\n");
    files.insert("index.ts".into(), index);
    files.insert("operations.ts".into(), operations(&types));
    files
}

/// Every `.ts` file under `dir`, by its path relative to `base` (`serde_json/JsonValue.ts`).
fn collect(base: &Path, dir: &Path, files: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).expect("the export directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(base, &path, files);
            continue;
        }
        let name = path
            .strip_prefix(base)
            .expect("under the export directory")
            .to_str()
            .expect("a UTF-8 path")
            .to_owned();
        assert!(
            name.ends_with(".ts"),
            "ts-rs wrote {name}, which is not a .ts file"
        );
        let text = std::fs::read_to_string(&path).expect("a generated file");
        files.insert(name, format!("{HEADER}{text}"));
    }
}

/// `AnswerOf`: each operation's tag to its answer type, from [`Operation::answer_type`].
fn operations(types: &[String]) -> String {
    let mut by_tag = BTreeMap::new();
    for operation in Operation::samples() {
        let json = serde_json::to_value(&operation).expect("an operation serializes");
        let tag = json["op"]
            .as_str()
            .expect("every operation has an op tag")
            .to_owned();
        by_tag.insert(tag, operation.answer_type());
    }
    let mut imports: Vec<&str> = by_tag
        .values()
        .map(|answer| answer.trim_start_matches("Array<").trim_end_matches('>'))
        .collect();
    imports.sort_unstable();
    imports.dedup();
    for name in &imports {
        assert!(
            types.iter().any(|t| t == name),
            "the answer type {name} was not generated; derive TS on it"
        );
    }
    let mut text = String::from(HEADER);
    text.push_str(&format!(
        "import type {{ {} }} from \"./index\";\n\n",
        imports.join(", ")
    ));
    text.push_str("/** Each operation's answer, by its `op` tag. */\nexport type AnswerOf = {\n");
    for (tag, answer) in &by_tag {
        text.push_str(&format!("  {tag}: {answer};\n"));
    }
    text.push_str("};\n\n/** An operation's `op` tag. */\nexport type Op = keyof AnswerOf;\n");
    text
}

#[test]
fn every_operation_has_a_sample_and_an_answer_type() {
    let files = generate();
    let union = &files["Operation.ts"];
    let tags: Vec<String> = Operation::samples()
        .iter()
        .map(|operation| {
            serde_json::to_value(operation).expect("serializes")["op"]
                .as_str()
                .expect("a tag")
                .to_owned()
        })
        .collect();
    // Every variant of the generated union is among the samples (a new operation without a
    // sample would be missing from `AnswerOf`).
    let declared = union.matches("{ \"op\": \"").count();
    assert_eq!(
        declared,
        tags.len(),
        "Operation.ts declares {declared} operations, Operation::samples() has {}: add the new one",
        tags.len()
    );
    for tag in &tags {
        assert!(
            union.contains(&format!("{{ \"op\": \"{tag}\"")),
            "{tag} is not in Operation.ts"
        );
    }
}

#[test]
fn committed_types_match_the_rust_structs() {
    let files = generate();
    let dir = committed_dir();
    if std::env::var_os("BIGREACH_WRITE_BINDINGS").is_some() {
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("removing the old generated types");
        }
        std::fs::create_dir_all(&dir).expect("creating ui/src/generated");
        for (name, text) in &files {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("creating a generated folder");
            }
            std::fs::write(path, text).expect("writing a generated type");
        }
        return;
    }
    let mut stale = Vec::new();
    for (name, text) in &files {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(committed) if &committed == text => {}
            Ok(_) => stale.push(format!("{name} differs")),
            Err(_) => stale.push(format!("{name} is missing")),
        }
    }
    if dir.exists() {
        let mut committed = std::collections::BTreeSet::new();
        collect_committed(&dir, &dir, &mut committed);
        for name in committed {
            if !files.contains_key(&name) {
                stale.push(format!("{name} is no longer generated"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "ui/src/generated is stale ({}); run `bash scripts/gen-types.sh` and commit the result",
        stale.join(", ")
    );
}

fn collect_committed(base: &Path, dir: &Path, names: &mut std::collections::BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("ui/src/generated").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_committed(base, &path, names);
        } else if let Ok(name) = path.strip_prefix(base) {
            names.insert(name.to_string_lossy().into_owned());
        }
    }
}
