//! The audit bundle: what `bigreach audit export` writes, straight from the store (no running
//! appliance).
//!
//! A zip of plain files (stored, not compressed, names without folders), in this order:
//!
//! | file | holds |
//! |---|---|
//! | `entries.jsonl` | every entry of the log from #1 to the checkpoint's size, one RFC 8785 JSON object per line |
//! | `actions-by-day.csv` | entries in the period per UTC day, actor and action |
//! | `actions.csv` | entries in the period per action, with their first and last seq |
//! | `report.html` | scope, period, counts, checkpoint, key, how to verify, limits (no JavaScript) |
//! | `checkpoint.txt` | the signed checkpoint text ([`super::checkpoint`]) |
//! | `checkpoint.sig` | raw Ed25519 signature over `checkpoint.txt` |
//! | `public-key.pem` | the install's public key (SPKI PEM) |
//! | `consistency.json` | the consistency proof from the last export's checkpoint to this one |
//! | `manifest-sha256.txt` | `sha256sum` lines for every file above |
//!
//! The whole log is always in the bundle (the checkpoint and the chain cover it from #1); the
//! period (`--from`/`--to`, UTC days, inclusive) scopes the summaries and the report's counts.
//! After the zip is written, the store records its checkpoint (the next export proves
//! consistency with it) and appends an `audit.exported` entry.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::Path;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use super::checkpoint::{rfc3339_ms, Checkpoint, InstallKey};
use super::merkle::{self, Hash};
use super::{canonical_entry, leaf_hashes, secret_like_field, AuditError, EXPORTED};
use crate::model::AuditRecord;
use crate::store::{verify_audit_chain, Store};

/// The entries file.
pub const ENTRIES: &str = "entries.jsonl";
/// Entries per day, actor and action.
pub const BY_DAY_CSV: &str = "actions-by-day.csv";
/// Entries per action.
pub const ACTIONS_CSV: &str = "actions.csv";
/// The human-readable report.
pub const REPORT: &str = "report.html";
/// The checkpoint text.
pub const CHECKPOINT: &str = "checkpoint.txt";
/// The checkpoint's signature.
pub const SIGNATURE: &str = "checkpoint.sig";
/// The public key.
pub const PUBLIC_KEY: &str = "public-key.pem";
/// The consistency proof.
pub const CONSISTENCY: &str = "consistency.json";
/// The manifest.
pub const MANIFEST: &str = "manifest-sha256.txt";

/// Every file a bundle has besides the manifest, in zip order.
pub const PAYLOAD: [&str; 8] = [
    ENTRIES,
    BY_DAY_CSV,
    ACTIONS_CSV,
    REPORT,
    CHECKPOINT,
    SIGNATURE,
    PUBLIC_KEY,
    CONSISTENCY,
];

/// The days a bundle's summaries cover (UTC, inclusive); open ends take everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: Option<NaiveDate>,
    /// Last day.
    pub to: Option<NaiveDate>,
}

impl Period {
    fn contains(&self, at_ms: i64) -> bool {
        let day = day_of(at_ms);
        self.from.is_none_or(|from| day >= from) && self.to.is_none_or(|to| day <= to)
    }

    fn describe(&self) -> String {
        match (self.from, self.to) {
            (None, None) => "the whole log".to_owned(),
            (Some(from), None) => format!("from {from} (UTC) on"),
            (None, Some(to)) => format!("up to {to} (UTC)"),
            (Some(from), Some(to)) => format!("{from} to {to} (UTC, inclusive)"),
        }
    }
}

fn day_of(at_ms: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap_or_default()
        .date_naive()
}

/// What to export, and where.
#[derive(Debug)]
pub struct ExportRequest<'a> {
    /// The data directory (holds `bigreach.redb` and the key).
    pub data_dir: &'a Path,
    /// The zip to write (never overwritten).
    pub out: &'a Path,
    /// The days the summaries cover.
    pub period: Period,
    /// Secret values that must not appear in the bundle (the configured ones, when known).
    pub secrets: Vec<String>,
    /// Now (ms since epoch, UTC): the checkpoint's time.
    pub now_ms: i64,
    /// Who exports (named in the `audit.exported` entry).
    pub actor: &'a str,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The checkpoint of the bundle.
    pub checkpoint: Checkpoint,
    /// Entries in the period.
    pub in_period: u64,
    /// The size of the earlier checkpoint the consistency proof starts from.
    pub consistent_with: Option<u64>,
    /// The zip's size in bytes.
    pub bytes: u64,
}

