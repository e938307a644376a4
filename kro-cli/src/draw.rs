//! Drawing a compiled graph as Mermaid, Graphviz DOT or a self-contained SVG.
//!
//! All three formats are drawn from the same [`Drawing`], so they always show the same nodes,
//! edges and annotations (includeWhen, readyWhen, forEach, external references).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kro_graph::{ExternalSelection, Graph, NodeKind};

/// One box of the drawing.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeBox {
    /// The resource id, or the instance kind for the instance node.
    pub id: String,
    /// What it is: `apps/v1 Deployment`, `external v1 ConfigMap`, ...
    pub kind: String,
    /// Annotation lines: `includeWhen: ...`, `readyWhen: ...`, `forEach: x in ...`.
    pub notes: Vec<String>,
    /// Depth in the graph: 0 for resources with no dependency.
    pub layer: usize,
    /// Whether this is the instance (the generated API), drawn last.
    pub is_instance: bool,
}

/// The whole drawing: boxes in topological order and edges `dependency -> dependent`.
#[derive(Clone, Debug, PartialEq)]
pub struct Drawing {
    /// Boxes, in topological order, the instance last.
    pub boxes: Vec<NodeBox>,
    /// Edges between box ids.
    pub edges: Vec<(String, String)>,
}

impl Drawing {
    /// The drawing of `graph`.
    pub fn of(graph: &Graph) -> Self {
        let mut layers: BTreeMap<String, usize> = BTreeMap::new();
        let mut boxes = Vec::new();
        let mut edges = Vec::new();
        for node in graph.topological_order() {
            let layer = node
                .dependencies()
                .iter()
                .filter_map(|d| layers.get(d))
                .map(|l| l + 1)
                .max()
                .unwrap_or(0);
            layers.insert(node.id().to_owned(), layer);
            let gvk = node.gvk();
            let api_version = gvk.api_version();
            let kind = match node.kind() {
                NodeKind::Template => format!("{api_version} {}", gvk.kind),
                NodeKind::External(ExternalSelection::ByName) => {
                    format!("external {api_version} {}", gvk.kind)
                }
                NodeKind::External(ExternalSelection::BySelector) => {
                    format!("external list {api_version} {}", gvk.kind)
                }
            };
            let mut notes = Vec::new();
            for dimension in node.for_each() {
                notes.push(format!(
                    "forEach: {} in {}",
                    dimension.name(),
                    dimension.expression().source()
                ));
            }
            for condition in node.include_when() {
                notes.push(format!("includeWhen: {}", condition.source()));
            }
            for condition in node.ready_when() {
                notes.push(format!("readyWhen: {}", condition.source()));
            }
            for dependency in node.dependencies() {
                edges.push((dependency.clone(), node.id().to_owned()));
            }
            boxes.push(NodeBox {
                id: node.id().to_owned(),
                kind,
                notes,
                layer,
                is_instance: false,
            });
        }
        let instance = graph.instance();
        let instance_layer = layers.values().map(|l| l + 1).max().unwrap_or(0);
        let instance_id = instance.gvk().kind.clone();
        for dependency in instance.dependencies() {
            edges.push((dependency.clone(), instance_id.clone()));
        }
        boxes.push(NodeBox {
            id: instance_id,
            kind: format!("instance {}", instance.gvk().api_version()),
            notes: Vec::new(),
            layer: instance_layer,
            is_instance: true,
        });
        Self { boxes, edges }
    }

