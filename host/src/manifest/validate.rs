//! Semantic checks on a parsed manifest: names, topics, and how they relate.
//!
//! Every check runs, so one pass names every problem of the file. A fix that
//! proposes a value (a name, a topic, a duration, a window kind) computes it
//! with the rule that refused the old value, so following it never trades
//! one refusal for another.

use super::raw::{RawInput, RawLimits, RawManifest, RawOutput, RawTimer, RawTopic, RawWindow};
use super::{
    FieldSpec, Input, InputKind, InputValue, Limits, Manifest, ManifestErrors, RoutedSpec, TimerSpec, TopicPattern,
    TopicSpec, WindowShape, WindowSpec,
};
use rill_sdk::time::WindowKind;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::problems::{Problems, Refusal, is_store_name, millis, parse_bytes};

/// Turns a raw manifest into a [`Manifest`], or names every problem.
pub(super) fn validate(path: &Path, raw: RawManifest) -> Result<Manifest, ManifestErrors> {
    let mut problems = Problems {
        file: path,
        found: Vec::new(),
    };
    let p = &mut problems;
    check_identity(p, &raw.name, &raw.version, &raw.component);
    let inputs = check_inputs(p, raw.inputs);
    let (outputs, routed) = check_outputs(p, raw.outputs, &inputs);
    let dead_letter = topic_spec(p, "dead-letter", raw.dead_letter, &inputs);
    if let Some((name, _)) = outputs.iter().find(|(_, o)| o.topic == dead_letter.topic) {
        let fix = match free_dead_letter(&raw.name, &inputs, &outputs) {
            Some(topic) => format!("give failed records a topic of their own, e.g. \"{topic}\""),
            None => "give failed records a topic of their own, e.g. \"<input>.dlq\"".into(),
        };
        p.add(
            "dead-letter",
            (format!("topic \"{}\" is also output `{name}`", dead_letter.topic), fix),
        );
    }
    if let Some((name, _)) = routed.iter().find(|(_, r)| r.pattern.matches(&dead_letter.topic)) {
        p.add(
            &format!("outputs.{name}.topic-pattern"),
            (
                format!("matches the dead-letter topic \"{}\"", dead_letter.topic),
                "narrow the pattern so failed records keep a topic of their own".into(),
            ),
        );
    }
    let stores = check_stores(p, raw.stores);
    // As written, so a window refused for its times is not also called undeclared.
    let window_names: Vec<String> = raw.windows.keys().cloned().collect();
    let windows: Vec<WindowSpec> = raw
        .windows
        .into_iter()
        .filter_map(|(name, raw_window)| check_window(p, name, raw_window, &outputs, &routed, &stores))
        .collect();
    let (keyed, windowed): (BTreeMap<_, _>, BTreeMap<_, _>) =
        raw.joins.into_iter().partition(|(_, j)| j.foreign_key.is_some());
    check_driven(p, &inputs, keyed.len());
    let joins = super::joins::check_joins(p, windowed, &inputs, &outputs, &routed, &stores, &windows);
    let taken: Vec<&str> = stores
        .iter()
        .map(String::as_str)
        .chain(windows.iter().map(|w| w.name.as_str()))
        .chain(joins.iter().flat_map(|j| j.stores.iter().map(String::as_str)))
        .chain(joins.iter().map(|j| j.name.as_str()))
        .collect();
    let joined: Vec<&str> = joins.iter().flat_map(|j| [j.left.as_str(), j.right.as_str()]).collect();
    let fk_joins = super::fk_joins::check_fk_joins(p, keyed, &inputs, &outputs, &routed, &taken, &joined);
    let store_codecs = super::codecs::check_store_codecs(p, raw.store_codecs, &stores, &window_names);
    let timers = check_timers(p, raw.timers);
    let base = path.parent().unwrap_or(Path::new("."));
    let interceptors = raw
        .interceptors
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            if r.manifest.trim().is_empty() {
                p.add(
                    &format!("interceptors[{i}].manifest"),
                    (
                        "is empty".into(),
                        "name the interceptor's plugin.toml, relative to this manifest".into(),
                    ),
                );
                return None;
            }
            Some(base.join(&r.manifest))
        })
        .collect();
    let idle_advance = raw
        .idle_advance
        .and_then(|text| p.take("idle-advance", millis(&text)))
        .map(|ms| Duration::from_millis(ms.max(1) as u64));
    let limits = check_limits(p, raw.limits);
    let fields = check_fields(p, raw.fields, &raw.fields_order);
    let input_value = check_input_value(p, raw.input_value.as_deref(), !fields.is_empty());
    let grants = super::grants::check_grants(p, raw.grants);

    if let Some(errors) = ManifestErrors::gather(problems.found) {
        return Err(errors);
    }
    Ok(Manifest {
        path: path.to_path_buf(),
        name: raw.name,
        version: raw.version,
        description: raw.description,
        component: base.join(&raw.component),
        inputs,
        outputs,
        routed,
        dead_letter,
        limits,
        stores,
        windows,
        store_codecs,
        joins,
        fk_joins,
        timers,
        interceptors,
        idle_advance,
        config: toml_to_json(toml::Value::Table(raw.config)),
        fields,
        input_value,
        grants,
    })
}

