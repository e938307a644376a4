//! Prints the CRD kro generates for every RGD in a YAML file: `cargo run --example render_crd -- rgd.yaml`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: render_crd <rgd.yaml>")?;
    let text = std::fs::read_to_string(path)?;
    let mut options = serde_saphyr::Options::default();
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple_with_options(&text, options)?;
    for document in documents
        .iter()
        .filter(|d| d["kind"] == "ResourceGraphDefinition")
    {
        match kro_schema::crd_from_rgd_schema(&document["spec"]["schema"]) {
            Ok(crd) => println!("---\n{}", serde_saphyr::to_string(&crd)?),
            Err(errors) => eprintln!("{errors}"),
        }
    }
    Ok(())
}
