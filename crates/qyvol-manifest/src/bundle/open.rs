//! Opening a bundle: its header, table of contents and trailer read and
//! checked (every count and length against the format's limits and against
//! the bytes the file really has, before anything is allocated), its digest
//! recomputed and its signature, if any, verified.

use std::path::Path;

use super::error::{BundleError, BundleErrorKind};
use super::format::*;
use super::keys::PublicKey;
use super::reader::{read_failure, to_usize};
use super::source::Source;

pub(super) struct Parts {
    pub(super) size: u64,
    pub(super) entries: Vec<Entry>,
    pub(super) natives: Vec<Native>,
    pub(super) digest: [u8; 32],
    pub(super) signer: Option<PublicKey>,
}

pub(super) struct Reader<'a, S: Source> {
    pub(super) source: &'a S,
    pub(super) file: &'a Path,
}

impl<S: Source> Reader<'_, S> {
    fn error(&self, kind: BundleErrorKind, message: impl Into<String>) -> BundleError {
        BundleError::new(self.file, kind, message)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), BundleError> {
        self.source
            .read_exact_at(buf, offset)
            .map_err(|e| read_failure(self.file, e))
    }

    /// Reads and checks the header, the table of contents and the trailer,
    /// in that order; every later step relies on what the earlier ones
    /// checked.
    pub(super) fn decode(&self) -> Result<Parts, BundleError> {
        let size = self
            .source
            .size()
            .map_err(|e| BundleError::io(self.file, "read", e))?;
        let header = self.header(size)?;
        // Bounded by MAX_TOC_LEN and by the file's size, both checked by
        // `header`.
        let mut toc = vec![0u8; header.toc_len as usize];
        self.read_at(&mut toc, HEADER_LEN)?;
        let (mut entries, mut natives) =
            parse_table(&toc).map_err(|(kind, m)| self.error(kind, m))?;
        let trailer_at = self.place_blobs(&header, &mut entries, &mut natives, size)?;
        let (digest, signer) = self.trailer(&header, &toc, trailer_at)?;
        // After the digest: a changed name reads as a changed bundle, not as
        // a badly made one.
        check_table(&entries, &natives).map_err(|m| self.error(BundleErrorKind::Malformed, m))?;
        Ok(Parts {
            size,
            entries,
            natives,
            digest,
            signer,
        })
    }

    /// The header of a file of `size` bytes, checked: magic, version,
    /// flags, and a table of contents within bounds and within the file.
    fn header(&self, size: u64) -> Result<Header, BundleError> {
        use BundleErrorKind::*;
        let mut bytes = [0u8; HEADER_LEN as usize];
        let head = &mut bytes[..to_usize(size.min(HEADER_LEN))];
        self.read_at(head, 0)?;
        let magic_len = head.len().min(MAGIC.len());
        if head[..magic_len] != MAGIC[..magic_len] || head.is_empty() {
            return Err(self.error(NotABundle, not_a_bundle(head)));
        }
        if size < HEADER_LEN {
            return Err(self.error(
                Truncated,
                format!(
                    "cut short: the file is {size} bytes, a bundle's header alone is {HEADER_LEN}"
                ),
            ));
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            let advice = if version > FORMAT_VERSION {
                "upgrade qyv"
            } else if version == 0 {
                "the file is damaged"
            } else {
                "pack it again with this qyv"
            };
            return Err(self.error(
                Version,
                format!(
                    "bundle format version {version}; this qyv reads version {FORMAT_VERSION}: {advice}"
                ),
            ));
        }
        let flags = u16::from_le_bytes([bytes[10], bytes[11]]);
        if flags & !FLAG_SIGNED != 0 {
            return Err(self.error(
                Malformed,
                format!("unknown flags 0x{flags:04x} in the header"),
            ));
        }
        let signed = flags & FLAG_SIGNED != 0;
        let toc_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        if toc_len > MAX_TOC_LEN {
            return Err(self.error(
                Limit,
                format!(
                    "the header announces a table of contents of {toc_len} bytes; at most {MAX_TOC_LEN} are allowed"
                ),
            ));
        }
        let trailer_len = DIGEST_LEN + if signed { SIGNATURE_LEN } else { 0 };
        let least = HEADER_LEN + u64::from(toc_len) + trailer_len;
        if size < least {
            return Err(self.error(
                Truncated,
                format!(
                    "cut short: the header announces at least {least} bytes, the file has {size}"
                ),
            ));
        }
        Ok(Header {
            bytes,
            signed,
            toc_len,
            trailer_len,
        })
    }

    /// Gives every blob its offset (each starts where the last ended) and
    /// checks that they and the trailer fill the file exactly; returns
    /// where the trailer starts.
    fn place_blobs(
        &self,
        header: &Header,
        entries: &mut [Entry],
        natives: &mut [Native],
        size: u64,
    ) -> Result<u64, BundleError> {
        use BundleErrorKind::*;
        let too_large = || {
            self.error(
                Limit,
                "the table of contents describes more than 2^64 bytes",
            )
        };
        let mut offset = HEADER_LEN + u64::from(header.toc_len);
        let blobs = entries
            .iter_mut()
            .map(|e| &mut e.blob)
            .chain(natives.iter_mut().map(|n| &mut n.blob));
        for blob in blobs {
            blob.offset = offset;
            offset = offset.checked_add(blob.size).ok_or_else(too_large)?;
        }
        let expected = offset
            .checked_add(header.trailer_len)
            .ok_or_else(too_large)?;
        if size < expected {
            return Err(self.error(
                Truncated,
                format!("cut short: the table of contents describes {expected} bytes, the file has {size}"),
            ));
        }
        if size > expected {
            return Err(self.error(
                Malformed,
                format!(
                    "{} unexpected bytes after the end of the bundle (the table of contents describes {expected} bytes)",
                    size - expected
                ),
            ));
        }
        Ok(offset)
    }

    /// The digest of the header and table of contents, checked against the
    /// trailer at `at`, and the key whose signature over it the trailer
    /// carries, verified.
    fn trailer(
        &self,
        header: &Header,
        toc: &[u8],
        at: u64,
    ) -> Result<([u8; 32], Option<PublicKey>), BundleError> {
        let mut trailer = [0u8; (DIGEST_LEN + SIGNATURE_LEN) as usize];
        let trailer = &mut trailer[..to_usize(header.trailer_len)];
        self.read_at(trailer, at)?;
        let digest = digest(&[header.bytes.as_slice(), toc].concat());
        if trailer[..32] != digest {
            return Err(self.error(
                BundleErrorKind::Tampered,
                "the header or table of contents does not match the bundle's digest: the bundle was changed or damaged after it was packed",
            ));
        }
        if !header.signed {
            return Ok((digest, None));
        }
        let key = PublicKey::from_bytes(trailer[32..64].try_into().unwrap_or([0; 32]));
        let signature: [u8; 64] = trailer[64..128].try_into().unwrap_or([0; 64]);
        if !key.verifies(&digest, &signature) {
            return Err(self.error(
                BundleErrorKind::Tampered,
                "the signature does not match: the bundle was changed after it was signed, or its signature is damaged",
            ));
        }
        Ok((digest, Some(key)))
    }
}

