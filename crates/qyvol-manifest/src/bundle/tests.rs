//! Round trips, determinism, every kind of damage, and hostile tables.

use std::path::Path;

use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::format::{HEADER_LEN, digest};
use super::*;

const MANIFEST: &[u8] = b"name: app\nentrypoint: app.wasm\n";
const WASM: &[u8] = b"\0asm\x01\0\0\0";

fn packer() -> Packer {
    Packer::new(
        Path::new("t.qyvbin"),
        "app.qyv",
        MANIFEST.to_vec(),
        "app.wasm",
        Content::Bytes(WASM.to_vec()),
    )
    .unwrap()
}

fn bytes(p: &Packer, key: Option<&SecretKey>) -> Vec<u8> {
    let mut out = Vec::new();
    let packed = p.write(&mut out, key).unwrap();
    assert_eq!(packed.size, out.len() as u64);
    out
}

fn open(b: Vec<u8>) -> Result<Bundle<Vec<u8>>, BundleError> {
    Bundle::from_source(b, Path::new("t.qyvbin"))
}

/// A small bundle with a folder, two files and precompiled code.
fn sample() -> Packer {
    let mut p = packer();
    p.add_dir("fs/0").unwrap();
    p.add_file("fs/0/b.txt", Content::Bytes(b"bee\n".to_vec()))
        .unwrap();
    p.add_dir("fs/0/empty").unwrap();
    p.add_file("fs/0/a.txt", Content::Bytes(b"ay\n".to_vec()))
        .unwrap();
    p.add_native(
        "x86_64-unknown-linux-gnu",
        "0123abcd",
        b"machine code".to_vec(),
    );
    p
}

#[test]
fn round_trip_keeps_every_entry_and_sorts_files() {
    let b = open(bytes(&sample(), None)).unwrap();
    assert!(b.signer().is_none());
    let names: Vec<&str> = b.entries().iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "app.qyv",
            "app.wasm",
            "fs/0",
            "fs/0/a.txt",
            "fs/0/b.txt",
            "fs/0/empty"
        ]
    );
    assert_eq!(b.read_manifest().unwrap(), MANIFEST);
    assert_eq!(b.read(b.wasm_entry()).unwrap(), WASM);
    assert_eq!(b.read(&b.files()[2]).unwrap(), b"bee\n");
    let native = b
        .native_for("x86_64-unknown-linux-gnu", "0123abcd")
        .unwrap();
    assert_eq!(b.read(native).unwrap(), b"machine code");
    assert!(b.native_for("x86_64-unknown-linux-gnu", "other").is_none());
    b.verify_all().unwrap();
    assert_eq!(
        b.wasm_entry().blob.sha256,
        <[u8; 32]>::from(Sha256::digest(WASM))
    );
}

#[test]
fn packing_is_deterministic_signed_or_not() {
    let key = SecretKey::generate().unwrap();
    assert_eq!(bytes(&sample(), None), bytes(&sample(), None));
    let signed = bytes(&sample(), Some(&key));
    assert_eq!(signed, bytes(&sample(), Some(&key)));
    let b = open(signed).unwrap();
    assert_eq!(b.signer(), Some(&key.public()));
}

#[test]
fn flipping_any_byte_of_a_signed_bundle_is_refused() {
    let key = SecretKey::generate().unwrap();
    let good = bytes(&sample(), Some(&key));
    for i in 0..good.len() {
        for mask in [0x01, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            let refused = match open(bad) {
                Err(_) => true,
                Ok(b) => b.verify_all().is_err() || b.signer() != Some(&key.public()),
            };
            assert!(refused, "byte {i} ^ {mask:#x} went unnoticed");
        }
    }
}

#[test]
fn flipping_any_byte_of_an_unsigned_bundle_is_refused() {
    let good = bytes(&sample(), None);
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x20;
        if let Ok(b) = open(bad) {
            assert!(b.verify_all().is_err(), "byte {i} went unnoticed");
        }
    }
}

