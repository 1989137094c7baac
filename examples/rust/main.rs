//! The contract app (examples/CONTRACT.md) in Rust, built as a WASI 0.2
//! component by rustc's wasm32-wasip2 target.

use std::io::{BufRead, BufReader};
use std::process::ExitCode;

const LANGUAGE: &str = "Rust";

fn main() -> ExitCode {
    println!("Hello from {LANGUAGE}!");

    let args: Vec<String> = std::env::args().skip(1).collect();
    let listed: Vec<String> = args.iter().map(|a| format!("[{a}]")).collect();
    println!("args: {}", listed.join(" "));

    match std::env::var("GREETING") {
        Ok(value) => println!("GREETING={value}"),
        Err(_) => println!("GREETING is not set"),
    }

    let first = match std::fs::File::open("/input/message.txt") {
        Ok(file) => {
            let mut line = String::new();
            if let Err(e) = BufReader::new(file).read_line(&mut line) {
                eprintln!("error: /input/message.txt: {e}");
                return ExitCode::from(1);
            }
            line.trim_end_matches(['\n', '\r']).to_string()
        }
        Err(e) => {
            eprintln!("error: /input/message.txt: {e}");
            return ExitCode::from(1);
        }
    };
    println!("input: {first}");

    if let Err(e) = std::fs::write("/output/result.txt", format!("{LANGUAGE} read: {first}\n")) {
        eprintln!("error: /output/result.txt: {e}");
        return ExitCode::from(1);
    }
    println!("wrote /output/result.txt");

    let code = args.first().and_then(|c| c.parse::<u8>().ok()).unwrap_or(0);
    ExitCode::from(code)
}
