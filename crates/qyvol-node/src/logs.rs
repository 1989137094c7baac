//! The apps' output, line by line: what each instance writes on standard
//! output and error, kept in `logs/<app>.log` (JSON lines, the same objects
//! the API sends; one older file `<app>.log.1` once a file passes
//! [`MAX_FILE`]) and passed to clients that follow the log.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use qyvol_manifest::sync::lock;
use qyvol_runtime::{OutputSink, StdStream};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::error::NodeError;
use crate::time::{now_ms, rfc3339};

/// Size at which a log file is set aside as `.log.1`.
pub const MAX_FILE: u64 = 8 << 20;

/// A line longer than this is cut into pieces of this size.
const MAX_LINE: usize = 16 << 10;

/// Lines a slow follower may fall behind before it misses some.
const FOLLOW_BUFFER: usize = 4096;

/// One line an app wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// RFC 3339, UTC.
    pub time: String,
    /// `stdout` or `stderr`.
    pub stream: String,
    pub revision: u32,
    pub text: String,
}

pub struct LogBook {
    dir: PathBuf,
    apps: Mutex<HashMap<String, Arc<AppLog>>>,
}

/// One app's log: the file and the followers.
pub struct AppLog {
    path: PathBuf,
    file: Mutex<Option<(File, u64)>>,
    /// Made when someone follows, dropped when no one does: its buffer of
    /// [`FOLLOW_BUFFER`] lines takes ~400 KiB, most of an idle app's cost
    /// on a node when every app had one.
    followers: Mutex<Option<broadcast::Sender<LogLine>>>,
}

impl LogBook {
    pub fn open(dir: &Path) -> Result<LogBook, NodeError> {
        fs::create_dir_all(dir).map_err(|e| NodeError::io("cannot create the folder", dir, e))?;
        Ok(LogBook {
            dir: dir.to_path_buf(),
            apps: Mutex::new(HashMap::new()),
        })
    }

    pub fn app(&self, name: &str) -> Arc<AppLog> {
        lock(&self.apps)
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(AppLog {
                    path: self.dir.join(format!("{name}.log")),
                    file: Mutex::new(None),
                    followers: Mutex::new(None),
                })
            })
            .clone()
    }

    /// Forgets an app's log and removes its files.
    pub fn remove(&self, name: &str) {
        let log = lock(&self.apps).remove(name);
        let path = match &log {
            Some(l) => l.path.clone(),
            None => self.dir.join(format!("{name}.log")),
        };
        if let Some(l) = log {
            *lock(&l.file) = None;
        }
        let _ = fs::remove_file(&path);
        let _ = fs::remove_file(older(&path));
    }
}

fn older(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".1");
    PathBuf::from(p)
}

impl AppLog {
    /// Adds a line: to the file, then to the followers.
    pub fn append(&self, line: LogLine) {
        let mut file = lock(&self.file);
        if let Err(e) = self.write(&mut file, &line) {
            // The app goes on; the node says once per failure where its
            // log could not go.
            tracing::error!(file = %self.path.display(), error = %e, "cannot write {}: {e}", self.path.display());
            *file = None;
        }
        let mut followers = lock(&self.followers);
        if let Some(tx) = followers.as_ref()
            && tx.send(line).is_err()
        {
            // No follower left.
            *followers = None;
        }
    }

    fn write(&self, file: &mut Option<(File, u64)>, line: &LogLine) -> std::io::Result<()> {
        if file.as_ref().is_some_and(|(_, size)| *size >= MAX_FILE) {
            *file = None;
            fs::rename(&self.path, older(&self.path))?;
        }
        if file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            let size = f.metadata()?.len();
            *file = Some((f, size));
        }
        let (f, size) = file.as_mut().expect("opened above");
        let mut bytes = serde_json::to_vec(line).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        f.write_all(&bytes)?;
        *size += bytes.len() as u64;
        Ok(())
    }

    /// The last `n` lines, and (when `follow`) a receiver of the lines
    /// written after them, with no line lost or repeated in between.
    pub fn tail(
        &self,
        n: usize,
        follow: bool,
    ) -> (Vec<LogLine>, Option<broadcast::Receiver<LogLine>>) {
        let (snapshot, receiver) = self.snapshot(follow);
        (snapshot.last(n), receiver)
    }

    /// The log as it is now, to be read without the writers' lock: the
    /// lock is held only to open the files and note where they end (and to
    /// subscribe), so a long tail never holds up the app's output or
    /// another reader. An open file is read up to the end noted even when
    /// a rotation renames or replaces it meanwhile; what is written after
    /// goes to the receiver.
    fn snapshot(&self, follow: bool) -> (Snapshot, Option<broadcast::Receiver<LogLine>>) {
        let _writers = lock(&self.file);
        let snapshot = Snapshot {
            current: Ended::open(&self.path),
            older: Ended::open(&older(&self.path)),
        };
        let receiver = follow.then(|| {
            lock(&self.followers)
                .get_or_insert_with(|| broadcast::channel(FOLLOW_BUFFER).0)
                .subscribe()
        });
        (snapshot, receiver)
    }

    /// A sink for one instance's output, at `revision`.
    pub fn sink(self: &Arc<Self>, revision: u32) -> Arc<InstanceOutput> {
        Arc::new(InstanceOutput {
            log: self.clone(),
            revision,
            partial: Mutex::new([Vec::new(), Vec::new()]),
        })
    }
}