/// What the header says, once checked.
struct Header {
    bytes: [u8; HEADER_LEN as usize],
    signed: bool,
    toc_len: u32,
    /// The digest, and the key and signature when signed.
    trailer_len: u64,
}

/// "it starts with ...", in the words a user can act on.
fn not_a_bundle(head: &[u8]) -> String {
    if head.is_empty() {
        return "the file is empty, not a bundle".into();
    }
    if head.starts_with(crate::WASM_MAGIC) {
        return "this is a .wasm file, not a bundle; run it directly, or pack it with its manifest"
            .into();
    }
    format!(
        "not a Qyvol bundle (it starts with {}); bundles are packed from a .qyv manifest",
        crate::files::describe_head(head)
    )
}

type TableError = (BundleErrorKind, String);

/// Reads a table of contents. Sizes and hashes are taken as written; the
/// offsets are filled in by the caller.
fn parse_table(toc: &[u8]) -> Result<(Vec<Entry>, Vec<Native>), TableError> {
    let mut c = Cursor { bytes: toc, pos: 0 };
    let count = c.u32("the entry count")?;
    c.room_for(count, MAX_ENTRIES, MIN_ENTRY_LEN, "entries")?;
    let mut entries = Vec::with_capacity(count as usize);
    for i in 0..count {
        let kind_byte = c.u8(&format!("entry {i}'s kind"))?;
        let kind = EntryKind::from_byte(kind_byte).ok_or_else(|| {
            (
                BundleErrorKind::Malformed,
                format!("entry {i} has the unknown kind {kind_byte}"),
            )
        })?;
        let name_len = c.u16(&format!("entry {i}'s name length"))?;
        let name = c.text(usize::from(name_len), &format!("entry {i}'s name"))?;
        let size = c.u64(&format!("entry {i}'s size"))?;
        let sha256 = c.sha256(&format!("entry {i}'s SHA-256"))?;
        entries.push(Entry {
            kind,
            name,
            blob: Blob {
                offset: 0,
                size,
                sha256,
            },
        });
    }
    let count = c.u32("the count of precompiled code")?;
    c.room_for(count, MAX_NATIVES, MIN_NATIVE_LEN, "precompiled codes")?;
    let mut natives = Vec::with_capacity(count as usize);
    for i in 0..count {
        let len = c.u8(&format!("precompiled code {i}'s target length"))?;
        let target = c.text(usize::from(len), &format!("precompiled code {i}'s target"))?;
        let len = c.u8(&format!("precompiled code {i}'s engine length"))?;
        let engine = c.text(usize::from(len), &format!("precompiled code {i}'s engine"))?;
        let size = c.u64(&format!("precompiled code {i}'s size"))?;
        let count = piece_count(size);
        c.room_for_pieces(count, &format!("precompiled code {i}"))?;
        let pieces = (0..count)
            .map(|p| c.sha256(&format!("precompiled code {i}'s piece {p} SHA-256")))
            .collect::<Result<Vec<_>, _>>()?;
        natives.push(Native {
            target,
            engine,
            blob: Blob {
                offset: 0,
                size,
                sha256: piece_digest(&pieces),
            },
            pieces,
        });
    }
    if c.pos != toc.len() {
        return Err((
            BundleErrorKind::Malformed,
            format!(
                "{} unexpected bytes at the end of the table of contents",
                toc.len() - c.pos
            ),
        ));
    }
    Ok((entries, natives))
}

