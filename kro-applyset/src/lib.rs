//! KEP-3659 ApplySet bookkeeping for kro: ids, labels, inventory, prune and deletion sets.
//!
//! The crate is pure: it computes what to write and what to delete, and never talks to an API
//! server. Objects are described with the small types of [`object`] ([`ObjectKey`],
//! [`ChildMeta`], [`GroupKind`]), so any controller can use it.
//!
//! - [`id`]: the ApplySet id of a parent.
//! - [`labels`]: every label, annotation, finalizer and field-manager name, and the builders for
//!   instance and child metadata.
//! - [`inventory`]: the parent's `contains-group-kinds` / `additional-namespaces` annotations,
//!   the inventory hash, and validation.
//! - [`prune`]: prune scope, orphans and prune waves.
//! - [`deletion`]: graph-free deletion waves from the validated inventory.
//! - [`conflict`]: ApplySet membership conflicts and duplicate renders.
//!
//! See the crate README for an example.
#![forbid(unsafe_code)]

pub mod conflict;
pub mod deletion;
pub mod error;
pub mod id;
pub mod inventory;
pub mod labels;
pub mod object;
pub mod prune;

pub use conflict::{
    DuplicateResources, Membership, OwnerHint, OwnershipConflict, check_duplicates,
    check_membership,
};
pub use deletion::{DeletionBlocked, DeletionPlan, DeletionWave, deletion_scope, plan_deletion};
pub use error::{InventoryError, ObjectError};
pub use id::{InstanceRef, ParentRef, applyset_id};
pub use inventory::{Inventory, ParentMetadata, validate_parent_inventory};
pub use labels::{CollectionPosition, KroVersion, RgdRef, child_annotations, child_labels};
pub use object::{ChildMeta, GroupKind, ObjectKey};
pub use prune::{
    Deletion, KindScope, ListPlan, ListRequest, PassInventory, PrunePlan, PruneScope, PruneSkipped,
    find_orphans, plan_prune, prune_gate,
};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