/// An app's log files as they were at one moment.
struct Snapshot {
    current: Option<Ended>,
    older: Option<Ended>,
}

impl Snapshot {
    /// The last `n` lines, from the older file when the current one has
    /// fewer.
    fn last(self, n: usize) -> Vec<LogLine> {
        let mut lines = self.current.map(|f| f.last_lines(n)).unwrap_or_default();
        if lines.len() < n
            && let Some(older) = self.older
        {
            let mut earlier = older.last_lines(n - lines.len());
            earlier.append(&mut lines);
            lines = earlier;
        }
        lines
            .iter()
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect()
    }
}

/// A log file opened for reading, and where it ended when it was opened.
struct Ended {
    file: File,
    len: u64,
}

impl Ended {
    fn open(path: &Path) -> Option<Ended> {
        let file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        Some(Ended { file, len })
    }

    /// The last `n` whole lines before the end noted, read backwards in
    /// chunks until enough line ends are seen: the work is in proportion
    /// to what is returned, not to the size of the file.
    fn last_lines(mut self, n: usize) -> Vec<Vec<u8>> {
        const CHUNK: u64 = 64 << 10;
        if n == 0 {
            return Vec::new();
        }
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut start = self.len;
        let mut ends = 0;
        // One more line end than lines: the file ends with one.
        while start > 0 && ends <= n {
            let from = start.saturating_sub(CHUNK);
            let mut chunk = vec![0; (start - from) as usize];
            if self.file.seek(SeekFrom::Start(from)).is_err()
                || self.file.read_exact(&mut chunk).is_err()
            {
                break;
            }
            ends += chunk.iter().filter(|b| **b == b'\n').count();
            chunks.push(chunk);
            start = from;
        }
        let text: Vec<u8> = chunks.into_iter().rev().flatten().collect();
        let mut pieces = text.split(|b| *b == b'\n');
        // What comes before the first line end read is cut by the chunk
        // boundary (or empty, when the boundary fell on a line end).
        if start > 0 {
            pieces.next();
        }
        let lines: Vec<&[u8]> = pieces.filter(|l| !l.is_empty()).collect();
        let skip = lines.len().saturating_sub(n);
        lines[skip..].iter().map(|l| l.to_vec()).collect()
    }
}

/// What one instance writes, cut into lines.
pub struct InstanceOutput {
    log: Arc<AppLog>,
    revision: u32,
    /// The unfinished last line of stdout and of stderr.
    partial: Mutex<[Vec<u8>; 2]>,
}

impl InstanceOutput {
    fn emit(&self, stream: StdStream, bytes: &[u8]) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        self.log.append(LogLine {
            time: rfc3339(now_ms()),
            stream: match stream {
                StdStream::Stdout => "stdout",
                StdStream::Stderr => "stderr",
            }
            .into(),
            revision: self.revision,
            text: String::from_utf8_lossy(bytes).into_owned(),
        });
    }

    /// Writes out what is left of unfinished lines (the instance ended).
    pub fn finish(&self) {
        let mut partial = lock(&self.partial);
        for (i, stream) in [StdStream::Stdout, StdStream::Stderr]
            .into_iter()
            .enumerate()
        {
            let rest = std::mem::take(&mut partial[i]);
            if !rest.is_empty() {
                self.emit(stream, &rest);
            }
        }
    }
}

