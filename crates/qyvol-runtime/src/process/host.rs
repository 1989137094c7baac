//! The `qyvol_process` imports of a preview-1 module: a parent's children
//! by handle, and the functions that start, feed, read, wait for and kill
//! them. Every function returns 0 or an error code; `last_error` gives the
//! message of the last failure. The functions block the parent's thread
//! (its own: `qyv run` runs one program per thread).

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;

use wasmtime::{Caller, Engine, Extern, Linker};

use super::child::Child;
use super::grant::{ExecGrant, In, Out, Streams};
use super::pipe::Pipe;
use super::spawn::{
    CLOSED, DENIED, INVALID, LIMIT, MAX_REQUEST, Refusal, Request, StreamMode, manifest_child,
    normal_guest_path, resolve, wasm_child,
};
use crate::run::P1State;
use crate::spec::RunSpec;

/// The module name of the imports.
pub const MODULE: &str = "qyvol_process";

/// A parent's children.
pub(crate) struct ProcessTable {
    engine: Engine,
    /// The parent's own spec: what it holds, and so what it can pass on.
    spec: RunSpec,
    grant: ExecGrant,
    /// By handle - 1; `None` once released.
    children: Vec<Option<Child>>,
    last_error: String,
}

impl ProcessTable {
    pub(crate) fn new(engine: &Engine, spec: &RunSpec, grant: &ExecGrant) -> ProcessTable {
        ProcessTable {
            engine: engine.clone(),
            spec: spec.clone(),
            grant: grant.clone(),
            children: Vec::new(),
            last_error: String::new(),
        }
    }

    fn child(&self, handle: i32) -> Result<&Child, Refusal> {
        usize::try_from(handle)
            .ok()
            .and_then(|h| h.checked_sub(1))
            .and_then(|i| self.children.get(i))
            .and_then(Option::as_ref)
            .ok_or_else(|| Refusal::new(INVALID, format!("{handle} is not a child's handle")))
    }

    /// Starts a child; returns its handle.
    pub(crate) fn spawn(&mut self, request: &[u8]) -> Result<i32, Refusal> {
        let req = Request::parse(request)?;
        let guest = normal_guest_path(&req.path)?;
        if !self.grant.policy.allows(&guest) {
            return Err(Refusal::new(
                DENIED,
                format!(
                    "permissions.exec does not allow starting {guest} (it allows {})",
                    serde_json::to_string(&self.grant.policy).unwrap_or_default()
                ),
            ));
        }
        let tree = &self.grant.tree;
        let (file, _) = resolve(&self.spec.preopens, &guest)?;
        let extension = file.extension().and_then(|e| e.to_str()).unwrap_or("");
        let mut spec = match extension {
            "wasm" => wasm_child(&self.spec, &self.grant, file.clone(), &req)?,
            "qyv" => manifest_child(&self.spec, &self.grant, &file, &req)?,
            "qyvbin" => {
                return Err(Refusal::new(
                    INVALID,
                    format!(
                        "{guest}: starting a bundle (.qyvbin) as a child is not supported yet; start its .wasm or .qyv"
                    ),
                ));
            }
            _ => {
                return Err(Refusal::new(
                    INVALID,
                    format!("{guest} is not a .wasm, .qyv or .qyvbin file"),
                ));
            }
        };
        if let Some(cwd) = &req.cwd {
            let cwd = normal_guest_path(cwd)?;
            let (dir, _) = resolve(&spec.preopens, &cwd)?;
            if !dir.is_dir() {
                return Err(Refusal::new(INVALID, format!("{cwd} is not a folder")));
            }
            // wasi-libc and Rust start at /; the variable tells the
            // program (and Go's runtime reads it).
            spec.env.push(("PWD".to_string(), cwd));
        }
        if spec.memory.is_none() {
            spec.memory = tree.memory_limit.get().copied().flatten();
        }
        let pipe = |mode: StreamMode| (mode == StreamMode::Pipe).then(Pipe::new);
        let (stdin, stdout, stderr) = (pipe(req.stdin), pipe(req.stdout), pipe(req.stderr));
        let own = &self.grant.streams;
        let out = |mode: StreamMode, piped: &Option<Arc<Pipe>>, inherited: &Out| match (mode, piped)
        {
            (_, Some(p)) => Out::Pipe(p.clone()),
            (StreamMode::Null, _) => Out::Null,
            _ => inherited.clone(),
        };
        let streams = Streams {
            stdin: match (req.stdin, &stdin) {
                (_, Some(p)) => In::Pipe(p.clone()),
                (StreamMode::Null, _) => In::Null,
                _ => own.stdin.clone(),
            },
            stdout: out(req.stdout, &stdout, &own.stdout),
            stderr: out(req.stderr, &stderr, &own.stderr),
        };
        let policy = spec.exec.take().map(|g| g.policy).unwrap_or_default();
        spec.exec = Some(self.grant.child(policy, streams));
        // Siblings start on other threads: the count is checked and taken
        // at once.
        let reserved = tree
            .live
            .fetch_update(SeqCst, SeqCst, |n| (n < tree.max).then_some(n + 1));
        if reserved.is_err() {
            return Err(Refusal::new(
                LIMIT,
                format!(
                    "limits.processes: {} children are running already, the most this app may have at once (children's children count too)",
                    tree.max
                ),
            ));
        }
        let child =
            Child::start(&self.engine, spec, [stdin, stdout, stderr]).inspect_err(|_| {
                tree.live.fetch_sub(1, SeqCst);
            })?;
        self.children.push(Some(child));
        Ok(i32::try_from(self.children.len()).unwrap_or(i32::MAX))
    }
}