/// `name`, `version` and `component`, which every kind of manifest has.
pub(super) fn check_identity(p: &mut Problems, name: &str, version: &str, component: &str) {
    p.take("name", check_name(name));
    p.take("version", check_version(version));
    if component.trim().is_empty() {
        p.add(
            "component",
            (
                "is empty".into(),
                "name the .wasm component file, relative to this manifest".into(),
            ),
        );
    }
}

/// `[fields]`: each `name = "path"` or `name = { path = "...", as = "raw" }`,
/// in the file's order.
fn check_fields(p: &mut Problems, mut raw: toml::Table, order: &[String]) -> Vec<FieldSpec> {
    let mut fields = Vec::with_capacity(raw.len());
    let names = order
        .iter()
        .cloned()
        .chain(raw.keys().filter(|k| !order.contains(k)).cloned().collect::<Vec<_>>());
    for name in names {
        let Some(value) = raw.remove(&name) else { continue };
        let field = format!("fields.{name}");
        if !is_field_name(&name) {
            p.add(
                &field,
                (
                    format!("\"{name}\" is not a usable field name"),
                    "start with a letter or '_' and use letters, digits and '_' (SDKs expose it as an attribute)"
                        .into(),
                ),
            );
            continue;
        }
        let (path, raw_as) = match value {
            toml::Value::String(path) => (path, false),
            toml::Value::Table(mut table) => {
                let path = match table.remove("path") {
                    Some(toml::Value::String(path)) => path,
                    _ => {
                        p.add(
                            &format!("{field}.path"),
                            (
                                "missing, or not a string".into(),
                                format!("write {name} = {{ path = \"a.b\", as = \"raw\" }}"),
                            ),
                        );
                        continue;
                    }
                };
                let raw_as = match table.remove("as") {
                    None => false,
                    Some(toml::Value::String(a)) if a == "value" => false,
                    Some(toml::Value::String(a)) if a == "raw" => true,
                    Some(other) => {
                        p.add(
                            &format!("{field}.as"),
                            (
                                format!("{other} is not a way to pass a field"),
                                "write as = \"raw\" (the JSON text) or as = \"value\" (typed; the default)".into(),
                            ),
                        );
                        continue;
                    }
                };
                if let Some(key) = table.keys().next() {
                    p.add(
                        &format!("{field}.{key}"),
                        (
                            "is not a field setting".into(),
                            "a field has only `path` and `as`".into(),
                        ),
                    );
                    continue;
                }
                (path, raw_as)
            }
            other => {
                p.add(
                    &field,
                    (
                        format!("{other} is not a path"),
                        format!(
                            "write {name} = \"a.b.c\" (a dotted path into the value, or a JSON Pointer \"/a.b/c\")"
                        ),
                    ),
                );
                continue;
            }
        };
        match crate::fields::FieldPath::parse(&path) {
            Ok(path) => fields.push(FieldSpec {
                name,
                path,
                raw: raw_as,
            }),
            Err(error) => p.add(
                &field,
                (
                    format!("path \"{path}\": {error}"),
                    "write a dotted path such as \"system.cpu.total\"".into(),
                ),
            ),
        }
    }
    fields
}

