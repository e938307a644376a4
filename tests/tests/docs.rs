//! Keeps `docs/` honest: every YAML block parses and every RGD in it compiles, every `kro`
//! command runs and exits as the block says (and prints what a following `text output` block
//! shows), every SimpleSchema snippet converts, every row of a CEL `expression | result` table
//! evaluates to its documented result, and every function of kro's CEL environment has an
//! example in the CEL reference. Blocks that need a cluster must name the end-to-end test that
//! covers them; blocks copied from a source file must still be in it. The scheme is described
//! in `docs/README.md` ("How these docs are tested").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use kro_api::ResourceGraphDefinition;
use kro_cel::{Activation, Environment, FUNCTIONS, Library};
use kro_graph::{CompileOptions, OfflineResolver, compile_with};
use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn docs_dir() -> PathBuf {
    workspace_root().join("docs")
}

/// The `kro` binary next to this test binary (`target/<profile>/kro`), or `KRO_CLI_BIN`.
fn kro_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("KRO_CLI_BIN") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test binary is not inside a cargo target directory")?;
    let candidate = profile_dir.join("kro");
    ensure!(
        candidate.exists(),
        "{} does not exist: build it with `cargo build -p kro-cli` (cargo test --workspace builds it)",
        candidate.display()
    );
    Ok(candidate)
}

/// One fenced block of a Markdown file.
#[derive(Debug, Clone)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    language: String,
    /// `key=value` tags (`file=`, `exit=`) and bare tags (`cluster`, `output`, ...), by key.
    tags: BTreeMap<String, String>,
    body: String,
    /// The non-blank lines just before the fence (where `<!-- e2e: ... -->` notes live).
    preceding: Vec<String>,
}

impl Block {
    fn has(&self, tag: &str) -> bool {
        self.tags.contains_key(tag)
    }

    fn location(&self, file: &Path) -> String {
        format!("{}:{}", file.display(), self.line)
    }
}

/// A `| expression | result |` table row.
#[derive(Debug, Clone)]
struct CelRow {
    line: usize,
    expression: String,
    result: String,
}

struct Document {
    path: PathBuf,
    blocks: Vec<Block>,
    cel_rows: Vec<CelRow>,
}

fn markdown_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn parse_tags(info: &str) -> (String, BTreeMap<String, String>) {
    let mut words = info.split_whitespace();
    let language = words.next().unwrap_or_default().to_owned();
    let tags = words
        .map(|word| match word.split_once('=') {
            Some((key, value)) => (key.to_owned(), value.trim_matches('"').to_owned()),
            None => (word.to_owned(), String::new()),
        })
        .collect();
    (language, tags)
}

/// Splits a table row on unescaped `|`, unescaping `\|` and dropping the code backticks.
fn table_cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                if let Some(cell) = cells.last_mut() {
                    cell.push('|');
                }
            }
            '|' => cells.push(String::new()),
            _ => {
                if let Some(cell) = cells.last_mut() {
                    cell.push(c);
                }
            }
        }
    }
    cells
        .into_iter()
        .map(|cell| {
            let cell = cell.trim();
            cell.strip_prefix('`')
                .and_then(|c| c.strip_suffix('`'))
                .unwrap_or(cell)
                .to_owned()
        })
        .collect()
}

