//! `rill redrive DLQ-TOPIC --manifest M`: runs the records an earlier
//! version dead-lettered through the current version of their processor
//! and writes the results where the original would have gone (issue 27).
//!
//! - Each dead letter is fed to the processor its `rill.processor` header
//!   names, as the record it was: the topic it was read under, its
//!   partition, key, value, timestamp and own headers. The host's task path
//!   runs it (the same one `rill test` drives), so routing, fields and
//!   dead-lettering are `rill run`'s.
//! - A record that fails again goes back to the dead-letter topic with its
//!   new reason and `rill.redriven: 1`; a record carrying that header is
//!   never redriven again.
//! - The redrive group (`<application-id>-redrive`) commits the topic's end
//!   once every result is written: a second redrive starts after it.
//! - Stateful processors are refused: their results depend on their task's
//!   state, which a redrive does not have.
//! - `--dry-run` prints what would be written and commits nothing.

use crate::app::App;
use crate::kafka::KafkaSettings;
use crate::kafka::console::{ConsoleProducer, ProduceRecord};
use crate::kafka::dead_letters::{DeadLetter, DeadLetterReader};
use crate::kafka::memory_sink::SentRecord;
use crate::plugin::cache::CompileCache;
use crate::plugin::{Plugin, new_engine};
use crate::record::Header;
use crate::runtime::ProcessorDef;
use crate::task::dead_letter::headers;
use crate::testdriver::driver::Application;
use crate::testdriver::spec::{Action, Feed};
use anyhow::{Context, bail};
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The header a redriven record's new dead letter carries.
pub const REDRIVEN: &str = "rill.redriven";

/// Arguments of `rill redrive`.
#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// The dead-letter topic to redrive.
    topic: String,
    /// The current version: plugin manifests, or one application file.
    #[arg(long = "manifest", required = true)]
    manifests: Vec<PathBuf>,
    /// Kafka bootstrap servers.
    #[arg(long, env = "RILL_BROKERS")]
    brokers: String,
    /// The application id; the redrive group is `<id>-redrive`.
    #[arg(long, default_value = "rill")]
    application_id: String,
    /// Print what would be written; write and commit nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where compiled plugins are cached.
    #[arg(long, env = "RILL_TEST_CACHE")]
    cache: Option<PathBuf>,
    /// librdkafka property, e.g. -X security.protocol=SSL.
    #[arg(short = 'X', value_parser = super::parse_property)]
    property: Vec<(String, String)>,
}

/// What a dead letter is to this redrive.
#[derive(Debug, PartialEq)]
enum Fate {
    /// Fed again as this record.
    Redrive(Feed),
    /// Redriven once already and failed again.
    AlreadyRedriven,
    /// Dead-lettered by a processor these manifests do not run.
    OtherProcessor(String),
}

/// The record `letter` was, for a processor among `processors`.
fn fate(letter: &DeadLetter, processors: &[String]) -> Fate {
    if letter.header(REDRIVEN).is_some() {
        return Fate::AlreadyRedriven;
    }
    let processor = letter.header(headers::PROCESSOR).unwrap_or_default();
    if !processors.iter().any(|p| p == processor) {
        return Fate::OtherProcessor(processor.to_string());
    }
    let topic = letter
        .header(headers::INPUT_TOPIC)
        .or_else(|| letter.header(headers::SOURCE_TOPIC))
        .unwrap_or_default()
        .to_string();
    let partition = letter
        .header(headers::SOURCE_PARTITION)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    Fate::Redrive(Feed {
        topic,
        partition,
        key: letter.key.clone(),
        value: letter.value.clone(),
        timestamp: letter.timestamp,
        headers: letter
            .headers
            .iter()
            .filter(|h| !h.key.starts_with("rill."))
            .map(|h| (h.key.clone(), h.value.clone().unwrap_or_default()))
            .collect(),
        line: 0,
    })
}

