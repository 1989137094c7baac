//! Feeds the bundle decoder bytes it must survive: refuse with an error or
//! read, never panic, hang or allocate beyond what the input backs.
//!
//! The first byte picks a mode. Odd: the rest is the file, as is. Even: the
//! rest is a table of contents (and data) that the harness wraps in a
//! header and a trailer with the right digest, so that the checks behind
//! the digest (names, order, sizes, layout) are reached too; SHA-256 would
//! otherwise stop every mutation there.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use qyvol_manifest::bundle::{Bundle, FORMAT_VERSION, MAGIC};
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode & 1 == 1 {
        rest.to_vec()
    } else {
        wrapped(mode >> 1 & 1 == 1, rest)
    };
    if let Ok(bundle) = Bundle::from_source(file.as_slice(), Path::new("fuzz.qyvbin")) {
        let _ = bundle.verify_all();
        let _ = bundle.read_manifest();
        for native in bundle.natives() {
            let _ = bundle.read(native);
        }
        for entry in bundle.files() {
            let _ = bundle.read_unverified_prefix(entry, 8);
        }
    }
});

/// `rest` as `toc_len u16` + table + data, in a header and a trailer whose
/// digest matches. With `signed`, a trailer as long as a signed one (whose
/// signature cannot verify).
fn wrapped(signed: bool, rest: &[u8]) -> Vec<u8> {
    let (len, body) = match rest {
        [a, b, body @ ..] => (
            usize::from(u16::from_le_bytes([*a, *b])).min(body.len()),
            body,
        ),
        _ => (0, rest),
    };
    let (toc, data) = body.split_at(len);
    let mut header = Vec::with_capacity(16);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&u16::from(signed).to_le_bytes());
    header.extend_from_slice(&(toc.len() as u32).to_le_bytes());
    let digest = Sha256::digest([header.as_slice(), toc].concat());
    let mut file = [header.as_slice(), toc, data].concat();
    file.extend_from_slice(&digest);
    if signed {
        file.extend_from_slice(&[0u8; 96]);
    }
    file
}