fn parse_markdown(path: &Path) -> anyhow::Result<Document> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut cel_rows = Vec::new();
    let mut in_cel_table = false;
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if let Some(info) = line.trim_start().strip_prefix("```") {
            let fence_indent = line.len() - line.trim_start().len();
            let (language, tags) = parse_tags(info);
            let start = index;
            let mut body = String::new();
            index += 1;
            while index < lines.len() && lines[index].trim_start() != "```" {
                let content = lines[index];
                let dedented = content
                    .get(fence_indent.min(content.len() - content.trim_start().len())..)
                    .unwrap_or(content);
                body.push_str(dedented);
                body.push('\n');
                index += 1;
            }
            ensure!(
                index < lines.len(),
                "{}:{}: unclosed code fence",
                path.display(),
                start + 1
            );
            let preceding = lines[..start]
                .iter()
                .rev()
                .filter(|l| !l.trim().is_empty())
                .take(3)
                .map(|l| (*l).to_owned())
                .collect();
            blocks.push(Block {
                line: start + 1,
                language,
                tags,
                body,
                preceding,
            });
            in_cel_table = false;
        } else if line.trim_start().starts_with('|') {
            let cells = table_cells(line);
            let header = cells.first().map(|c| c.to_lowercase());
            if header.as_deref() == Some("expression")
                && cells
                    .get(1)
                    .is_some_and(|c| c.eq_ignore_ascii_case("result"))
            {
                in_cel_table = true;
            } else if in_cel_table && !cells.iter().all(|c| c.chars().all(|ch| "-: ".contains(ch)))
            {
                ensure!(
                    cells.len() >= 2,
                    "{}:{}: a CEL table row needs two cells",
                    path.display(),
                    index + 1
                );
                cel_rows.push(CelRow {
                    line: index + 1,
                    expression: cells[0].clone(),
                    result: cells[1].clone(),
                });
            }
        } else {
            in_cel_table = false;
        }
        index += 1;
    }
    Ok(Document {
        path: path.to_path_buf(),
        blocks,
        cel_rows,
    })
}

fn yaml_documents(text: &str) -> anyhow::Result<Vec<Value>> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text)?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// Everything a file's checks share: the scratch directory, the kinds declared so far.
struct Workspace {
    scratch: PathBuf,
    resolver: OfflineResolver,
    bindings: Option<Value>,
}

impl Workspace {
    fn new(doc: &Path) -> anyhow::Result<Self> {
        let stem = doc
            .strip_prefix(docs_dir())
            .unwrap_or(doc)
            .to_string_lossy()
            .replace(['/', '.'], "_");
        let scratch = std::env::temp_dir().join(format!("kro-docs-{}-{stem}", std::process::id()));
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)?;
        }
        std::fs::create_dir_all(&scratch)?;
        Ok(Self {
            scratch,
            resolver: OfflineResolver::new(),
            bindings: None,
        })
    }
}

fn check_yaml(
    block: &Block,
    next: Option<&Block>,
    work: &mut Workspace,
    file: &Path,
) -> anyhow::Result<usize> {
    let at = block.location(file);
    let documents =
        yaml_documents(&block.body).with_context(|| format!("{at}: the YAML does not parse"))?;
    if let Some(name) = block.tags.get("file") {
        std::fs::write(work.scratch.join(name), &block.body)?;
    }
    if block.has("cel-bindings") {
        work.bindings = documents.into_iter().next();
        return Ok(1);
    }
    if block.has("simpleschema") {
        return check_simpleschema(block, next, &documents, &at);
    }
    let mut checked = 0;
    for document in &documents {
        match document["kind"].as_str() {
            Some("CustomResourceDefinition") => {
                let crd = serde_json::from_value(document.clone())
                    .with_context(|| format!("{at}: CRD shape"))?;
                work.resolver
                    .register_crd(&crd)
                    .with_context(|| format!("{at}: registering the CRD"))?;
            }
            Some("ResourceGraphDefinition") => {
                check_rgd(block, next, document, work, &at)?;
                checked += 1;
            }
            _ => {}
        }
    }
    Ok(checked.max(1))
}

fn check_rgd(
    block: &Block,
    next: Option<&Block>,
    document: &Value,
    work: &Workspace,
    at: &str,
) -> anyhow::Result<()> {
    let rgd: ResourceGraphDefinition = serde_json::from_value(document.clone())
        .with_context(|| format!("{at}: not a ResourceGraphDefinition"))?;
    let options = CompileOptions {
        omit_enabled: block.has("omit"),
        ..CompileOptions::default()
    };
    let result = compile_with(&rgd, &work.resolver, &options);
    if block.has("invalid") {
        let Err(error) = result else {
            bail!("{at}: the block is tagged `invalid` but the RGD compiles");
        };
        expect_error_text(next, &error.to_string(), at)?;
        return Ok(());
    }
    let graph = result.map_err(|e| anyhow::anyhow!("{at}: the RGD does not compile:\n{e}"))?;
    // Later RGDs in the same file may use this one's kind (RGD chaining).
    work.resolver
        .register_crd(graph.crd())
        .with_context(|| format!("{at}: registering the generated CRD"))?;
    Ok(())
}

