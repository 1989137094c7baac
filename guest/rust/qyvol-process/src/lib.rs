//! Start other apps from a WebAssembly program (wasm32-wasip1) run by Qyvol
//! with `permissions.exec`: a safe wrapper over the `qyvol_process` imports
//! (docs/process.md), with no dependencies.
//!
//! ```no_run
//! let mut child = qyvol_process::Command::new("/bin/tool.wasm")
//!     .arg("--fast")
//!     .stdout(qyvol_process::Stdio::Pipe)
//!     .spawn()?;
//! let output = child.read_to_end(qyvol_process::Stream::Stdout)?;
//! let status = child.wait()?;
//! # Ok::<(), qyvol_process::Error>(())
//! ```
//!
//! Paths are as the app sees them (inside its mounts); a child holds at
//! most what its parent holds.

use std::fmt;

#[cfg(target_arch = "wasm32")]
mod raw {
    #[link(wasm_import_module = "qyvol_process")]
    extern "C" {
        pub fn spawn(req: *const u8, len: i32, handle: *mut i32) -> i32;
        pub fn write(h: i32, buf: *const u8, len: i32, written: *mut u32) -> i32;
        pub fn close_stdin(h: i32) -> i32;
        pub fn read(h: i32, stream: i32, buf: *mut u8, len: i32, got: *mut u32) -> i32;
        pub fn wait(h: i32, status: *mut u32) -> i32;
        pub fn kill(h: i32) -> i32;
        pub fn release(h: i32) -> i32;
        pub fn last_error(buf: *mut u8, len: i32) -> i32;
    }
}

/// Off wasm there is no host to ask: every call fails alike.
#[cfg(not(target_arch = "wasm32"))]
mod raw {
    const UNSUPPORTED: i32 = 5;
    pub unsafe fn spawn(_: *const u8, _: i32, _: *mut i32) -> i32 {
        UNSUPPORTED
    }
    pub unsafe fn write(_: i32, _: *const u8, _: i32, _: *mut u32) -> i32 {
        UNSUPPORTED
    }
    pub unsafe fn close_stdin(_: i32) -> i32 {
        UNSUPPORTED
    }
    pub unsafe fn read(_: i32, _: i32, _: *mut u8, _: i32, _: *mut u32) -> i32 {
        UNSUPPORTED
    }
    pub unsafe fn wait(_: i32, _: *mut u32) -> i32 {
        UNSUPPORTED
    }
    pub unsafe fn kill(_: i32) -> i32 {
        UNSUPPORTED
    }
    pub unsafe fn release(_: i32) -> i32 {
        UNSUPPORTED
    }
    pub unsafe fn last_error(_: *mut u8, _: i32) -> i32 {
        0
    }
}

/// A failed call: its code (see docs/process.md) and the host's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: i32,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (error {})", self.message, self.code)
    }
}

impl std::error::Error for Error {}

fn check(code: i32) -> Result<(), Error> {
    if code == 0 {
        return Ok(());
    }
    let mut buf = vec![0u8; 1024];
    let n = unsafe { raw::last_error(buf.as_mut_ptr(), buf.len() as i32) } as usize;
    buf.truncate(n.min(1024));
    Err(Error {
        code,
        message: String::from_utf8_lossy(&buf).into_owned(),
    })
}

/// How a child's standard stream is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// This app's own stream.
    Inherit,
    /// A pipe: [`Child::write`] to its input, [`Child::read`] its output.
    Pipe,
    /// Empty input; output dropped.
    Null,
}

impl Stdio {
    fn word(self) -> &'static str {
        match self {
            Stdio::Inherit => "inherit",
            Stdio::Pipe => "pipe",
            Stdio::Null => "null",
        }
    }
}

/// One of a child's output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout = 1,
    Stderr = 2,
}

