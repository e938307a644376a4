//! Every RGD of the corpus converts to a CRD that the real kube-apiserver accepts and
//! establishes, and every corpus instance is admitted with the defaults the schema promises.
//!
//! Each CRD gets a group unique to this run (`<random>.corpus.test.kro.run`), so the test never
//! collides with other tests or earlier runs; the group defaulting itself is unit-tested in
//! kro-schema.

use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use kro_integration_tests::{
    CorpusDocument, client, corpus_documents, create_namespace, unique_name,
};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::runtime::wait::{await_condition, conditions::is_crd_established};
use serde_json::Value;

/// Checks that `object` carries every default that `schema` promises for the fields the user
/// omitted, recursing into objects that are present (or were defaulted). Returns the paths checked.
fn assert_defaults_applied(
    schema: &JSONSchemaProps,
    object: &Value,
    path: &str,
    checked: &mut Vec<String>,
) -> anyhow::Result<()> {
    let Some(properties) = &schema.properties else {
        return Ok(());
    };
    for (name, child) in properties {
        let child_path = format!("{path}.{name}");
        match (object.get(name), &child.default) {
            (None, Some(default)) => {
                bail!(
                    "{child_path} was omitted but its default {:?} was not applied",
                    default.0
                )
            }
            (Some(value), Some(_)) => {
                checked.push(child_path.clone());
                if child.type_.as_deref() == Some("object") {
                    assert_defaults_applied(child, value, &child_path, checked)?;
                }
            }
            (Some(value), None) if child.type_.as_deref() == Some("object") => {
                assert_defaults_applied(child, value, &child_path, checked)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn kind_of(doc: &CorpusDocument) -> &str {
    doc.value["kind"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn corpus_crds_are_established_and_instances_get_their_defaults() -> anyhow::Result<()> {
    let client = client().await?;
    let namespace = create_namespace(&client, "kro-it-schema").await?;
    let documents = corpus_documents()?;
    let rgds: Vec<&CorpusDocument> = documents
        .iter()
        .filter(|d| kind_of(d) == "ResourceGraphDefinition")
        .collect();
    assert!(
        rgds.len() >= 20,
        "expected the whole corpus, found {} RGDs",
        rgds.len()
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut instances_checked = 0;
    let mut defaults_checked = Vec::new();

    let generated = create_every_crd(&crds, &rgds).await?;
    for (rgd, group, crd) in &generated {
        let file = rgd.path.display().to_string();
        let crd_name = crd.metadata.name.clone().unwrap_or_default();
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &crd_name, is_crd_established()),
        )
        .await
        .with_context(|| format!("{file}: CRD {crd_name} never became Established"))??;

        let kind = KindUnderTest::new(&client, &namespace, group, crd);
        // The instances that sit next to this RGD in the corpus.
        let directory = rgd.path.parent();
        for instance in documents.iter().filter(|d| {
            kind_of(d) == kind.kind && d.path.parent() == directory && d.value["spec"].is_object()
        }) {
            admit_instance(&kind, instance, &mut defaults_checked).await?;
            instances_checked += 1;
        }
        crds.delete(&crd_name, &DeleteParams::default()).await?;
    }
    assert!(
        instances_checked >= 15,
        "only {instances_checked} corpus instances were checked"
    );
    assert!(
        defaults_checked.len() >= 10,
        "only {} defaulted fields were checked: {defaults_checked:?}",
        defaults_checked.len()
    );
    Ok(())
}

/// Creates every CRD first, before waiting on any: the API server establishes them in parallel.
/// Each gets a group of its own.
async fn create_every_crd<'a>(
    crds: &Api<CustomResourceDefinition>,
    rgds: &[&'a CorpusDocument],
) -> anyhow::Result<Vec<(&'a CorpusDocument, String, CustomResourceDefinition)>> {
    let mut generated = Vec::new();
    for rgd in rgds {
        let file = rgd.path.display().to_string();
        let mut schema = rgd.value["spec"]["schema"].clone();
        let group = format!("{}.corpus.test.kro.run", unique_name("c"));
        schema["group"] = Value::String(group.clone());
        let crd =
            kro_schema::crd_from_rgd_schema(&schema).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let crd_name = crd.metadata.name.clone().unwrap_or_default();
        crds.create(&PostParams::default(), &crd)
            .await
            .with_context(|| format!("{file}: the API server rejected CRD {crd_name}"))?;
        generated.push((*rgd, group, crd));
    }
    Ok(generated)
}

/// A generated kind: its name, the apiVersion its instances use, its spec schema and its API.
struct KindUnderTest {
    kind: String,
    api_version: String,
    spec_schema: JSONSchemaProps,
    api: Api<DynamicObject>,
}

impl KindUnderTest {
    fn new(
        client: &kube::Client,
        namespace: &str,
        group: &str,
        crd: &CustomResourceDefinition,
    ) -> Self {
        let version = &crd.spec.versions[0];
        let kind = crd.spec.names.kind.clone();
        let namespaced = crd.spec.scope == "Namespaced";
        let spec_schema = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| s.properties.as_ref())
            .and_then(|p| p.get("spec"))
            .cloned()
            .unwrap_or_default();
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, &version.name, &kind),
            &crd.spec.names.plural,
        );
        let api: Api<DynamicObject> = if namespaced {
            Api::namespaced_with(client.clone(), namespace, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        };
        Self {
            kind,
            api_version: format!("{group}/{}", version.name),
            spec_schema,
            api,
        }
    }
}

/// Creates a corpus instance under a unique name, checks the defaults admission applied and that
/// nothing the user wrote changed, then deletes it.
async fn admit_instance(
    kind: &KindUnderTest,
    instance: &CorpusDocument,
    defaults_checked: &mut Vec<String>,
) -> anyhow::Result<()> {
    let instance_file = instance.path.display().to_string();
    let mut value = instance.value.clone();
    value["apiVersion"] = Value::String(kind.api_version.clone());
    let name = unique_name("inst");
    value["metadata"] = serde_json::json!({ "name": name });
    let object: DynamicObject = serde_json::from_value(value)?;
    let created = kind
        .api
        .create(&PostParams::default(), &object)
        .await
        .with_context(|| format!("{instance_file}: the API server rejected the instance"))?;
    assert_defaults_applied(
        &kind.spec_schema,
        &created.data["spec"],
        "spec",
        defaults_checked,
    )
    .with_context(|| instance_file.clone())?;
    // Nothing the user wrote was changed by admission.
    for (key, written) in instance.value["spec"].as_object().into_iter().flatten() {
        if written.is_object() {
            continue; // objects may gain defaulted children
        }
        assert_eq!(
            &created.data["spec"][key], written,
            "{instance_file}: spec.{key} changed on admission"
        );
    }
    kind.api.delete(&name, &DeleteParams::default()).await?;
    Ok(())
}
