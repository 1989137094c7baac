//! The one place where the engine's configuration is decided. Everything
//! that changes generated code (time limits, fuel) is an [`EngineOptions`]
//! field, so that the compiled-code cache can key artifacts by the engine's
//! compatibility hash and never load code built for another configuration.
//! A serving engine ([`EngineOptions::serving_engine`]) is the same
//! configuration plus an instance pool, so that a fresh instance per request
//! is cheap.

use std::hash::{DefaultHasher, Hash, Hasher};

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

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

    /// The configuration of an engine that serves HTTP requests: instances
    /// come from a pool whose slots keep their memory mapped between uses,
    /// with the module's initial memory as a copy-on-write image, so that
    /// creating one is mostly resetting the pages the last request dirtied.
    /// `instances` is the most component instances alive at once.
    pub fn serving_config(&self, instances: u32) -> Config {
        let mut config = self.config();
        let instances = instances.max(1);
        let mut pool = PoolingAllocationConfig::new();
        // Totals are explicit: the defaults (1000 of everything) reserve
        // terabytes of address space. A component made by a language
        // toolchain holds several core instances (CPython's has a dozen),
        // most with a memory or a table.
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .total_memories(instances.saturating_mul(MEMORIES_PER_COMPONENT))
            .total_tables(instances.saturating_mul(TABLES_PER_COMPONENT))
            .total_stacks(instances)
            .total_gc_heaps(instances)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            // Reset a slot by rewriting the pages a request touched (found
            // with PAGEMAP_SCAN where the kernel has it) instead of
            // unmapping them, so the next request takes no page faults.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            .async_stack_keep_resident(KEEP_RESIDENT)
            .pagemap_scan(Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config
    }

    pub fn serving_engine(&self, instances: u32) -> Result<Engine, RuntimeError> {
        Engine::new(&self.serving_config(instances)).map_err(|e| RuntimeError::Engine(chain(&e)))
    }

    /// What a run needs: epoch checks only with a time limit (or a control
    /// that can stop it), fuel only with a budget. `qyv pack --precompile`
    /// uses it too, so that the code
    /// it ships is the code a run of the same manifest asks for.
    pub fn for_spec(spec: &RunSpec) -> EngineOptions {
        EngineOptions {
            // A parent kills a child at an epoch check.
            epoch_interruption: spec.timeout.is_some()
                || spec.control.is_some()
                || spec.exec.is_some(),
            consume_fuel: spec.fuel.is_some(),
        }
    }
}

/// The machine this `qyv` runs on and compiles for, as a target triple.
pub fn host_target() -> String {
    target_lexicon::HOST.to_string()
}

/// Limits of one component in the serving pool.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 16;

/// Bytes of each memory, table and stack that stay mapped in a free slot.
/// Measured with bench/http.sh's Rust handler: 2 MiB served about twice
/// the requests per second of none (unmapping and faulting pages back in),
/// and more than 64 KiB or 1 MiB did.
const KEEP_RESIDENT: usize = 2 << 20;

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

    #[test]
    fn a_serving_engine_takes_the_code_of_a_plain_one() {
        // A bundle's precompiled code is made by a plain engine and served
        // by a pooling one: the pool must not change the key.
        for options in [
            EngineOptions::default(),
            EngineOptions {
                epoch_interruption: true,
                consume_fuel: false,
            },
        ] {
            assert_eq!(
                compatibility_key(&options.engine().unwrap()),
                compatibility_key(&options.serving_engine(4).unwrap())
            );
        }
    }

    #[test]
    fn a_serving_engine_starts_with_a_small_pool() {
        EngineOptions::default().serving_engine(4).unwrap();
        EngineOptions {
            epoch_interruption: true,
            consume_fuel: true,
        }
        .serving_engine(1)
        .unwrap();
    }
}