#[test]
fn every_truncation_and_any_extra_byte_is_refused() {
    let good = bytes(&sample(), None);
    for len in 0..good.len() {
        let err = open(good[..len].to_vec()).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                BundleErrorKind::Truncated
                    | BundleErrorKind::NotABundle
                    | BundleErrorKind::Tampered
            ),
            "{len}: {err}"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    let err = open(longer).unwrap_err().to_string();
    assert!(err.contains("1 unexpected bytes after the end"), "{err}");
}

#[test]
fn not_a_bundle_says_what_it_is() {
    let err = open(Vec::new()).unwrap_err().to_string();
    assert_eq!(err, "t.qyvbin: the file is empty, not a bundle");
    let err = open(WASM.to_vec()).unwrap_err().to_string();
    assert!(err.contains("this is a .wasm file, not a bundle"), "{err}");
    let err = open(b"name: app\nentrypoint: x\n".to_vec())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not a Qyvol bundle (it starts with \"name: app"),
        "{err}"
    );
    let mut newer = bytes(&packer(), None);
    newer[8] = 3;
    let err = open(newer).unwrap_err();
    assert_eq!(err.kind(), BundleErrorKind::Version);
    assert!(
        err.to_string()
            .contains("version 3; this qyv reads version 2: upgrade qyv")
    );
    let mut older = bytes(&packer(), None);
    older[8] = 1;
    let err = open(older).unwrap_err();
    assert_eq!(err.kind(), BundleErrorKind::Version);
    assert!(
        err.to_string()
            .contains("version 1; this qyv reads version 2: pack"),
        "{err}"
    );
}

/// A bundle with this table (and no data) whose trailer digest is right, so
/// that the reader's checks past the digest are what refuse it.
fn crafted(flags: u16, toc: &[u8], data_len: usize) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&flags.to_le_bytes());
    header.extend_from_slice(&(toc.len() as u32).to_le_bytes());
    let d = digest(&[header.as_slice(), toc].concat());
    let mut out = [header.as_slice(), toc].concat();
    out.resize(out.len() + data_len, 0);
    out.extend_from_slice(&d);
    out
}

fn entry(kind: EntryKind, name: &[u8], size: u64, sha: [u8; 32]) -> Vec<u8> {
    let mut e = vec![kind as u8];
    e.extend_from_slice(&(name.len() as u16).to_le_bytes());
    e.extend_from_slice(name);
    e.extend_from_slice(&size.to_le_bytes());
    e.extend_from_slice(&sha);
    e
}

fn table(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut t = (entries.len() as u32).to_le_bytes().to_vec();
    for e in entries {
        t.extend_from_slice(e);
    }
    t.extend_from_slice(&0u32.to_le_bytes());
    t
}

fn two_first() -> Vec<Vec<u8>> {
    vec![
        entry(EntryKind::Manifest, b"app.qyv", 0, EMPTY_SHA256),
        entry(EntryKind::Wasm, b"app.wasm", 0, EMPTY_SHA256),
    ]
}

