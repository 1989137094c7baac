// The contract app (examples/CONTRACT.md) in AssemblyScript, a WASI
// preview-1 module. @assemblyscript/wasi-shim gives `process` and `console`;
// it has no file API, so files are opened with WASI calls on the preopened
// folders, found by name as every WASI libc does.

const LANGUAGE = "AssemblyScript";

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_prestat_get")
declare function fd_prestat_get(fd: u32, buf: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_prestat_dir_name")
declare function fd_prestat_dir_name(fd: u32, path: usize, len: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "path_open")
declare function path_open(dirfd: u32, dirflags: u32, path: usize, pathLen: usize, oflags: u16,
  base: u64, inheriting: u64, fdflags: u16, fd: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_read")
declare function fd_read(fd: u32, iovs: usize, iovsLen: usize, nread: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
declare function fd_write(fd: u32, iovs: usize, iovsLen: usize, nwritten: usize): u16;
// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_close")
declare function fd_close(fd: u32): u16;

const RIGHT_FD_READ: u64 = 2;
const RIGHT_FD_WRITE: u64 = 64;
const OFLAG_CREAT: u16 = 1;
const OFLAG_TRUNC: u16 = 8;

function fail(what: string, errno: u16): void {
  console.error("error: " + what + ": WASI errno " + errno.toString());
  process.exit(1);
}

// The descriptor of the preopened folder the host named `name`.
function preopen(name: string): u32 {
  const prestat = new ArrayBuffer(8);
  for (let fd: u32 = 3; ; fd++) {
    if (fd_prestat_get(fd, changetype<usize>(prestat)) != 0) break;
    const len = load<u32>(changetype<usize>(prestat) + 4);
    const buf = new ArrayBuffer(<i32>len);
    if (fd_prestat_dir_name(fd, changetype<usize>(buf), len) != 0) continue;
    if (String.UTF8.decode(buf) == name) return fd;
  }
  console.error("error: " + name + " is not mounted");
  process.exit(1);
  return 0;
}

function open(dir: string, file: string, oflags: u16, rights: u64): u32 {
  const path = String.UTF8.encode(file);
  const fd = new ArrayBuffer(4);
  const err = path_open(preopen(dir), 0, changetype<usize>(path), path.byteLength, oflags,
    rights, 0, 0, changetype<usize>(fd));
  if (err != 0) fail(dir + "/" + file, err);
  return load<u32>(changetype<usize>(fd));
}

function readAll(fd: u32): string {
  const chunk = new ArrayBuffer(4096);
  const iov = new ArrayBuffer(8);
  const n = new ArrayBuffer(4);
  let bytes = new Uint8Array(0);
  while (true) {
    store<u32>(changetype<usize>(iov), changetype<usize>(chunk));
    store<u32>(changetype<usize>(iov) + 4, chunk.byteLength);
    const err = fd_read(fd, changetype<usize>(iov), 1, changetype<usize>(n));
    if (err != 0) fail("read", err);
    const got = load<u32>(changetype<usize>(n));
    if (got == 0) break;
    const grown = new Uint8Array(bytes.length + <i32>got);
    grown.set(bytes);
    grown.set(Uint8Array.wrap(chunk, 0, <i32>got), bytes.length);
    bytes = grown;
  }
  return String.UTF8.decode(bytes.buffer);
}

function writeAll(fd: u32, text: string): void {
  const data = String.UTF8.encode(text);
  const iov = new ArrayBuffer(8);
  const n = new ArrayBuffer(4);
  let done: u32 = 0;
  while (done < <u32>data.byteLength) {
    store<u32>(changetype<usize>(iov), changetype<usize>(data) + done);
    store<u32>(changetype<usize>(iov) + 4, <u32>data.byteLength - done);
    const err = fd_write(fd, changetype<usize>(iov), 1, changetype<usize>(n));
    if (err != 0) fail("write", err);
    done += load<u32>(changetype<usize>(n));
  }
}

console.log("Hello from " + LANGUAGE + "!");

const args = process.argv.slice(1);
let listed = "args:";
for (let i = 0; i < args.length; i++) listed += " [" + args[i] + "]";
console.log(listed);

if (process.env.has("GREETING")) console.log("GREETING=" + process.env.get("GREETING"));
else console.log("GREETING is not set");

const input = open("/input", "message.txt", 0, RIGHT_FD_READ);
const text = readAll(input);
fd_close(input);
let first = text;
const newline = text.indexOf("\n");
if (newline >= 0) first = text.substring(0, newline);
if (first.endsWith("\r")) first = first.substring(0, first.length - 1);
console.log("input: " + first);

const output = open("/output", "result.txt", OFLAG_CREAT | OFLAG_TRUNC, RIGHT_FD_WRITE);
writeAll(output, LANGUAGE + " read: " + first + "\n");
fd_close(output);
console.log("wrote /output/result.txt");

process.exit(args.length > 0 ? I32.parseInt(args[0]) : 0);
