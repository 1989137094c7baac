//! probe — the guest program that Qyvol's end-to-end tests drive.
//!
//! The tests run this one program through `qyv` (as the WASI preview-1 core
//! module `probe.wasm` and as the WASI 0.2 component `probe.component.wasm`)
//! and check what the runtime lets it see and do: arguments, environment,
//! mounted directories, sockets, exit codes, traps, time and memory limits.
//! Every command prints something exact so that a test can compare output.
//! Both files are built by `examples/build.sh` and committed; they keep their
//! symbol names (not stripped) because tests check that a trap's backtrace
//! names `trap_here`.
//!
//! Usage: `probe CMD [ARGS...]`. Output goes to stdout, exit code 0, unless
//! said otherwise. An I/O error prints `error: <io error text>` on stderr and
//! exits 1. A missing command, an unknown one or wrong arguments print
//! `usage: probe CMD ...` on stderr and exit 2.
//!
//!   args            every argument, argv[0] included: `arg[i]=<value>` per line
//!   env             every variable, sorted by name: `NAME=value` per line
//!   env NAME        the value of NAME, or `NAME is not set` and exit 3
//!   cat PATH        the file's content, verbatim
//!   head PATH       the file's first line (without its line end), then `\n`
//!   write PATH TEXT writes TEXT to PATH (create/truncate): `wrote N bytes`
//!   ls PATH         the directory's entry names, sorted, one per line
//!   connect H:P     TCP connect: `connected`, sends `ping\n`, reads one line
//!                   back and prints `got <line>` (fails on preview 1: no sockets)
//!   resolve NAME    every IP address of NAME, one per line
//!   exit N          `exiting with N`, then exits with N (a component reports
//!                   any non-zero N as 1 unless the host has exit-with-code)
//!   trap            calls `trap_here`, which executes `unreachable`
//!   loop            `looping`, then spins forever (for time limits)
//!   sleep MS        sleeps MS milliseconds, then `slept`
//!   alloc MB        allocates MB MiB in 1 MiB chunks, touching and keeping
//!                   each: `allocated N MiB` per chunk, then `done`; when the
//!                   allocator fails: `error: out of memory after N MiB`, exit 1
//!   stdin           copies stdin to stdout
//!   stderr TEXT     prints TEXT (and a newline) on stderr
//!
//! Std only, and no language feature newer than Rust 1.63, so that Debian's
//! rustc (the fallback of scripts/install-toolchains.sh) builds it too; that
//! is also why `loop` uses volatile accesses rather than `std::hint::black_box`
//! (stable only since 1.66).

use std::env;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process;
use std::ptr;
use std::thread;
use std::time::Duration;

const MIB: usize = 1 << 20;

/// Exit code for a missing or malformed command.
const USAGE: i32 = 2;

fn main() {
    let args: Vec<String> = env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", e);
            1
        }
    };
    let _ = io::stdout().flush();
    if code != 0 {
        process::exit(code);
    }
}

