//! Side-by-side benchmarks of kro-rs against upstream kro on the same local control plane.
//!
//! The driver starts a fresh control plane for every (scenario, controller) pair, so API server
//! counters start from zero and neither controller sees the other's leftovers; it then installs an
//! RGD, creates instances, and measures convergence, memory, CPU and API traffic. The pure parts
//! (metric parsing, statistics, reports, the plot) live in their own modules so they are unit-tested
//! without a cluster.

pub mod apimetrics;
pub mod cluster;
pub mod controller;
pub mod differential;
pub mod plot;
pub mod procstat;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod stats;
pub mod testenv;