/// Opens the store of `data_dir` for an export; refuses a data directory without one (opening
/// would create an empty store) and names a running appliance ([`crate::store::StoreError::InUse`]).
pub fn open_store(data_dir: &Path) -> Result<Store, AuditError> {
    let path = data_dir.join("bigreach.redb");
    if !path.is_file() {
        return Err(AuditError::NoStore {
            path: path.display().to_string(),
        });
    }
    Ok(Store::open(&path)?)
}

/// Writes the bundle for `request` from `store`, then records its checkpoint in the store.
pub fn export(store: &Store, request: &ExportRequest<'_>) -> Result<Exported, AuditError> {
    if let (Some(from), Some(to)) = (request.period.from, request.period.to) {
        if from > to {
            return Err(AuditError::BadPeriod {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
    }
    if request.out.exists() {
        return Err(AuditError::OutExists {
            path: request.out.display().to_string(),
        });
    }
    let key = InstallKey::load_or_create(request.data_dir, store, request.now_ms)?;
    let records = store.audit_log()?;
    verify_audit_chain(&records).map_err(|seq| AuditError::ChainBroken { seq })?;
    if let Some((seq, field)) = records
        .iter()
        .find_map(|r| secret_like_field(r).map(|field| (r.seq, field)))
    {
        return Err(AuditError::SecretLikeField { seq, field });
    }
    let previous = match store.audit_last_export()? {
        Some(text) => {
            Some(Checkpoint::parse(&text).map_err(|reason| AuditError::LastExport { reason })?)
        }
        None => None,
    };
    let leaves = leaf_hashes(&records);
    if let Some(previous) = &previous {
        let prefix = usize::try_from(previous.size).unwrap_or(usize::MAX);
        if prefix > leaves.len() || merkle::root(&leaves[..prefix]) != previous.root {
            return Err(AuditError::HistoryRewritten {
                previous_size: previous.size,
                previous_root: previous.root_base64(),
                size: records.len() as u64,
            });
        }
    }
    let built = build(&records, &leaves, &key, request, previous.as_ref());
    let mut secrets = request.secrets.clone();
    secrets.extend(key.private_markers());
    if let Ok(token) = std::fs::read_to_string(request.data_dir.join("api-token")) {
        secrets.push(token.trim().to_owned());
    }
    check_no_secrets(&built.files, &secrets)?;
    let zip = write_zip(&built.files).map_err(|reason| AuditError::Zip { reason })?;
    write_new(request.out, &zip).map_err(|source| AuditError::Write {
        path: request.out.display().to_string(),
        source,
    })?;
    let text = built.checkpoint.to_text();
    store.write(|tx| {
        tx.set_audit_last_export(&text)?;
        tx.audit(
            request.now_ms,
            request.actor,
            EXPORTED,
            &serde_json::json!({
                "size": built.checkpoint.size,
                "root": built.checkpoint.root_base64(),
                "period": request.period.describe(),
                "entries_in_period": built.in_period,
                "consistent_with_size": previous.as_ref().map(|p| p.size),
            }),
        )?;
        Ok(())
    })?;
    Ok(Exported {
        checkpoint: built.checkpoint,
        in_period: built.in_period,
        consistent_with: previous.map(|p| p.size),
        bytes: zip.len() as u64,
    })
}

fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}

/// Refuses bundle files that contain any of `secrets` (values shorter than 8 characters are
/// not searched for: they would match by chance).
pub fn check_no_secrets(files: &[(String, Vec<u8>)], secrets: &[String]) -> Result<(), AuditError> {
    for (name, bytes) in files {
        for secret in secrets.iter().filter(|s| s.len() >= 8) {
            if bytes
                .windows(secret.len())
                .any(|window| window == secret.as_bytes())
            {
                return Err(AuditError::SecretInBundle { file: name.clone() });
            }
        }
    }
    Ok(())
}

/// The files of a bundle and its checkpoint.
#[derive(Debug)]
pub struct Built {
    /// Name and bytes, in zip order, the manifest last.
    pub files: Vec<(String, Vec<u8>)>,
    /// The signed checkpoint.
    pub checkpoint: Checkpoint,
    /// Entries in the period.
    pub in_period: u64,
}

/// Builds every file of a bundle (pure: no I/O).
pub fn build(
    records: &[AuditRecord],
    leaves: &[Hash],
    key: &InstallKey,
    request: &ExportRequest<'_>,
    previous: Option<&Checkpoint>,
) -> Built {
    let root = merkle::root(leaves);
    let fingerprint = key.fingerprint();
    let checkpoint = Checkpoint::new(records.len() as u64, root, request.now_ms, &fingerprint);
    let checkpoint_text = checkpoint.to_text();
    let signature = key.sign(checkpoint_text.as_bytes());

    let mut entries = Vec::new();
    for record in records {
        entries.extend_from_slice(&canonical_entry(record));
        entries.push(b'\n');
    }
    let in_period: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| request.period.contains(r.at_ms))
        .collect();
    let consistency = consistency_json(previous, &checkpoint, leaves);
    let report = report_html(records, &in_period, &checkpoint, request.period, previous);

    let mut files: Vec<(String, Vec<u8>)> = vec![
        (ENTRIES.into(), entries),
        (BY_DAY_CSV.into(), by_day_csv(&in_period)),
        (ACTIONS_CSV.into(), actions_csv(&in_period)),
        (REPORT.into(), report.into_bytes()),
        (CHECKPOINT.into(), checkpoint_text.into_bytes()),
        (SIGNATURE.into(), signature.to_vec()),
        (PUBLIC_KEY.into(), key.public_pem().into_bytes()),
        (CONSISTENCY.into(), consistency),
    ];
    let manifest = manifest(&files);
    files.push((MANIFEST.into(), manifest.into_bytes()));
    Built {
        files,
        checkpoint,
        in_period: in_period.len() as u64,
    }
}

/// `sha256sum` lines (`<hex>  <name>`) for `files`, sorted by name.
pub fn manifest(files: &[(String, Vec<u8>)]) -> String {
    let mut lines: Vec<String> = files
        .iter()
        .map(|(name, bytes)| format!("{}  {name}\n", hex::encode(Sha256::digest(bytes))))
        .collect();
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    lines.concat()
}

/// The consistency proof document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsistencyDoc {
    /// How the proof is made and checked.
    pub algorithm: String,
    /// The earlier checkpoint (none for an install's first export).
    pub from: Option<TreeHead>,
    /// This bundle's tree.
    pub to: TreeHead,
    /// The proof's hashes, base64, in RFC 9162 order.
    pub proof: Vec<String>,
}

