//! The in-memory file system itself: files and folders as numbered nodes,
//! a byte budget every change is charged against, and path resolution that
//! cannot leave the folder it starts from. Nothing here knows WASI's
//! resources; `host.rs` turns these calls into `wasi:filesystem`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use super::bindings::wasi::filesystem::types::{DescriptorType, ErrorCode};

/// What each file or folder costs against the size cap besides its bytes
/// and its name: a table of ten thousand empty files is not free either.
pub(crate) const NODE_COST: u64 = 128;

/// The node every mount's tree starts from.
pub(crate) const ROOT: u64 = 0;

/// Longest name in a folder (as on Linux).
const NAME_MAX: usize = 255;

pub(crate) type Result<T> = std::result::Result<T, ErrorCode>;

/// A mount's tree, shared by every descriptor and stream opened in it.
#[derive(Clone)]
pub(crate) struct MemFs {
    inner: Arc<Mutex<Tree>>,
    /// `mode: read`: every change is refused with `read-only`.
    pub(crate) writable: bool,
}

impl MemFs {
    pub(crate) fn new(cap: u64, writable: bool) -> MemFs {
        let now = now();
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node {
                kind: Kind::Dir(BTreeMap::new()),
                parent: ROOT,
                links: 1,
                open: 0,
                atime: now,
                mtime: now,
                ctime: now,
            },
        );
        MemFs {
            inner: Arc::new(Mutex::new(Tree {
                nodes,
                next: ROOT + 1,
                used: NODE_COST,
                cap,
            })),
            writable,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Tree> {
        // A panic while holding the lock leaves the tree as consistent as
        // the last finished change: keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn same(&self, other: &MemFs) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A stable number for the tree, for metadata hashes.
    pub(crate) fn id(&self) -> u64 {
        Arc::as_ptr(&self.inner) as usize as u64
    }

    /// Refuses a change on a read-only mount.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(ErrorCode::ReadOnly)
        }
    }

    /// Holds `id` open: an unlinked node lives on until its last holder
    /// goes (POSIX's unlink of an open file).
    pub(crate) fn hold(&self, id: u64) -> Held {
        if let Some(node) = self.lock().nodes.get_mut(&id) {
            node.open += 1;
        }
        Held {
            fs: self.clone(),
            id,
        }
    }
}

/// An open node: counted while it lives.
pub(crate) struct Held {
    pub(crate) fs: MemFs,
    pub(crate) id: u64,
}

impl Held {
    pub(crate) fn again(&self) -> Held {
        self.fs.hold(self.id)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut tree = self.fs.lock();
        if let Some(node) = tree.nodes.get_mut(&self.id) {
            node.open = node.open.saturating_sub(1);
        }
        tree.collect(self.id);
    }
}

pub(crate) struct Tree {
    nodes: HashMap<u64, Node>,
    next: u64,
    /// Bytes charged: file contents, names, and [`NODE_COST`] per node.
    used: u64,
    cap: u64,
}

pub(crate) struct Node {
    pub(crate) kind: Kind,
    /// The folder holding it (a folder's `..`); the root is its own.
    parent: u64,
    /// Names pointing at it: 1, or 0 once unlinked.
    links: u32,
    /// Descriptors and streams holding it.
    open: u32,
    pub(crate) atime: u64,
    pub(crate) mtime: u64,
    pub(crate) ctime: u64,
}

pub(crate) enum Kind {
    File(Vec<u8>),
    /// Names in byte order, so a listing is the same every time.
    Dir(BTreeMap<String, u64>),
}

/// What `stat` tells.
pub(crate) struct Stat {
    pub(crate) kind: DescriptorType,
    pub(crate) links: u64,
    pub(crate) size: u64,
    pub(crate) atime: u64,
    pub(crate) mtime: u64,
    pub(crate) ctime: u64,
}

/// Where a path leads: the folder it ends in, and the last name in it
/// (none when the path names a folder by `.`, `..` or nothing).
struct Place {
    dir: u64,
    name: Option<String>,
}

/// How `open` should treat the last name.
#[derive(Clone, Copy, Default)]
pub(crate) struct OpenHow {
    pub(crate) create: bool,
    pub(crate) exclusive: bool,
    pub(crate) truncate: bool,
    pub(crate) directory: bool,
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

impl Tree {
    fn node(&self, id: u64) -> Result<&Node> {
        self.nodes.get(&id).ok_or(ErrorCode::BadDescriptor)
    }

    fn node_mut(&mut self, id: u64) -> Result<&mut Node> {
        self.nodes.get_mut(&id).ok_or(ErrorCode::BadDescriptor)
    }

