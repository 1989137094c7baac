fn main() {
    println!("Hello from Rust! This is {{name}}.");
    let words: Vec<String> = std::iter::once("args:".to_string())
        .chain(std::env::args().skip(1))
        .collect();
    println!("{}", words.join(" "));
}