/// A tree's size and root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TreeHead {
    /// Entries.
    pub size: u64,
    /// Root, base64.
    pub root: String,
}

/// The algorithm line of `consistency.json`.
pub const CONSISTENCY_ALGORITHM: &str =
    "RFC 9162 section 2.1.4 consistency proof over SHA-256 (leaf 0x00, node 0x01)";

fn consistency_json(
    previous: Option<&Checkpoint>,
    checkpoint: &Checkpoint,
    leaves: &[Hash],
) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let proof = previous
        .map(|p| {
            merkle::consistency_proof(usize::try_from(p.size).unwrap_or(usize::MAX), leaves)
                .iter()
                .map(|h| b64.encode(h))
                .collect()
        })
        .unwrap_or_default();
    let doc = ConsistencyDoc {
        algorithm: CONSISTENCY_ALGORITHM.into(),
        from: previous.map(|p| TreeHead {
            size: p.size,
            root: p.root_base64(),
        }),
        to: TreeHead {
            size: checkpoint.size,
            root: checkpoint.root_base64(),
        },
        proof,
    };
    let mut bytes = serde_jcs::to_vec(&doc).unwrap_or_else(|e| unreachable!("JCS of a proof: {e}"));
    bytes.push(b'\n');
    bytes
}

fn csv_bytes(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(header);
    for row in rows {
        let _ = writer.write_record(&row);
    }
    writer.into_inner().unwrap_or_default()
}