fn crafted_error(extra: &[Vec<u8>]) -> String {
    let mut entries = two_first();
    entries.extend_from_slice(extra);
    open(crafted(0, &table(&entries), 0))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_crafted_table_with_a_right_digest_passes_when_sane() {
    open(crafted(0, &table(&two_first()), 0)).unwrap();
}

#[test]
fn hostile_names_are_refused() {
    let dir = |n: &[u8]| entry(EntryKind::Dir, n, 0, EMPTY_SHA256);
    for (name, why) in [
        (&b"../../etc"[..], "\"..\" component"),
        (b"/etc/passwd", "absolute"),
        (b"fs/0/a\0b", "NUL"),
        (b"fs//x", "empty component"),
        (b"fs\\..\\x", "backslash"),
        (b"\xff\xfe", "not UTF-8"),
    ] {
        let err = crafted_error(&[dir(name)]);
        assert!(err.contains(why), "{name:?}: {err}");
    }
}

#[test]
fn duplicates_disorder_and_files_used_as_folders_are_refused() {
    let dir = |n: &[u8]| entry(EntryKind::Dir, n, 0, EMPTY_SHA256);
    let file = |n: &[u8]| entry(EntryKind::File, n, 0, EMPTY_SHA256);
    let err = crafted_error(&[dir(b"a"), dir(b"a")]);
    assert!(err.contains("\"a\" appears twice"), "{err}");
    let err = crafted_error(&[dir(b"b"), dir(b"a")]);
    assert!(err.contains("out of order"), "{err}");
    let err = crafted_error(&[file(b"a"), file(b"a/b")]);
    assert!(
        err.contains("\"a/b\" is inside \"a\", which is a file"),
        "{err}"
    );
    let err = crafted_error(&[entry(EntryKind::Wasm, b"b.wasm", 0, EMPTY_SHA256)]);
    assert!(err.contains("second wasm entry"), "{err}");
    let err = crafted_error(&[entry(EntryKind::Dir, b"d", 0, [1; 32])]);
    assert!(err.contains("folder entry \"d\" carries data"), "{err}");
    let err = open(crafted(0, &table(&two_first()[1..]), 0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("starts with its manifest entry"), "{err}");
}

#[test]
fn huge_counts_and_sizes_are_refused_before_any_allocation() {
    // Four billion entries announced in a 4-byte table.
    let err = open(crafted(0, &u32::MAX.to_le_bytes(), 0)).unwrap_err();
    assert_eq!(err.kind(), BundleErrorKind::Limit, "{err}");
    let err = open(crafted(0, &50_000u32.to_le_bytes(), 0)).unwrap_err();
    assert!(err.to_string().contains("cannot fit"), "{err}");
    // A header announcing a 4 GiB table in a 60-byte file.
    let mut b = crafted(0, &table(&two_first()), 0);
    b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(open(b).unwrap_err().kind(), BundleErrorKind::Limit);
    let mut b = crafted(0, &table(&two_first()), 0);
    b[12..16].copy_from_slice(&(MAX_TOC_LEN).to_le_bytes());
    assert_eq!(open(b).unwrap_err().kind(), BundleErrorKind::Truncated);
    // An entry claiming a terabyte, then sizes adding up past 2^64.
    let mut entries = two_first();
    entries[1] = entry(EntryKind::Wasm, b"app.wasm", 1 << 40, EMPTY_SHA256);
    let err = open(crafted(0, &table(&entries), 0)).unwrap_err();
    assert_eq!(err.kind(), BundleErrorKind::Truncated, "{err}");
    entries.push(entry(EntryKind::File, b"f", u64::MAX, EMPTY_SHA256));
    let err = open(crafted(0, &table(&entries), 0)).unwrap_err();
    assert_eq!(err.kind(), BundleErrorKind::Limit, "{err}");
    // A manifest over its cap, backed by real bytes.
    let mut entries = two_first();
    let big = MAX_MANIFEST_LEN + 1;
    entries[0] = entry(EntryKind::Manifest, b"app.qyv", big, EMPTY_SHA256);
    let err = open(crafted(0, &table(&entries), big as usize))
        .unwrap_err()
        .to_string();
    assert!(err.contains("the manifest entry is"), "{err}");
}

#[test]
fn a_signature_by_another_key_or_a_stripped_one_is_noticed() {
    let key = SecretKey::generate().unwrap();
    let signed = bytes(&sample(), Some(&key));
    // Replace the public key with another: the signature no longer verifies.
    let mut swapped = signed.clone();
    let at = swapped.len() - 96;
    swapped[at..at + 32].copy_from_slice(&SecretKey::generate().unwrap().public().to_bytes());
    let err = open(swapped).unwrap_err();
    assert_eq!(err.kind(), BundleErrorKind::Tampered);
    // Drop the signature but keep the header's flag: cut short.
    let stripped = signed[..signed.len() - 96].to_vec();
    assert!(open(stripped).is_err());
}

#[test]
fn damaged_content_names_the_entry() {
    let mut b = bytes(&sample(), None);
    let needle = b"bee\n";
    let at = b.windows(4).position(|w| w == needle).unwrap();
    b[at] = b'B';
    let bundle = open(b).unwrap();
    let err = bundle.verify_all().unwrap_err().to_string();
    assert_eq!(
        err,
        "t.qyvbin: the file entry \"fs/0/b.txt\" does not match its SHA-256: the bundle was changed or damaged after it was packed"
    );
    let mut sink = Vec::new();
    assert!(bundle.copy_to(&bundle.files()[2], &mut sink).is_err());
}

#[test]
fn extract_writes_inside_the_folder_and_never_over_a_file() {
    let b = open(bytes(&sample(), None)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<&Entry> = b.files().iter().collect();
    b.extract(&files, dir.path()).unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("fs/0/a.txt")).unwrap(),
        b"ay\n"
    );
    assert!(dir.path().join("fs/0/empty").is_dir());
    let err = b.extract(&files, dir.path()).unwrap_err().to_string();
    assert!(err.contains("cannot create"), "{err}");
}

#[test]
fn the_writer_refuses_what_the_reader_would() {
    let mut p = packer();
    let err = p
        .add_file("../x", Content::File("/tmp/x".into()))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("t.qyvbin: cannot pack \"../x\" (from /tmp/x): "),
        "{err}"
    );
    p.add_file("a", Content::Bytes(vec![1])).unwrap();
    p.add_dir("a/b").unwrap();
    let err = p.write(&mut Vec::new(), None).unwrap_err().to_string();
    assert!(
        err.contains("\"a/b\" is inside \"a\", which is a file"),
        "{err}"
    );
    let mut p = packer();
    p.add_native("x86_64 linux", "k", vec![]);
    let err = p.write(&mut Vec::new(), None).unwrap_err().to_string();
    assert!(err.contains("may hold only letters"), "{err}");
}

