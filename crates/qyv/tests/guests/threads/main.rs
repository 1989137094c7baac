//! threads — a guest that starts a thread, for the test that qyv refuses
//! threaded WebAssembly with "threads are not supported" rather than "not
//! valid WebAssembly".
//!
//! Built by examples/build.sh for Rust's `wasm32-wasip1-threads` target:
//! a preview-1 core module that imports `wasi`'s `thread-spawn` and a shared
//! memory, as wasi-threads programs do. Where it runs (a host with
//! wasi-threads), it prints `the thread says 42`.

use std::thread;

fn main() {
    let worker = thread::spawn(|| 6 * 7);
    println!("the thread says {}", worker.join().unwrap());
}
