//! Semantic checks on a parsed manifest: names, topics, and how they relate.

use super::raw::{RawManifest, RawTopic};
use super::{Input, InputKind, Limits, Manifest, ManifestError, TimerSpec, TopicSpec, WindowShape, WindowSpec};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// Turns a raw manifest into a [`Manifest`], or names the first problem.
pub(super) fn validate(path: &Path, raw: RawManifest) -> Result<Manifest, ManifestError> {
    let invalid = |field: &str, problem: String, fix: String| ManifestError::Invalid {
        file: path.to_path_buf(),
        field: field.to_string(),
        problem,
        fix,
    };

    check_name(&raw.name).map_err(|(problem, fix)| invalid("name", problem, fix))?;
    if !is_version(&raw.version) {
        return Err(invalid(
            "version",
            format!("\"{}\" is not a version", raw.version),
            "write a semantic version such as \"1.0.0\"".into(),
        ));
    }
    if raw.component.trim().is_empty() {
        return Err(invalid(
            "component",
            "is empty".into(),
            "name the .wasm component file, relative to this manifest".into(),
        ));
    }

    if raw.inputs.is_empty() {
        return Err(invalid(
            "inputs",
            "no inputs are declared".into(),
            "add an input: [[inputs]] topic = \"my-topic\"".into(),
        ));
    }
    let mut inputs = Vec::with_capacity(raw.inputs.len());
    let mut seen = HashSet::new();
    for (i, input) in raw.inputs.into_iter().enumerate() {
        let field = format!("inputs[{i}].topic");
        check_topic(&input.topic).map_err(|(p, f)| invalid(&field, p, f))?;
        if !seen.insert(input.topic.clone()) {
            return Err(invalid(
                &field,
                format!("topic \"{}\" is listed twice", input.topic),
                "list each input topic once".into(),
            ));
        }
        inputs.push(Input {
            topic: input.topic,
            kind: input.kind,
        });
    }
    if !inputs.iter().any(|i| i.kind == InputKind::Stream) {
        return Err(invalid(
            "inputs",
            "every input is a table; nothing would drive the processor".into(),
            "declare the topic whose records should be processed with kind = \"stream\"".into(),
        ));
    }

    let topic_spec = |field: &str, raw: RawTopic| -> Result<TopicSpec, ManifestError> {
        check_topic(&raw.topic).map_err(|(p, f)| invalid(field, p, f))?;
        if seen.contains(&raw.topic) {
            return Err(invalid(
                field,
                format!(
                    "topic \"{}\" is also an input; the processor would read its own output",
                    raw.topic
                ),
                "write to a different topic".into(),
            ));
        }
        let partitions = match raw.partitions {
            None => None,
            Some(n @ 1..=100_000) => Some(n as i32),
            Some(n) => {
                return Err(invalid(
                    &format!("{field}.partitions"),
                    format!("{n} is not a partition count"),
                    "use a number from 1 to 100000, or leave it out to match the input".into(),
                ));
            }
        };
        Ok(TopicSpec {
            topic: raw.topic,
            partitions,
        })
    };

    let mut outputs = BTreeMap::new();
    for (name, raw_topic) in raw.outputs {
        let field = format!("outputs.{name}");
        if !is_output_name(&name) {
            return Err(invalid(
                &field,
                format!("\"{name}\" is not a usable output name"),
                "use letters, digits, '-' and '_' (the plugin emits to this name)".into(),
            ));
        }
        outputs.insert(name, topic_spec(&field, raw_topic)?);
    }
    let dead_letter = topic_spec("dead-letter", raw.dead_letter)?;
    if let Some((name, _)) = outputs.iter().find(|(_, o)| o.topic == dead_letter.topic) {
        return Err(invalid(
            "dead-letter",
            format!("topic \"{}\" is also output `{name}`", dead_letter.topic),
            "give failed records a topic of their own, e.g. \"<input>.dlq\"".into(),
        ));
    }

    let mut stores = Vec::new();
    for (i, store) in raw.stores.into_iter().enumerate() {
        let field = format!("stores[{i}]");
        if store.is_empty()
            || !store
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(invalid(
                &field,
                format!("\"{store}\" is not a usable store name"),
                "use lowercase letters, digits and '-' (it becomes part of the changelog topic name)".into(),
            ));
        }
        if stores.contains(&store) {
            return Err(invalid(
                &field,
                format!("store \"{store}\" is declared twice"),
                "declare each store once".into(),
            ));
        }
        stores.push(store);
    }

    let millis = |field: &str, text: &str| -> Result<i64, ManifestError> {
        humantime::parse_duration(text)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .map_err(|e| {
                invalid(
                    field,
                    format!("\"{text}\" is not a duration ({e})"),
                    "write a duration such as \"10m\", \"30s\" or \"250ms\"".into(),
                )
            })
    };
    let mut windows = Vec::new();
    for (name, raw_window) in raw.windows {
        let field = |key: &str| format!("windows.{name}.{key}");
        if !is_output_name(&name) || name.chars().any(|c| c.is_ascii_uppercase() || c == '_') {
            return Err(invalid(
                &format!("windows.{name}"),
                format!("\"{name}\" is not a usable window store name"),
                "use lowercase letters, digits and '-' (the plugin emits to this name, and it names the changelog topic)".into(),
            ));
        }
        if outputs.contains_key(&name) || stores.contains(&name) {
            return Err(invalid(
                &format!("windows.{name}"),
                format!("\"{name}\" is also an output or a store"),
                "give the window store a name of its own: the plugin emits records to it by that name".into(),
            ));
        }
        let required = |key: &str, value: &Option<String>| -> Result<i64, ManifestError> {
            let Some(text) = value else {
                return Err(invalid(
                    &field(key),
                    format!("missing (a {:?} window needs it)", raw_window.kind).to_lowercase(),
                    format!("add `{key} = \"10m\"` (a duration)"),
                ));
            };
            let ms = millis(&field(key), text)?;
            if ms <= 0 {
                return Err(invalid(
                    &field(key),
                    "is zero".into(),
                    "give a duration of at least 1ms".into(),
                ));
            }
            Ok(ms)
        };
        let forbidden = |key: &str, value: &Option<String>, fix: &str| -> Result<(), ManifestError> {
            match value {
                Some(_) => Err(invalid(
                    &field(key),
                    format!("does not apply to a {:?} window", raw_window.kind).to_lowercase(),
                    fix.to_string(),
                )),
                None => Ok(()),
            }
        };
        use rill_sdk::time::WindowKind;
        let kind = match raw_window.kind {
            WindowShape::Tumbling => {
                forbidden("advance", &raw_window.advance, "remove it, or use kind = \"hopping\"")?;
                forbidden("gap", &raw_window.gap, "remove it, or use kind = \"session\"")?;
                WindowKind::Tumbling {
                    size: required("size", &raw_window.size)?,
                }
            }
            WindowShape::Hopping => {
                forbidden("gap", &raw_window.gap, "remove it, or use kind = \"session\"")?;
                let size = required("size", &raw_window.size)?;
                let advance = required("advance", &raw_window.advance)?;
                if advance > size {
                    return Err(invalid(
                        &field("advance"),
                        "is larger than size, so some records would fall in no window".into(),
                        "make advance at most size (advance = size is a tumbling window)".into(),
                    ));
                }
                WindowKind::Hopping { size, advance }
            }
            WindowShape::Session => {
                forbidden(
                    "size",
                    &raw_window.size,
                    "remove it: a session's size comes from its records",
                )?;
                forbidden("advance", &raw_window.advance, "remove it, or use kind = \"hopping\"")?;
                WindowKind::Session {
                    gap: required("gap", &raw_window.gap)?,
                }
            }
        };
        let grace = match &raw_window.grace {
            None => 0,
            Some(text) => millis(&field("grace"), text)?,
        };
        let least = kind.min_retention(grace);
        let retention = match &raw_window.retention {
            None => least,
            Some(text) => millis(&field("retention"), text)?,
        };
        if retention < least {
            return Err(invalid(
                &field("retention"),
                format!(
                    "{} is shorter than the window needs ({}: size + grace, or gap + grace)",
                    humantime::format_duration(std::time::Duration::from_millis(retention as u64)),
                    humantime::format_duration(std::time::Duration::from_millis(least as u64))
                ),
                "leave retention out (the least it can be), or make it longer".into(),
            ));
        }
        if !outputs.contains_key(&raw_window.output) {
            return Err(invalid(
                &field("output"),
                format!("\"{}\" is not a declared output", raw_window.output),
                "name the [outputs] entry window results go to".into(),
            ));
        }
        windows.push(WindowSpec {
            name,
            kind,
            grace,
            retention,
            emit: raw_window.emit,
            output: raw_window.output,
            late: raw_window.late,
            keyless: raw_window.keyless,
        });
    }
    let mut timers: Vec<TimerSpec> = Vec::new();
    for (i, timer) in raw.timers.into_iter().enumerate() {
        let field = format!("timers[{i}]");
        if timer.name.is_empty() || timers.iter().any(|t| t.name == timer.name) {
            return Err(invalid(
                &format!("{field}.name"),
                format!("\"{}\" is empty or names another timer", timer.name),
                "give each timer a name of its own".into(),
            ));
        }
        let interval = millis(&format!("{field}.interval"), &timer.interval)?;
        if interval <= 0 {
            return Err(invalid(
                &format!("{field}.interval"),
                "is zero".into(),
                "give an interval of at least 1ms".into(),
            ));
        }
        timers.push(TimerSpec {
            name: timer.name,
            clock: timer.clock,
            interval,
            aligned: timer.aligned,
        });
    }
    let idle_advance = match &raw.idle_advance {
        None => None,
        Some(text) => Some(std::time::Duration::from_millis(
            millis("idle-advance", text)?.max(1) as u64
        )),
    };

    let defaults = Limits::default();
    let memory = match &raw.limits.memory {
        None => defaults.memory,
        Some(text) => parse_bytes(text).ok_or_else(|| {
            invalid(
                "limits.memory",
                format!("\"{text}\" is not a size"),
                "write a size such as \"64MiB\", \"512KiB\" or \"1GiB\"".into(),
            )
        })?,
    };
    if memory < (1 << 20) {
        return Err(invalid(
            "limits.memory",
            format!("{memory} bytes is too small for any component"),
            "give at least \"1MiB\"".into(),
        ));
    }
    let time_per_batch = match &raw.limits.time_per_batch {
        None => defaults.time_per_batch,
        Some(text) => humantime::parse_duration(text).map_err(|e| {
            invalid(
                "limits.time-per-batch",
                format!("\"{text}\" is not a duration ({e})"),
                "write a duration such as \"1s\" or \"250ms\"".into(),
            )
        })?,
    };
    if time_per_batch < std::time::Duration::from_millis(10) {
        return Err(invalid(
            "limits.time-per-batch",
            "is below 10ms, the resolution of the time limit".into(),
            "give at least \"10ms\"".into(),
        ));
    }
    let limits = Limits {
        memory,
        time_per_batch,
        on_trap: raw.limits.on_trap.unwrap_or(defaults.on_trap),
    };

    let base = path.parent().unwrap_or(Path::new("."));
    Ok(Manifest {
        path: path.to_path_buf(),
        name: raw.name,
        version: raw.version,
        description: raw.description,
        component: base.join(&raw.component),
        inputs,
        outputs,
        dead_letter,
        limits,
        stores,
        windows,
        timers,
        idle_advance,
        config: toml_to_json(toml::Value::Table(raw.config)),
    })
}

/// Processor names become task ids (`<name>_<partition>`) and topic
/// prefixes, so they are kept to lowercase words joined by '-'.
pub(super) fn check_name(name: &str) -> Result<(), (String, String)> {
    let fix = |hint: &str| {
        (
            format!("\"{name}\" {hint}"),
            "use lowercase letters, digits and '-', starting with a letter, e.g. \"cpu-alert\"".to_string(),
        )
    };
    if name.is_empty() {
        return Err(fix("is empty"));
    }
    if name.len() > 64 {
        return Err(fix("is longer than 64 characters"));
    }
    if name.contains('_') {
        return Err((
            format!("\"{name}\" contains '_', which separates the name from the partition in task ids"),
            format!("separate words with '-': \"{}\"", name.replace('_', "-")),
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(fix("does not start with a lowercase letter"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(fix(&format!("contains '{c}'")));
    }
    Ok(())
}

fn is_version(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Kafka's own rule for topic names.
fn check_topic(topic: &str) -> Result<(), (String, String)> {
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
fn toml_to_json(value: toml::Value) -> serde_json::Value {
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

/// `64MiB`, `512 KiB`, `1GiB`, `1000000` (bytes).
fn parse_bytes(text: &str) -> Option<usize> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale)
}
