//! The kro-rs operator's frame: configuration, observability, leader election, graceful
//! shutdown, and the supervisor that runs the operator's [`service::Service`]s.
//!
//! The binary (`main.rs`) wires these together; the reconcile controllers, which live in
//! `kro_controller::controllers`, plug in as a further service
//! ([`controllers::RgdControllerService`]) that receives a [`leader::LeaderGate`], a
//! [`health::ReadinessCheck`] and the shared [`metrics::Metrics`], which implement the
//! controllers' metrics sink.
#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod controllers;
pub mod duration;
pub mod features;
pub mod goflags;
pub mod health;
pub mod http;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod operator;
#[cfg(feature = "pprof")]
pub mod pprof;
pub mod servers;
pub mod service;
pub mod shutdown;
