//! Placing 10,000 replicas over 1,000 simulated nodes with the
//! scheduler's own placement code, in process: `cargo bench --workspace
//! --bench placement` (the workspace's features, so the release build of
//! `qyv` is reused). Prints the median and the maximum of
//! ten runs (bench/cluster.sh reports them).

use std::collections::HashMap;
use std::time::{Duration, Instant};

fn main() {
    let (apps, nodes) = qyvol_cluster::placement::simulated(1000, 10_000);
    let mut times: Vec<Duration> = Vec::new();
    let mut placed = 0;
    for _ in 0..10 {
        let start = Instant::now();
        let result = qyvol_cluster::placement::schedule(&apps, &HashMap::new(), &nodes);
        times.push(start.elapsed());
        placed = result.iter().map(|p| p.nodes.len()).sum::<usize>();
    }
    times.sort();
    println!(
        "placement: {placed} replicas over {} nodes ({} apps): median {:.1} ms, max {:.1} ms (10 runs)",
        nodes.len(),
        apps.len(),
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}
