//! `rill upgrade-check OLD NEW`: every difference between two versions of
//! an application that matters to it while it runs, and for each whether
//! it is safe, needs a state migration, or breaks state, and why (issue
//! 27). Pure: compares two loaded applications and their plans, reads no
//! broker and no component.
//!
//! What decides a verdict is where state lives: stores are named
//! `<application-id>-<store>-changelog` whatever processor owns them (so a
//! renamed processor keeps its state, unlike Kafka Streams' generated
//! names), windowed stores and join buffers are laid out by their window,
//! foreign-key subscriptions by the key they were made for, and records in
//! a repartition topic are read only by the connection that names it.

use crate::app::App;
use crate::manifest::{Manifest, WindowAggregate, WindowSpec};
use crate::topology::Topology;
use std::fmt;

/// How a difference affects a running application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Nothing stored or in flight is lost or misread.
    Safe,
    /// The state is kept only if a migration rewrites it.
    NeedsMigration,
    /// State or records in flight are lost or misread.
    Breaks,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Safe => "safe",
            Verdict::NeedsMigration => "needs migration",
            Verdict::Breaks => "breaks state",
        })
    }
}

/// One difference and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Safe, needs a migration, or breaks.
    pub verdict: Verdict,
    /// What changed (`store counts of order-count: removed`).
    pub what: String,
    /// Why the verdict, and what to do about it.
    pub why: String,
}

/// Every difference between `old` and `new` run as `application_id`,
/// breaking ones first, then in the order found.
pub fn compare(application_id: &str, old: &App, new: &App) -> Vec<Change> {
    let (old_plan, new_plan) = (
        Topology::plan_app(application_id, old),
        Topology::plan_app(application_id, new),
    );
    let mut changes = Vec::new();
    let mut add = |verdict: Verdict, what: String, why: String| changes.push(Change { verdict, what, why });
    let changelog = |store: &str| Manifest::changelog_topic(application_id, store);

    // Processors, matched by name; a removed and an added one holding the
    // same stores is a rename.
    let find = |app: &App, name: &str| app.processors.iter().find(|m| m.name == name).cloned();
    for o in &old.processors {
        let Some(n) = find(new, &o.name) else {
            let stores: Vec<&str> = o.all_stores().collect();
            let heir = new.processors.iter().find(|n| {
                find(old, &n.name).is_none()
                    && !stores.is_empty()
                    && stores.iter().all(|s| n.all_stores().any(|t| t == *s))
            });
            match heir {
                Some(heir) => {
                    add(
                        Verdict::Safe,
                        format!("processor {} renamed to {}", o.name, heir.name),
                        format!(
                            "its stores keep their changelogs (named by application and store, not processor): {}; its tasks restore them once",
                            stores.iter().map(|s| changelog(s)).collect::<Vec<_>>().join(", ")
                        ),
                    );
                    // What else the renamed processor changes.
                    let mut renamed = (**heir).clone();
                    renamed.name = o.name.clone();
                    compare_processor(o, &renamed, &changelog, &mut add);
                }
                None if stores.is_empty() => add(
                    Verdict::Safe,
                    format!("processor {} removed", o.name),
                    "it keeps no state; records of its inputs after the last commit are not processed".into(),
                ),
                None => add(
                    Verdict::Breaks,
                    format!("processor {} removed", o.name),
                    format!(
                        "its stores {} and their changelogs would be abandoned; keep a processor declaring them",
                        stores.join(", ")
                    ),
                ),
            }
            continue;
        };
        compare_processor(o, &n, &changelog, &mut add);
    }
    for n in &new.processors {
        let renamed = old.processors.iter().any(|o| {
            find(new, &o.name).is_none()
                && o.all_stores().next().is_some()
                && o.all_stores().all(|s| n.all_stores().any(|t| t == s))
        });
        if find(old, &n.name).is_none() && !renamed {
            add(
                Verdict::Safe,
                format!("processor {} added", n.name),
                "its tasks start with empty stores and read its inputs from the group's committed offsets (or the reset policy)".into(),
            );
        }
    }

    // Repartition topics: records in one the new version no longer reads
    // are never processed.
    let repartitions = |t: &Topology| -> Vec<String> {
        t.subtopologies
            .iter()
            .flat_map(|s| &s.sinks)
            .filter(|s| s.kind == "repartition")
            .map(|s| s.topic.clone())
            .collect()
    };
    let (old_rep, new_rep) = (repartitions(&old_plan), repartitions(&new_plan));
    for topic in old_rep.iter().filter(|t| !new_rep.contains(t)) {
        add(
            Verdict::Breaks,
            format!("repartition topic {topic} no longer read"),
            "records still in it are never processed: drain it first (stop the producers upstream and let the application catch up)".into(),
        );
    }
    for topic in new_rep.iter().filter(|t| !old_rep.contains(t)) {
        add(
            Verdict::Safe,
            format!("repartition topic {topic} added"),
            "created at start; the connection re-keys from the commit on".into(),
        );
    }

    // Co-partitioning: which topics share tasks.
    let groups = |t: &Topology| -> Vec<Vec<String>> {
        t.subtopologies
            .iter()
            .map(|s| {
                let mut topics: Vec<String> = s.sources.iter().map(|s| s.topic.clone()).collect();
                topics.sort();
                topics
            })
            .collect()
    };
    let (old_groups, new_groups) = (groups(&old_plan), groups(&new_plan));
    for g in new_groups.iter().filter(|g| g.len() > 1 && !old_groups.contains(g)) {
        let before: Vec<&Vec<String>> = old_groups.iter().filter(|o| o.iter().any(|t| g.contains(t))).collect();
        if before.len() > 1 {
            add(
                Verdict::Safe,
                format!("topics {} now share tasks", g.join(", ")),
                "they must have equal partition counts (checked at start); task state is rebuilt from changelogs"
                    .into(),
            );
        }
    }
    changes.sort_by(|a, b| b.verdict.cmp(&a.verdict));
    changes
}