    /// Mermaid flowchart text.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        for b in &self.boxes {
            let mut label = format!(
                "<b>{}</b><br/>{}",
                mermaid_escape(&b.id),
                mermaid_escape(&b.kind)
            );
            for note in &b.notes {
                let _ = write!(label, "<br/><i>{}</i>", mermaid_escape(note));
            }
            let (open, close) = if b.is_instance {
                ("([", "])")
            } else {
                ("[", "]")
            };
            let _ = writeln!(out, "    {}{open}\"{label}\"{close}", mermaid_id(&b.id));
        }
        for (from, to) in &self.edges {
            let _ = writeln!(out, "    {} --> {}", mermaid_id(from), mermaid_id(to));
        }
        out
    }

    /// Graphviz DOT text.
    pub fn dot(&self) -> String {
        let mut out = String::from(
            "digraph rgd {\n    rankdir=TB;\n    node [shape=box, fontname=\"Helvetica\"];\n",
        );
        for b in &self.boxes {
            let mut label = format!("{}\\n{}", dot_escape(&b.id), dot_escape(&b.kind));
            for note in &b.notes {
                let _ = write!(label, "\\n{}", dot_escape(note));
            }
            let style = if b.is_instance { ", style=rounded" } else { "" };
            let _ = writeln!(
                out,
                "    \"{}\" [label=\"{label}\"{style}];",
                dot_escape(&b.id)
            );
        }
        for (from, to) in &self.edges {
            let _ = writeln!(
                out,
                "    \"{}\" -> \"{}\";",
                dot_escape(from),
                dot_escape(to)
            );
        }
        out.push_str("}\n");
        out
    }

    /// A standalone SVG: boxes in rows by layer, edges with arrows. No external tool is needed.
    pub fn svg(&self) -> String {
        let (placed, width, height) = self.svg_layout();
        let mut edges = String::new();
        let detours = self.svg_edges(&placed, &mut edges);
        let width = width.max(
            self.boxes
                .iter()
                .filter_map(|b| placed.get(b.id.as_str()))
                .map(|(x, _, w, _)| x + w)
                .fold(0.0, f64::max)
                + MARGIN
                + 12.0 * detours,
        );
        let mut out = svg_head(width, height);
        out.push_str(&edges);
        for b in &self.boxes {
            let Some(&placement) = placed.get(b.id.as_str()) else {
                continue;
            };
            svg_box(&mut out, b, placement);
        }
        out.push_str("</svg>\n");
        out
    }

    /// Every box's placement, one centred row per layer, and the drawing's width and height
    /// (before any edge detours).
    fn svg_layout(&self) -> (BTreeMap<&str, Placement>, f64, f64) {
        let max_layer = self.boxes.iter().map(|b| b.layer).max().unwrap_or(0);
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); max_layer + 1];
        for (index, b) in self.boxes.iter().enumerate() {
            rows[b.layer].push(index);
        }
        let row_widths: Vec<f64> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&i| svg_box_size(&self.boxes[i]).0)
                    .sum::<f64>()
                    + GAP_X * row.len().saturating_sub(1) as f64
            })
            .collect();
        let width = row_widths.iter().copied().fold(0.0, f64::max) + 2.0 * MARGIN;
        let mut placed: BTreeMap<&str, Placement> = BTreeMap::new();
        let mut y = MARGIN;
        for (row, row_width) in rows.iter().zip(&row_widths) {
            let mut x = (width - row_width) / 2.0;
            let height = row
                .iter()
                .map(|&i| svg_box_size(&self.boxes[i]).1)
                .fold(0.0, f64::max);
            for &i in row {
                let (w, h) = svg_box_size(&self.boxes[i]);
                placed.insert(&self.boxes[i].id, (x, y, w, h));
                x += w + GAP_X;
            }
            y += height + GAP_Y;
        }
        let height = y - GAP_Y + MARGIN;
        (placed, width, height)
    }

    /// Writes the edges to `out` and returns how many detour lanes they took.
    fn svg_edges(&self, placed: &BTreeMap<&str, Placement>, out: &mut String) -> f64 {
        // Edges between neighbouring rows are straight; an edge that skips rows would cross the
        // boxes between, so it detours to the right of them.
        let layer_of: BTreeMap<&str, usize> = self
            .boxes
            .iter()
            .map(|b| (b.id.as_str(), b.layer))
            .collect();
        let mut detours = 0.0;
        for (from, to) in &self.edges {
            let (Some(a), Some(b)) = (placed.get(from.as_str()), placed.get(to.as_str())) else {
                continue;
            };
            let (x1, y1, x2, y2) = (a.0 + a.2 / 2.0, a.1 + a.3, b.0 + b.2 / 2.0, b.1);
            let (from_layer, to_layer) = (layer_of[from.as_str()], layer_of[to.as_str()]);
            if to_layer <= from_layer + 1 {
                let _ = writeln!(
                    out,
                    "  <line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"#555\" marker-end=\"url(#arrow)\"/>"
                );
                continue;
            }
            let right = self
                .boxes
                .iter()
                .filter(|m| m.layer > from_layer && m.layer < to_layer)
                .filter_map(|m| placed.get(m.id.as_str()))
                .map(|(x, _, w, _)| x + w)
                .fold(x1.max(x2), f64::max);
            detours += 1.0;
            let lane = right + 12.0 * detours;
            let _ = writeln!(
                out,
                "  <path d=\"M {x1:.1} {y1:.1} C {x1:.1} {:.1}, {lane:.1} {:.1}, {lane:.1} {:.1} S {x2:.1} {:.1}, {x2:.1} {y2:.1}\" fill=\"none\" stroke=\"#555\" marker-end=\"url(#arrow)\"/>",
                y1 + GAP_Y / 2.0,
                y1 + GAP_Y / 2.0,
                (y1 + y2) / 2.0,
                y2 - GAP_Y / 2.0,
            );
        }
        detours
    }
}

const CHAR_WIDTH: f64 = 7.2;
const LINE_HEIGHT: f64 = 16.0;
const PADDING: f64 = 10.0;
const GAP_X: f64 = 30.0;
const GAP_Y: f64 = 50.0;
const MARGIN: f64 = 20.0;

