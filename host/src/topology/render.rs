//! Renders a [`Topology`] as text (like Kafka Streams' `Topology.describe()`),
//! JSON, Graphviz DOT or Mermaid. Output is deterministic (manifest order,
//! then name order) so it can be diffed and kept as golden files.

use super::{ProcessorNode, SubTopology, Topology};
use std::fmt::Write as _;

/// The formats `rill describe --format` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Indented text, like Kafka Streams' `Topology.describe()`.
    Text,
    /// The plan as a JSON object.
    Json,
    /// A Graphviz digraph (`dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart (renders in GitHub Markdown).
    Mermaid,
}

/// `topology` in `format`, ending with a newline.
pub fn render(topology: &Topology, format: Format) -> String {
    match format {
        Format::Text => text(topology),
        Format::Json => {
            let mut json = serde_json::to_string_pretty(topology).expect("a topology is plain data");
            json.push('\n');
            json
        }
        Format::Dot => dot(topology),
        Format::Mermaid => mermaid(topology),
    }
}

fn version(p: &ProcessorNode) -> String {
    match &p.hash {
        Some(hash) => format!("{}+{hash}", p.version),
        None => p.version.clone(),
    }
}

/// `/logs -> logs (append, max-size 64MiB, created if missing)`.
pub fn grant_line(grant: &super::GrantNode) -> String {
    let mut line = format!("{} -> {} ({}", grant.guest, grant.dir, grant.access);
    if let Some(bytes) = grant.max_size {
        let _ = write!(line, ", max-size {}", size(bytes));
    }
    if grant.create {
        line.push_str(", created if missing");
    }
    line.push(')');
    line
}

/// `bytes` in the largest binary unit that divides it.
fn size(bytes: u64) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

fn partitions(count: Option<i32>) -> String {
    count.map_or(String::new(), |n| format!(", {n} partitions"))
}

fn text(t: &Topology) -> String {
    let mut out = format!("Topologies (application {}):\n", t.application_id);
    for sub in &t.subtopologies {
        let _ = writeln!(out, "   Sub-topology: {}", sub.id);
        for source in &sub.sources {
            let _ = writeln!(
                out,
                "    Source: {} ({}{})",
                source.topic,
                source.kind,
                partitions(source.partitions)
            );
            let _ = writeln!(out, "      --> {}", source.to);
        }
        for p in &sub.processors {
            let _ = writeln!(out, "    Processor: {} ({})", p.name, version(p));
            let _ = writeln!(out, "      manifest: {}", p.manifest);
            for store in &p.stores {
                let _ = writeln!(out, "      store: {} (changelog {})", store.name, store.changelog);
            }
            for table in &p.global_tables {
                let _ = writeln!(out, "      global table: {table}");
            }
            for j in &p.joins {
                let _ = writeln!(
                    out,
                    "      join: {} ({} join of {} with {}, {} ms before to {} ms after, grace {} ms; buffers {} and {})",
                    j.name, j.kind, j.left, j.right, j.before_ms, j.after_ms, j.grace_ms, j.stores[0], j.stores[1]
                );
            }
            for j in &p.fk_joins {
                let _ = writeln!(
                    out,
                    "      foreign-key join: {} ({} join of table {} with table {} on `{}`; subscriptions {} in store {}, responses {})",
                    j.name, j.kind, j.left, j.right, j.foreign_key, j.subscription_topic, j.store, j.response_topic
                );
            }
            for grant in &p.grants {
                let _ = writeln!(out, "      grant: {}", grant_line(grant));
            }
            for r in &p.routed {
                let _ = writeln!(
                    out,
                    "      output {}: topic per record matching {} ({})",
                    r.name,
                    r.topic_pattern,
                    if r.create {
                        "created when missing"
                    } else {
                        "never created"
                    }
                );
            }
            let mut next: Vec<&str> = p.downstream.iter().map(|e| e.to.as_str()).collect();
            next.extend(
                sub.sinks
                    .iter()
                    .filter(|s| writer(s).0 == p.name)
                    .map(|s| s.topic.as_str()),
            );
            next.extend(p.routed.iter().map(|r| r.topic_pattern.as_str()));
            let _ = writeln!(out, "      --> {}", next.join(", "));
            let mut previous = sources_of(sub, &p.name);
            previous.extend(p.upstream.iter().map(String::as_str));
            let _ = writeln!(out, "      <-- {}", previous.join(", "));
        }
        for sink in &sub.sinks {
            let (processor, what) = writer(sink);
            let _ = writeln!(
                out,
                "    Sink: {} ({what} of {processor}{})",
                sink.topic,
                partitions(sink.partitions)
            );
            let _ = writeln!(out, "      <-- {processor}");
        }
        out.push('\n');
    }
    if !t.global_tables.is_empty() {
        out.push_str("   Global tables:\n");
        for table in &t.global_tables {
            let _ = writeln!(
                out,
                "    {}{} (read by {})",
                table.topic,
                partitions(table.partitions),
                table.readers.join(", ")
            );
        }
    }
    if !t.interceptors.is_empty() {
        out.push_str("   Interceptors (in call order):\n");
        for i in &t.interceptors {
            let _ = writeln!(out, "    {} ({}): {}", i.name, i.version, i.events.join(", "));
            let _ = writeln!(out, "      manifest: {}", i.manifest);
            let _ = writeln!(out, "      covers: {}", i.processors.join(", "));
        }
    }
    out
}

