//! Links the `qyv` executable position-dependent (`-no-pie`) on Linux.
//!
//! Why: a position-independent `qyv` makes the dynamic loader apply about
//! 60,000 relative relocations and copy-on-write about 200 pages before
//! `main`, which was 40 % of the instructions of a cached `qyv run` of a
//! hello world (docs/benchmarks.md, "Start-up"). The cost of the choice: the
//! executable's own code and data sit at fixed addresses (the stack, the
//! heap, shared libraries, compiled wasm and guest memories are still
//! randomized). Build with `QYVOL_PIE=1` to keep a position-independent
//! executable; README's "Start-up and address randomization" says when.
//! Only the binary's link changes: libraries and dependencies are compiled
//! as usual.

fn main() {
    println!("cargo:rerun-if-env-changed=QYVOL_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let keep_pie = std::env::var("QYVOL_PIE").is_ok_and(|v| v == "1");
    if linux && !keep_pie {
        println!("cargo:rustc-link-arg-bin=qyv=-no-pie");
    }
}
