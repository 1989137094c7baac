//! Where a bundle's bytes come from, and what in it has bytes to check:
//! entries and natives, each a list of pieces with their SHA-256s.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::format::{Blob, Entry, Native, PIECE_LEN};

/// Where a bundle's bytes come from. Reads are positioned, so threads can
/// hash different parts of one open file at once.
pub trait Source: Send + Sync {
    fn size(&self) -> io::Result<u64>;
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl Source for File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl Source for Vec<u8> {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
}

impl Source for &[u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .filter(|end| *end <= self.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(&self[start..end]);
        Ok(())
    }
}

/// A stretch of an item's bytes checked against one SHA-256: a whole entry,
/// or one piece of a native.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// From the start of the file.
    pub offset: u64,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// Something with bytes in the bundle: an entry or a native.
pub trait Stored {
    fn blob(&self) -> &Blob;
    /// How messages name it.
    fn describe(&self) -> String;
    /// What its bytes are checked against, in order; together they cover
    /// the blob exactly.
    fn pieces(&self) -> Vec<Piece>;
}

impl Stored for Entry {
    fn blob(&self) -> &Blob {
        &self.blob
    }

    fn describe(&self) -> String {
        format!("{} entry {:?}", self.kind, self.name)
    }

    fn pieces(&self) -> Vec<Piece> {
        vec![Piece {
            offset: self.blob.offset,
            size: self.blob.size,
            sha256: self.blob.sha256,
        }]
    }
}

impl Stored for Native {
    fn blob(&self) -> &Blob {
        &self.blob
    }

    fn describe(&self) -> String {
        format!("precompiled code for {}", self.label())
    }

    fn pieces(&self) -> Vec<Piece> {
        let mut start = 0u64;
        self.pieces
            .iter()
            .map(|sha256| {
                let size = (self.blob.size - start).min(PIECE_LEN);
                let piece = Piece {
                    offset: self.blob.offset + start,
                    size,
                    sha256: *sha256,
                };
                start += size;
                piece
            })
            .collect()
    }
}