fn by_day_csv(records: &[&AuditRecord]) -> Vec<u8> {
    let mut counts: BTreeMap<(NaiveDate, &str, &str), u64> = BTreeMap::new();
    for r in records {
        *counts
            .entry((day_of(r.at_ms), r.actor.as_str(), r.action.as_str()))
            .or_default() += 1;
    }
    csv_bytes(
        &["day", "actor", "action", "entries"],
        counts.into_iter().map(|((day, actor, action), n)| {
            vec![
                day.to_string(),
                actor.to_owned(),
                action.to_owned(),
                n.to_string(),
            ]
        }),
    )
}

fn actions_csv(records: &[&AuditRecord]) -> Vec<u8> {
    let mut counts: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    for r in records {
        let entry = counts.entry(r.action.as_str()).or_insert((0, r.seq, r.seq));
        entry.0 += 1;
        entry.2 = r.seq;
    }
    csv_bytes(
        &["action", "entries", "first_seq", "last_seq"],
        counts.into_iter().map(|(action, (n, first, last))| {
            vec![
                action.to_owned(),
                n.to_string(),
                first.to_string(),
                last.to_string(),
            ]
        }),
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn report_html(
    records: &[AuditRecord],
    in_period: &[&AuditRecord],
    checkpoint: &Checkpoint,
    period: Period,
    previous: Option<&Checkpoint>,
) -> String {
    let mut actions: BTreeMap<&str, u64> = BTreeMap::new();
    let mut actors: BTreeMap<&str, u64> = BTreeMap::new();
    for r in in_period {
        *actions.entry(r.action.as_str()).or_default() += 1;
        *actors.entry(r.actor.as_str()).or_default() += 1;
    }
    let rows = |map: &BTreeMap<&str, u64>| -> String {
        map.iter()
            .map(|(name, n)| format!("<tr><td>{}</td><td>{n}</td></tr>\n", escape(name)))
            .collect()
    };
    let first = records
        .first()
        .map(|r| rfc3339_ms(r.at_ms))
        .unwrap_or_default();
    let last = records
        .last()
        .map(|r| rfc3339_ms(r.at_ms))
        .unwrap_or_default();
    let seqs = match (in_period.first(), in_period.last()) {
        (Some(a), Some(b)) => format!("#{} to #{}", a.seq, b.seq),
        _ => "none".to_owned(),
    };
    let consistency = match previous {
        Some(p) => format!(
            "This bundle carries a consistency proof (<code>consistency.json</code>) from the previous export's checkpoint ({} entries, root <code>{}</code>) to this one: the log was only appended to since then. <code>bigreach verify {} --previous OLD.zip</code> checks it against the earlier bundle you hold.",
            p.size,
            escape(&p.root_base64()),
            "THIS.zip"
        ),
        None => "This is the first export of this install: <code>consistency.json</code> has no earlier checkpoint. Keep this bundle: the next one proves that it extends it.".to_owned(),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>BigReach audit bundle: {size} entries</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2em .6em;text-align:left}}pre,code{{background:#f4f4f4}}pre{{padding:.6em;overflow-x:auto}}</style>
</head>
<body>
<h1>BigReach audit bundle</h1>
<h2>Scope</h2>
<p>The audit log of one BigReach install: operator actions (dead-letter and set-aside replays and discards, reconciliation repairs), system records (start, configuration hash, daily delivery summaries, reconciliations, exports) and the install key. <code>entries.jsonl</code> holds the whole log, entries #1 to #{size} ({first} to {last}), because the checkpoint and the hash chain cover it from the start. Secrets are never in the log: configuration is recorded by its hash, and the export refuses to write a bundle containing a configured secret.</p>
<h2>Period</h2>
<p>The summaries below and the CSV files cover {period}: {in_period} entries ({seqs}).</p>
<table><tr><th>action</th><th>entries</th></tr>
{action_rows}</table>
<p></p>
<table><tr><th>actor</th><th>entries</th></tr>
{actor_rows}</table>
<h2>Checkpoint</h2>
<pre>{checkpoint}</pre>
<p>Signed with the install key, Ed25519, fingerprint (SHA-256 of the public key's DER SubjectPublicKeyInfo):<br><code>{fingerprint}</code><br>The same fingerprint is in the log's <code>audit.key_created</code> entry. Compare it with the fingerprint you hold from outside this bundle (the appliance's About page, an earlier bundle): the bundle alone cannot prove whose key it is.</p>
<h2>Consistency with the previous export</h2>
<p>{consistency}</p>
<h2>How to verify</h2>
<p>With BigReach: <code>bigreach verify THIS.zip [--previous OLD.zip]</code> checks all of the below and names what failed. With stock tools, after <code>unzip THIS.zip -d bundle &amp;&amp; cd bundle</code>:</p>
<ol>
<li>Every file is intact, and no file is missing: <pre>sha256sum -c --strict manifest-sha256.txt</pre> Then check that no file is there that the manifest does not list (<code>ls</code> shows exactly the manifest's files plus <code>manifest-sha256.txt</code>): <code>sha256sum -c</code> alone does not notice an added file.</li>
<li>The checkpoint is signed by the install key: <pre>openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in checkpoint.txt -sigfile checkpoint.sig</pre> It prints <code>Signature Verified Successfully</code> (OpenSSL 3). The key's fingerprint: <pre>openssl pkey -pubin -in public-key.pem -outform DER | sha256sum</pre></li>
<li>The checkpoint's root is the Merkle tree (RFC 9162, SHA-256) of the lines of <code>entries.jsonl</code> (each line's bytes without its newline is one leaf, hashed as <code>SHA-256(0x00 || line)</code>); each entry's <code>hash</code> chains to the previous one's (<code>prev_hash</code>). The formats are in the BigReach contract <code>data/contract/audit-bundle.md</code>.</li>
</ol>
<h2>Limits</h2>
<p>A signed hash chain and Merkle tree prove that the log was not changed after it was written, and (with the previous bundle) that it was only appended to. They do not prove that events were recorded honestly when they happened; the reconciliation of BigCommerce's paid orders against what Bloomreach acknowledged (<code>reconcile.run</code> entries) is the independent check. Offline, a revoked or stolen key cannot be detected.</p>
</body>
</html>
"#,
        size = checkpoint.size,
        first = escape(&first),
        last = escape(&last),
        period = escape(&period.describe()),
        in_period = in_period.len(),
        seqs = seqs,
        action_rows = rows(&actions),
        actor_rows = rows(&actors),
        checkpoint = escape(&checkpoint.to_text()),
        fingerprint = escape(&checkpoint.key_fingerprint),
        consistency = consistency,
    )
}

fn zip_options() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
}

/// Writes `files` as a zip in the one form BigReach writes (stored, fixed times and modes), so
/// that the verifier can tell a changed container from an intact one.
pub fn write_zip(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in files {
        writer
            .start_file(name.as_str(), zip_options())
            .map_err(|e| e.to_string())?;
        writer.write_all(bytes).map_err(|e| e.to_string())?;
    }
    Ok(writer.finish().map_err(|e| e.to_string())?.into_inner())
}

/// The largest file the verifier reads from a bundle.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// Reads every file of a zip, in archive order.
pub fn read_zip(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut files = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let file = archive.by_index(index).map_err(|e| e.to_string())?;
        let name = file.name().map_err(|e| e.to_string())?.into_owned();
        if file.size() > MAX_FILE_BYTES {
            return Err(format!("{name} is larger than {MAX_FILE_BYTES} bytes"));
        }
        let mut content = Vec::new();
        file.take(MAX_FILE_BYTES)
            .read_to_end(&mut content)
            .map_err(|e| format!("{name}: {e}"))?;
        files.push((name, content));
    }
    Ok(files)
}
