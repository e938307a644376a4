//! Examples of embedding kro-rs without the operator; see `examples/`.
//!
//! - `embedded_controller`: a kube-rs controller (on kube-runtime's `applier`) for the generated
//!   kind of one RGD file, reconciling instances with [`kro_controller::Executor`].
//! - `render_offline`: compile an RGD offline and print the objects an instance would get.
//!
//! Run them with `cargo run -p kro-examples --example <name> -- <args>`.
#![forbid(unsafe_code)]

/// Reads every YAML document of `path` as JSON, skipping empty documents.
///
/// # Errors
/// The file cannot be read or is not YAML.
pub fn read_yaml_documents(path: &std::path::Path) -> anyhow::Result<Vec<serde_json::Value>> {
    use anyhow::Context as _;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text)
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}
