//! Test fixture: an interceptor whose every call would change things (each
//! consumed record dropped or mangled, each send mangled) and then fails:
//! a trap (a panic) in odd calls of an instance, an error in even ones.
//! The host replaces a trapped instance, so under the host every call is
//! a fresh instance's first and traps. The host's rule (Kafka's) is that a
//! failing interceptor changes nothing: records flow as if it had passed
//! them, none lost, none duplicated.

use rill_sdk::Error;
use rill_sdk::intercept::{
    ChangedRecord, ChangedSend, ConsumeAction, ConsumedRecord, Event, Interceptor, SendAction, SendRecord,
};

/// Counts its calls; fails each one.
pub struct BadInterceptor {
    calls: u64,
}

impl Interceptor for BadInterceptor {
    type Config = rill_sdk::NoConfig;

    fn init(_: Self::Config) -> Result<Self, Error> {
        Ok(BadInterceptor { calls: 0 })
    }

    fn on_consume(&mut self, record: &ConsumedRecord) -> Result<ConsumeAction, Error> {
        Ok(if record.offset % 2 == 0 {
            ConsumeAction::Drop
        } else {
            ConsumeAction::Change(ChangedRecord {
                key: record.key.clone(),
                value: Some(b"mangled by a failing interceptor".to_vec()),
                headers: Vec::new(),
                timestamp: record.timestamp,
            })
        })
    }

    fn on_send(&mut self, record: &SendRecord) -> Result<SendAction, Error> {
        Ok(SendAction::Change(ChangedSend {
            key: record.key.clone(),
            value: Some(b"mangled by a failing interceptor".to_vec()),
            headers: Vec::new(),
            timestamp: None,
        }))
    }

    fn end_batch(&mut self, event: Event) -> Result<(), Error> {
        self.calls += 1;
        if self.calls % 2 == 1 {
            panic!("fixture-bad-interceptor traps in {event:?} (call {})", self.calls);
        }
        Err(Error::new(format!(
            "fixture-bad-interceptor fails {event:?} (call {})",
            self.calls
        )))
    }
}

rill_interceptor_abi::export_interceptor!(BadInterceptor);