/// A child to start, as `std::process::Command` describes a process.
#[derive(Debug, Clone)]
pub struct Command {
    records: Vec<(&'static str, String)>,
}

impl Command {
    /// The program at `path` (a .wasm or .qyv), as this app sees it.
    pub fn new(path: impl Into<String>) -> Command {
        Command {
            records: vec![("path", path.into())],
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Command {
        self.records.push(("arg", arg.into()));
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Command {
        for a in args {
            self.records.push(("arg", a.into()));
        }
        self
    }

    /// A variable of the child's environment (it has only those given).
    pub fn env(mut self, name: &str, value: &str) -> Command {
        self.records.push(("env", format!("{name}={value}")));
        self
    }

    /// Its working folder ($PWD), as this app sees it.
    pub fn current_dir(mut self, dir: impl Into<String>) -> Command {
        self.records.push(("cwd", dir.into()));
        self
    }

    pub fn stdin(mut self, s: Stdio) -> Command {
        self.records.push(("stdin", s.word().into()));
        self
    }

    pub fn stdout(mut self, s: Stdio) -> Command {
        self.records.push(("stdout", s.word().into()));
        self
    }

    pub fn stderr(mut self, s: Stdio) -> Command {
        self.records.push(("stderr", s.word().into()));
        self
    }

    /// Passes on only the mounts given this way (a folder this app holds,
    /// read-only or, if it holds it so, read-write).
    pub fn mount(mut self, guest: &str, writable: bool) -> Command {
        let mode = if writable { "write" } else { "read" };
        self.records.push(("mount", format!("{guest}:{mode}")));
        self
    }

    /// The child gets no network.
    pub fn no_net(mut self) -> Command {
        self.records.push(("net", "none".into()));
        self
    }

    /// The child may not start others.
    pub fn no_exec(mut self) -> Command {
        self.records.push(("exec", "none".into()));
        self
    }

    /// The request `spawn` takes: `key=value` records ended by NUL bytes.
    pub fn request(&self) -> Vec<u8> {
        let mut req = Vec::new();
        for (k, v) in &self.records {
            req.extend_from_slice(k.as_bytes());
            req.push(b'=');
            req.extend_from_slice(v.as_bytes());
            req.push(0);
        }
        req
    }

    pub fn spawn(&self) -> Result<Child, Error> {
        let req = self.request();
        let mut handle = 0;
        check(unsafe { raw::spawn(req.as_ptr(), req.len() as i32, &mut handle) })?;
        Ok(Child { handle })
    }

    /// Starts it and waits for its status.
    pub fn status(&self) -> Result<u32, Error> {
        self.spawn()?.wait()
    }
}

/// A started child; dropping it forgets it (and kills it if it runs).
#[derive(Debug)]
pub struct Child {
    handle: i32,
}

impl Child {
    /// Writes to its input (a pipe), waiting for room; returns the bytes
    /// written.
    pub fn write(&mut self, bytes: &[u8]) -> Result<usize, Error> {
        let mut n = 0;
        check(unsafe { raw::write(self.handle, bytes.as_ptr(), bytes.len() as i32, &mut n) })?;
        Ok(n as usize)
    }

    /// Ends its input.
    pub fn close_stdin(&mut self) -> Result<(), Error> {
        check(unsafe { raw::close_stdin(self.handle) })
    }

    /// Reads from an output (a pipe), waiting for bytes; 0 at the end.
    pub fn read(&mut self, stream: Stream, buf: &mut [u8]) -> Result<usize, Error> {
        let mut n = 0;
        check(unsafe {
            raw::read(
                self.handle,
                stream as i32,
                buf.as_mut_ptr(),
                buf.len() as i32,
                &mut n,
            )
        })?;
        Ok(n as usize)
    }

    /// Everything left on an output.
    pub fn read_to_end(&mut self, stream: Stream) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.read(stream, &mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Waits for its end: its exit code, or Qyvol's status for how it
    /// ended (124 time limit, 134 trap, 137 memory, 143 killed).
    pub fn wait(&mut self) -> Result<u32, Error> {
        let mut status = 0;
        check(unsafe { raw::wait(self.handle, &mut status) })?;
        Ok(status)
    }

    /// Ends it now.
    pub fn kill(&mut self) -> Result<(), Error> {
        check(unsafe { raw::kill(self.handle) })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        unsafe {
            raw::release(self.handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_makes_its_request() {
        let req = Command::new("/bin/a.wasm")
            .arg("x")
            .env("A", "1")
            .stdout(Stdio::Pipe)
            .no_net()
            .request();
        assert_eq!(
            req,
            b"path=/bin/a.wasm\0arg=x\0env=A=1\0stdout=pipe\0net=none\0"
        );
    }

    #[test]
    fn off_wasm_every_call_fails() {
        assert_eq!(Command::new("/a.wasm").spawn().unwrap_err().code, 5);
    }
}