    fn entries(&self, dir: u64) -> Result<&BTreeMap<String, u64>> {
        match &self.node(dir)?.kind {
            Kind::Dir(entries) => Ok(entries),
            Kind::File(_) => Err(ErrorCode::NotDirectory),
        }
    }

    fn entries_mut(&mut self, dir: u64) -> Result<&mut BTreeMap<String, u64>> {
        match &mut self.node_mut(dir)?.kind {
            Kind::Dir(entries) => Ok(entries),
            Kind::File(_) => Err(ErrorCode::NotDirectory),
        }
    }

    fn charge(&mut self, bytes: u64) -> Result<()> {
        let used = self.used.saturating_add(bytes);
        if used > self.cap {
            return Err(ErrorCode::InsufficientSpace);
        }
        self.used = used;
        Ok(())
    }

    fn refund(&mut self, bytes: u64) {
        self.used = self.used.saturating_sub(bytes);
    }

    /// Frees a node nobody names or holds any more.
    fn collect(&mut self, id: u64) {
        let gone = matches!(self.nodes.get(&id), Some(n) if n.links == 0 && n.open == 0);
        if !gone {
            return;
        }
        if let Some(node) = self.nodes.remove(&id) {
            let bytes = match &node.kind {
                Kind::File(data) => data.len() as u64,
                Kind::Dir(_) => 0,
            };
            self.refund(bytes + NODE_COST);
        }
    }

    /// Follows `path` from the folder `base`. `..` goes up, but never
    /// above `base`: a descriptor is a capability for its folder only, as
    /// with cap-std's directories. Absolute paths are refused the same way.
    fn place(&self, base: u64, path: &str) -> Result<Place> {
        if path.starts_with('/') {
            return Err(ErrorCode::NotPermitted);
        }
        self.entries(base)?;
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut stack = vec![base];
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            match *part {
                "." => {}
                ".." => {
                    if stack.len() == 1 {
                        return Err(ErrorCode::NotPermitted);
                    }
                    stack.pop();
                }
                name => {
                    if name.len() > NAME_MAX {
                        return Err(ErrorCode::NameTooLong);
                    }
                    let here = *stack.last().unwrap_or(&base);
                    if last {
                        return Ok(Place {
                            dir: here,
                            name: Some(name.to_string()),
                        });
                    }
                    let child = *self.entries(here)?.get(name).ok_or(ErrorCode::NoEntry)?;
                    if !matches!(self.node(child)?.kind, Kind::Dir(_)) {
                        return Err(ErrorCode::NotDirectory);
                    }
                    stack.push(child);
                }
            }
        }
        Ok(Place {
            dir: *stack.last().unwrap_or(&base),
            name: None,
        })
    }

    /// The node `path` names from `base`.
    pub(crate) fn lookup(&self, base: u64, path: &str) -> Result<u64> {
        let place = self.place(base, path)?;
        match place.name {
            None => Ok(place.dir),
            Some(name) => self
                .entries(place.dir)?
                .get(&name)
                .copied()
                .ok_or(ErrorCode::NoEntry),
        }
    }

    fn add(&mut self, dir: u64, name: String, kind: Kind) -> Result<u64> {
        self.charge(NODE_COST + name.len() as u64)?;
        let id = self.next;
        self.next += 1;
        let now = now();
        self.nodes.insert(
            id,
            Node {
                kind,
                parent: dir,
                links: 1,
                open: 0,
                atime: now,
                mtime: now,
                ctime: now,
            },
        );
        self.entries_mut(dir)?.insert(name, id);
        self.touch_dir(dir, now)?;
        Ok(id)
    }

    fn touch_dir(&mut self, dir: u64, now: u64) -> Result<()> {
        let node = self.node_mut(dir)?;
        node.mtime = now;
        node.ctime = now;
        Ok(())
    }

    pub(crate) fn create_dir(&mut self, base: u64, path: &str) -> Result<()> {
        let place = self.place(base, path)?;
        let Some(name) = place.name else {
            return Err(ErrorCode::Exist);
        };
        if self.entries(place.dir)?.contains_key(&name) {
            return Err(ErrorCode::Exist);
        }
        self.add(place.dir, name, Kind::Dir(BTreeMap::new()))?;
        Ok(())
    }