/// Bounds-checked reads from the table; positions in messages are offsets
/// in the file.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], TableError> {
        let left = self.bytes.len() - self.pos;
        if n > left {
            return Err((
                BundleErrorKind::Truncated,
                format!(
                    "the table of contents is cut short: {what} at byte {} needs {n} bytes, {left} are left",
                    HEADER_LEN as usize + self.pos
                ),
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, TableError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, TableError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, TableError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> Result<u64, TableError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(a))
    }

    fn sha256(&mut self, what: &str) -> Result<[u8; 32], TableError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32, what)?);
        Ok(a)
    }

    fn text(&mut self, n: usize, what: &str) -> Result<String, TableError> {
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| (BundleErrorKind::Malformed, format!("{what} is not UTF-8")))
    }

    /// Refuses a native whose pieces' SHA-256s cannot fit in what is left
    /// of the table (its size, hence its piece count, is not checked
    /// against the file yet).
    fn room_for_pieces(&self, count: u64, what: &str) -> Result<(), TableError> {
        let left = self.bytes.len() - self.pos;
        if count.saturating_mul(32) > left as u64 {
            return Err((
                BundleErrorKind::Truncated,
                format!(
                    "{what} has {count} pieces, whose SHA-256s cannot fit in the {left} bytes left of the table of contents"
                ),
            ));
        }
        Ok(())
    }

    /// Refuses a count over `max`, or one that cannot fit in what is left of
    /// the table at `min_len` bytes per item: no allocation is sized by a
    /// count the file cannot back.
    fn room_for(&self, count: u32, max: u32, min_len: usize, what: &str) -> Result<(), TableError> {
        if count > max {
            return Err((
                BundleErrorKind::Limit,
                format!("the table of contents lists {count} {what}; at most {max} are allowed"),
            ));
        }
        let left = self.bytes.len() - self.pos;
        if (count as usize).saturating_mul(min_len) > left {
            return Err((
                BundleErrorKind::Truncated,
                format!(
                    "the table of contents lists {count} {what}, which cannot fit in the {left} bytes left of it"
                ),
            ));
        }
        Ok(())
    }
}
