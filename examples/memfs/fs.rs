// A WASI 0.2 component (Rust, wasm32-wasip2) that uses a memfs mount at /tmp
// through std::fs and checks every answer: `qyv run` tests it (see
// crates/qyv/tests/e2e/memfs.rs). Usage: fs check | fill | seed
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, UNIX_EPOCH};

fn check() -> Result<(), String> {
    let e = |what: &str| {
        let what = what.to_string();
        move |err: std::io::Error| format!("{what}: {err}")
    };
    fs::create_dir_all("/tmp/a/b").map_err(e("create_dir_all"))?;
    fs::write("/tmp/a/b/one.txt", b"one").map_err(e("write"))?;
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/tmp/a/b/one.txt")
        .map_err(e("open"))?;
    f.seek(SeekFrom::Start(1)).map_err(e("seek"))?;
    f.write_all(b"N").map_err(e("write at 1"))?;
    f.seek(SeekFrom::Start(5)).map_err(e("seek past end"))?;
    f.write_all(b"!").map_err(e("write past end"))?;
    f.set_len(4).map_err(e("set_len"))?;
    let mut text = Vec::new();
    f.seek(SeekFrom::Start(0)).map_err(e("seek"))?;
    f.read_to_end(&mut text).map_err(e("read"))?;
    if text != b"oNe\0" {
        return Err(format!("read back {text:?}"));
    }
    let mut log = OpenOptions::new()
        .append(true)
        .create(true)
        .open("/tmp/log")
        .map_err(e("append open"))?;
    log.write_all(b"1").map_err(e("append"))?;
    log.write_all(b"2").map_err(e("append"))?;
    drop(log);
    if fs::read("/tmp/log").map_err(e("read log"))? != b"12" {
        return Err("append".into());
    }
    fs::write("/tmp/new", b"new").map_err(e("write new"))?;
    fs::rename("/tmp/new", "/tmp/log").map_err(e("rename"))?;
    if fs::read("/tmp/log").map_err(e("read log"))? != b"new" {
        return Err("rename did not replace".into());
    }
    fs::write("/tmp/open", b"still here").map_err(e("write open"))?;
    let mut held = File::open("/tmp/open").map_err(e("open held"))?;
    fs::remove_file("/tmp/open").map_err(e("unlink held"))?;
    let mut s = String::new();
    held.read_to_string(&mut s).map_err(e("read unlinked"))?;
    if s != "still here" {
        return Err(format!("unlinked file read {s:?}"));
    }
    let when = UNIX_EPOCH + Duration::new(2000, 7);
    File::options()
        .write(true)
        .open("/tmp/log")
        .and_then(|f| f.set_modified(when))
        .map_err(e("set_modified"))?;
    let modified = fs::metadata("/tmp/log").and_then(|m| m.modified()).map_err(e("stat"))?;
    if modified != when {
        return Err(format!("mtime {modified:?}"));
    }
    match fs::remove_dir("/tmp/a") {
        // Rust's std names ENOTEMPTY only on some targets: read the message.
        Err(err) if err.to_string().contains("not empty") => {}
        other => return Err(format!("rmdir of a full folder: {other:?}")),
    }
    fs::remove_dir_all("/tmp/a").map_err(e("remove_dir_all"))?;
    for name in ["zeta", "alpha", "Mid"] {
        fs::write(format!("/tmp/{name}"), b"").map_err(e("write"))?;
    }
    let names: Vec<String> = fs::read_dir("/tmp")
        .map_err(e("read_dir"))?
        .map(|entry| entry.map(|d| d.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(e("read_dir entry"))?;
    println!("names: {}", names.join(" "));
    if names != ["Mid", "alpha", "log", "zeta"] {
        return Err("listing order".into());
    }
    if fs::read("/tmp/../etc/passwd").is_ok() {
        return Err("left the mount through ..".into());
    }
    Ok(())
}

fn fill() -> Result<(), String> {
    let mut f = File::create("/tmp/big").map_err(|e| format!("create: {e}"))?;
    let block = [b'x'; 4096];
    let mut total = 0u64;
    let err = loop {
        match f.write(&block) {
            Ok(n) => total += n as u64,
            Err(err) => break err,
        }
    };
    // The host answers insufficient-space; Rust's std on wasip2 reports
    // a failed stream write as a plain I/O error, so the kind is not
    // checked here, only that writing stopped where the cap is.
    println!("wrote {total} bytes, then: {err}");
    Ok(())
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "check".into());
    let result = match what.as_str() {
        "check" => check(),
        "fill" => fill(),
        "seed" => fs::read_to_string("/tmp/hello.txt")
            .map(|text| print!("hello.txt: {text}"))
            .map_err(|e| format!("read /tmp/hello.txt: {e}")),
        _ => Err("usage: fs check | fill | seed".into()),
    };
    match result {
        Ok(()) => println!("memfs check: ok"),
        Err(why) => {
            println!("memfs check: FAILED: {why}");
            std::process::exit(1);
        }
    }
}
