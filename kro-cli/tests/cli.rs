//! The `kro` binary over the whole corpus, and over crafted bad input: output, messages
//! and exit codes. `kro render` and `kro eval` are in `cli_render.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{corpus_rgds, kro, text, write_temp};

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
    let file = kro_test_support::example_file("webapp/rg.yaml");
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
    let base = kro_test_support::example_file("webapp/rg.yaml");
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
    for command in [
        "validate",
        "crd",
        "graph",
        "diff",
        "render",
        "eval",
        "completions",
    ] {
        let help = kro(&[command, "--help"]);
        assert_eq!(help.status.code(), Some(0));
        assert!(
            text(&help.stdout).contains("Example:"),
            "{command} --help has no example"
        );
    }
}

#[test]
fn diff_with_instances_shows_created_deleted_and_changed_objects() {
    let base = kro_test_support::example_file("webapp/rg.yaml");
    let original = std::fs::read_to_string(&base).expect("webapp RGD");
    let instances = std::env::temp_dir().join(format!("kro-cli-instances-{}", std::process::id()));
    std::fs::create_dir_all(&instances).expect("temp dir");
    std::fs::write(
        instances.join("app.yaml"),
        "apiVersion: kro.run/v1alpha1\nkind: WebApp\nmetadata:\n  name: test-app\nspec:\n  name: test-app\n",
    )
    .expect("instance written");
    std::fs::write(instances.join("notes.txt"), "not an instance").expect("ignored file");
    // The new version: a changed image, and the Deployment's readiness no longer gates the rest.
    let changed = original
        .replacen(
            "imagePullPolicy: Always",
            "imagePullPolicy: IfNotPresent",
            1,
        )
        .replacen(
            "    readyWhen:\n      - ${deployment.spec.replicas == deployment.status.availableReplicas}\n",
            "",
            1,
        );
    assert_ne!(changed, original);
    let new = write_temp("webapp-new.yaml", &changed);
    let out = kro(&[
        "diff",
        &base.display().to_string(),
        &new.display().to_string(),
        "--instances",
        &instances.display().to_string(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("default/test-app ("), "{stdout}");
    assert!(
        stdout.contains("~ apps/v1 Deployment default/test-app (changed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-        imagePullPolicy: Always\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+        imagePullPolicy: IfNotPresent\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ v1 Service default/test-app (created)"),
        "{stdout}"
    );

    // Reversed: the Service disappears.
    let out = kro(&[
        "diff",
        "-o",
        "json",
        &new.display().to_string(),
        &base.display().to_string(),
        "--instances",
        &instances.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let instance = &report["instances"][0];
    assert_eq!(instance["instance"], "default/test-app");
    assert!(
        instance["deleted"]
            .as_array()
            .expect("deleted")
            .contains(&serde_json::json!("v1 Service default/test-app")),
        "{instance}"
    );
    assert_eq!(instance["changed"].as_array().map(Vec::len), Some(1));
}
