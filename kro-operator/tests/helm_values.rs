//! The kro-rs chart's values are a superset of upstream kro's: every leaf path of upstream's
//! `helm/values.yaml` (read from the Go module cache, the version pinned by
//! `testenv/upstream-kro/go.mod`) exists in `deploy/helm/kro-rs/values.yaml` with the same
//! default, except the differences listed in `docs/compatibility.md`, and the templates use it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml(path: &Path) -> Value {
    let text = fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_saphyr::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not valid YAML: {error}", path.display()))
}

fn go_list_upstream_dir(module: &Path) -> String {
    let output = Command::new("go")
        .args(["list", "-m", "-f", "{{.Dir}}", "github.com/kubernetes-sigs/kro"])
        .current_dir(module)
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run `go` (needed to find upstream kro's chart; or set KRO_UPSTREAM_KRO_DIR): {error}")
        });
    assert!(
        output.status.success(),
        "go list failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Upstream kro's module source: `KRO_UPSTREAM_KRO_DIR`, else `go list -m` in the wrapper module
/// (downloading the module when the cache lacks it, as scripts/upstream-kro-build.sh does).
fn upstream_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KRO_UPSTREAM_KRO_DIR") {
        return PathBuf::from(dir);
    }
    let module = workspace().join("testenv/upstream-kro");
    let mut dir = go_list_upstream_dir(&module);
    if dir.is_empty() {
        let status = Command::new("go")
            .args(["mod", "download", "github.com/kubernetes-sigs/kro"])
            .env("GOFLAGS", "-modcacherw")
            .current_dir(&module)
            .status()
            .expect("runs go mod download");
        assert!(
            status.success(),
            "go mod download github.com/kubernetes-sigs/kro failed"
        );
        dir = go_list_upstream_dir(&module);
    }
    assert!(
        !dir.is_empty(),
        "upstream kro's module source is not available"
    );
    PathBuf::from(dir)
}

/// Leaf paths (`a.b.c`) of a values tree with their values: scalars, lists and empty mappings.
fn leaves(node: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match node {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(child, &path, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    // Keys such as `kubernetes.io/os` contain dots: try the longest key first.
    if path.is_empty() {
        return Some(root);
    }
    let map = root.as_object()?;
    let mut split = path.len();
    loop {
        let (key, rest) = (&path[..split], path.get(split + 1..).unwrap_or(""));
        if let Some(child) = map.get(key)
            && let Some(found) = lookup(child, rest)
        {
            return Some(found);
        }
        split = path[..split].rfind('.')?;
    }
}

/// Defaults kro-rs sets differently on purpose (see docs/compatibility.md).
const DIFFERENT_DEFAULTS: [&str; 3] = [
    // kro-rs's image, tagged with the chart's appVersion (upstream: a `${VERSION}` placeholder).
    "image.repository",
    "image.tag",
    // Safer: the distroless nonroot uid, as the image's USER.
    "deployment.securityContext.runAsUser",
];

fn upstream_values() -> Value {
    yaml(&upstream_dir().join("helm/values.yaml"))
}

fn kro_rs_values() -> Value {
    yaml(&workspace().join("deploy/helm/kro-rs/values.yaml"))
}

#[test]
fn every_upstream_value_path_exists_with_upstreams_default() {
    let mut upstream = Vec::new();
    leaves(&upstream_values(), "", &mut upstream);
    assert!(upstream.len() > 50, "upstream values look truncated");
    let ours = kro_rs_values();
    let mut missing = Vec::new();
    let mut different = Vec::new();
    for (path, default) in &upstream {
        match lookup(&ours, path) {
            None => missing.push(path.clone()),
            Some(value) if value != default && !DIFFERENT_DEFAULTS.contains(&path.as_str()) => {
                different.push(format!("{path}: upstream {default}, kro-rs {value}"));
            }
            Some(_) => {}
        }
    }
    assert!(missing.is_empty(), "missing value paths: {missing:#?}");
    assert!(different.is_empty(), "different defaults: {different:#?}");
}

/// Whether `templates` reads a field `key` (`.key` not followed by more of an identifier).
fn reads(templates: &str, key: &str) -> bool {
    let needle = format!(".{key}");
    templates.match_indices(&needle).any(|(at, _)| {
        templates[at + needle.len()..]
            .chars()
            .next()
            .is_none_or(|next| !next.is_ascii_alphanumeric() && next != '_')
    })
}

#[test]
fn the_templates_use_every_upstream_value_path() {
    let templates_dir = workspace().join("deploy/helm/kro-rs/templates");
    let mut templates = String::new();
    for entry in fs::read_dir(&templates_dir).expect("templates exist") {
        let path = entry.expect("entry").path();
        templates.push_str(&fs::read_to_string(&path).expect("readable"));
    }
    let mut upstream = Vec::new();
    leaves(&upstream_values(), "", &mut upstream);
    for (path, _) in upstream {
        // The leaf or, for free-form mappings such as nodeSelector, an ancestor key is read.
        let used = path.split('.').any(|key| reads(&templates, key));
        assert!(used, "{path} is not read by any template");
    }
}