fn run(args: &[String]) -> io::Result<i32> {
    let cmd = args.get(1).map(String::as_str).unwrap_or("");
    let rest = &args[args.len().min(2)..];
    let mut out = io::stdout().lock();
    match (cmd, rest) {
        ("args", _) => {
            for (i, a) in args.iter().enumerate() {
                writeln!(out, "arg[{}]={}", i, a)?;
            }
        }
        ("env", []) => {
            let mut vars: Vec<(String, String)> = env::vars_os()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                })
                .collect();
            vars.sort();
            for (k, v) in vars {
                writeln!(out, "{}={}", k, v)?;
            }
        }
        ("env", [name]) => match env::var_os(name) {
            Some(v) => writeln!(out, "{}", v.to_string_lossy())?,
            None => {
                writeln!(out, "{} is not set", name)?;
                return Ok(3);
            }
        },
        ("cat", [path]) => out.write_all(&fs::read(path)?)?,
        ("head", [path]) => {
            let mut line = Vec::new();
            BufReader::new(fs::File::open(path)?).read_until(b'\n', &mut line)?;
            out.write_all(trim_line_end(&line))?;
            out.write_all(b"\n")?;
        }
        ("write", [path, text]) => {
            fs::write(path, text)?;
            writeln!(out, "wrote {} bytes", text.len())?;
        }
        ("ls", [path]) => {
            let mut names = Vec::new();
            for entry in fs::read_dir(path)? {
                names.push(entry?.file_name().to_string_lossy().into_owned());
            }
            names.sort();
            for n in names {
                writeln!(out, "{}", n)?;
            }
        }
        ("connect", [addr]) => {
            let mut stream = TcpStream::connect(addr.as_str())?;
            writeln!(out, "connected")?;
            out.flush()?;
            stream.write_all(b"ping\n")?;
            let mut line = Vec::new();
            BufReader::new(stream).read_until(b'\n', &mut line)?;
            out.write_all(b"got ")?;
            out.write_all(trim_line_end(&line))?;
            out.write_all(b"\n")?;
        }
        ("resolve", [name]) => {
            for addr in (name.as_str(), 0).to_socket_addrs()? {
                writeln!(out, "{}", addr.ip())?;
            }
        }
        ("exit", [n]) => match n.parse::<i32>() {
            Ok(n) => {
                writeln!(out, "exiting with {}", n)?;
                out.flush()?;
                process::exit(n);
            }
            Err(_) => return Ok(usage()),
        },
        ("trap", []) => trap_here(),
        ("loop", []) => {
            writeln!(out, "looping")?;
            out.flush()?;
            spin_forever();
        }
        ("sleep", [ms]) => match ms.parse::<u64>() {
            Ok(ms) => {
                thread::sleep(Duration::from_millis(ms));
                writeln!(out, "slept")?;
            }
            Err(_) => return Ok(usage()),
        },
        ("alloc", [mb]) => match mb.parse::<usize>() {
            Ok(mb) => alloc(&mut out, mb)?,
            Err(_) => return Ok(usage()),
        },
        ("stdin", []) => {
            io::copy(&mut io::stdin().lock(), &mut out)?;
        }
        ("stderr", [text]) => eprintln!("{}", text),
        _ => return Ok(usage()),
    }
    out.flush()?;
    Ok(0)
}

fn usage() -> i32 {
    eprintln!("usage: probe CMD ...");
    USAGE
}

/// Strips one trailing `\n` or `\r\n`.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Kept as its own, never-inlined function so that the trap's backtrace
/// names it.
#[inline(never)]
fn trap_here() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    process::abort();
}

/// Spins forever; the volatile load and store on every iteration keep the
/// optimizer from removing or collapsing the loop.
#[inline(never)]
fn spin_forever() -> ! {
    let mut n: u64 = 0;
    loop {
        unsafe { ptr::write_volatile(&mut n, ptr::read_volatile(&n).wrapping_add(1)) };
    }
}

/// Allocates `mb` MiB, one 1 MiB chunk at a time, writing every byte of each
/// chunk (so the pages are really used) and keeping all of them alive until
/// the end. An allocation failure is reported, not aborted on, so that a
/// memory limit shows up as a readable error and exit code 1.
fn alloc(out: &mut impl Write, mb: usize) -> io::Result<()> {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for i in 1..=mb {
        let mut chunk: Vec<u8> = Vec::new();
        if chunk.try_reserve_exact(MIB).is_err() || kept.try_reserve(1).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::Other,
                format!("out of memory after {} MiB", i - 1),
            ));
        }
        chunk.resize(MIB, 0xa5);
        kept.push(chunk);
        writeln!(out, "allocated {} MiB", i)?;
        out.flush()?;
    }
    // Read the chunks back (volatile) so none of them can be optimized out.
    let mut sum = 0usize;
    for chunk in &kept {
        sum = sum.wrapping_add(unsafe { ptr::read_volatile(&chunk[MIB - 1]) } as usize);
    }
    if sum != kept.len() * 0xa5 {
        return Err(io::Error::new(io::ErrorKind::Other, "memory corrupted"));
    }
    writeln!(out, "done")?;
    Ok(())
}