fn is_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `input-value`: "bytes" or "omitted" (the default), with `[fields]` only.
fn check_input_value(p: &mut Problems, raw: Option<&str>, has_fields: bool) -> InputValue {
    let value = match raw {
        None | Some("omitted") => InputValue::Omitted,
        Some("bytes") => InputValue::Bytes,
        Some(other) => {
            p.add(
                "input-value",
                (
                    format!("\"{other}\" is not a choice"),
                    "write input-value = \"bytes\" (the value goes into the plugin with its fields) or leave it out"
                        .into(),
                ),
            );
            return InputValue::Omitted;
        }
    };
    if raw.is_some() && !has_fields {
        p.add(
            "input-value",
            (
                "only applies with [fields]; without them the plugin always gets the whole value".into(),
                "remove input-value, or declare the fields the plugin reads in [fields]".into(),
            ),
        );
    }
    value
}

/// The inputs, each listed once; problems recorded.
fn check_inputs(p: &mut Problems, raw: Vec<RawInput>) -> Vec<Input> {
    if raw.is_empty() {
        p.add(
            "inputs",
            (
                "no inputs are declared".into(),
                "add an input: [[inputs]] topic = \"my-topic\"".into(),
            ),
        );
        return Vec::new();
    }
    let mut inputs: Vec<Input> = Vec::with_capacity(raw.len());
    for (i, input) in raw.into_iter().enumerate() {
        let field = format!("inputs[{i}].topic");
        p.take(&field, check_topic(&input.topic));
        if inputs.iter().any(|seen| seen.topic == input.topic) {
            p.add(
                &field,
                (
                    format!("topic \"{}\" is listed twice", input.topic),
                    "list each input topic once".into(),
                ),
            );
            continue;
        }
        inputs.push(Input {
            topic: input.topic,
            kind: input.kind,
        });
    }
    inputs
}

/// Something must drive the processor: a stream input, or a foreign-key
/// join, whose table updates produce its results.
fn check_driven(p: &mut Problems, inputs: &[Input], foreign_key_joins: usize) {
    if foreign_key_joins == 0 && !inputs.is_empty() && !inputs.iter().any(|i| i.kind == InputKind::Stream) {
        p.add(
            "inputs",
            (
                "every input is a table; nothing would drive the processor".into(),
                "declare the topic whose records should be processed with kind = \"stream\", or join two tables with a foreign-key join ([joins.<name>] with `foreign-key`)".into(),
            ),
        );
    }
}

/// `[outputs]`: each a fixed topic or a `topic-pattern`, by name.
fn check_outputs(
    p: &mut Problems,
    raw: BTreeMap<String, RawOutput>,
    inputs: &[Input],
) -> (BTreeMap<String, TopicSpec>, BTreeMap<String, RoutedSpec>) {
    let mut outputs = BTreeMap::new();
    let mut routed = BTreeMap::new();
    for (name, raw_output) in raw {
        let field = format!("outputs.{name}");
        if !is_output_name(&name) {
            p.add(
                &field,
                (
                    format!("\"{name}\" is not a usable output name"),
                    "use letters, digits, '-' and '_' (the plugin emits to this name)".into(),
                ),
            );
        }
        match (raw_output.topic, raw_output.topic_pattern) {
            (Some(topic), None) => {
                if raw_output.create.is_some() {
                    p.add(
                        &format!("{field}.create"),
                        (
                            "only applies to an output with `topic-pattern`; a fixed topic is created at startup".into(),
                            "remove `create`".into(),
                        ),
                    );
                }
                let raw_topic = RawTopic {
                    topic,
                    partitions: raw_output.partitions,
                };
                outputs.insert(name, topic_spec(p, &field, raw_topic, inputs));
            }
            (None, Some(pattern)) => {
                if let Some(spec) = routed_spec(p, &field, &pattern, raw_output.create, raw_output.partitions, inputs) {
                    routed.insert(name, spec);
                }
            }
            (Some(_), Some(_)) => p.add(
                &field,
                (
                    "has both `topic` and `topic-pattern`".into(),
                    "keep `topic` for one fixed topic, or `topic-pattern` for a topic the plugin chooses per record".into(),
                ),
            ),
            (None, None) => p.add(
                &field,
                (
                    "names no topic".into(),
                    format!("write {name} = \"my-topic\", or {name} = {{ topic-pattern = \"my-topic\\\\..+\" }} for a topic chosen per record"),
                ),
            ),
        }
    }
    (outputs, routed)
}