/// Runs `rill redrive`.
pub fn run(args: RedriveArgs) -> anyhow::Result<()> {
    let app = App::load_args(&args.manifests)?;
    for m in &app.processors {
        if m.all_stores().next().is_some() || m.table_topics().next().is_some() {
            bail!(
                "{}: processor {} keeps state (stores, windows, joins or tables); a redrive runs records without their task's state, so it redrives stateless processors only",
                m.path.display(),
                m.name
            );
        }
    }
    let engine = new_engine()?;
    let cache = CompileCache::new(
        args.cache
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("rill-test").join("compiled")),
    );
    let processors = app
        .processors
        .iter()
        .map(|m| {
            let plugin =
                Plugin::load(&engine, m.clone(), Some(&cache)).with_context(|| m.path.display().to_string())?;
            Ok(ProcessorDef {
                manifest: m.clone(),
                factory: Arc::new(plugin),
                interceptors: Vec::new(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let application = Application {
        manifests: app.processors.clone(),
        connections: app.connections.clone(),
        processors,
        application_id: args.application_id.clone(),
    };
    let kafka = KafkaSettings {
        brokers: args.brokers.clone(),
        overrides: args.property.clone(),
    };
    let group = format!("{}-redrive", args.application_id);
    let reader = DeadLetterReader::open(&kafka, &args.topic, &group)?;
    let letters = reader.read_all()?;
    let names: Vec<String> = app.processors.iter().map(|m| m.name.clone()).collect();
    let (mut feeds, mut again, mut others) = (Vec::new(), 0, BTreeMap::<String, usize>::new());
    for letter in &letters {
        match fate(letter, &names) {
            Fate::Redrive(feed) => feeds.push(Action::Record(feed)),
            Fate::AlreadyRedriven => again += 1,
            Fate::OtherProcessor(p) => *others.entry(p).or_default() += 1,
        }
    }
    let state = tempfile::tempdir().context("a scratch directory for the redrive's tasks")?;
    let observed = application
        .run(&feeds, state.path(), &[])
        .map_err(|e| anyhow::anyhow!("running the dead letters: {e}"))?;
    let dead_letter_topics: Vec<&str> = app.processors.iter().map(|m| m.dead_letter.topic.as_str()).collect();
    let mut by_topic: BTreeMap<&str, Vec<ProduceRecord>> = BTreeMap::new();
    let (mut results, mut failed) = (0, 0);
    for sent in &observed.records {
        let mut record = produce_record(sent);
        if dead_letter_topics.contains(&sent.topic.as_str()) {
            failed += 1;
            record.headers.push(Header {
                key: REDRIVEN.into(),
                value: Some(b"1".to_vec()),
            });
        } else {
            results += 1;
        }
        by_topic.entry(&sent.topic).or_default().push(record);
    }
    if args.dry_run {
        for (topic, records) in &by_topic {
            for r in records {
                println!(
                    "would write {topic}: key {} value {}{}",
                    shown(r.key.as_deref()),
                    shown(r.value.as_deref()),
                    r.headers
                        .iter()
                        .filter(|h| h.key.starts_with("rill.error") || h.key == REDRIVEN)
                        .map(|h| format!(" {}={}", h.key, shown(h.value.as_deref())))
                        .collect::<String>()
                );
            }
        }
    } else {
        for (topic, records) in &by_topic {
            let mut producer = ConsoleProducer::new(&kafka, topic)?;
            for (line, r) in records.iter().enumerate() {
                producer.send(r, line + 1)?;
            }
            producer.finish()?;
        }
        reader.commit_read()?;
    }
    println!(
        "{} {} dead letters of {}: {} results written, {} failed again (back in the dead-letter topic with {REDRIVEN}: 1), {again} skipped (redriven once already){}",
        if args.dry_run { "would redrive" } else { "redrove" },
        feeds.len(),
        args.topic,
        results,
        failed,
        others
            .iter()
            .map(|(p, n)| format!(
                ", {n} left for processor {}",
                if p.is_empty() { "(unnamed)" } else { p }
            ))
            .collect::<String>()
    );
    Ok(())
}

/// A sent record as one to produce, at its partition.
fn produce_record(sent: &SentRecord) -> ProduceRecord {
    ProduceRecord {
        key: sent.key.clone(),
        value: sent.value.clone(),
        headers: sent
            .headers
            .iter()
            .map(|(k, v)| Header {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
        timestamp: Some(sent.timestamp),
        partition: sent.partition,
    }
}

fn shown(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) => format!("{text:?}"),
            Err(_) => format!("({} bytes)", b.len()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(headers: &[(&str, &str)]) -> DeadLetter {
        DeadLetter {
            partition: 0,
            offset: 4,
            key: Some(b"k".to_vec()),
            value: Some(b"poison".to_vec()),
            timestamp: 7,
            headers: headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: Some(v.as_bytes().to_vec()),
                })
                .collect(),
        }
    }

    #[test]
    fn a_dead_letter_is_fed_again_as_the_record_it_was() {
        let l = letter(&[
            ("trace", "abc"),
            (headers::PROCESSOR, "misbehave"),
            (headers::SOURCE_TOPIC, "in"),
            (headers::SOURCE_PARTITION, "2"),
            (headers::ERROR, "poison refused"),
        ]);
        let Fate::Redrive(feed) = fate(&l, &["misbehave".into()]) else {
            panic!("not redriven")
        };
        assert_eq!((feed.topic.as_str(), feed.partition, feed.timestamp), ("in", 2, 7));
        assert_eq!(feed.value.as_deref(), Some(&b"poison"[..]));
        assert_eq!(feed.headers, [("trace".to_string(), b"abc".to_vec())]);
        let inner = letter(&[
            (headers::PROCESSOR, "misbehave"),
            (headers::SOURCE_TOPIC, "in"),
            (headers::INPUT_TOPIC, "in.rekeyed"),
        ]);
        let Fate::Redrive(feed) = fate(&inner, &["misbehave".into()]) else {
            panic!("not redriven")
        };
        assert_eq!(feed.topic, "in.rekeyed");
    }

    #[test]
    fn a_record_redriven_once_or_of_another_processor_is_left_alone() {
        let again = letter(&[(headers::PROCESSOR, "misbehave"), (REDRIVEN, "1")]);
        assert_eq!(fate(&again, &["misbehave".into()]), Fate::AlreadyRedriven);
        let other = letter(&[(headers::PROCESSOR, "cpu-alert")]);
        assert_eq!(
            fate(&other, &["misbehave".into()]),
            Fate::OtherProcessor("cpu-alert".into())
        );
    }
}
