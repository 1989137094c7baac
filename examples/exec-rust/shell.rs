//! exec-rust: a tiny shell. Each argument is a command line, run in turn:
//! a program (a .wasm or .qyv, as this app sees it) and its arguments,
//! separated by spaces; `a | b` pipes a's output into b's input. A status
//! other than 0 is printed; the shell exits with the last one (statuses
//! over 125 become 125: WASI exit codes stop there).
//!
//!     qyv run examples/exec-rust/shell.qyv -- '/examples/hello-c/hello.wasm' \
//!         '/examples/exec-c/exec.wasm big 5000 | /examples/exec-c/exec.wasm count'

use std::io::Write;

use qyvol_process::{Child, Command, Error, Stdio, Stream};

fn start(words: &[&str], stdin: Stdio, stdout: Stdio) -> Result<Child, Error> {
    Command::new(words[0])
        .args(words[1..].iter().copied())
        .stdin(stdin)
        .stdout(stdout)
        .spawn()
}

/// Runs one command line; returns its status.
fn run(line: &str) -> Result<u32, Error> {
    let stages: Vec<Vec<&str>> = line
        .split('|')
        .map(|s| s.split_whitespace().collect())
        .collect();
    if stages.iter().any(Vec::is_empty) {
        eprintln!("shell: empty command in {line:?}");
        return Ok(2);
    }
    // Each stage after the first reads what the host copies from the one
    // before; the last writes to the shell's own output.
    let last = stages.len() - 1;
    let mut children = Vec::new();
    for (i, words) in stages.iter().enumerate() {
        let stdin = if i == 0 { Stdio::Inherit } else { Stdio::Pipe };
        let stdout = if i == last {
            Stdio::Inherit
        } else {
            Stdio::Pipe
        };
        children.push(start(words, stdin, stdout)?);
    }
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..last {
        let (before, after) = children.split_at_mut(i + 1);
        let (from, to) = (&mut before[i], &mut after[0]);
        loop {
            let n = from.read(Stream::Stdout, &mut buf)?;
            if n == 0 || to.write(&buf[..n]).is_err() {
                break;
            }
        }
        to.close_stdin()?;
    }
    let mut status = 0;
    for child in &mut children {
        let s = child.wait()?;
        if s != 0 {
            status = s;
        }
    }
    Ok(status)
}

fn main() {
    let mut status = 0;
    for line in std::env::args().skip(1) {
        println!("$ {line}");
        let _ = std::io::stdout().flush();
        status = match run(&line) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("shell: {line}: {e}");
                127
            }
        };
        if status != 0 {
            println!("[status {status}]");
        }
    }
    std::process::exit(status.min(125) as i32);
}
