//! `kro validate` on an RGD upstream kro v0.9.4 serves though kro-rs's checks were once
//! stricter: warnings at their line, exit 0, and `--strict` refusing them.

use std::path::PathBuf;
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

fn write_temp(name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kro-cli-warnings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write temp file");
    path
}

/// An RGD upstream kro v0.9.4 serves, with two checks kro-rs relaxed into warnings (and one
/// piece of advice).
const LENIENT_RGD: &str = "\
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: lenient
spec:
  schema:
    apiVersion: v1alpha1
    kind: Lenient
    spec:
      name: string | default=\"a\" default=\"b\"
      size: string | minimum=1
  resources:
    - id: config
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.spec.name}
        data:
          size: ${schema.spec.size}
";

#[test]
fn validate_prints_warnings_at_their_line_and_exits_0() {
    let file = write_temp("lenient.yaml", LENIENT_RGD);
    let file_name = file.display().to_string();
    let out = kro(&["validate", &file_name]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{file_name}:10:7: warning: schema.spec.name: marker `default` is given more than \
             once: the last one (`default=b`) is used, as upstream kro does"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file_name}:11:7: warning: schema.spec.size: marker `minimum` applies only to \
             integer and float fields, not to `string`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("ok: ResourceGraphDefinition lenient is valid"),
        "{stderr}"
    );

    let json = kro(&["validate", "-o", "json", &file_name]);
    assert_eq!(json.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON output");
    let rgd = &report["resourceGraphDefinitions"][0];
    assert_eq!(rgd["valid"], true);
    let warnings = rgd["warnings"].as_array().expect("warnings");
    // The two relaxed checks, then advice (an unguarded read of the optional `size`).
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert_eq!(warnings[0]["path"], "spec.schema.spec.name");
    assert_eq!(warnings[0]["line"], 10);
    assert_eq!(warnings[0]["strictError"], true);
    assert_eq!(warnings[2]["strictError"], false);
    assert!(
        warnings[1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("marker `minimum`")),
        "{warnings:?}"
    );
}

#[test]
fn validate_strict_refuses_warnings_and_exits_1() {
    let file = write_temp("lenient-strict.yaml", LENIENT_RGD);
    let file_name = file.display().to_string();
    let out = kro(&["validate", "--strict", &file_name]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{file_name}:10:7: error: schema.spec.name: marker `default` is given more than once"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("(refused by --strict)"), "{stderr}");
    assert!(!stderr.contains("is valid"), "{stderr}");
    // Advice is not refused.
    assert!(
        stderr.contains(&format!("{file_name}:20:11: warning: resource \"config\"")),
        "{stderr}"
    );

    let json = kro(&["validate", "--strict", "-o", "json", &file_name]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON output");
    assert_eq!(report["invalid"], 1);
    assert_eq!(report["resourceGraphDefinitions"][0]["valid"], false);

    // Without relaxed checks (advice only), --strict changes nothing.
    let clean = kro_test_support::example_file("webapp/rg.yaml");
    let out = kro(&["validate", "--strict", &clean.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