/// The processor writing `sink` and what it writes there.
fn writer(sink: &super::Sink) -> (&str, String) {
    let (processor, part) = sink.from.split_once('.').unwrap_or((&sink.from, ""));
    let what = match sink.kind {
        "dead-letter" => "dead letters".to_string(),
        "changelog" => format!("{part} changelog"),
        _ => part.to_string(),
    };
    (processor, what)
}

fn sources_of<'a>(sub: &'a SubTopology, processor: &str) -> Vec<&'a str> {
    sub.sources
        .iter()
        .filter(|s| s.to == processor)
        .map(|s| s.topic.as_str())
        .collect()
}

/// A DOT or Mermaid identifier for a node: letters and digits kept, every
/// other character written as `_xx` (its hex code), so distinct names
/// (`order_count`, `order.count`) never share an identifier.
fn id(kind: &str, name: &str) -> String {
    let mut out = format!("{kind}_");
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            let _ = write!(out, "_{:x}", c as u32);
        }
    }
    out
}

fn dot(t: &Topology) -> String {
    let mut out = format!(
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n",
        t.application_id
    );
    let mut topics: Vec<(&str, &str)> = Vec::new();
    for sub in &t.subtopologies {
        let _ = writeln!(
            out,
            "  subgraph cluster_{} {{\n    label=\"sub-topology {}\";",
            sub.id, sub.id
        );
        for p in &sub.processors {
            let _ = writeln!(
                out,
                "    {} [shape=box, label=\"{}\\n{}\"];",
                id("p", &p.name),
                p.name,
                version(p)
            );
        }
        out.push_str("  }\n");
        for source in &sub.sources {
            topics.push((&source.topic, "ellipse"));
            let style = if source.kind == "table" { " [style=dashed]" } else { "" };
            let _ = writeln!(out, "  {} -> {}{style};", id("t", &source.topic), id("p", &source.to));
        }
        for p in &sub.processors {
            for r in &p.routed {
                let _ = writeln!(
                    out,
                    "  {} -> {} [label=\"{} (per record)\"];\n  {} [shape=ellipse, style=dashed, label=\"{}\"];",
                    id("p", &p.name),
                    id("r", &r.topic_pattern),
                    r.name,
                    id("r", &r.topic_pattern),
                    r.topic_pattern.replace('\\', "\\\\")
                );
            }
        }
        for sink in &sub.sinks {
            topics.push((&sink.topic, if sink.kind == "output" { "ellipse" } else { "note" }));
            let (processor, label) = writer(sink);
            let _ = writeln!(
                out,
                "  {} -> {} [label=\"{label}\"];",
                id("p", processor),
                id("t", &sink.topic)
            );
        }
    }
    for table in &t.global_tables {
        topics.push((&table.topic, "cylinder"));
        for reader in &table.readers {
            let _ = writeln!(
                out,
                "  {} -> {} [style=dotted];",
                id("t", &table.topic),
                id("p", reader)
            );
        }
    }
    topics.sort();
    topics.dedup_by(|a, b| a.0 == b.0);
    for (topic, shape) in topics {
        let _ = writeln!(out, "  {} [shape={shape}, label=\"{topic}\"];", id("t", topic));
    }
    out.push_str("}\n");
    out
}

