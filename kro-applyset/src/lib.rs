//! KEP-3659 ApplySet bookkeeping for kro: ids, labels, inventory, prune and deletion sets.
//!
//! See the crate README for an overview and an example.
#![forbid(unsafe_code)]