/// An output whose topic is chosen per record: a pattern that compiles,
/// matches no input, and `partitions` only with `create = true`.
fn routed_spec(
    p: &mut Problems,
    field: &str,
    text: &str,
    create: Option<bool>,
    partitions: Option<i64>,
    inputs: &[Input],
) -> Option<RoutedSpec> {
    let pattern_field = format!("{field}.topic-pattern");
    let compiled = p.take(
        &pattern_field,
        TopicPattern::new(text).map_err(|error| {
            (
                format!("\"{text}\" is not a regular expression: {error}"),
                "write a regular expression a whole topic name must match, e.g. \"alerts\\\\.[a-z0-9-]+\" (escape '.' as \\\\.)".into(),
            )
        }),
    );
    if let Some(input) = compiled
        .as_ref()
        .and_then(|c| inputs.iter().find(|i| c.matches(&i.topic)))
    {
        p.add(
            &pattern_field,
            (
                format!(
                    "matches input topic \"{}\"; the processor could write to its own input",
                    input.topic
                ),
                "narrow the pattern so it matches no input topic".into(),
            ),
        );
    }
    let create = create.unwrap_or(false);
    let partitions = match partitions {
        None => None,
        Some(_) if !create => {
            p.add(
                &format!("{field}.partitions"),
                (
                    "only applies with `create = true`: rill never creates this output's topics otherwise".into(),
                    "add `create = true`, or remove `partitions`".into(),
                ),
            );
            None
        }
        Some(n) => p.take(&format!("{field}.partitions"), partition_count(n)),
    };
    Some(RoutedSpec {
        pattern: compiled?,
        create,
        partitions,
    })
}

/// A partition count Kafka accepts.
fn partition_count(n: i64) -> Result<i32, Refusal> {
    match n {
        1..=100_000 => Ok(n as i32),
        _ => Err((
            format!("{n} is not a partition count"),
            "use a number from 1 to 100000, or leave it out to match the input".into(),
        )),
    }
}

/// A topic the processor writes: a Kafka name that is not an input, and a
/// partition count Kafka accepts (left out when refused).
fn topic_spec(p: &mut Problems, field: &str, raw: RawTopic, inputs: &[Input]) -> TopicSpec {
    p.take(field, check_topic(&raw.topic));
    if inputs.iter().any(|i| i.topic == raw.topic) {
        p.add(
            field,
            (
                format!(
                    "topic \"{}\" is also an input; the processor would read its own output",
                    raw.topic
                ),
                "write to a different topic".into(),
            ),
        );
    }
    let partitions = raw
        .partitions
        .and_then(|n| p.take(&format!("{field}.partitions"), partition_count(n)));
    TopicSpec {
        topic: raw.topic,
        partitions,
    }
}

/// A dead-letter topic that passes every check a dead-letter topic meets:
/// a Kafka name, neither an input nor an output.
pub(super) fn free_dead_letter(name: &str, inputs: &[Input], outputs: &BTreeMap<String, TopicSpec>) -> Option<String> {
    let input = inputs.first().map_or(name, |i| i.topic.as_str());
    let taken = |topic: &str| inputs.iter().any(|i| i.topic == topic) || outputs.values().any(|o| o.topic == topic);
    [format!("{input}.dlq"), format!("{name}.dlq")]
        .into_iter()
        .chain((2..).map(|n| format!("{input}.dlq-{n}")))
        .take(100)
        .find(|topic| check_topic(topic).is_ok() && !taken(topic))
}