fn mermaid(t: &Topology) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut topics: Vec<&str> = Vec::new();
    for sub in &t.subtopologies {
        let _ = writeln!(out, "  subgraph s{}[\"sub-topology {}\"]", sub.id, sub.id);
        for p in &sub.processors {
            let _ = writeln!(out, "    {}[\"{}<br/>{}\"]", id("p", &p.name), p.name, version(p));
        }
        out.push_str("  end\n");
        for p in &sub.processors {
            for r in &p.routed {
                let _ = writeln!(
                    out,
                    "  {} -.->|\"{} (per record)\"| {}[/\"{}\"/]",
                    id("p", &p.name),
                    r.name,
                    id("r", &r.topic_pattern),
                    r.topic_pattern
                );
            }
            for edge in &p.downstream {
                let _ = writeln!(
                    out,
                    "  {} ==>|\"{}\"| {}",
                    id("p", &p.name),
                    edge.output,
                    id("p", &edge.to)
                );
            }
        }
        for source in &sub.sources {
            topics.push(&source.topic);
            let arrow = if source.kind == "table" { "-.->" } else { "-->" };
            let _ = writeln!(out, "  {} {arrow} {}", id("t", &source.topic), id("p", &source.to));
        }
        for sink in &sub.sinks {
            topics.push(&sink.topic);
            let (processor, label) = writer(sink);
            let _ = writeln!(
                out,
                "  {} -->|\"{label}\"| {}",
                id("p", processor),
                id("t", &sink.topic)
            );
        }
    }
    for table in &t.global_tables {
        topics.push(&table.topic);
        for reader in &table.readers {
            let _ = writeln!(out, "  {} -.-> {}", id("t", &table.topic), id("p", reader));
        }
    }
    topics.sort_unstable();
    topics.dedup();
    for topic in topics {
        let _ = writeln!(out, "  {}[(\"{topic}\")]", id("t", topic));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use std::path::Path;
    use std::sync::Arc;

    /// The sample manifests, with paths relative to the workspace (and, as
    /// planned, no component hash), so the output does not depend on the
    /// checkout.
    fn plan(app: &str, manifests: &[&str]) -> Topology {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let loaded: Vec<Arc<Manifest>> = manifests
            .iter()
            .map(|m| {
                let mut manifest = Manifest::load(&root.join(m)).unwrap();
                manifest.path = m.into();
                Arc::new(manifest)
            })
            .collect();
        Topology::plan(app, &loaded)
    }

    /// Compares with `host/tests/describe/<name>`; `RILL_BLESS=1` rewrites it.
    fn golden(name: &str, got: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/describe").join(name);
        if std::env::var_os("RILL_BLESS").is_some() {
            std::fs::write(&path, got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(got, want, "{} differs (RILL_BLESS=1 rewrites it)", path.display());
    }

    #[test]
    fn the_metrics_pipeline_in_every_format() {
        let t = plan(
            "metrics",
            &["plugins/metric-branch/plugin.toml", "plugins/cpu-alert/plugin.toml"],
        );
        let partitions = [("metric.all", 3), ("metric.cpu", 3)]
            .map(|(t, n)| (t.to_string(), n))
            .into();
        let t = t.with_partitions(&partitions);
        golden("metrics.txt", &render(&t, Format::Text));
        golden("metrics.json", &render(&t, Format::Json));
        golden("metrics.dot", &render(&t, Format::Dot));
        golden("metrics.mmd", &render(&t, Format::Mermaid));
    }

    #[test]
    fn a_table_input_and_a_store() {
        let t = plan("orders", &["plugins/order-join/plugin.toml"]);
        golden("join.txt", &render(&t, Format::Text));
        golden("join.mmd", &render(&t, Format::Mermaid));
        let t = plan("orders", &["plugins/order-count/plugin.toml"]);
        golden("count.txt", &render(&t, Format::Text));
        golden("count.dot", &render(&t, Format::Dot));
    }

    #[test]
    fn a_stream_stream_join_shows_its_window_and_buffers() {
        let t = plan("orders", &["plugins/order-payment-join/plugin.toml"]);
        golden("stream-join.txt", &render(&t, Format::Text));
        golden("stream-join.json", &render(&t, Format::Json));
    }

    #[test]
    fn a_foreign_key_join_shows_its_internal_topics_and_store() {
        let t = plan("shop", &["plugins/order-customer-join/plugin.toml"]);
        golden("fk-join.txt", &render(&t, Format::Text));
        golden("fk-join.json", &render(&t, Format::Json));
    }

    #[test]
    fn the_metrics_application_in_every_format() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut app = crate::app::App::load(&root.join("apps/metrics.toml")).unwrap();
        for p in &mut app.processors {
            let m = Arc::make_mut(p);
            m.path = m.path.strip_prefix(root).unwrap_or(&m.path).to_path_buf();
        }
        let t = Topology::plan_app("metrics", &app);
        golden("app-metrics.txt", &render(&t, Format::Text));
        golden("app-metrics.json", &render(&t, Format::Json));
        golden("app-metrics.dot", &render(&t, Format::Dot));
        golden("app-metrics.mmd", &render(&t, Format::Mermaid));
    }

    #[test]
    fn a_topic_per_record_output_shows_its_pattern() {
        let t = plan("route", &["plugins/metric-route/plugin.toml"]);
        let text = render(&t, Format::Text);
        assert!(
            text.contains(r"--> metric.all.route-dlq, metric\.by-name\.[a-z0-9-]+"),
            "{text}"
        );
        golden("route.txt", &text);
        golden("route.json", &render(&t, Format::Json));
        golden("route.dot", &render(&t, Format::Dot));
        golden("route.mmd", &render(&t, Format::Mermaid));
    }

    #[test]
    fn the_intercepted_metrics_application_lists_its_interceptors_in_call_order() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut app = crate::app::App::load(&root.join("apps/metrics-intercepted.toml")).unwrap();
        for p in &mut app.processors {
            let m = Arc::make_mut(p);
            m.path = m.path.strip_prefix(root).unwrap_or(&m.path).to_path_buf();
        }
        for i in &mut app.interceptors {
            let m = Arc::make_mut(&mut i.manifest);
            m.path = m.path.strip_prefix(root).unwrap_or(&m.path).to_path_buf();
        }
        let t = Topology::plan_app("metrics", &app);
        golden("app-metrics-intercepted.txt", &render(&t, Format::Text));
        golden("app-metrics-intercepted.json", &render(&t, Format::Json));
    }

    #[test]
    fn node_ids_never_collide() {
        assert_ne!(id("t", "order_count"), id("t", "order.count"));
        assert_eq!(id("t", "metric.cpu"), "t_metric_2ecpu");
    }

    #[test]
    fn a_global_table() {
        let t = plan("orders", &["plugins/order-join/global.toml"]);
        golden("global.txt", &render(&t, Format::Text));
        golden("global.json", &render(&t, Format::Json));
    }
}
