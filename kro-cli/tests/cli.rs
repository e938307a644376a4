//! The `kro` binary over the whole shared corpus, and over crafted bad input: output, messages
//! and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kro(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kro"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the kro binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
}

/// Every corpus file that holds an RGD, with the files of the RGDs it chains.
fn corpus_rgds() -> Vec<(PathBuf, Vec<PathBuf>)> {
    let mut found = Vec::new();
    let mut stack = vec![corpus()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read_to_string(&path)
                .is_ok_and(|t| t.contains("kind: ResourceGraphDefinition"))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
        .iter()
        .map(|file| {
            // saas-multi-tenant's tenant RGD composes the kinds of its two siblings.
            let chained = if file.ends_with("saas-multi-tenant/tenant-rgd.yaml") {
                let dir = file.parent().expect("parent");
                vec![
                    dir.join("tenant-environment-rgd.yaml"),
                    dir.join("tenant-application-rgd.yaml"),
                ]
            } else {
                Vec::new()
            };
            (file.clone(), chained)
        })
        .collect()
}

fn with_chained(args: &[&str], file: &Path, chained: &[PathBuf]) -> Output {
    let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    all.push(file.display().to_string());
    for other in chained {
        all.push("--rgd".to_owned());
        all.push(other.display().to_string());
    }
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    kro(&refs)
}

#[test]
fn every_corpus_rgd_validates_renders_a_crd_and_draws() {
    let rgds = corpus_rgds();
    assert!(rgds.len() >= 25, "found only {} corpus RGDs", rgds.len());
    for (file, chained) in &rgds {
        let name = file.display();
        let validate = with_chained(&["validate"], file, chained);
        assert_eq!(
            validate.status.code(),
            Some(0),
            "{name}: {}",
            text(&validate.stderr)
        );
        assert!(
            text(&validate.stderr).contains("is valid; order:"),
            "{name}"
        );

        let crd = with_chained(&["crd"], file, chained);
        assert_eq!(crd.status.code(), Some(0), "{name}: {}", text(&crd.stderr));
        let value: serde_json::Value =
            serde_saphyr::from_str(&text(&crd.stdout)).expect("the CRD output is YAML");
        assert_eq!(value["kind"], "CustomResourceDefinition", "{name}");
        // Deterministic: the same input gives the same bytes.
        assert_eq!(
            crd.stdout,
            with_chained(&["crd"], file, chained).stdout,
            "{name}"
        );

        for format in ["mermaid", "dot", "svg"] {
            let drawn = with_chained(&["graph", "--format", format], file, chained);
            assert_eq!(
                drawn.status.code(),
                Some(0),
                "{name} {format}: {}",
                text(&drawn.stderr)
            );
            let out = text(&drawn.stdout);
            let expected_start = match format {
                "mermaid" => "flowchart TD",
                "dot" => "digraph rgd {",
                _ => "<svg xmlns=",
            };
            assert!(out.starts_with(expected_start), "{name} {format}: {out}");
        }
    }
}

#[test]
fn validate_json_lists_order_and_validity() {
    let file = corpus().join("upstream-examples/webapp/rg.yaml");
    let out = kro(&["validate", "-o", "json", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    let rgd = &report["resourceGraphDefinitions"][0];
    assert_eq!(rgd["valid"], true);
    assert_eq!(rgd["name"], "webapp.kro.run");
    assert_eq!(
        rgd["topologicalOrder"],
        serde_json::json!(["deployment", "service", "ingress"])
    );
    assert_eq!(report["invalid"], 0);
}

fn write_temp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kro-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write temp file");
    path
}

const BAD_RGD: &str = "\
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: broken
spec:
  schema:
    apiVersion: v1alpha1
    kind: Broken
    spec:
      name: string
      replicas: integer | default=1
  resources:
    - id: config
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.spec.nmae}
        data:
          replicas: ${schema.spec.replicas}
";

#[test]
fn invalid_rgd_reports_each_problem_at_its_line_and_exits_1() {
    let file = write_temp("broken.yaml", BAD_RGD);
    let out = kro(&["validate", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let file_name = file.display().to_string();
    // The misspelt field: line 18, where `name:` holds the expression.
    assert!(stderr.contains(&format!("{file_name}:18:")), "{stderr}");
    assert!(stderr.contains("nmae"), "{stderr}");
    // An int where ConfigMap data needs a string: line 20.
    assert!(stderr.contains(&format!("{file_name}:20:")), "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");

    let json = kro(&["validate", "-o", "json", &file_name]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON output");
    let problems = report["resourceGraphDefinitions"][0]["problems"]
        .as_array()
        .expect("problems");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0]["line"], 18);
    assert_eq!(problems[1]["line"], 20);
}

#[test]
fn unreadable_input_exits_2_and_no_rgd_is_an_error() {
    let out = kro(&["validate", "/nonexistent/rgd.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/rgd.yaml"));

    let file = write_temp(
        "not-an-rgd.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    let out = kro(&["validate", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no ResourceGraphDefinition found"));
}

#[test]
fn diff_classifies_changes_and_gates_on_breaking_ones() {
    let base = corpus().join("upstream-examples/webapp/rg.yaml");
    let original = std::fs::read_to_string(&base).expect("webapp RGD");
    // Safe: only a new optional field.
    let safe = write_temp(
        "safe.yaml",
        &original.replacen(
            "      name: string",
            "      name: string\n      team: string",
            1,
        ),
    );
    let out = kro(&[
        "diff",
        &base.display().to_string(),
        &safe.display().to_string(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("safe     spec.versions[v1alpha1]") || stdout.contains("safe"),
        "{stdout}"
    );
    assert!(stdout.contains("team"), "{stdout}");
    assert!(stdout.contains("0 breaking changes"), "{stdout}");

    // Breaking: a bound is tightened.
    let breaking = write_temp(
        "breaking.yaml",
        &original.replacen(
            "      replicas: integer | default=1",
            "      replicas: integer | default=1 maximum=5",
            1,
        ),
    );
    let out = kro(&[
        "diff",
        &base.display().to_string(),
        &breaking.display().to_string(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("BREAKING"), "{stdout}");
    assert!(stdout.contains("1 breaking change\n"), "{stdout}");

    // A resource removed is listed.
    let json = kro(&[
        "diff",
        "-o",
        "json",
        &base.display().to_string(),
        &base.display().to_string(),
    ]);
    assert_eq!(json.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(report["breaking"], 0);
    assert_eq!(report["schema"], serde_json::json!([]));
}

#[test]
fn completions_and_help_work() {
    let out = kro(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("_kro()"));
    for command in ["validate", "crd", "graph", "diff", "completions"] {
        let help = kro(&[command, "--help"]);
        assert_eq!(help.status.code(), Some(0));
        assert!(
            text(&help.stdout).contains("Example:"),
            "{command} --help has no example"
        );
    }
}