impl Drop for ProcessTable {
    /// A parent that ends leaves no child running.
    fn drop(&mut self) {
        for child in self.children.iter().flatten() {
            child.kill();
        }
    }
}

/// Adds the imports to a preview-1 linker.
pub(crate) fn add_to_linker(linker: &mut Linker<P1State>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "spawn",
        |mut caller: Caller<'_, P1State>, req: i32, req_len: i32, handle_out: i32| -> i32 {
            let result = read_bytes(&mut caller, req, req_len, MAX_REQUEST)
                .and_then(|bytes| table(&mut caller)?.spawn(&bytes))
                .and_then(|h| write_u32(&mut caller, handle_out, h as u32));
            answer(&mut caller, result)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "write",
        |mut caller: Caller<'_, P1State>, h: i32, ptr: i32, len: i32, written_out: i32| -> i32 {
            let result = (|| {
                let bytes = read_bytes(&mut caller, ptr, len, usize::MAX)?;
                let pipe = table(&mut caller)?
                    .child(h)?
                    .stdin
                    .clone()
                    .ok_or_else(|| not_piped(h, "input"))?;
                let n = pipe.write_blocking(&bytes).map_err(|_| {
                    Refusal::new(CLOSED, format!("child {h} reads its input no more"))
                })?;
                write_u32(&mut caller, written_out, n as u32)
            })();
            answer(&mut caller, result)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "close_stdin",
        |mut caller: Caller<'_, P1State>, h: i32| -> i32 {
            let result = table(&mut caller).and_then(|t| {
                if let Some(p) = &t.child(h)?.stdin {
                    p.close_writer();
                }
                Ok(())
            });
            answer(&mut caller, result)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "read",
        |mut caller: Caller<'_, P1State>,
         h: i32,
         stream: i32,
         ptr: i32,
         len: i32,
         read_out: i32|
         -> i32 {
            let result = (|| {
                let child = table(&mut caller)?.child(h)?;
                let pipe = match stream {
                    1 => child.stdout.clone().ok_or_else(|| not_piped(h, "output"))?,
                    2 => child
                        .stderr
                        .clone()
                        .ok_or_else(|| not_piped(h, "error output"))?,
                    _ => {
                        return Err(Refusal::new(
                            INVALID,
                            format!("stream {stream}: read 1 (output) or 2 (error output)"),
                        ));
                    }
                };
                let max = usize::try_from(len).map_err(|_| bad_span())?;
                let bytes = pipe.read_blocking(max);
                write_bytes(&mut caller, ptr, &bytes)?;
                write_u32(&mut caller, read_out, bytes.len() as u32)
            })();
            answer(&mut caller, result)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "wait",
        |mut caller: Caller<'_, P1State>, h: i32, status_out: i32| -> i32 {
            let result = table(&mut caller)
                .and_then(|t| Ok(t.child(h)?.wait()))
                .and_then(|status| write_u32(&mut caller, status_out, status as u32));
            answer(&mut caller, result)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "kill",
        |mut caller: Caller<'_, P1State>, h: i32| -> i32 {
            let result = table(&mut caller).and_then(|t| {
                t.child(h)?.kill();
                Ok(())
            });
            answer(&mut caller, result)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "release",
        |mut caller: Caller<'_, P1State>, h: i32| -> i32 {
            let result = table(&mut caller).and_then(|t| {
                t.child(h)?.kill();
                t.children[h as usize - 1] = None;
                Ok(())
            });
            answer(&mut caller, result)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "last_error",
        |mut caller: Caller<'_, P1State>, ptr: i32, len: i32| -> i32 {
            let message = caller
                .data()
                .procs
                .as_ref()
                .map(|t| t.last_error.clone())
                .unwrap_or_default();
            let cap = usize::try_from(len).unwrap_or(0).min(message.len());
            let _ = write_bytes(&mut caller, ptr, &message.as_bytes()[..cap]);
            i32::try_from(message.len()).unwrap_or(i32::MAX)
        },
    )?;
    Ok(())
}