/// Key-value store names, each declared once.
fn check_stores(p: &mut Problems, raw: Vec<String>) -> Vec<String> {
    let mut stores = Vec::new();
    for (i, store) in raw.into_iter().enumerate() {
        let field = format!("stores[{i}]");
        if !is_store_name(&store) {
            p.add(
                &field,
                (
                    format!("\"{store}\" is not a usable store name"),
                    "use lowercase letters, digits and '-' (it becomes part of the changelog topic name)".into(),
                ),
            );
        }
        if stores.contains(&store) {
            p.add(
                &field,
                (
                    format!("store \"{store}\" is declared twice"),
                    "declare each store once".into(),
                ),
            );
            continue;
        }
        stores.push(store);
    }
    stores
}


/// One `[windows.<name>]`: its name, times and output; `None` if refused.
fn check_window(
    p: &mut Problems,
    name: String,
    raw: RawWindow,
    outputs: &BTreeMap<String, TopicSpec>,
    routed: &BTreeMap<String, RoutedSpec>,
    stores: &[String],
) -> Option<WindowSpec> {
    let field = format!("windows.{name}");
    let mut named = true;
    if !is_store_name(&name) {
        named = false;
        p.add(
            &field,
            (
                format!("\"{name}\" is not a usable window store name"),
                "use lowercase letters, digits and '-' (the plugin emits to this name, and it names the changelog topic)".into(),
            ),
        );
    }
    if outputs.contains_key(&name) || routed.contains_key(&name) || stores.contains(&name) {
        named = false;
        p.add(
            &field,
            (
                format!("\"{name}\" is also an output or a store"),
                "give the window store a name of its own: the plugin emits records to it by that name".into(),
            ),
        );
    }
    let times = window_times(p, &field, &raw);
    let output = outputs.contains_key(&raw.output);
    if routed.contains_key(&raw.output) {
        p.add(
            &format!("{field}.output"),
            (
                format!(
                    "\"{}\" chooses its topic per record; a window result has no record to choose it",
                    raw.output
                ),
                "name an [outputs] entry with a fixed topic".into(),
            ),
        );
    } else if !output {
        p.add(
            &format!("{field}.output"),
            (
                format!("\"{}\" is not a declared output", raw.output),
                "name the [outputs] entry window results go to".into(),
            ),
        );
    }
    let aggregate = match raw.aggregate.as_deref() {
        None => Some(super::WindowAggregate::Plugin),
        Some("count") => Some(super::WindowAggregate::Count),
        Some(other) => {
            p.add(
                &format!("{field}.aggregate"),
                (
                    format!("\"{other}\" is not an aggregate the host computes"),
                    "write `aggregate = \"count\"` (the host counts records per window), or remove the key to fold records in the plugin's `aggregate` export".into(),
                ),
            );
            None
        }
    };
    let (kind, grace, retention) = times.filter(|_| named && output)?;
    Some(WindowSpec {
        name,
        kind,
        grace,
        retention,
        emit: raw.emit,
        output: raw.output,
        late: raw.late,
        keyless: raw.keyless,
        aggregate: aggregate?,
    })
}

/// The keys a window of `shape` must have, and those it must not.
fn window_keys(shape: WindowShape) -> (&'static [&'static str], &'static [&'static str]) {
    match shape {
        WindowShape::Tumbling => (&["size"], &["advance", "gap", "time-difference"]),
        WindowShape::Hopping => (&["size", "advance"], &["gap", "time-difference"]),
        WindowShape::Session => (&["gap"], &["size", "advance", "time-difference"]),
        WindowShape::Sliding => (&["time-difference"], &["size", "advance", "gap"]),
    }
}

/// The manifest's name of a window shape.
fn shape_name(shape: WindowShape) -> &'static str {
    match shape {
        WindowShape::Tumbling => "tumbling",
        WindowShape::Hopping => "hopping",
        WindowShape::Session => "session",
        WindowShape::Sliding => "sliding",
    }
}

/// The duration key `key` of a raw window.
fn window_key<'w>(raw: &'w mut RawWindow, key: &str) -> &'w mut Option<String> {
    match key {
        "size" => &mut raw.size,
        "advance" => &mut raw.advance,
        "gap" => &mut raw.gap,
        "time-difference" => &mut raw.time_difference,
        "grace" => &mut raw.grace,
        _ => &mut raw.retention,
    }
}

