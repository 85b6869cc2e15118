//! Local state: per-task RocksDB stores and tables, the instance-wide global
//! table store, checkpoints, and restoring from changelog topics.
//!
//! Layout under `--state-dir`:
//!
//! ```text
//! <state-dir>/<application-id>/<task-id>/       RocksDB: cf "store.<name>", cf "table.<topic>"
//! <state-dir>/<application-id>/<task-id>/.checkpoint   topic partition offset, one per line
//! <state-dir>/<application-id>/global/          RocksDB: cf "table.<topic>" for global tables
//! <state-dir>/<application-id>/.instance        this instance's id (exactly-once), locked while running
//! ```
//!
//! Every store is backed by the compacted topic
//! `<application-id>-<store>-changelog` (partition = task partition); a
//! table is backed by its own source topic, as in Kafka Streams. The
//! checkpoint says up to which offset each of those topics is already in
//! the local database, so a clean restart restores nothing and a new
//! machine restores everything. RocksDB's own LOCK file keeps two processes
//! from opening one task directory.

pub mod checkpoint;
pub mod fk_join;
pub mod global;
pub mod instance;
pub mod join;
pub mod manager;
pub mod queries;
pub mod restore;
pub mod standby;
pub mod store;
pub mod updater;
pub mod window;

use thiserror::Error;

/// Why local state could not be opened, read, written or restored.
#[derive(Debug, Error)]
pub enum StateError {
    /// RocksDB refused an operation.
    #[error("state store {path}: {source}")]
    Db {
        /// The database directory.
        path: String,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// A column family the code expects is missing (a rill bug).
    #[error("state store {path}: no column family {family}")]
    Family {
        /// The database directory.
        path: String,
        /// The missing family.
        family: String,
    },
    /// The checkpoint file could not be read or written.
    #[error("checkpoint {path}: {source}")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database is still open elsewhere in this process (a revoked
    /// task's store that did not close in time).
    #[error("state store {path}: still open in this process after {waited:?}")]
    StillOpen {
        /// The database directory.
        path: String,
        /// How long the open waited for it.
        waited: std::time::Duration,
    },
    /// Reading a changelog or table topic failed.
    #[error("restoring {topic}/{partition}: {message}")]
    Restore {
        /// Topic being restored.
        topic: String,
        /// Partition being restored.
        partition: i32,
        /// What went wrong.
        message: String,
    },
}

/// Column family of a declared store.
pub fn store_cf(store: &str) -> String {
    format!("store.{store}")
}

/// Column family of a table (or global table) input.
pub fn table_cf(topic: &str) -> String {
    format!("table.{topic}")
}