/// One processor's differences.
fn compare_processor(
    o: &Manifest,
    n: &Manifest,
    changelog: &dyn Fn(&str) -> String,
    add: &mut dyn FnMut(Verdict, String, String),
) {
    let p = &o.name;
    if o.version != n.version {
        add(
            Verdict::Safe,
            format!("processor {p}: version {} -> {}", o.version, n.version),
            "a new build of the same processor".into(),
        );
    }
    // Key-value stores.
    for s in o.stores.iter().filter(|s| !n.stores.contains(s)) {
        let verdict = if n.window(s).is_some() {
            "is now a windowed store"
        } else {
            "removed"
        };
        add(
            Verdict::Breaks,
            format!("store {s} of {p}: {verdict}"),
            format!(
                "its contents and its changelog {} would be abandoned or misread",
                changelog(s)
            ),
        );
    }
    for s in n
        .stores
        .iter()
        .filter(|s| !o.stores.contains(s) && o.window(s).is_none())
    {
        add(
            Verdict::Safe,
            format!("store {s} of {p}: added"),
            format!("starts empty; its changelog {} is created at start", changelog(s)),
        );
    }
    // Windowed stores.
    for ow in &o.windows {
        match n.window(&ow.name) {
            None if n.stores.contains(&ow.name) => add(
                Verdict::Breaks,
                format!("windowed store {} of {p}: now a key-value store", ow.name),
                "its windows would be read as values".into(),
            ),
            None => add(
                Verdict::Breaks,
                format!("windowed store {} of {p}: removed", ow.name),
                format!(
                    "its open windows and its changelog {} would be abandoned",
                    changelog(&ow.name)
                ),
            ),
            Some(nw) => compare_window(p, ow, nw, add),
        }
    }
    for nw in n
        .windows
        .iter()
        .filter(|w| o.window(&w.name).is_none() && !o.stores.contains(&w.name))
    {
        add(
            Verdict::Safe,
            format!("windowed store {} of {p}: added", nw.name),
            "its windows start with the records after the upgrade".into(),
        );
    }
    // Stream-stream joins.
    for oj in &o.joins {
        match n.joins.iter().find(|j| j.name == oj.name) {
            None => add(
                Verdict::Breaks,
                format!("join {} of {p}: removed", oj.name),
                format!(
                    "the records its buffers {} hold would never be joined",
                    oj.stores.join(" and ")
                ),
            ),
            Some(nj) if (nj.left.as_str(), nj.right.as_str()) != (oj.left.as_str(), oj.right.as_str()) => add(
                Verdict::Breaks,
                format!("join {} of {p}: joins other topics", oj.name),
                "the buffered records belong to the old topics".into(),
            ),
            Some(nj) if nj.window != oj.window => add(
                Verdict::Safe,
                format!("join {} of {p}: window or kind changed", oj.name),
                "records buffered before the upgrade match and close by the new window".into(),
            ),
            Some(_) => {}
        }
    }
    // Foreign-key joins.
    for oj in &o.fk_joins {
        match n.fk_joins.iter().find(|j| j.name == oj.name) {
            None => add(
                Verdict::Breaks,
                format!("foreign-key join {} of {p}: removed", oj.name),
                format!(
                    "its subscriptions (store {}) and its internal topics would be abandoned",
                    oj.store
                ),
            ),
            Some(nj) if nj.left != oj.left || nj.right != oj.right || nj.foreign_key != oj.foreign_key => add(
                Verdict::Breaks,
                format!("foreign-key join {} of {p}: other tables or foreign key", oj.name),
                "its subscriptions were made for the old key: results would stay stale until every left row is updated"
                    .into(),
            ),
            Some(nj) if nj.kind != oj.kind => add(
                Verdict::Safe,
                format!("foreign-key join {} of {p}: kind changed", oj.name),
                "results follow the new kind from the next update of each row".into(),
            ),
            Some(_) => {}
        }
    }
    // Inputs and outputs.
    for i in o.inputs.iter().filter(|i| !n.inputs.iter().any(|j| j.topic == i.topic)) {
        add(
            Verdict::Safe,
            format!("input {} of {p}: removed", i.topic),
            "its records after the last commit are not processed".into(),
        );
    }
    for i in &n.inputs {
        match o.inputs.iter().find(|j| j.topic == i.topic) {
            None => add(
                Verdict::Safe,
                format!("input {} of {p}: added ({:?})", i.topic, i.kind),
                "read from the group's committed offset or the reset policy; a table is bootstrapped from its topic"
                    .into(),
            ),
            Some(j) if j.kind != i.kind => add(
                Verdict::Safe,
                format!("input {} of {p}: {:?} -> {:?}", i.topic, j.kind, i.kind),
                "its records are read the new way from the last commit on".into(),
            ),
            Some(_) => {}
        }
    }
    for (name, spec) in n.outputs.iter().filter(|(name, _)| !o.outputs.contains_key(*name)) {
        add(
            Verdict::Safe,
            format!("output {name} of {p}: added ({})", spec.topic),
            "created at start if missing".into(),
        );
    }
    for (name, spec) in &o.outputs {
        match n.outputs.get(name) {
            None => add(
                Verdict::Safe,
                format!("output {name} of {p}: removed"),
                format!("{} gets no more records from it", spec.topic),
            ),
            Some(ns) if ns.topic != spec.topic => add(
                Verdict::Safe,
                format!("output {name} of {p}: topic {} -> {}", spec.topic, ns.topic),
                format!("readers of {} get no more records from it", spec.topic),
            ),
            Some(_) => {}
        }
    }
    if o.dead_letter.topic != n.dead_letter.topic {
        add(
            Verdict::Safe,
            format!(
                "dead-letter topic of {p}: {} -> {}",
                o.dead_letter.topic, n.dead_letter.topic
            ),
            "earlier dead letters stay in the old topic".into(),
        );
    }
    let (ow, nw) = (world_needed(o), world_needed(n));
    if nw > ow {
        add(
            Verdict::Safe,
            format!("WIT world of {p}: needs {nw} (was {ow})"),
            "build the new component against it; rill run refuses an older one with the manifest's reason".into(),
        );
    }
}

