//! Timings and resource use of one run, printed on stderr so that stdout
//! stays the program's own.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// Where the machine code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeSource {
    /// Loaded (memory-mapped) from the compiled-code cache.
    CacheHit,
    /// Compiled now and stored in the cache.
    Compiled,
    /// A cache entry was damaged or stale: compiled again and replaced.
    Rebuilt,
    /// Compiled now, cache disabled (`--no-cache`) or unavailable.
    CompiledUncached,
    /// Precompiled code from a bundle, copied into the cache and mapped.
    Precompiled,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    /// Reading the wasm (or only its metadata, on a cache hit).
    pub read_ms: f64,
    /// Compiling, or loading compiled code from the cache.
    pub code_ms: f64,
    pub code_source: Option<CodeSource>,
    pub instantiate_ms: f64,
    pub run_ms: f64,
    pub total_ms: f64,
    /// Highest total size of the program's linear memories, in bytes.
    pub peak_memory_bytes: u64,
    pub exit_code: Option<i32>,
    /// Fuel consumed, when a fuel budget was set.
    pub fuel_consumed: Option<u64>,
}

pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

impl Metrics {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    pub fn to_text(&self) -> String {
        let source = match self.code_source {
            Some(CodeSource::CacheHit) => "cache hit",
            Some(CodeSource::Compiled) => "compiled",
            Some(CodeSource::Rebuilt) => "compiled (cache entry rebuilt)",
            Some(CodeSource::CompiledUncached) => "compiled (no cache)",
            Some(CodeSource::Precompiled) => "precompiled, from the bundle",
            None => "-",
        };
        let mut s = String::new();
        let _ = writeln!(s, "qyv metrics:");
        let _ = writeln!(s, "  read         {:>10.3} ms", self.read_ms);
        let _ = writeln!(s, "  code         {:>10.3} ms  ({source})", self.code_ms);
        let _ = writeln!(s, "  instantiate  {:>10.3} ms", self.instantiate_ms);
        let _ = writeln!(s, "  run          {:>10.3} ms", self.run_ms);
        let _ = writeln!(s, "  total        {:>10.3} ms", self.total_ms);
        let _ = writeln!(
            s,
            "  peak memory  {:>10} bytes ({:.1} MiB)",
            self.peak_memory_bytes,
            self.peak_memory_bytes as f64 / (1024.0 * 1024.0)
        );
        if let Some(f) = self.fuel_consumed {
            let _ = writeln!(s, "  fuel used    {f:>10}");
        }
        match self.exit_code {
            Some(c) => {
                let _ = writeln!(s, "  exit code    {c:>10}");
            }
            None => {
                let _ = writeln!(s, "  exit code    {:>10}", "-");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_one_object_with_every_field() {
        let m = Metrics {
            code_source: Some(CodeSource::CacheHit),
            exit_code: Some(3),
            peak_memory_bytes: 65536,
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        for key in [
            "read_ms",
            "code_ms",
            "code_source",
            "instantiate_ms",
            "run_ms",
            "total_ms",
            "peak_memory_bytes",
            "exit_code",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["code_source"], "cache_hit");
        assert_eq!(v["exit_code"], 3);
    }

    #[test]
    fn text_names_the_code_source() {
        let m = Metrics {
            code_source: Some(CodeSource::Compiled),
            ..Default::default()
        };
        assert!(m.to_text().contains("(compiled)"));
    }
}