/// Where a box is drawn: x, y, width, height.
type Placement = (f64, f64, f64, f64);

/// Width and height of a box that fits its id, kind and notes.
fn svg_box_size(b: &NodeBox) -> (f64, f64) {
    let longest = std::iter::once(&b.id)
        .chain(std::iter::once(&b.kind))
        .chain(b.notes.iter())
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(1);
    let lines = 2 + b.notes.len();
    (
        longest as f64 * CHAR_WIDTH + 2.0 * PADDING,
        lines as f64 * LINE_HEIGHT + 2.0 * PADDING,
    )
}

/// The `<svg>` element's opening, the arrow marker and the white background.
fn svg_head(width: f64, height: f64) -> String {
    let mut head = String::new();
    let _ = writeln!(
        head,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">"
    );
    head.push_str(
        "  <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" \
         markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n",
    );
    head.push_str("  <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    head
}

/// One box with its id in bold, its kind and its notes.
fn svg_box(out: &mut String, b: &NodeBox, (x, y, w, h): Placement) {
    let (fill, radius) = if b.is_instance {
        ("#e8f0fe", 12)
    } else {
        ("#f7f7f7", 3)
    };
    let _ = writeln!(
        out,
        "  <g><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"{radius}\" fill=\"{fill}\" stroke=\"#333\"/>"
    );
    let mut line_y = y + PADDING + 12.0;
    let _ = writeln!(
        out,
        "    <text x=\"{:.1}\" y=\"{line_y:.1}\" font-weight=\"bold\">{}</text>",
        x + PADDING,
        xml_escape(&b.id)
    );
    line_y += LINE_HEIGHT;
    let _ = writeln!(
        out,
        "    <text x=\"{:.1}\" y=\"{line_y:.1}\" fill=\"#444\">{}</text>",
        x + PADDING,
        xml_escape(&b.kind)
    );
    for note in &b.notes {
        line_y += LINE_HEIGHT;
        let _ = writeln!(
            out,
            "    <text x=\"{:.1}\" y=\"{line_y:.1}\" fill=\"#6a4c93\" font-style=\"italic\">{}</text>",
            x + PADDING,
            xml_escape(note)
        );
    }
    out.push_str("  </g>\n");
}

fn mermaid_id(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn mermaid_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "#quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Drawing {
        Drawing {
            boxes: vec![
                NodeBox {
                    id: "config".into(),
                    kind: "v1 ConfigMap".into(),
                    notes: vec![],
                    layer: 0,
                    is_instance: false,
                },
                NodeBox {
                    id: "app".into(),
                    kind: "apps/v1 Deployment".into(),
                    notes: vec!["includeWhen: ${a < b && \"x\"}".into()],
                    layer: 1,
                    is_instance: false,
                },
                NodeBox {
                    id: "App".into(),
                    kind: "instance v1".into(),
                    notes: vec![],
                    layer: 2,
                    is_instance: true,
                },
            ],
            edges: vec![
                ("config".into(), "app".into()),
                ("app".into(), "App".into()),
            ],
        }
    }

    #[test]
    fn mermaid_lists_every_box_and_edge_escaped() {
        let text = sample().mermaid();
        assert!(text.starts_with("flowchart TD\n"));
        assert!(text.contains("config[\"<b>config</b><br/>v1 ConfigMap\"]"));
        assert!(text.contains("includeWhen: ${a &lt; b &amp;&amp; #quot;x#quot;}"));
        assert!(text.contains("App([\""));
        assert!(text.contains("    config --> app\n"));
        assert!(text.contains("    app --> App\n"));
    }

    #[test]
    fn dot_quotes_labels() {
        let text = sample().dot();
        assert!(text.contains(
            "\"app\" [label=\"app\\napps/v1 Deployment\\nincludeWhen: ${a < b && \\\"x\\\"}\"];"
        ));
        assert!(text.contains("\"config\" -> \"app\";"));
        assert!(text.trim_end().ends_with('}'));
    }

    #[test]
    fn svg_is_well_formed_and_places_layers_top_to_bottom() {
        let svg = sample().svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect x=").count(), 3);
        assert_eq!(svg.matches("<line ").count(), 2);
        assert!(svg.contains("&lt; b &amp;&amp; &quot;x&quot;"));
        let y_of = |id: &str| {
            let marker = format!("font-weight=\"bold\">{id}</text>");
            let at = svg.find(&marker).expect("label present");
            let start = svg[..at].rfind("y=\"").expect("y attribute") + 3;
            svg[start..]
                .split('"')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .expect("number")
        };
        assert!(y_of("config") < y_of("app"));
        assert!(y_of("app") < y_of("App"));
        // Same input, same bytes.
        assert_eq!(svg, sample().svg());
    }
}