/// A windowed store's differences: its layout is its window's.
fn compare_window(p: &str, o: &WindowSpec, n: &WindowSpec, add: &mut dyn FnMut(Verdict, String, String)) {
    let name = &o.name;
    if o.kind != n.kind {
        add(
            Verdict::Breaks,
            format!("windowed store {name} of {p}: window {} -> {}", window(&o.kind), window(&n.kind)),
            "open windows were cut by the old window and cannot be re-bucketed; use a new store name (the old one's windows close unread)".into(),
        );
    }
    if o.aggregate != n.aggregate {
        let counted = |a: &WindowAggregate| matches!(a, WindowAggregate::Count);
        add(
            Verdict::NeedsMigration,
            format!(
                "windowed store {name} of {p}: aggregate {} -> {}",
                if counted(&o.aggregate) { "count" } else { "plugin" },
                if counted(&n.aggregate) { "count" } else { "plugin" }
            ),
            "open windows hold the old aggregate's values: migrate them, or use a new store name".into(),
        );
    }
    if (o.grace, o.retention) != (n.grace, n.retention) {
        add(
            Verdict::Safe,
            format!("windowed store {name} of {p}: grace or retention changed"),
            "windows already closed stay closed; open ones close by the new grace".into(),
        );
    }
    if (o.emit, o.late) != (n.emit, n.late) {
        add(
            Verdict::Safe,
            format!("windowed store {name} of {p}: emit or late handling changed"),
            "applies to results from the upgrade on".into(),
        );
    }
}

