//! `wasi:filesystem/types` and `wasi:filesystem/preopens` (WASI 0.2) over
//! memfs trees: the host side a component's file calls reach when its run
//! has memfs mounts (a preview-1 module's reach it through the adapter).
//! Each method checks the descriptor's access, then asks the tree.

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, IoError};

use super::MemFsCtx;
use super::bindings::wasi::clocks::wall_clock::Datetime;
use super::bindings::wasi::filesystem::{preopens, types};
use super::stream::{Failure, Reader, Writer};
use super::tree::{Held, OpenHow, ROOT, Stat, now};
use types::{
    Advice, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry, ErrorCode,
    MetadataHashValue, NewTimestamp, OpenFlags, PathFlags,
};

type FsResult<T> = wasmtime::Result<Result<T, ErrorCode>>;

/// An open file or folder of a memfs mount.
pub struct MemDescriptor {
    node: Held,
    dir: bool,
    read: bool,
    /// For a file: opened for writing; for a folder: may change what it
    /// holds (the mount is writable).
    write: bool,
}

/// A listing being read, taken whole when it started (a folder changed
/// while it is read does not make it skip or repeat names).
pub struct MemDirStream {
    entries: std::vec::IntoIter<(String, DescriptorType)>,
}

/// What the bindings' host traits are implemented on.
pub(crate) struct MemFsView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) ctx: &'a MemFsCtx,
}

impl MemFsView<'_> {
    fn get(&self, fd: &Resource<MemDescriptor>) -> Result<&MemDescriptor, ErrorCode> {
        self.table.get(fd).map_err(|_| ErrorCode::BadDescriptor)
    }

    fn dir(&self, fd: &Resource<MemDescriptor>) -> Result<&MemDescriptor, ErrorCode> {
        let d = self.get(fd)?;
        if d.dir {
            Ok(d)
        } else {
            Err(ErrorCode::NotDirectory)
        }
    }

    /// A folder descriptor that may change what it holds.
    fn dir_to_change(&self, fd: &Resource<MemDescriptor>) -> Result<&MemDescriptor, ErrorCode> {
        let d = self.dir(fd)?;
        d.node.fs.check_writable()?;
        if d.write {
            Ok(d)
        } else {
            Err(ErrorCode::NotPermitted)
        }
    }

    fn file(&self, fd: &Resource<MemDescriptor>) -> Result<&MemDescriptor, ErrorCode> {
        let d = self.get(fd)?;
        if d.dir {
            Err(ErrorCode::IsDirectory)
        } else {
            Ok(d)
        }
    }

    fn file_to_write(&self, fd: &Resource<MemDescriptor>) -> Result<&MemDescriptor, ErrorCode> {
        let d = self.file(fd)?;
        d.node.fs.check_writable()?;
        if d.write {
            Ok(d)
        } else {
            Err(ErrorCode::BadDescriptor)
        }
    }

    fn push(&mut self, d: MemDescriptor) -> wasmtime::Result<Resource<MemDescriptor>> {
        Ok(self.table.push(d)?)
    }
}

fn stat(s: Stat) -> DescriptorStat {
    DescriptorStat {
        type_: s.kind,
        link_count: s.links,
        size: s.size,
        data_access_timestamp: Some(datetime(s.atime)),
        data_modification_timestamp: Some(datetime(s.mtime)),
        status_change_timestamp: Some(datetime(s.ctime)),
    }
}

fn datetime(nanos: u64) -> Datetime {
    Datetime {
        seconds: nanos / 1_000_000_000,
        nanoseconds: (nanos % 1_000_000_000) as u32,
    }
}

fn when(t: NewTimestamp) -> Option<u64> {
    match t {
        NewTimestamp::NoChange => None,
        NewTimestamp::Now => Some(now()),
        NewTimestamp::Timestamp(d) => Some(
            d.seconds
                .saturating_mul(1_000_000_000)
                .saturating_add(d.nanoseconds as u64),
        ),
    }
}