#[test]
fn a_file_that_changes_while_packing_fails_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("data.txt");
    std::fs::write(&src, b"one").unwrap();
    let mut p = packer();
    p.add_file("fs/0/data.txt", Content::File(src.clone()))
        .unwrap();
    // A writer that changes the file as soon as the header is out.
    struct Meddler<'a>(&'a Path, Vec<u8>);
    impl std::io::Write for Meddler<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.1.len() >= HEADER_LEN as usize {
                std::fs::write(self.0, b"two!")?;
            }
            self.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let err = p.write(&mut Meddler(&src, Vec::new()), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("changed while it was being packed"),
        "{err}"
    );
    // And the file on disk is only ever a whole bundle.
    std::fs::write(&src, b"one").unwrap();
    let out = dir.path().join("out.qyvbin");
    p.write_file(&out, None).unwrap();
    Bundle::open(&out).unwrap().verify_all().unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".qyvbin-"))
        .collect();
    assert!(leftovers.is_empty());
}

/// File trees: names of 1–3 short components, contents of up to 300 bytes.
fn tree() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    let name = proptest::collection::vec("[a-z0-9._ -]{1,6}", 1..4).prop_map(|parts| {
        parts
            .into_iter()
            .map(|p| {
                if p == "." || p == ".." {
                    "x".to_string()
                } else {
                    p
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    });
    proptest::collection::btree_map(name, proptest::collection::vec(any::<u8>(), 0..300), 0..12)
        .prop_map(|m| {
            // A name may not be both a file and a folder of another file.
            let mut kept: Vec<(String, Vec<u8>)> = Vec::new();
            for (name, content) in m {
                let clash = kept.iter().any(|(k, _)| {
                    name.starts_with(&format!("{k}/")) || k.starts_with(&format!("{name}/"))
                });
                if !clash {
                    kept.push((name, content));
                }
            }
            kept
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_tree_round_trips(
        files in tree(),
        wasm in proptest::collection::vec(any::<u8>(), 0..2000),
        natives in proptest::collection::btree_map("[a-z0-9_-]{1,12}", proptest::collection::vec(any::<u8>(), 0..500), 0..3),
        signed in any::<bool>(),
    ) {
        let key = SecretKey::generate().unwrap();
        let key = signed.then_some(&key);
        let mut p = Packer::new(Path::new("t.qyvbin"), "app.qyv", MANIFEST.to_vec(), "app.wasm", Content::Bytes(wasm.clone())).unwrap();
        for (name, content) in &files {
            p.add_file(&format!("fs/0/{name}"), Content::Bytes(content.clone())).unwrap();
        }
        for (engine, code) in &natives {
            p.add_native("wasm32-unknown-unknown", engine, code.clone());
        }
        let first = bytes(&p, key);
        prop_assert_eq!(&first, &bytes(&p, key));
        let b = open(first).unwrap();
        b.verify_all().unwrap();
        prop_assert_eq!(b.signer().copied(), key.map(SecretKey::public));
        prop_assert_eq!(b.read(b.wasm_entry()).unwrap(), wasm);
        prop_assert_eq!(b.files().len(), files.len());
        for (entry, (name, content)) in b.files().iter().zip(&files) {
            prop_assert_eq!(&entry.name, &format!("fs/0/{name}"));
            prop_assert_eq!(&b.read(entry).unwrap(), content);
        }
        for (engine, code) in &natives {
            let n = b.native_for("wasm32-unknown-unknown", engine).unwrap();
            prop_assert_eq!(&b.read(n).unwrap(), code);
        }
    }

    #[test]
    fn any_bytes_are_refused_or_read_without_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(b) = open(data) {
            let _ = b.verify_all();
        }
    }

    #[test]
    fn any_bytes_after_a_valid_header_are_refused_or_read_without_panic(
        toc in proptest::collection::vec(any::<u8>(), 0..300),
        data_len in 0usize..64,
    ) {
        if let Ok(b) = open(crafted(0, &toc, data_len)) {
            let _ = b.verify_all();
        }
    }
}

#[test]
fn a_copy_to_a_file_writes_what_it_hashed_and_notices_damage() {
    // Several pieces (the last one short) of varied bytes, over the size at
    // which pieces are copied on several threads.
    let code: Vec<u8> = (0..4 * PIECE_LEN as usize + 123)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let mut p = packer();
    p.add_native("t", "e", code.clone());
    let good = bytes(&p, None);
    let b = open(good.clone()).unwrap();
    assert_eq!(b.natives()[0].pieces.len(), 5);
    b.verify_all().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("code");
    let out = std::fs::File::create(&path).unwrap();
    b.copy_to_file(&b.natives()[0], &out).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), code);

    // A byte of the third piece.
    let mut bad = good;
    let at = b.natives()[0].blob.offset as usize + 2 * PIECE_LEN as usize + 5;
    bad[at] ^= 1;
    let b = open(bad).unwrap();
    let err = b.verify_all().unwrap_err();
    assert_eq!(err.kind(), BundleErrorKind::Tampered, "{err}");
    let out = std::fs::File::create(dir.path().join("bad")).unwrap();
    let err = b.copy_to_file(&b.natives()[0], &out).unwrap_err();
    assert_eq!(err.kind(), BundleErrorKind::Tampered, "{err}");
    assert!(
        err.to_string()
            .contains("precompiled code for t/e does not match its SHA-256"),
        "{err}"
    );

    let read_only = std::fs::File::open(&path).unwrap();
    let b = open(bytes(&p, None)).unwrap();
    let err = b.copy_to_file(&b.natives()[0], &read_only).unwrap_err();
    assert_eq!(err.kind(), BundleErrorKind::Io, "{err}");
    assert!(
        err.to_string().contains("copy the precompiled code"),
        "{err}"
    );
}

#[test]
fn a_native_whose_pieces_cannot_fit_in_the_table_is_refused() {
    let mut toc = table(&two_first());
    toc.truncate(toc.len() - 4);
    toc.extend_from_slice(&1u32.to_le_bytes());
    toc.extend_from_slice(&[1, b't', 1, b'e']);
    // Pieces for 2^62 bytes, none of them written.
    toc.extend_from_slice(&(1u64 << 62).to_le_bytes());
    let err = open(crafted(0, &toc, 0)).unwrap_err();
    assert_eq!(err.kind(), BundleErrorKind::Truncated, "{err}");
    assert!(
        err.to_string()
            .contains("precompiled code 0 has 2199023255552 pieces, whose SHA-256s cannot fit"),
        "{err}"
    );
}
