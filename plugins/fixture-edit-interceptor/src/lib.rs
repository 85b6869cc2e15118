//! Test fixture: an interceptor whose changes the host must apply, the
//! counterpart of `fixture-bad-interceptor`. `on-consume` drops records
//! keyed `drop` and upper-cases (ASCII) every other value, so the
//! processors see the changed records; `on-send` appends `!` to each value
//! and adds a `sent-by` header, so the topics get the changed records
//! (plugins/fixture-edit-interceptor/tests/edits.toml).

use rill_sdk::intercept::{
    ChangedRecord, ChangedSend, ConsumeAction, ConsumedRecord, Interceptor, SendAction, SendRecord,
};
use rill_sdk::{Error, Header};

/// The value of the `sent-by` header it adds to every send.
pub const NAME: &str = "fixture-edit-interceptor";

/// Drops, changes and tags records.
pub struct EditInterceptor;

impl Interceptor for EditInterceptor {
    type Config = rill_sdk::NoConfig;

    fn init(_: Self::Config) -> Result<Self, Error> {
        Ok(EditInterceptor)
    }

    fn on_consume(&mut self, record: &ConsumedRecord) -> Result<ConsumeAction, Error> {
        if record.key.as_deref() == Some(b"drop") {
            return Ok(ConsumeAction::Drop);
        }
        Ok(ConsumeAction::Change(ChangedRecord {
            key: record.key.clone(),
            value: record.value.as_ref().map(|v| v.to_ascii_uppercase()),
            headers: record.headers.clone(),
            timestamp: record.timestamp,
        }))
    }

    fn on_send(&mut self, record: &SendRecord) -> Result<SendAction, Error> {
        let mut headers = record.headers.clone();
        headers.push(Header {
            key: "sent-by".into(),
            value: Some(NAME.as_bytes().to_vec()),
        });
        Ok(SendAction::Change(ChangedSend {
            key: record.key.clone(),
            value: record.value.as_ref().map(|v| [v.as_slice(), b"!"].concat()),
            headers,
            timestamp: None,
        }))
    }
}

rill_interceptor_abi::export_interceptor!(EditInterceptor);

#[cfg(test)]
mod tests {
    use super::*;
    use rill_sdk::intercept::InterceptorDriver;

    #[test]
    fn drops_upper_cases_and_tags() {
        let mut driver = InterceptorDriver::<EditInterceptor>::new("{}").unwrap();
        let record = |key: &str| ConsumedRecord {
            topic: "in".into(),
            partition: 0,
            offset: 0,
            timestamp: 5,
            key: Some(key.as_bytes().to_vec()),
            value: Some(b"abc".to_vec()),
            headers: Vec::new(),
        };
        let actions = driver.consume(vec![record("drop"), record("k")]).unwrap();
        assert_eq!(actions[0], ConsumeAction::Drop);
        let ConsumeAction::Change(changed) = &actions[1] else {
            panic!("{actions:?}")
        };
        assert_eq!(changed.value.as_deref(), Some(&b"ABC"[..]));
    }
}