/// A ```` ```text error ```` block right after an `invalid` block lists lines the error contains.
fn expect_error_text(next: Option<&Block>, error: &str, at: &str) -> anyhow::Result<()> {
    if let Some(expected) = next.filter(|b| b.has("error")) {
        for line in expected.body.lines().filter(|l| !l.trim().is_empty()) {
            ensure!(
                error.contains(line.trim()),
                "{at}: the error does not contain `{}`:\n{error}",
                line.trim()
            );
        }
    }
    Ok(())
}

fn check_simpleschema(
    block: &Block,
    next: Option<&Block>,
    documents: &[Value],
    at: &str,
) -> anyhow::Result<usize> {
    let mut schema = documents
        .first()
        .cloned()
        .with_context(|| format!("{at}: empty SimpleSchema block"))?;
    if let Some(object) = schema.as_object_mut() {
        object
            .entry("apiVersion")
            .or_insert_with(|| Value::from("v1alpha1"));
        object
            .entry("kind")
            .or_insert_with(|| Value::from("Example"));
    }
    let result = kro_schema::CrdSpec::from_rgd_schema_with_warnings(&schema);
    if block.has("invalid") {
        let Err(errors) = result else {
            bail!("{at}: the block is tagged `invalid` but the schema converts");
        };
        expect_error_text(next, &errors.to_string(), at)?;
    } else {
        let (_, warnings) =
            result.map_err(|e| anyhow::anyhow!("{at}: the SimpleSchema does not convert:\n{e}"))?;
        let warned: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        // `warning` blocks convert as upstream converts them, with warnings (the next `text
        // warning` block lists what they contain); other blocks convert without any.
        if block.has("warning") {
            ensure!(
                !warned.is_empty(),
                "{at}: tagged `warning` but converts without one"
            );
            if let Some(expected) = next.filter(|b| b.has("warning")) {
                let all = warned.join("\n");
                for line in expected.body.lines().filter(|l| !l.trim().is_empty()) {
                    ensure!(
                        all.contains(line.trim()),
                        "{at}: no warning contains `{}`:\n{all}",
                        line.trim()
                    );
                }
            }
        }
    }
    Ok(1)
}

fn note_target(block: &Block, key: &str) -> Option<String> {
    block.preceding.iter().find_map(|line| {
        let note = line
            .trim()
            .strip_prefix("<!--")?
            .strip_suffix("-->")?
            .trim();
        Some(note.strip_prefix(key)?.strip_prefix(':')?.trim().to_owned())
    })
}

/// `cluster` blocks must name the end-to-end test covering them: `<!-- e2e: FILE::FUNCTION -->`.
fn check_cluster_note(block: &Block, file: &Path) -> anyhow::Result<()> {
    let at = block.location(file);
    let target = note_target(block, "e2e").with_context(|| {
        format!(
            "{at}: a `cluster` block needs `<!-- e2e: tests/tests/FILE.rs::FUNCTION -->` before it"
        )
    })?;
    for entry in target.split(',') {
        let (path, function) = entry
            .trim()
            .split_once("::")
            .with_context(|| format!("{at}: `{entry}` is not FILE::FUNCTION"))?;
        let source = std::fs::read_to_string(workspace_root().join(path))
            .with_context(|| format!("{at}: reading {path}"))?;
        ensure!(
            source.contains(&format!("fn {function}(")),
            "{at}: {path} has no test `{function}`"
        );
    }
    Ok(())
}

/// `ci` blocks (commands for a developer machine) must name the script CI runs them in.
fn check_ci_note(block: &Block, file: &Path) -> anyhow::Result<()> {
    let at = block.location(file);
    let target = note_target(block, "ci")
        .with_context(|| format!("{at}: a `ci` block needs `<!-- ci: PATH -->` before it"))?;
    for path in target.split(',') {
        ensure!(
            workspace_root().join(path.trim()).exists(),
            "{at}: {} does not exist",
            path.trim()
        );
    }
    Ok(())
}