/// A window's shape, grace and retention (ms), checked together; `field`
/// is `windows.<name>`.
fn window_times(p: &mut Problems, field: &str, raw: &RawWindow) -> Option<(WindowKind, i64, i64)> {
    let shape = shape_name(raw.kind);
    let (required, forbidden) = window_keys(raw.kind);
    let mut raw = raw.clone();
    let mut fine = true;
    for key in forbidden {
        if window_key(&mut raw, key).is_some() {
            fine = false;
            let mut fix = match (raw.kind, *key) {
                (WindowShape::Session, "size") => "remove it: a session's size comes from its records".to_string(),
                (WindowShape::Sliding, "size") => {
                    "remove it: a sliding window's length is its time-difference".to_string()
                }
                _ => "remove it".to_string(),
            };
            if let Some(other) = fitting_shape(&raw) {
                fix = format!("{fix}, or use kind = \"{}\"", shape_name(other));
            }
            p.add(
                &format!("{field}.{key}"),
                (format!("does not apply to a {shape} window"), fix),
            );
        }
    }
    let mut ms = [0; 2];
    let mut given = true;
    for (slot, key) in ms.iter_mut().zip(required) {
        let key_field = format!("{field}.{key}");
        let Some(text) = window_key(&mut raw, key).clone() else {
            given = false;
            let fix = match duration_for(&raw, key) {
                Some(text) => format!("add `{key} = \"{text}\"` (a duration)"),
                None => format!("add `{key}` (a duration)"),
            };
            p.add(&key_field, (format!("missing (a {shape} window needs it)"), fix));
            continue;
        };
        match p.take(&key_field, millis(&text).and_then(positive)) {
            Some(value) => *slot = value,
            None => given = false,
        }
    }
    let kind = match raw.kind {
        WindowShape::Tumbling => WindowKind::Tumbling { size: ms[0] },
        WindowShape::Hopping => WindowKind::Hopping {
            size: ms[0],
            advance: ms[1],
        },
        WindowShape::Session => WindowKind::Session { gap: ms[0] },
        WindowShape::Sliding => WindowKind::Sliding { time_difference: ms[0] },
    };
    if let WindowKind::Hopping { size, advance } = kind
        && given
        && advance > size
    {
        given = false;
        p.add(
            &format!("{field}.advance"),
            (
                "is larger than size, so some records would fall in no window".into(),
                "make advance at most size (advance = size is a tumbling window)".into(),
            ),
        );
    }
    let grace = match &raw.grace {
        None => Some(0),
        Some(text) => p.take(&format!("{field}.grace"), millis(text)),
    };
    let retention = match &raw.retention {
        None => Some(None),
        Some(text) => p.take(&format!("{field}.retention"), millis(text)).map(Some),
    };
    let (Some(grace), Some(retention), true) = (grace, retention, given) else {
        return None;
    };
    let least = kind.min_retention(grace);
    let retention = retention.unwrap_or(least);
    if retention < least {
        p.add(
            &format!("{field}.retention"),
            (
                format!(
                    "{} is shorter than the window needs ({}: {})",
                    humantime::format_duration(Duration::from_millis(retention as u64)),
                    humantime::format_duration(Duration::from_millis(least as u64)),
                    match kind {
                        WindowKind::Tumbling { .. } | WindowKind::Hopping { .. } => "size + grace",
                        WindowKind::Session { .. } => "gap + grace",
                        // Later records read a window up to two time
                        // differences back to build their own.
                        WindowKind::Sliding { .. } => "2 * time-difference + grace",
                    }
                ),
                "leave retention out (the least it can be), or make it longer".into(),
            ),
        );
        return None;
    }
    fine.then_some((kind, grace, retention))
}

/// Whether the window's times pass as they are.
fn times_pass(raw: &RawWindow) -> bool {
    let mut scratch = Problems {
        file: Path::new(""),
        found: Vec::new(),
    };
    window_times(&mut scratch, "", raw).is_some()
}

