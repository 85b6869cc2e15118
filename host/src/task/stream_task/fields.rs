//! Parse once per chain: the task's processors' `[fields]` merged into one
//! [`Plan`], each stage's [`FieldView`] of it, and the parses of the batch
//! in flight, so a record forwarded unchanged down the chain is parsed by
//! the first stage that reads fields and never again.

use super::*;
use crate::fields::{FieldCodec, Parsed, Plan, json::Json};
use crate::plugin::FieldView;
use std::collections::HashMap;

/// The task's plan, and the parses of the batch being processed.
#[derive(Default)]
pub(super) struct TaskFields {
    plan: Plan,
    /// By source offset (a record keeps it down the chain): the records
    /// the parse was made from, the index of its record, and the parse.
    /// A hit counts only when the value bytes are the same.
    parses: HashMap<i64, (Arc<Vec<InputRecord>>, usize, Arc<Parsed>)>,
}

impl TaskFields {
    /// The plan over `stages`' manifests, and each stage's view of it
    /// (`None` for a stage that declares no fields).
    pub(super) fn new(stages: &[Stage]) -> (TaskFields, Vec<Option<FieldView>>) {
        let mut plan = Plan::new();
        let views = stages
            .iter()
            .map(|stage| {
                let manifest = stage.spec.manifest();
                (!manifest.fields.is_empty()).then(|| FieldView {
                    slots: manifest.fields.iter().map(|f| plan.slot(&f.path)).collect(),
                    raw: manifest.fields.iter().map(|f| f.raw).collect(),
                    with_value: manifest.input_value == crate::manifest::InputValue::Bytes,
                })
            })
            .collect();
        let fields = TaskFields {
            plan,
            parses: HashMap::new(),
        };
        (fields, views)
    }

    /// Forgets the last batch's parses (their records are done).
    pub(super) fn clear(&mut self) {
        self.parses.clear();
    }

    /// The parse of each record of `records[run]`: reused when an earlier
    /// stage parsed the same bytes for the same source offset, else made
    /// now and kept for the stages downstream.
    pub(super) fn parse_run(
        &mut self,
        records: &Arc<Vec<InputRecord>>,
        run: std::ops::Range<usize>,
    ) -> Vec<Arc<Parsed>> {
        run.map(|i| {
            let record = &records[i];
            let Some(value) = record.value.as_deref() else {
                return Arc::new(Err("the value is null".to_string()));
            };
            // A value forwarded unchanged shares the parsed one's bytes, so
            // the same pointer settles it; other bytes are compared.
            if let Some((held, at, parsed)) = self.parses.get(&record.offset)
                && held[*at]
                    .value
                    .as_deref()
                    .is_some_and(|held| std::ptr::eq(held, value) || held == value)
            {
                return parsed.clone();
            }
            let parsed = Arc::new(Json.parse(&self.plan, value));
            self.parses.insert(record.offset, (records.clone(), i, parsed.clone()));
            parsed
        })
        .collect()
    }
}

impl StreamTask {
    /// Calls stage `s`'s instance over `records[run]`: with the records'
    /// parsed fields when the stage declares `[fields]`, else with the
    /// values. Returns the outcome and the time inside the call (the parse
    /// is counted apart).
    pub(super) fn call_process(
        &mut self,
        s: usize,
        records: &Arc<Vec<InputRecord>>,
        run: std::ops::Range<usize>,
    ) -> (Result<Vec<crate::record::RecordResult>, anyhow::Error>, Duration) {
        // Taken for the call (the instance is borrowed mutably), put back after.
        let view = self.stages[s].fields.take();
        let outcome = match &view {
            Some(view) => {
                let parsing = Instant::now();
                let parsed = self.fields.parse_run(records, run.clone());
                self.stages[s].meters.parsed(parsing.elapsed());
                let started = Instant::now();
                let outcome = self.stages[s].processor.process_fields(&records[run], &parsed, view);
                (outcome, started.elapsed())
            }
            None => {
                let started = Instant::now();
                let outcome = self.stages[s].processor.process(&records[run]);
                (outcome, started.elapsed())
            }
        };
        self.stages[s].fields = view;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::FieldPath;

    fn record(offset: i64, value: &str) -> InputRecord {
        InputRecord {
            topic: "in".into(),
            partition: 0,
            offset,
            timestamp: 0,
            key: None,
            value: Some(value.as_bytes().to_vec().into()),
            headers: Vec::new(),
        }
    }

    fn fields() -> TaskFields {
        let mut plan = Plan::new();
        plan.slot(&FieldPath::parse("a").unwrap());
        TaskFields {
            plan,
            parses: HashMap::new(),
        }
    }

    #[test]
    fn a_record_forwarded_unchanged_is_parsed_once_for_the_chain() {
        let mut fields = fields();
        let first = Arc::new(vec![record(7, r#"{"a":1}"#), record(8, r#"{"a":2}"#)]);
        let parsed = fields.parse_run(&first, 0..2);
        // The next stage gets the same bytes at the same source offset.
        let forwarded = Arc::new(vec![record(8, r#"{"a":2}"#)]);
        let again = fields.parse_run(&forwarded, 0..1);
        assert!(Arc::ptr_eq(&parsed[1], &again[0]));
    }

    #[test]
    fn new_bytes_or_a_new_batch_are_parsed_again() {
        let mut fields = fields();
        let first = Arc::new(vec![record(7, r#"{"a":1}"#)]);
        let parsed = fields.parse_run(&first, 0..1);
        // A stage that changed the value: its output is parsed anew.
        let mapped = Arc::new(vec![record(7, r#"{"a":10}"#)]);
        let again = fields.parse_run(&mapped, 0..1);
        assert!(!Arc::ptr_eq(&parsed[0], &again[0]));
        assert_eq!(*again[0], Ok(vec![Some(5..7)]));
        fields.clear();
        let later = fields.parse_run(&first, 0..1);
        assert!(!Arc::ptr_eq(&parsed[0], &later[0]));
        assert_eq!(parsed[0], later[0]);
    }

    #[test]
    fn a_null_value_has_no_fields() {
        let mut fields = fields();
        let mut tombstone = record(1, "");
        tombstone.value = None;
        let parsed = fields.parse_run(&Arc::new(vec![tombstone]), 0..1);
        assert_eq!(*parsed[0], Err("the value is null".to_string()));
    }
}