/// A block copied from a file CI builds (`<!-- source: PATH -->`) must still be in that file
/// verbatim, so code shown in the docs for another crate cannot drift from code that compiles.
/// Returns whether the block has such a note.
fn check_source_note(block: &Block, file: &Path) -> anyhow::Result<bool> {
    let Some(path) = note_target(block, "source") else {
        return Ok(false);
    };
    let at = block.location(file);
    let source = std::fs::read_to_string(workspace_root().join(&path))
        .with_context(|| format!("{at}: reading {path}"))?;
    let shown = block.body.trim_end();
    ensure!(!shown.is_empty(), "{at}: an empty block");
    ensure!(
        source.contains(shown),
        "{at}: the block is not in {path} as shown: copy it again from the file"
    );
    Ok(true)
}

fn check_commands(
    block: &Block,
    next: Option<&Block>,
    work: &Workspace,
    file: &Path,
    kro: &Path,
) -> anyhow::Result<usize> {
    let at = block.location(file);
    let expected_exit: i32 = match block.tags.get("exit") {
        Some(code) => code
            .parse()
            .with_context(|| format!("{at}: exit={code} is not a number"))?,
        None => 0,
    };
    let commands: Vec<&str> = block
        .body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    ensure!(!commands.is_empty(), "{at}: an empty command block");
    let bin_dir = kro.parent().context("the kro binary has no directory")?;
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut last_stdout = String::new();
    for command in &commands {
        ensure!(
            command.starts_with("kro "),
            "{at}: `{command}` is not a `kro` command: tag the block `cluster` (with the e2e test that covers it) or `ci`"
        );
        let output = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&work.scratch)
            .env("PATH", &path)
            .output()
            .with_context(|| format!("{at}: running `{command}`"))?;
        let code = output.status.code().unwrap_or(-1);
        ensure!(
            code == expected_exit,
            "{at}: `{command}` exited {code}, the docs say {expected_exit}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // `kro` reports findings on stderr and data on stdout; a reader sees both.
        last_stdout = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if let Some(shown) = next.filter(|b| b.has("output")) {
        let normalise = |text: &str| {
            text.lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n")
                .trim()
                .to_owned()
        };
        ensure!(
            normalise(&last_stdout) == normalise(&shown.body),
            "{at}: the output shown at line {} differs from what `{}` prints:\n{last_stdout}",
            shown.line,
            commands.last().copied().unwrap_or_default()
        );
    }
    Ok(commands.len())
}

fn check_cel_rows(document: &Document, bindings: Option<&Value>) -> anyhow::Result<usize> {
    let names: Vec<String> = bindings
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let env = Environment::new()
        .with_variables(names.iter().map(String::as_str))
        .with_omit(true);
    let mut activation = Activation::new();
    if let Some(object) = bindings.and_then(Value::as_object) {
        for (name, value) in object {
            activation.bind(name, value)?;
        }
    }
    let mut failures = Vec::new();
    for row in &document.cel_rows {
        let at = format!("{}:{}", document.path.display(), row.line);
        if let Err(error) = check_cel_row(&env, &activation, row) {
            failures.push(format!("{at}: `{}`: {error:#}", row.expression));
        }
    }
    ensure!(
        failures.is_empty(),
        "CEL examples that do not give their documented result:\n{}",
        failures.join("\n")
    );
    Ok(document.cel_rows.len())
}

fn check_cel_row(env: &Environment, activation: &Activation, row: &CelRow) -> anyhow::Result<()> {
    let program = env.compile(&row.expression)?;
    if let Some(kind) = row.result.strip_prefix("error:") {
        let error = match program.evaluate(activation) {
            Ok(value) => bail!("evaluates to {value}, the docs say error:{kind}"),
            Err(error) => error,
        };
        ensure!(
            format!("{:?}", error.kind()) == kind.trim(),
            "fails with {:?} ({error}), the docs say {}",
            error.kind(),
            kind.trim()
        );
        return Ok(());
    }
    if row.result == "omit()" {
        ensure!(
            program.evaluate_value(activation)?.is_omit(),
            "does not evaluate to omit()"
        );
        return Ok(());
    }
    let expected: Value = serde_json::from_str(&row.result)
        .with_context(|| format!("the result `{}` is not JSON", row.result))?;
    let actual = program.evaluate(activation)?;
    ensure!(
        actual == expected,
        "evaluates to {actual}, the docs say {expected}"
    );
    Ok(())
}

fn is_command_language(language: &str) -> bool {
    matches!(language, "sh" | "bash" | "shell" | "console")
}

fn check_document(document: &Document, kro: &Path) -> anyhow::Result<usize> {
    let mut work = Workspace::new(&document.path)?;
    let mut checks = 0;
    for (position, block) in document.blocks.iter().enumerate() {
        let next = document.blocks.get(position + 1);
        let file = &document.path;
        if check_source_note(block, file)? {
            checks += 1;
        } else if block.has("cluster") {
            check_cluster_note(block, file)?;
            if matches!(block.language.as_str(), "yaml" | "yml") {
                yaml_documents(&block.body).with_context(|| {
                    format!("{}: the YAML does not parse", block.location(file))
                })?;
            }
            checks += 1;
        } else if block.has("ci") {
            check_ci_note(block, file)?;
            checks += 1;
        } else if matches!(block.language.as_str(), "yaml" | "yml") {
            checks += check_yaml(block, next, &mut work, file)?;
        } else if is_command_language(&block.language) {
            checks += check_commands(block, next, &work, file, kro)?;
        }
    }
    checks += check_cel_rows(document, work.bindings.as_ref())?;
    std::fs::remove_dir_all(&work.scratch)?;
    Ok(checks)
}

#[test]
fn every_example_in_the_docs_works() -> anyhow::Result<()> {
    let kro = kro_binary()?;
    let files = markdown_files(&docs_dir())?;
    ensure!(
        files.len() >= 10,
        "docs/ has only {} Markdown files",
        files.len()
    );
    let mut failures = Vec::new();
    let mut checks = 0;
    for file in &files {
        match parse_markdown(file).and_then(|document| check_document(&document, &kro)) {
            Ok(count) => checks += count,
            Err(error) => failures.push(format!("{error:#}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        checks > 100,
        "only {checks} checks ran: is the docs test reading docs/?"
    );
    Ok(())
}

#[test]
fn every_cel_function_has_an_example_in_the_reference() -> anyhow::Result<()> {
    let document = parse_markdown(&docs_dir().join("reference/cel.md"))?;
    let expressions: Vec<&str> = document
        .cel_rows
        .iter()
        .map(|row| row.expression.as_str())
        .collect();
    let missing: BTreeSet<&str> = FUNCTIONS
        .iter()
        .filter(|f| f.library != Library::Internal)
        .map(|f| f.name)
        .filter(|name| !expressions.iter().any(|e| e.contains(&format!("{name}("))))
        .collect();
    assert!(
        missing.is_empty(),
        "functions without an example in docs/reference/cel.md: {missing:?}"
    );
    Ok(())
}

#[test]
fn every_document_is_linked_from_the_index() -> anyhow::Result<()> {
    let index = std::fs::read_to_string(docs_dir().join("README.md"))?;
    for file in markdown_files(&docs_dir())? {
        let relative = file
            .strip_prefix(docs_dir())?
            .to_string_lossy()
            .into_owned();
        if relative != "README.md" {
            assert!(
                index.contains(&format!("({relative})")),
                "docs/README.md does not link {relative}"
            );
        }
    }
    Ok(())
}

#[test]
fn the_table_parser_unescapes_pipes_and_backticks() {
    assert_eq!(table_cells(r"| `a \|\| b` | `true` |"), ["a || b", "true"]);
    let (language, tags) = parse_tags("yaml file=web.yaml cluster");
    assert_eq!(language, "yaml");
    assert_eq!(tags.get("file").map(String::as_str), Some("web.yaml"));
    assert!(tags.contains_key("cluster"));
}