/// The other shape whose keys are exactly the durations given, if the
/// window passes as that shape (no key of it is then refused as not
/// applying, so this does not ask itself again).
fn fitting_shape(raw: &RawWindow) -> Option<WindowShape> {
    let given = |value: &Option<String>| value.is_some();
    let given = (
        given(&raw.size),
        given(&raw.advance),
        given(&raw.gap),
        given(&raw.time_difference),
    );
    let shape = match given {
        (true, false, false, false) => WindowShape::Tumbling,
        (true, true, false, false) => WindowShape::Hopping,
        (false, false, true, false) => WindowShape::Session,
        (false, false, false, true) => WindowShape::Sliding,
        _ => return None,
    };
    let mut other = raw.clone();
    other.kind = shape;
    (shape != raw.kind && times_pass(&other)).then_some(shape)
}

/// A value for the missing duration `key` with which the window passes,
/// once the keys that do not apply are removed: "10m" if it fits, else one
/// of the window's own durations or a shorter one.
fn duration_for(raw: &RawWindow, key: &str) -> Option<String> {
    let (_, forbidden) = window_keys(raw.kind);
    let mut raw = raw.clone();
    for other in forbidden {
        *window_key(&mut raw, other) = None;
    }
    let own: Vec<String> = ["size", "advance", "gap", "time-difference", "retention"]
        .iter()
        .filter_map(|k| window_key(&mut raw, k).clone())
        .collect();
    ["10m".to_string()]
        .into_iter()
        .chain(own)
        .chain(["1m", "1s", "1ms"].map(String::from))
        .find(|text| {
            let mut candidate = raw.clone();
            *window_key(&mut candidate, key) = Some(text.clone());
            times_pass(&candidate)
        })
}

/// Timers, each with a name of its own and an interval of at least 1ms.
fn check_timers(p: &mut Problems, raw: Vec<RawTimer>) -> Vec<TimerSpec> {
    let mut timers: Vec<TimerSpec> = Vec::new();
    for (i, timer) in raw.into_iter().enumerate() {
        let field = format!("timers[{i}]");
        let named = !timer.name.is_empty() && !timers.iter().any(|t| t.name == timer.name);
        if !named {
            p.add(
                &format!("{field}.name"),
                (
                    format!("\"{}\" is empty or names another timer", timer.name),
                    "give each timer a name of its own".into(),
                ),
            );
        }
        let interval = p.take(
            &format!("{field}.interval"),
            millis(&timer.interval)
                .and_then(|ms| positive(ms).map_err(|_| ("is zero".into(), "give an interval of at least 1ms".into()))),
        );
        if let (Some(interval), true) = (interval, named) {
            timers.push(TimerSpec {
                name: timer.name,
                clock: timer.clock,
                interval,
                aligned: timer.aligned,
            });
        }
    }
    timers
}

/// The sandbox limits, defaults where left out (or refused).
pub(super) fn check_limits(p: &mut Problems, raw: RawLimits) -> Limits {
    let defaults = Limits::default();
    let memory = match &raw.memory {
        None => defaults.memory,
        Some(text) => p.take("limits.memory", check_memory(text)).unwrap_or(defaults.memory),
    };
    let time_per_batch = match &raw.time_per_batch {
        None => defaults.time_per_batch,
        Some(text) => p
            .take("limits.time-per-batch", check_time_per_batch(text))
            .unwrap_or(defaults.time_per_batch),
    };
    Limits {
        memory,
        time_per_batch,
        on_trap: raw.on_trap.unwrap_or(defaults.on_trap),
    }
}

/// `limits.memory`: a size of at least 1MiB.
pub(super) fn check_memory(text: &str) -> Result<usize, Refusal> {
    let memory = parse_bytes(text).ok_or_else(|| {
        (
            format!("\"{text}\" is not a size"),
            "write a size such as \"64MiB\", \"256MiB\" or \"1GiB\"".to_string(),
        )
    })?;
    if memory < (1 << 20) {
        return Err((
            format!("{memory} bytes is too small for any component"),
            "give at least \"1MiB\"".into(),
        ));
    }
    Ok(memory)
}