/// Runs `body`, making its `ErrorCode` the guest's result.
fn answer<T>(body: impl FnOnce() -> Result<T, ErrorCode>) -> FsResult<T> {
    Ok(body())
}

impl types::Host for MemFsView<'_> {
    fn filesystem_error_code(
        &mut self,
        err: Resource<IoError>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        let err = self.table.get(&err)?;
        Ok(err.downcast_ref::<Failure>().map(|f| f.0))
    }
}

impl types::HostDescriptor for MemFsView<'_> {
    fn read_via_stream(
        &mut self,
        fd: Resource<MemDescriptor>,
        offset: u64,
    ) -> FsResult<Resource<DynInputStream>> {
        let file = match self.file(&fd) {
            Ok(d) if d.read => d.node.again(),
            Ok(_) => return Ok(Err(ErrorCode::BadDescriptor)),
            Err(e) => return Ok(Err(e)),
        };
        let stream: DynInputStream = Box::new(Reader {
            file,
            position: offset,
        });
        Ok(Ok(self.table.push(stream)?))
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<MemDescriptor>,
        offset: u64,
    ) -> FsResult<Resource<DynOutputStream>> {
        let file = match self.file_to_write(&fd) {
            Ok(d) => d.node.again(),
            Err(e) => return Ok(Err(e)),
        };
        let stream: DynOutputStream = Box::new(Writer {
            file,
            position: Some(offset),
        });
        Ok(Ok(self.table.push(stream)?))
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<MemDescriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let file = match self.file_to_write(&fd) {
            Ok(d) => d.node.again(),
            Err(e) => return Ok(Err(e)),
        };
        let stream: DynOutputStream = Box::new(Writer {
            file,
            position: None,
        });
        Ok(Ok(self.table.push(stream)?))
    }

    fn advise(&mut self, fd: Resource<MemDescriptor>, _: u64, _: u64, _: Advice) -> FsResult<()> {
        answer(|| self.file(&fd).map(|_| ()))
    }

    fn sync_data(&mut self, fd: Resource<MemDescriptor>) -> FsResult<()> {
        answer(|| self.get(&fd).map(|_| ()))
    }

    fn get_flags(&mut self, fd: Resource<MemDescriptor>) -> FsResult<DescriptorFlags> {
        answer(|| {
            let d = self.get(&fd)?;
            let mut flags = DescriptorFlags::empty();
            if d.read {
                flags |= DescriptorFlags::READ;
            }
            if d.write && d.dir {
                flags |= DescriptorFlags::MUTATE_DIRECTORY;
            } else if d.write {
                flags |= DescriptorFlags::WRITE;
            }
            Ok(flags)
        })
    }

    fn get_type(&mut self, fd: Resource<MemDescriptor>) -> FsResult<DescriptorType> {
        answer(|| {
            let d = self.get(&fd)?;
            Ok(if d.dir {
                DescriptorType::Directory
            } else {
                DescriptorType::RegularFile
            })
        })
    }

    fn set_size(&mut self, fd: Resource<MemDescriptor>, size: u64) -> FsResult<()> {
        answer(|| {
            let d = self.file_to_write(&fd)?;
            d.node.fs.lock().set_size(d.node.id, size)
        })
    }

    fn set_times(
        &mut self,
        fd: Resource<MemDescriptor>,
        atime: NewTimestamp,
        mtime: NewTimestamp,
    ) -> FsResult<()> {
        answer(|| {
            let d = self.get(&fd)?;
            d.node.fs.check_writable()?;
            d.node
                .fs
                .lock()
                .set_times(d.node.id, when(atime), when(mtime))
        })
    }

    fn read(
        &mut self,
        fd: Resource<MemDescriptor>,
        len: u64,
        offset: u64,
    ) -> FsResult<(Vec<u8>, bool)> {
        answer(|| {
            let d = self.file(&fd)?;
            if !d.read {
                return Err(ErrorCode::BadDescriptor);
            }
            d.node.fs.lock().read(d.node.id, offset, len)
        })
    }

    fn write(&mut self, fd: Resource<MemDescriptor>, buf: Vec<u8>, offset: u64) -> FsResult<u64> {
        answer(|| {
            let d = self.file_to_write(&fd)?;
            d.node.fs.lock().write(d.node.id, offset, &buf)
        })
    }

    fn read_directory(&mut self, fd: Resource<MemDescriptor>) -> FsResult<Resource<MemDirStream>> {
        let entries = match self.dir(&fd).and_then(|d| d.node.fs.lock().list(d.node.id)) {
            Ok(entries) => entries,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(self.table.push(MemDirStream {
            entries: entries.into_iter(),
        })?))
    }

    fn sync(&mut self, fd: Resource<MemDescriptor>) -> FsResult<()> {
        answer(|| self.get(&fd).map(|_| ()))
    }

    fn create_directory_at(&mut self, fd: Resource<MemDescriptor>, path: String) -> FsResult<()> {
        answer(|| {
            let d = self.dir_to_change(&fd)?;
            d.node.fs.lock().create_dir(d.node.id, &path)
        })
    }

    fn stat(&mut self, fd: Resource<MemDescriptor>) -> FsResult<DescriptorStat> {
        answer(|| {
            let d = self.get(&fd)?;
            d.node.fs.lock().stat(d.node.id).map(stat)
        })
    }

    fn stat_at(
        &mut self,
        fd: Resource<MemDescriptor>,
        _: PathFlags,
        path: String,
    ) -> FsResult<DescriptorStat> {
        answer(|| {
            let d = self.dir(&fd)?;
            let tree = d.node.fs.lock();
            let id = tree.lookup(d.node.id, &path)?;
            tree.stat(id).map(stat)
        })
    }

    fn set_times_at(
        &mut self,
        fd: Resource<MemDescriptor>,
        _: PathFlags,
        path: String,
        atime: NewTimestamp,
        mtime: NewTimestamp,
    ) -> FsResult<()> {
        answer(|| {
            let d = self.dir(&fd)?;
            d.node.fs.check_writable()?;
            let mut tree = d.node.fs.lock();
            let id = tree.lookup(d.node.id, &path)?;
            tree.set_times(id, when(atime), when(mtime))
        })
    }

    fn link_at(
        &mut self,
        fd: Resource<MemDescriptor>,
        _: PathFlags,
        _: String,
        _: Resource<MemDescriptor>,
        _: String,
    ) -> FsResult<()> {
        // One name per file keeps unlink and the size count simple; no
        // program tried so far needs hard links in scratch space.
        answer(|| self.dir(&fd).and(Err(ErrorCode::Unsupported)))
    }

    fn open_at(
        &mut self,
        fd: Resource<MemDescriptor>,
        _: PathFlags,
        path: String,
        open: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<MemDescriptor>> {
        let opened = (|| {
            let d = self.dir(&fd)?;
            let fs = &d.node.fs;
            let changes = flags.contains(DescriptorFlags::WRITE)
                || open.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE);
            if changes {
                fs.check_writable()?;
                if !d.write {
                    return Err(ErrorCode::NotPermitted);
                }
            }
            let how = OpenHow {
                create: open.contains(OpenFlags::CREATE),
                exclusive: open.contains(OpenFlags::EXCLUSIVE),
                truncate: open.contains(OpenFlags::TRUNCATE),
                directory: open.contains(OpenFlags::DIRECTORY),
            };
            let mut tree = fs.lock();
            let id = tree.open(d.node.id, &path, how)?;
            let dir = tree.is_dir(id)?;
            drop(tree);
            if dir && flags.contains(DescriptorFlags::WRITE) {
                return Err(ErrorCode::IsDirectory);
            }
            Ok(MemDescriptor {
                node: fs.hold(id),
                dir,
                read: dir || flags.contains(DescriptorFlags::READ),
                write: if dir {
                    fs.writable && d.write
                } else {
                    flags.contains(DescriptorFlags::WRITE)
                },
            })
        })();
        match opened {
            Ok(d) => Ok(Ok(self.push(d)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    fn readlink_at(&mut self, fd: Resource<MemDescriptor>, path: String) -> FsResult<String> {
        answer(|| {
            let d = self.dir(&fd)?;
            // No symbolic links here: whatever the path names is not one.
            d.node.fs.lock().lookup(d.node.id, &path)?;
            Err(ErrorCode::Invalid)
        })
    }

    fn remove_directory_at(&mut self, fd: Resource<MemDescriptor>, path: String) -> FsResult<()> {
        answer(|| {
            let d = self.dir_to_change(&fd)?;
            d.node.fs.lock().remove_dir(d.node.id, &path)
        })
    }

    fn rename_at(
        &mut self,
        fd: Resource<MemDescriptor>,
        old: String,
        to: Resource<MemDescriptor>,
        new: String,
    ) -> FsResult<()> {
        answer(|| {
            let from = self.dir_to_change(&fd)?;
            let into = self.dir_to_change(&to)?;
            if !from.node.fs.same(&into.node.fs) {
                return Err(ErrorCode::CrossDevice);
            }
            from.node
                .fs
                .lock()
                .rename(from.node.id, &old, into.node.id, &new)
        })
    }

    fn symlink_at(&mut self, fd: Resource<MemDescriptor>, _: String, _: String) -> FsResult<()> {
        answer(|| {
            self.dir_to_change(&fd)?;
            Err(ErrorCode::NotPermitted)
        })
    }

    fn unlink_file_at(&mut self, fd: Resource<MemDescriptor>, path: String) -> FsResult<()> {
        answer(|| {
            let d = self.dir_to_change(&fd)?;
            d.node.fs.lock().unlink(d.node.id, &path)
        })
    }

    fn is_same_object(
        &mut self,
        fd: Resource<MemDescriptor>,
        other: Resource<MemDescriptor>,
    ) -> wasmtime::Result<bool> {
        let a = self.table.get(&fd)?;
        let b = self.table.get(&other)?;
        Ok(a.node.fs.same(&b.node.fs) && a.node.id == b.node.id)
    }

    fn metadata_hash(&mut self, fd: Resource<MemDescriptor>) -> FsResult<MetadataHashValue> {
        answer(|| {
            let d = self.get(&fd)?;
            Ok(MetadataHashValue {
                lower: d.node.id,
                upper: d.node.fs.id(),
            })
        })
    }

    fn metadata_hash_at(
        &mut self,
        fd: Resource<MemDescriptor>,
        _: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        answer(|| {
            let d = self.dir(&fd)?;
            let id = d.node.fs.lock().lookup(d.node.id, &path)?;
            Ok(MetadataHashValue {
                lower: id,
                upper: d.node.fs.id(),
            })
        })
    }

    fn drop(&mut self, fd: Resource<MemDescriptor>) -> wasmtime::Result<()> {
        self.table.delete(fd)?;
        Ok(())
    }
}

impl types::HostDirectoryEntryStream for MemFsView<'_> {
    fn read_directory_entry(
        &mut self,
        stream: Resource<MemDirStream>,
    ) -> FsResult<Option<DirectoryEntry>> {
        let stream = self.table.get_mut(&stream)?;
        Ok(Ok(stream
            .entries
            .next()
            .map(|(name, type_)| DirectoryEntry { type_, name })))
    }

    fn drop(&mut self, stream: Resource<MemDirStream>) -> wasmtime::Result<()> {
        self.table.delete(stream)?;
        Ok(())
    }
}

impl preopens::Host for MemFsView<'_> {
    fn get_directories(&mut self) -> wasmtime::Result<Vec<(Resource<MemDescriptor>, String)>> {
        let mut out = Vec::with_capacity(self.ctx.mounts.len());
        for (fs, guest) in &self.ctx.mounts {
            let d = MemDescriptor {
                node: fs.hold(ROOT),
                dir: true,
                read: true,
                write: fs.writable,
            };
            out.push((self.push(d)?, guest.clone()));
        }
        Ok(out)
    }
}