impl OutputSink for InstanceOutput {
    fn write(&self, stream: StdStream, bytes: &[u8]) {
        let i = match stream {
            StdStream::Stdout => 0,
            StdStream::Stderr => 1,
        };
        let mut partial = lock(&self.partial);
        let buf = &mut partial[i];
        buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            self.emit(stream, &buf[start..start + pos]);
            start += pos + 1;
        }
        buf.drain(..start);
        while buf.len() >= MAX_LINE {
            let piece: Vec<u8> = buf.drain(..MAX_LINE).collect();
            self.emit(stream, &piece);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[LogLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn output_becomes_lines_per_stream() {
        let d = tempfile::tempdir().unwrap();
        let book = LogBook::open(d.path()).unwrap();
        let log = book.app("a");
        let out = log.sink(3);
        out.write(StdStream::Stdout, b"hel");
        out.write(StdStream::Stderr, b"oops\r\n");
        out.write(StdStream::Stdout, b"lo\nwor");
        out.write(StdStream::Stdout, b"ld\n\nlast");
        out.finish();
        let (lines, _) = log.tail(10, false);
        assert_eq!(texts(&lines), ["oops", "hello", "world", "", "last"]);
        assert_eq!(lines[0].stream, "stderr");
        assert_eq!(lines[1].stream, "stdout");
        assert!(lines.iter().all(|l| l.revision == 3));
        let (two, _) = log.tail(2, false);
        assert_eq!(texts(&two), ["", "last"]);
    }

    #[test]
    fn long_lines_are_cut() {
        let d = tempfile::tempdir().unwrap();
        let book = LogBook::open(d.path()).unwrap();
        let log = book.app("a");
        let out = log.sink(1);
        out.write(StdStream::Stdout, &vec![b'x'; MAX_LINE * 2 + 5]);
        out.finish();
        let (lines, _) = log.tail(10, false);
        let lens: Vec<usize> = lines.iter().map(|l| l.text.len()).collect();
        assert_eq!(lens, [MAX_LINE, MAX_LINE, 5]);
    }

    #[test]
    fn tail_reads_across_chunks_and_the_older_file() {
        let d = tempfile::tempdir().unwrap();
        let book = LogBook::open(d.path()).unwrap();
        let log = book.app("a");
        let out = log.sink(1);
        let text: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        out.write(StdStream::Stdout, text.as_bytes());
        let (lines, _) = log.tail(3000, false);
        assert_eq!(lines.len(), 3000);
        assert_eq!(lines[0].text, "line 2000");
        assert_eq!(lines[2999].text, "line 4999");
        // Set the file aside as a rotation would, then add one line.
        fs::rename(d.path().join("a.log"), d.path().join("a.log.1")).unwrap();
        *lock(&log.file) = None;
        out.write(StdStream::Stdout, b"new\n");
        let (lines, _) = log.tail(3, false);
        assert_eq!(texts(&lines), ["line 4998", "line 4999", "new"]);
        book.remove("a");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_tail_is_read_without_the_writers_lock_as_the_log_was() {
        let d = tempfile::tempdir().unwrap();
        let book = LogBook::open(d.path()).unwrap();
        let log = book.app("a");
        let out = log.sink(1);
        let text: String = (0..3000).map(|i| format!("line {i}\n")).collect();
        out.write(StdStream::Stdout, text.as_bytes());
        let (snapshot, rx) = log.snapshot(true);
        // Nothing is held while the snapshot is read: the app writes on,
        // and a rotation sets the file aside meanwhile.
        assert!(log.file.try_lock().is_ok());
        fs::rename(d.path().join("a.log"), d.path().join("a.log.1")).unwrap();
        *lock(&log.file) = None;
        out.write(StdStream::Stdout, b"after\n");
        let lines = snapshot.last(2);
        assert_eq!(texts(&lines), ["line 2998", "line 2999"]);
        assert_eq!(rx.unwrap().try_recv().unwrap().text, "after");
        // A later tail sees both files.
        let (lines, _) = log.tail(2, false);
        assert_eq!(texts(&lines), ["line 2999", "after"]);
    }

    #[test]
    fn a_chunk_boundary_on_a_line_end_loses_no_line() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("x.log");
        // The last 64 KiB (one chunk) start with a line end: 4095 lines of
        // 16 bytes and a last one of 15 follow it.
        let line = |i: usize| format!("line {i:010}\n");
        assert_eq!(line(0).len(), 16);
        let mut text: String = (0..100).map(line).collect();
        text.extend((100..4195).map(line));
        text.push_str("the last line!\n");
        assert_eq!(text.len() - 100 * 16 + 1, 64 << 10);
        fs::write(&path, &text).unwrap();
        let lines = Ended::open(&path).unwrap().last_lines(4096);
        assert_eq!(lines.len(), 4096);
        assert_eq!(lines[0], line(100).trim_end().as_bytes());
        assert_eq!(lines[4095], b"the last line!");
        let all = Ended::open(&path).unwrap().last_lines(1 << 20);
        assert_eq!(all.len(), 4196);
    }

    #[test]
    fn followers_get_what_comes_after_the_tail() {
        let d = tempfile::tempdir().unwrap();
        let book = LogBook::open(d.path()).unwrap();
        let log = book.app("a");
        let out = log.sink(1);
        out.write(StdStream::Stdout, b"before\n");
        let (lines, rx) = log.tail(5, true);
        assert_eq!(texts(&lines), ["before"]);
        out.write(StdStream::Stdout, b"after\n");
        let mut rx = rx.unwrap();
        assert_eq!(rx.try_recv().unwrap().text, "after");
        assert!(rx.try_recv().is_err());
    }
}