    /// Opens (and maybe creates or empties) what `path` names.
    pub(crate) fn open(&mut self, base: u64, path: &str, how: OpenHow) -> Result<u64> {
        let place = self.place(base, path)?;
        let found = match &place.name {
            None => Some(place.dir),
            Some(name) => self.entries(place.dir)?.get(name).copied(),
        };
        let id = match (found, place.name) {
            (Some(_), _) if how.create && how.exclusive => return Err(ErrorCode::Exist),
            (Some(id), _) => id,
            (None, Some(name)) if how.create => {
                if how.directory {
                    return Err(ErrorCode::Invalid);
                }
                self.add(place.dir, name, Kind::File(Vec::new()))?
            }
            (None, _) => return Err(ErrorCode::NoEntry),
        };
        let is_dir = matches!(self.node(id)?.kind, Kind::Dir(_));
        if how.directory && !is_dir {
            return Err(ErrorCode::NotDirectory);
        }
        if how.truncate {
            if is_dir {
                return Err(ErrorCode::IsDirectory);
            }
            self.set_size(id, 0)?;
        }
        Ok(id)
    }

    pub(crate) fn is_dir(&self, id: u64) -> Result<bool> {
        Ok(matches!(self.node(id)?.kind, Kind::Dir(_)))
    }

    pub(crate) fn stat(&self, id: u64) -> Result<Stat> {
        let node = self.node(id)?;
        let (kind, size) = match &node.kind {
            Kind::File(data) => (DescriptorType::RegularFile, data.len() as u64),
            Kind::Dir(entries) => (DescriptorType::Directory, entries.len() as u64),
        };
        Ok(Stat {
            kind,
            links: node.links as u64,
            size,
            atime: node.atime,
            mtime: node.mtime,
            ctime: node.ctime,
        })
    }

    pub(crate) fn set_times(
        &mut self,
        id: u64,
        atime: Option<u64>,
        mtime: Option<u64>,
    ) -> Result<()> {
        let node = self.node_mut(id)?;
        if let Some(t) = atime {
            node.atime = t;
        }
        if let Some(t) = mtime {
            node.mtime = t;
        }
        node.ctime = now();
        Ok(())
    }

    /// Up to `len` bytes at `offset`, and whether the end was reached.
    pub(crate) fn read(&mut self, id: u64, offset: u64, len: u64) -> Result<(Vec<u8>, bool)> {
        let node = self.node_mut(id)?;
        let Kind::File(data) = &node.kind else {
            return Err(ErrorCode::IsDirectory);
        };
        let size = data.len() as u64;
        let start = offset.min(size) as usize;
        let end = offset.saturating_add(len).min(size) as usize;
        let bytes = data[start..end].to_vec();
        node.atime = now();
        Ok((bytes, end as u64 >= size))
    }

    pub(crate) fn size(&self, id: u64) -> Result<u64> {
        match &self.node(id)?.kind {
            Kind::File(data) => Ok(data.len() as u64),
            Kind::Dir(_) => Err(ErrorCode::IsDirectory),
        }
    }

    /// Writes `bytes` at `offset` (zeros fill a gap), charged in full
    /// before anything changes: a write past the cap changes nothing.
    pub(crate) fn write(&mut self, id: u64, offset: u64, bytes: &[u8]) -> Result<u64> {
        let size = self.size(id)?;
        let end = offset
            .checked_add(bytes.len() as u64)
            .ok_or(ErrorCode::FileTooLarge)?;
        if end > size {
            self.charge(end - size)?;
        }
        let room = self.cap.saturating_sub(self.used);
        let node = self.node_mut(id)?;
        let Kind::File(data) = &mut node.kind else {
            return Err(ErrorCode::IsDirectory);
        };
        let end = end as usize;
        if end > data.len() {
            grow(data, end, room);
            data.resize(end, 0);
        }
        data[offset as usize..end].copy_from_slice(bytes);
        let now = now();
        node.mtime = now;
        node.ctime = now;
        Ok(bytes.len() as u64)
    }

    pub(crate) fn set_size(&mut self, id: u64, size: u64) -> Result<()> {
        let old = self.size(id)?;
        if size > old {
            self.charge(size - old)?;
        } else {
            self.refund(old - size);
        }
        let room = self.cap.saturating_sub(self.used);
        let node = self.node_mut(id)?;
        let Kind::File(data) = &mut node.kind else {
            return Err(ErrorCode::IsDirectory);
        };
        if size as usize > data.len() {
            grow(data, size as usize, room);
        }
        data.resize(size as usize, 0);
        if data.capacity() > 2 * data.len() + 4096 {
            data.shrink_to_fit();
        }
        let now = now();
        node.mtime = now;
        node.ctime = now;
        Ok(())
    }

