//! The outsider's recipe of docs/audit.md ("Checking a proof without enkaku"):
//! `scripts/audit-proof-check`, with Python's standard library and the `openssl` command only,
//! accepts an inclusion proof the real server gives, held against the server's public key, and
//! refuses it when one byte of the record, the root or the signature is changed, or when it is
//! held against another key. The record's bytes are the stored row in the layout the document
//! gives.

use base64::Engine;
use enkaku_tests::{Backend, TestApp, YAMADA, hours_from_now};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Connection, Row};
use std::path::Path;
use std::process::Output;

/// `python3 scripts/audit-proof-check PROOF.json KEY` on `proof`.
fn recipe(proof: &Value, key: &str) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/audit-proof-check");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proof.json");
    std::fs::write(&file, serde_json::to_vec_pretty(proof).unwrap()).unwrap();
    std::process::Command::new("python3")
        .arg(script)
        .arg(&file)
        .arg(key)
        .output()
        .expect("run python3")
}

fn said(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The recipe refuses `proof` (exit 1), saying `why`.
#[track_caller]
fn refused(proof: &Value, key: &str, why: &str) {
    let output = recipe(proof, key);
    assert_eq!(output.status.code(), Some(1), "{}", said(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(why), "expected {why:?}: {}", said(&output));
}

/// One hex digit of `text` at `at` changed.
fn flip_hex(text: &str, at: usize) -> String {
    let mut digits: Vec<char> = text.chars().collect();
    digits[at] = if digits[at] == '0' { '1' } else { '0' };
    digits.into_iter().collect()
}

/// A record's bytes as docs/audit.md lays them out: the tag, then each column, each part
/// preceded by its length as 4 bytes big-endian.
fn layout(tag: &str, columns: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in std::iter::once(tag).chain(columns.iter().map(String::as_str)) {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_outsiders_recipe_checks_a_proof_from_the_server() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let staff = app.login(YAMADA).await;
    let mut positions = Vec::new();
    for n in 0..3 {
        let made = staff
            .create_video_url(&hours_from_now(3 + n), &format!("recipe {n}"))
            .await;
        assert_eq!(made.status, 201, "{}", made.body);
        let stream = format!("appointment-{}", made.body["id"].as_str().unwrap());
        positions.push(app.state.store.read_stream(&stream).await.unwrap()[0].position);
    }
    // Neither the first leaf nor the last: its audit path has siblings on both sides.
    let position = positions[1];
    let reply = staff
        .get(&format!("/api/v1/audit/proof?position={position}"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let proof = reply.body;
    let key = hex::encode(app.state.audit.signer().public_key().to_bytes());

    // The record is the stored row, column by column, as the document says.
    let record = base64::engine::general_purpose::STANDARD
        .decode(proof["record"].as_str().unwrap())
        .unwrap();
    let mut db = sqlx::SqliteConnection::connect(&app.store.database_url())
        .await
        .unwrap();
    let row = sqlx::query(
        "SELECT position, event_id, stream_id, version, event_type, schema_version, occurred_at, data, metadata
         FROM events WHERE position = $1",
    )
    .bind(position as i64)
    .fetch_one(&mut db)
    .await
    .unwrap();
    let columns: Vec<String> = (0..9)
        .map(|i| match i {
            0 | 3 | 5 => row.get::<i64, _>(i).to_string(),
            _ => row.get::<String, _>(i),
        })
        .collect();
    assert_eq!(record, layout("enkaku-event-v1", &columns));

    let checked = recipe(&proof, &key);
    assert!(checked.status.success(), "{}", said(&checked));
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(
        stdout.contains(&format!(
            "verified: the record at position {position} is in the events log"
        )),
        "{}",
        said(&checked)
    );
    for step in [
        "leaf hash:  ok",
        "inclusion:  ok",
        "key:        ok",
        "signature:  ok",
    ] {
        assert!(stdout.contains(step), "{step}: {}", said(&checked));
    }

    // One byte of the record changed (inside its metadata, the last column).
    let mut changed = record.clone();
    *changed.last_mut().unwrap() ^= 0x01;
    let mut tampered = proof.clone();
    tampered["record"] = base64::engine::general_purpose::STANDARD.encode(&changed).into();
    refused(&tampered, &key, "leaf_hash is not SHA-256(0x00 || record)");
    // … with its leaf hash made to match: the audit path no longer leads to the root.
    tampered["leaf_hash"] =
        hex::encode(Sha256::new_with_prefix([0x00]).chain_update(&changed).finalize()).into();
    refused(&tampered, &key, "not the checkpoint's");

    // One byte of the root changed.
    let mut tampered = proof.clone();
    tampered["checkpoint"]["root"] = flip_hex(proof["checkpoint"]["root"].as_str().unwrap(), 0).into();
    refused(&tampered, &key, "not the checkpoint's");

    // One byte of the signature changed: openssl refuses it.
    let mut tampered = proof.clone();
    tampered["checkpoint"]["signature"] =
        flip_hex(proof["checkpoint"]["signature"].as_str().unwrap(), 10).into();
    refused(&tampered, &key, "signature does not verify");

    // Held against another key.
    let stranger = "11".repeat(32);
    refused(&proof, &stranger, "not the trusted key");
    // … even when the checkpoint is made to name that key (and its id): the signature is not
    // that key's.
    let stranger_id = format!(
        "ak-{}",
        hex::encode(
            &Sha256::new_with_prefix(b"enkaku-audit-key-id-v1")
                .chain_update(hex::decode(&stranger).unwrap())
                .finalize()[..8]
        )
    );
    let mut tampered = proof.clone();
    tampered["checkpoint"]["public_key"] = stranger.clone().into();
    tampered["checkpoint"]["key_id"] = stranger_id.into();
    refused(&tampered, &stranger, "signature does not verify");

    // The key id the document defines is the server's.
    assert_eq!(proof["checkpoint"]["key_id"], app.state.audit.signer().key_id());
    app.stop().await;
}
