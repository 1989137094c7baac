// The first program Qyvol ever ran: a Rust "hello" built as a WASI 0.2
// component (wasm32-wasip2). Std only, so plain `rustc` builds it.
fn main() {
    println!("¡Hola desde Rust!");
}