/// `limits.time-per-batch`: a duration of at least 10ms.
pub(super) fn check_time_per_batch(text: &str) -> Result<Duration, Refusal> {
    let time = humantime::parse_duration(text).map_err(|e| {
        (
            format!("\"{text}\" is not a duration ({e})"),
            "write a duration such as \"1s\" or \"250ms\"".to_string(),
        )
    })?;
    if time < Duration::from_millis(10) {
        return Err((
            "is below 10ms, the resolution of the time limit".into(),
            "give at least \"10ms\"".into(),
        ));
    }
    Ok(time)
}


/// A duration that is not zero.
fn positive(ms: i64) -> Result<i64, Refusal> {
    if ms <= 0 {
        return Err(("is zero".into(), "give a duration of at least 1ms".into()));
    }
    Ok(ms)
}

/// Processor names become task ids (`<name>_<partition>`) and topic
/// prefixes, so they are kept to lowercase words joined by '-'. The fix
/// proposes a name that passes this same check.
pub(super) fn check_name(name: &str) -> Result<(), Refusal> {
    let Some(problem) = name_problem(name) else {
        return Ok(());
    };
    let fix = match suggest_name(name) {
        Some(better) if name.replace('_', "-") == better => format!("separate words with '-': \"{better}\""),
        Some(better) => format!("use lowercase letters, digits and '-', starting with a letter: \"{better}\""),
        None => "use lowercase letters, digits and '-', starting with a letter, e.g. \"cpu-alert\"".to_string(),
    };
    Err((format!("\"{name}\" {problem}"), fix))
}

/// What is wrong with a processor name, if anything.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.len() > 64 {
        return Some("is longer than 64 characters".into());
    }
    if name.contains('_') {
        return Some("contains '_', which separates the name from the partition in task ids".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Some("does not start with a lowercase letter".into());
    }
    name.chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        .map(|c| format!("contains '{c}'"))
}

/// The closest name `name_problem` accepts: lowercased, other characters
/// turned into '-' (one between words), starting at the first letter, at
/// most 64 characters. `None` when nothing of the name is left.
pub(super) fn suggest_name(name: &str) -> Option<String> {
    let mut better = String::new();
    for c in name.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || (c.is_ascii_digit() && !better.is_empty()) {
            better.push(c);
        } else if !better.is_empty() && !better.ends_with('-') {
            better.push('-');
        }
    }
    better.truncate(64);
    let better = better.trim_end_matches('-').to_string();
    name_problem(&better).is_none().then_some(better)
}

/// A semantic version; the fix proposes the given numbers completed to
/// three (`1.0` -> `1.0.0`) when that passes, else `1.0.0`.
fn check_version(version: &str) -> Result<(), Refusal> {
    if is_version(version) {
        return Ok(());
    }
    Err((
        format!("\"{version}\" is not a version"),
        format!("write a semantic version such as \"{}\"", suggest_version(version)),
    ))
}

/// The numbers of `version` as `MAJOR.MINOR.PATCH`, or `1.0.0`.
pub(super) fn suggest_version(version: &str) -> String {
    let mut parts: Vec<&str> = version
        .split(['-', '+'])
        .next()
        .unwrap_or("")
        .split('.')
        .take_while(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .take(3)
        .collect();
    parts.resize(3, "0");
    let better = parts.join(".");
    if is_version(&better) { better } else { "1.0.0".into() }
}

pub(super) fn is_version(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Kafka's own rule for topic names.
pub(super) fn check_topic(topic: &str) -> Result<(), Refusal> {
    let fix = "Kafka topic names use letters, digits, '.', '_' and '-', at most 249 of them".to_string();
    if topic.is_empty() || topic == "." || topic == ".." {
        return Err((format!("\"{topic}\" is not a topic name"), fix));
    }
    if topic.len() > 249 {
        return Err((format!("topic name is {} characters long", topic.len()), fix));
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err((format!("topic \"{topic}\" contains '{c}'"), fix));
    }
    Ok(())
}

fn is_output_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// TOML to JSON for the plugin's `init`; datetimes become their RFC 3339 text.
pub(super) fn toml_to_json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect()),
    }
}
