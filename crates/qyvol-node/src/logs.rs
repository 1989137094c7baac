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
    followers: broadcast::Sender<LogLine>,
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
                    followers: broadcast::channel(FOLLOW_BUFFER).0,
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
            eprintln!("qyv daemon: cannot write {}: {e}", self.path.display());
            *file = None;
        }
        let _ = self.followers.send(line);
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
        let guard = lock(&self.file);
        let mut lines = last_lines(&self.path, n);
        if lines.len() < n {
            let mut before = last_lines(&older(&self.path), n - lines.len());
            before.append(&mut lines);
            lines = before;
        }
        let receiver = follow.then(|| self.followers.subscribe());
        drop(guard);
        let parsed = lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (parsed, receiver)
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

/// The last `n` lines of a file, read from its end.
fn last_lines(path: &Path, n: usize) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    let Ok(mut f) = File::open(path) else {
        return Vec::new();
    };
    let Ok(len) = f.seek(SeekFrom::End(0)) else {
        return Vec::new();
    };
    let mut end = len;
    let mut buf: Vec<u8> = Vec::new();
    const CHUNK: u64 = 64 << 10;
    // One more line end than lines: the file ends with one.
    while end > 0 && buf.iter().filter(|b| **b == b'\n').count() <= n {
        let start = end.saturating_sub(CHUNK);
        let mut chunk = vec![0; (end - start) as usize];
        if f.seek(SeekFrom::Start(start)).is_err() || f.read_exact(&mut chunk).is_err() {
            break;
        }
        chunk.extend_from_slice(&buf);
        buf = chunk;
        end = start;
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    // A first line cut by the chunk boundary is not whole.
    if end > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| l.to_string()).collect()
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
