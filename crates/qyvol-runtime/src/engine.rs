//! The one place where the engine's configuration is decided. Everything
//! that changes generated code (time limits, fuel) is an [`EngineOptions`]
//! field, so that the compiled-code cache can key artifacts by the engine's
//! compatibility hash and never load code built for another configuration.

use std::hash::{DefaultHasher, Hash, Hasher};

use wasmtime::{Config, Engine};

use crate::error::{RuntimeError, chain};
use crate::spec::RunSpec;

/// Engine settings that change the generated machine code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EngineOptions {
    /// Insert epoch checks so a time limit can stop a running guest. Off when
    /// no timeout is set: the checks cost up to 20 % on interpreter guests.
    pub epoch_interruption: bool,
    /// Count instructions against a fuel budget.
    pub consume_fuel: bool,
}

impl EngineOptions {
    pub fn config(&self) -> Config {
        let mut config = Config::new();
        config.epoch_interruption(self.epoch_interruption);
        config.consume_fuel(self.consume_fuel);
        config
    }

    pub fn engine(&self) -> Result<Engine, RuntimeError> {
        Engine::new(&self.config()).map_err(|e| RuntimeError::Engine(chain(&e)))
    }

    /// What a run needs: epoch checks only with a time limit (or a control
    /// that can stop it), fuel only with a budget. `qyv pack --precompile` uses it too, so that the code
    /// it ships is the code a run of the same manifest asks for.
    pub fn for_spec(spec: &RunSpec) -> EngineOptions {
        EngineOptions {
            epoch_interruption: spec.timeout.is_some() || spec.control.is_some(),
            consume_fuel: spec.fuel.is_some(),
        }
    }
}

/// The machine this `qyv` runs on and compiles for, as a target triple.
pub fn host_target() -> String {
    target_lexicon::HOST.to_string()
}

/// A short, stable name for everything that must match for compiled code to
/// be reused: Wasmtime's own compatibility hash (version, target, flags) plus
/// Qyvol's version, so that upgrading `qyv` never loads stale code.
pub fn compatibility_key(engine: &Engine) -> String {
    let mut h = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_changing_options_change_the_key() {
        let plain = EngineOptions::default().engine().unwrap();
        let plain2 = EngineOptions::default().engine().unwrap();
        let timed = EngineOptions {
            epoch_interruption: true,
            consume_fuel: false,
        }
        .engine()
        .unwrap();
        assert_eq!(compatibility_key(&plain), compatibility_key(&plain2));
        assert_ne!(compatibility_key(&plain), compatibility_key(&timed));
    }
}