/// A window as a manifest writes it (`tumbling 10m`).
fn window(kind: &rill_sdk::time::WindowKind) -> String {
    use rill_sdk::time::WindowKind;
    let d = |ms: i64| humantime::format_duration(std::time::Duration::from_millis(ms.max(0) as u64)).to_string();
    match *kind {
        WindowKind::Tumbling { size } => format!("tumbling {}", d(size)),
        WindowKind::Hopping { size, advance } => format!("hopping {} every {}", d(size), d(advance)),
        WindowKind::Session { gap } => format!("session gap {}", d(gap)),
        WindowKind::Sliding { time_difference } => format!("sliding {}", d(time_difference)),
    }
}

/// The oldest world a component for `m` can be built against.
fn world_needed(m: &Manifest) -> &'static str {
    if m.uses_joins() {
        "rill:processor@0.4.0"
    } else if !m.fields.is_empty() {
        "rill:processor@0.3.0"
    } else if m.uses_time() {
        "rill:processor@0.2.0"
    } else {
        "rill:processor@0.1.0"
    }
}

/// What breaks state or needs a migration when processor `old` becomes
/// `new` (a hot swap's refusal says it in `rill upgrade-check`'s words).
pub fn breaking(application_id: &str, old: &Manifest, new: &Manifest) -> Vec<Change> {
    let app = |m: &Manifest| App {
        path: m.path.clone(),
        processors: vec![std::sync::Arc::new(m.clone())],
        connections: Vec::new(),
        interceptors: Vec::new(),
    };
    compare(application_id, &app(old), &app(new))
        .into_iter()
        .filter(|c| c.verdict > Verdict::Safe)
        .collect()
}

/// The report `rill upgrade-check` prints: one line per difference, then
/// the verdict of the whole upgrade.
pub fn report(old: &str, new: &str, application_id: &str, changes: &[Change]) -> String {
    use std::fmt::Write as _;
    let mut out = format!("upgrade {old} -> {new} (application {application_id})\n");
    if changes.is_empty() {
        out.push_str("  no differences that matter to a running application\n");
    }
    for c in changes {
        let _ = writeln!(
            out,
            "  {:<15} {}\n                  {}",
            c.verdict.to_string(),
            c.what,
            c.why
        );
    }
    let worst = changes.iter().map(|c| c.verdict).max().unwrap_or(Verdict::Safe);
    let count = |v| changes.iter().filter(|c| c.verdict == v).count();
    let _ = writeln!(
        out,
        "verdict: {worst} ({} safe, {} needing a migration, {} breaking state)",
        count(Verdict::Safe),
        count(Verdict::NeedsMigration),
        count(Verdict::Breaks)
    );
    out
}

#[cfg(test)]
mod tests;