    /// The folder's names and kinds, in byte order.
    pub(crate) fn list(&self, dir: u64) -> Result<Vec<(String, DescriptorType)>> {
        let entries = self.entries(dir)?;
        let mut out = Vec::with_capacity(entries.len());
        for (name, id) in entries {
            let kind = match self.node(*id)?.kind {
                Kind::Dir(_) => DescriptorType::Directory,
                Kind::File(_) => DescriptorType::RegularFile,
            };
            out.push((name.clone(), kind));
        }
        Ok(out)
    }

    pub(crate) fn unlink(&mut self, base: u64, path: &str) -> Result<()> {
        let place = self.place(base, path)?;
        let Some(name) = place.name else {
            return Err(ErrorCode::IsDirectory);
        };
        let id = *self
            .entries(place.dir)?
            .get(&name)
            .ok_or(ErrorCode::NoEntry)?;
        if self.is_dir(id)? {
            return Err(ErrorCode::IsDirectory);
        }
        self.detach(place.dir, &name, id)
    }

    pub(crate) fn remove_dir(&mut self, base: u64, path: &str) -> Result<()> {
        let place = self.place(base, path)?;
        let Some(name) = place.name else {
            // `.` or the folder itself.
            return Err(ErrorCode::Invalid);
        };
        let id = *self
            .entries(place.dir)?
            .get(&name)
            .ok_or(ErrorCode::NoEntry)?;
        if !self.entries(id)?.is_empty() {
            return Err(ErrorCode::NotEmpty);
        }
        self.detach(place.dir, &name, id)
    }

    /// Takes `name` out of `dir`; the node goes when nobody holds it.
    fn detach(&mut self, dir: u64, name: &str, id: u64) -> Result<()> {
        self.entries_mut(dir)?.remove(name);
        self.refund(name.len() as u64);
        self.touch_dir(dir, now())?;
        let node = self.node_mut(id)?;
        node.links = 0;
        node.ctime = now();
        self.collect(id);
        Ok(())
    }

    /// Moves a name, replacing what the new name held (POSIX `rename`):
    /// one change under the tree's lock, so no one sees it half done.
    pub(crate) fn rename(&mut self, from: u64, old: &str, to: u64, new: &str) -> Result<()> {
        let src = self.place(from, old)?;
        let dst = self.place(to, new)?;
        let (Some(old_name), Some(new_name)) = (src.name, dst.name) else {
            return Err(ErrorCode::Invalid);
        };
        let id = *self
            .entries(src.dir)?
            .get(&old_name)
            .ok_or(ErrorCode::NoEntry)?;
        let moving_dir = self.is_dir(id)?;
        if moving_dir {
            // A folder cannot move into itself or below itself.
            let mut at = dst.dir;
            loop {
                if at == id {
                    return Err(ErrorCode::Invalid);
                }
                let parent = self.node(at)?.parent;
                if parent == at {
                    break;
                }
                at = parent;
            }
        }
        if let Some(&there) = self.entries(dst.dir)?.get(&new_name) {
            if there == id {
                return Ok(());
            }
            match (moving_dir, self.is_dir(there)?) {
                (false, true) => return Err(ErrorCode::IsDirectory),
                (true, false) => return Err(ErrorCode::NotDirectory),
                (true, true) if !self.entries(there)?.is_empty() => {
                    return Err(ErrorCode::NotEmpty);
                }
                _ => {}
            }
            self.detach(dst.dir, &new_name, there)?;
        }
        let grows = new_name.len().saturating_sub(old_name.len()) as u64;
        self.charge(grows)?;
        self.refund(old_name.len().saturating_sub(new_name.len()) as u64);
        self.entries_mut(src.dir)?.remove(&old_name);
        self.entries_mut(dst.dir)?.insert(new_name, id);
        let now = now();
        self.touch_dir(src.dir, now)?;
        self.touch_dir(dst.dir, now)?;
        let node = self.node_mut(id)?;
        node.parent = dst.dir;
        node.ctime = now;
        Ok(())
    }

    /// Bytes charged so far, and the cap.
    #[cfg(test)]
    pub(crate) fn usage(&self) -> (u64, u64) {
        (self.used, self.cap)
    }
}

/// Grows a file's buffer for `len` bytes: doubling, so appends stay cheap,
/// but never reserving much past what the cap still allows, so a file's
/// memory stays close to what it is charged.
fn grow(data: &mut Vec<u8>, len: usize, room: u64) {
    if len <= data.capacity() {
        return;
    }
    let doubled = data.capacity().saturating_mul(2).max(len);
    let limit = len.saturating_add(room.min(usize::MAX as u64) as usize);
    let want = doubled.min(limit).max(len);
    data.reserve_exact(want - data.len());
}