fn table<'a>(caller: &'a mut Caller<'_, P1State>) -> Result<&'a mut ProcessTable, Refusal> {
    caller.data_mut().procs.as_mut().ok_or_else(|| {
        Refusal::new(
            DENIED,
            "this app may not start other apps (permissions.exec)",
        )
    })
}

fn answer(caller: &mut Caller<'_, P1State>, result: Result<(), Refusal>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(refusal) => {
            if let Some(t) = caller.data_mut().procs.as_mut() {
                t.last_error = refusal.message;
            }
            refusal.code
        }
    }
}

fn not_piped(h: i32, what: &str) -> Refusal {
    Refusal::new(INVALID, format!("child {h}'s {what} is not a pipe"))
}

fn bad_span() -> Refusal {
    Refusal::new(INVALID, "a pointer or length is outside the app's memory")
}

fn memory(caller: &mut Caller<'_, P1State>) -> Result<wasmtime::Memory, Refusal> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| Refusal::new(INVALID, "the app exports no memory"))
}

fn read_bytes(
    caller: &mut Caller<'_, P1State>,
    ptr: i32,
    len: i32,
    max: usize,
) -> Result<Vec<u8>, Refusal> {
    let (ptr, len) = (ptr as u32 as usize, len as u32 as usize);
    if len > max {
        return Err(Refusal::new(
            INVALID,
            format!("the request is over {max} bytes"),
        ));
    }
    let mem = memory(caller)?;
    mem.data(&*caller)
        .get(ptr..ptr.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or_else(bad_span)
}

fn write_bytes(caller: &mut Caller<'_, P1State>, ptr: i32, bytes: &[u8]) -> Result<(), Refusal> {
    let mem = memory(caller)?;
    mem.write(&mut *caller, ptr as u32 as usize, bytes)
        .map_err(|_| bad_span())
}

fn write_u32(caller: &mut Caller<'_, P1State>, ptr: i32, value: u32) -> Result<(), Refusal> {
    write_bytes(caller, ptr, &value.to_le_bytes())
}
