//! `kro render` and `kro eval` over the corpus and over crafted input: the objects rendered,
//! their labels, and the messages and exit codes of bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{corpus_rgds, kro, text, write_temp};

/// The instance file of a corpus RGD, and the observed prerequisites it needs; `None` for the
/// saas-multi-tenant sub-RGDs, which only exist to be composed by the tenant RGD.
fn instance_of(rgd: &Path) -> Option<(PathBuf, Vec<PathBuf>)> {
    let case = kro_test_support::cases()
        .iter()
        .find(|case| case.rgds.iter().any(|file| file == rgd))?;
    let instance = case.instance_for(rgd)?.to_owned();
    let observed = if case.dir.ends_with("external-ref") {
        vec![kro_test_support::prerequisites().external_configmap]
    } else {
        Vec::new()
    };
    Some((instance, observed))
}

fn render(rgd: &Path, chained: &[PathBuf], instance: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![
        "render".into(),
        rgd.display().to_string(),
        instance.display().to_string(),
    ];
    for other in chained {
        args.push("--rgd".into());
        args.push(other.display().to_string());
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    kro(&refs)
}

/// The YAML documents of a render's stdout.
fn rendered_objects(output: &Output) -> Vec<serde_json::Value> {
    let stdout = text(&output.stdout);
    assert!(stdout.is_empty() || stdout.starts_with("---\n"), "{stdout}");
    stdout
        .split("---\n")
        .filter(|doc| !doc.trim().is_empty())
        .map(|doc| serde_saphyr::from_str(doc).expect("each rendered document is YAML"))
        .collect()
}

#[test]
fn every_corpus_rgd_renders_its_instance_deterministically_with_labels() {
    let mut rendered = 0;
    for (file, chained) in corpus_rgds() {
        let Some((instance, prerequisites)) = instance_of(&file) else {
            continue;
        };
        let mut extra: Vec<String> = Vec::new();
        for prerequisite in &prerequisites {
            extra.push("--observed".into());
            extra.push(prerequisite.display().to_string());
        }
        let mut early: Vec<&str> = extra.iter().map(String::as_str).collect();
        early.extend(["--now", "2025-01-01T00:00:00Z"]);
        let mut late: Vec<&str> = extra.iter().map(String::as_str).collect();
        late.extend(["--now", "2030-06-30T12:00:00Z"]);

        let name = file.display();
        let first = render(&file, &chained, &instance, &early);
        assert_eq!(
            first.status.code(),
            Some(0),
            "{name}: {}",
            text(&first.stderr)
        );
        let objects = rendered_objects(&first);
        let has_resources = !std::fs::read_to_string(&file)
            .expect("RGD readable")
            .contains("resources: []");
        assert_eq!(!objects.is_empty(), has_resources, "{name}: {objects:?}");
        for object in &objects {
            let labels = &object["metadata"]["labels"];
            assert_eq!(labels["kro.run/owned"], "true", "{name}: {object}");
            assert_eq!(labels["app.kubernetes.io/managed-by"], "kro", "{name}");
            assert!(labels["kro.run/node-id"].is_string(), "{name}: {object}");
            assert!(
                labels["applyset.kubernetes.io/part-of"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("applyset-")),
                "{name}: {object}"
            );
            assert!(
                object["metadata"]["annotations"]["internal.kro.run/apply-order"].is_string(),
                "{name}: {object}"
            );
        }
        // Identical bytes on a second run, and at another time: objects never carry time.
        assert_eq!(
            first.stdout,
            render(&file, &chained, &instance, &early).stdout,
            "{name}"
        );
        assert_eq!(
            first.stdout,
            render(&file, &chained, &instance, &late).stdout,
            "{name}"
        );
        assert!(
            text(&first.stderr).contains("instance "),
            "{name}: no node report"
        );
        rendered += 1;
    }
    assert!(rendered >= 24, "rendered only {rendered} corpus RGDs");
}

/// Renders the corpus webapp instance with its Deployment observed available: the three
/// objects the operator applies, in topological order, with exact labels.
fn render_corpus_webapp() -> Vec<serde_json::Value> {
    let rgd = kro_test_support::example_file("webapp/rg.yaml");
    let instance = kro_test_support::example_file("webapp/instance.yaml");
    let observed = write_temp(
        "webapp-observed.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: test-app\n  namespace: default\n\
         status:\n  availableReplicas: 1\n",
    );
    let out = render(
        &rgd,
        &[],
        &instance,
        &["--observed", &observed.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("instance default/test-app: ACTIVE"),
        "{stderr}"
    );
    rendered_objects(&out)
}

#[test]
fn webapp_renders_deployment_service_and_ingress_with_every_label() {
    let objects = render_corpus_webapp();
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["Deployment", "Service", "Ingress"]);
    let deployment = &objects[0];
    assert_eq!(deployment["metadata"]["name"], "test-app");
    assert_eq!(deployment["metadata"]["namespace"], "default");
    assert_eq!(deployment["spec"]["replicas"], 1);
    // The observed status never leaks into what is applied.
    assert!(deployment.get("status").is_none(), "{deployment}");
    let labels = &deployment["metadata"]["labels"];
    for (label, value) in [
        ("kro.run/instance-name", "test-app"),
        ("kro.run/instance-namespace", "default"),
        ("kro.run/instance-kind", "WebApp"),
        ("kro.run/instance-group", "kro.run"),
        ("kro.run/instance-version", "v1alpha1"),
        ("kro.run/node-id", "deployment"),
        ("kro.run/kro-version", "v0.1.0"),
    ] {
        assert_eq!(labels[label], value, "{label}: {labels}");
    }
    // The placeholder uid is deterministic and shaped like a UUID.
    let uid = labels["kro.run/instance-id"].as_str().expect("instance id");
    assert_eq!(uid.len(), 36, "{uid}");
    assert_eq!(render_corpus_webapp()[0]["metadata"]["labels"], *labels);
    assert_eq!(
        objects[1]["metadata"]["labels"]["kro.run/node-id"],
        "service"
    );
    assert_eq!(
        objects[2]["metadata"]["annotations"]["internal.kro.run/apply-order"],
        "3"
    );
}

#[test]
fn render_without_observed_status_stops_at_readiness_and_says_why() {
    let rgd = kro_test_support::example_file("webapp/rg.yaml");
    let instance = kro_test_support::example_file("webapp/instance.yaml");
    let out = render(&rgd, &[], &instance, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let objects: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(objects.as_array().map(Vec::len), Some(1), "{objects}");
    assert_eq!(objects[0]["kind"], "Deployment");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("deployment WAITING_FOR_READINESS: waiting for deployment: readyWhen"),
        "{stderr}"
    );
    assert!(stderr.contains("service IN_PROGRESS"), "{stderr}");
}

#[test]
fn assume_ready_renders_past_a_readiness_no_file_satisfies() {
    let rgd = kro_test_support::example_file("webapp/rg.yaml");
    let instance = kro_test_support::example_file("webapp/instance.yaml");
    let out = render(&rgd, &[], &instance, &["--assume-ready", "deployment"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let kinds: Vec<String> = rendered_objects(&out)
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(kinds, ["Deployment", "Service", "Ingress"]);
    assert_eq!(render_corpus_webapp(), rendered_objects(&out));

    let out = render(&rgd, &[], &instance, &["--assume-ready", "database"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the graph has no resource `database`"),
        "{}",
        text(&out.stderr)
    );
}

const FAILING_RGD: &str = "\
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: failing
spec:
  schema:
    apiVersion: v1alpha1
    kind: Failing
    spec:
      divisor: integer | default=0
  resources:
    - id: config
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: failing
        data:
          ratio: ${string(10 / schema.spec.divisor)}
";

#[test]
fn render_reports_bad_input_with_documented_messages_and_exit_codes() {
    let rgd = kro_test_support::example_file("webapp/rg.yaml");
    let rgd_arg = rgd.display().to_string();
    let instance = kro_test_support::example_file("webapp/instance.yaml")
        .display()
        .to_string();

    // A file without an instance of the RGD's kind.
    let wrong = write_temp(
        "wrong-kind.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    );
    let out = kro(&["render", &rgd_arg, &wrong.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(
            "no instance of the RGD's kind (expected apiVersion kro.run/v1alpha1 and kind WebApp)"
        ),
        "{}",
        text(&out.stderr)
    );

    // An instance without a name.
    let nameless = write_temp(
        "nameless.yaml",
        "apiVersion: kro.run/v1alpha1\nkind: WebApp\nmetadata: {}\nspec: {name: a}\n",
    );
    let out = kro(&["render", &rgd_arg, &nameless.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("instance metadata.name: expected a non-empty string"),
        "{}",
        text(&out.stderr)
    );

    // A bad --now.
    let out = kro(&["render", &rgd_arg, &instance, "--now", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--now yesterday: expected an RFC 3339 time"),
        "{}",
        text(&out.stderr)
    );

    // An observed document that is not a Kubernetes object.
    let junk = write_temp("junk.yaml", "apiVersion: v1\nmetadata: {name: x}\n");
    let out = kro(&[
        "render",
        &rgd_arg,
        &instance,
        "--observed",
        &junk.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("document 1: not a Kubernetes object") && stderr.contains("kind"),
        "{stderr}"
    );

    // A resource whose expression fails: exit 1, the error names the field and expression.
    let failing = write_temp("failing.yaml", FAILING_RGD);
    let failing_instance = write_temp(
        "failing-instance.yaml",
        "apiVersion: kro.run/v1alpha1\nkind: Failing\nmetadata: {name: f, namespace: ns}\n",
    );
    let out = kro(&[
        "render",
        &failing.display().to_string(),
        &failing_instance.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("config ERROR")
            && stderr.contains("template.data.ratio")
            && stderr.contains("string(10 / schema.spec.divisor)"),
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
}

#[test]
fn eval_prints_types_and_values_in_the_resource_environment() {
    let rgd = kro_test_support::example_file("webapp/rg.yaml")
        .display()
        .to_string();
    let instance = kro_test_support::example_file("webapp/instance.yaml")
        .display()
        .to_string();

    let out = kro(&["eval", "schema.spec.port + 1", "--rgd", &rgd]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "type: int\n");

    let out = kro(&[
        "eval",
        "deployment.metadata.name + ':' + string(schema.spec.port)",
        "--rgd",
        &rgd,
        "--resource",
        "service",
        "--instance",
        &instance,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "type: string\nvalue: \"test-app:80\"\n");

    // readyWhen sees only the resource itself.
    let observed = write_temp(
        "eval-observed.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: test-app\n  namespace: default\n\
         status:\n  availableReplicas: 1\n",
    );
    let out = kro(&[
        "eval",
        "deployment.spec.replicas == deployment.status.availableReplicas",
        "--rgd",
        &rgd,
        "--resource",
        "deployment",
        "--ready-when",
        "--instance",
        &instance,
        "--observed",
        &observed.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "type: bool\nvalue: true\n");
    let out = kro(&[
        "eval",
        "schema.spec.port",
        "--rgd",
        &rgd,
        "--resource",
        "deployment",
        "--ready-when",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("invalid CEL expression `schema.spec.port`"),
        "{}",
        text(&out.stderr)
    );

    // Type errors exit 1; an unknown resource exits 2 and lists the ids.
    let out = kro(&["eval", "schema.spec.nmae", "--rgd", &rgd]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("has no field \"nmae\""),
        "{}",
        text(&out.stderr)
    );
    let out = kro(&["eval", "1", "--rgd", &rgd, "--resource", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("ids: deployment, service, ingress"),
        "{}",
        text(&out.stderr)
    );
}

const FOREACH_RGD: &str = "\
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: regions
spec:
  schema:
    apiVersion: v1alpha1
    kind: Regions
    spec:
      regions: '[]string'
      tiers: '[]string'
  resources:
    - id: configs
      forEach:
        - region: ${schema.spec.regions}
        - tier: ${schema.spec.tiers}
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${region + '-' + tier}
        data:
          region: ${region}
";

#[test]
fn eval_binds_for_each_iterators_per_item() {
    let rgd = write_temp("regions.yaml", FOREACH_RGD)
        .display()
        .to_string();
    let instance = write_temp(
        "regions-instance.yaml",
        "apiVersion: kro.run/v1alpha1\nkind: Regions\nmetadata: {name: r}\n\
         spec: {regions: [eu, us], tiers: [web, db]}\n",
    )
    .display()
    .to_string();
    let out = kro(&[
        "eval",
        "region + '/' + tier",
        "--rgd",
        &rgd,
        "--resource",
        "configs",
        "--instance",
        &instance,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "type: string\nvalue[0]: \"eu/web\"\nvalue[1]: \"eu/db\"\nvalue[2]: \"us/web\"\nvalue[3]: \"us/db\"\n"
    );
    // Collections are lists for the other resources and the status.
    let out = kro(&["eval", "configs.map(c, c.metadata.name)", "--rgd", &rgd]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "type: list(string)\n");
    // Iterators are unknown outside their resource.
    let out = kro(&["eval", "region", "--rgd", &rgd]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    // Rendering expands the collection row-major.
    let out = render(Path::new(&rgd), &[], Path::new(&instance), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let names: Vec<String> = rendered_objects(&out)
        .iter()
        .map(|o| o["metadata"]["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(names, ["eu-web", "eu-db", "us-web", "us-db"]);
}
