//! Standby replicas' following (Kafka Streams' standby tasks): once a
//! standby's state has caught up through the ordinary restore path (the
//! state updater), it is handed here, and one thread with one long-lived
//! reader keeps every standby's stores up to date with its changelogs,
//! checkpointing as it goes. Separate from the restore consumer
//! (`restore::KafkaChangelogs`), which unassigns between restores.
//!
//! A standby's directory is the one its active task would use, so handing
//! it over (promotion) moves no file: [`StandbyFollower::release`]
//! checkpoints and closes it, and the active task's restore then replays
//! only what the checkpoint lacks.

use super::StateError;
use super::manager::StateManager;
use crate::kafka::KafkaSettings;
use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use parking_lot::Mutex;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How far one standby is: changelog records applied (the sum of its
/// partitions' positions) and how many it still lacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StandbyProgress {
    /// Sum of its changelog partitions' positions.
    pub position: i64,
    /// Records between those positions and the changelogs' ends, as last
    /// seen in a fetch (`None` before the first fetch).
    pub lag: Option<i64>,
}

enum Command {
    Follow { task: String, states: Vec<StateManager> },
    Release { task: String, done: Sender<()> },
}

/// The thread that follows every standby's changelogs.
pub struct StandbyFollower {
    commands: Option<Sender<Command>>,
    progress: Arc<Mutex<BTreeMap<String, StandbyProgress>>>,
    thread: Option<JoinHandle<()>>,
}

/// How often followed state is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// Records read before they are written.
const BATCH: usize = 2_000;

impl StandbyFollower {
    /// Starts the thread; it connects when the first standby is handed over.
    pub fn start(settings: KafkaSettings) -> Result<Self, StateError> {
        let (commands, inbox) = unbounded();
        let progress = Arc::new(Mutex::new(BTreeMap::new()));
        let thread = {
            let progress = progress.clone();
            std::thread::Builder::new()
                .name("rill-standby".into())
                .spawn(move || Following::new(settings, progress).run(inbox))
                .map_err(|e| StateError::Restore {
                    topic: "standby changelogs".into(),
                    partition: -1,
                    message: e.to_string(),
                })?
        };
        Ok(StandbyFollower {
            commands: Some(commands),
            progress,
            thread: Some(thread),
        })
    }

    /// Follows `states` (one per stateful stage of `task`, caught up) from
    /// their positions on.
    pub fn follow(&self, task: &str, states: Vec<StateManager>) {
        if let Some(commands) = &self.commands {
            let _ = commands.send(Command::Follow {
                task: task.to_string(),
                states,
            });
        }
    }

    /// Stops following `task`, checkpoints and closes its state, and
    /// returns once its databases are closed (its directory is free for the
    /// active task to open).
    pub fn release(&self, task: &str) {
        let (done, closed) = bounded(1);
        if let Some(commands) = &self.commands
            && commands
                .send(Command::Release {
                    task: task.to_string(),
                    done,
                })
                .is_ok()
        {
            let _ = closed.recv_timeout(Duration::from_secs(30));
        }
    }

    /// How far each followed standby is.
    pub fn progress(&self) -> BTreeMap<String, StandbyProgress> {
        self.progress.lock().clone()
    }
}

impl Drop for StandbyFollower {
    fn drop(&mut self) {
        // Closing the channel stops the thread, which checkpoints everything.
        self.commands.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The thread's own state.
struct Following {
    settings: KafkaSettings,
    consumer: Option<BaseConsumer>,
    tasks: BTreeMap<String, Vec<StateManager>>,
    /// Which task and stage each followed changelog partition fills.
    routes: HashMap<(String, i32), (String, usize)>,
    /// The partitions the reader is assigned.
    assigned: std::collections::HashSet<(String, i32)>,
    progress: Arc<Mutex<BTreeMap<String, StandbyProgress>>>,
}

impl Following {
    fn new(settings: KafkaSettings, progress: Arc<Mutex<BTreeMap<String, StandbyProgress>>>) -> Self {
        Following {
            settings,
            consumer: None,
            tasks: BTreeMap::new(),
            routes: HashMap::new(),
            assigned: Default::default(),
            progress,
        }
    }

    fn run(mut self, inbox: Receiver<Command>) {
        let mut last_checkpoint = Instant::now();
        loop {
            let command = if self.tasks.is_empty() {
                match inbox.recv() {
                    Ok(command) => Some(command),
                    Err(_) => break,
                }
            } else {
                match inbox.try_recv() {
                    Ok(command) => Some(command),
                    Err(crossbeam_channel::TryRecvError::Empty) => None,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => break,
                }
            };
            if let Some(command) = command {
                self.handle(command);
                continue;
            }
            self.poll_once();
            if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                self.checkpoint_all();
                last_checkpoint = Instant::now();
            }
        }
        self.checkpoint_all();
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Follow { task, states } => {
                self.tasks.insert(task, states);
            }
            Command::Release { task, done } => {
                if let Some(states) = self.tasks.remove(&task) {
                    checkpoint(&task, &states);
                }
                self.progress.lock().remove(&task);
                // Dropping the managers above closed their databases.
                let _ = done.send(());
            }
        }
        self.reassign(false);
    }

    /// Points the reader at every followed partition: newly followed ones
    /// from their stores' positions, released ones dropped, the others left
    /// fetching; with `reread`, every partition again from its position
    /// (after a failed write, whose records must be read again).
    fn reassign(&mut self, reread: bool) {
        self.routes.clear();
        let mut wanted: HashMap<(String, i32), i64> = HashMap::new();
        for (task, states) in &self.tasks {
            for (stage, state) in states.iter().enumerate() {
                for (topic, partition, from) in state.changelog_positions() {
                    wanted.insert((topic.clone(), partition), from);
                    self.routes.insert((topic, partition), (task.clone(), stage));
                }
            }
        }
        if self.consumer.is_none() && !wanted.is_empty() {
            match self.settings.reader().create() {
                Ok(consumer) => self.consumer = Some(consumer),
                Err(e) => tracing::error!("standby reader: {e}"),
            }
        }
        let Some(consumer) = &self.consumer else { return };
        // Incremental: partitions already followed keep fetching. Replacing
        // the whole assignment each time a standby was added restarted every
        // partition, and standbys added milliseconds apart (fast catch-ups)
        // tripped librdkafka's assertion that a stopped partition had
        // started (rdkafka_assignment.c, `rktp_started`), aborting rill.
        let drop: Vec<(String, i32)> = self
            .assigned
            .iter()
            .filter(|tp| reread || !wanted.contains_key(*tp))
            .cloned()
            .collect();
        if !drop.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for (topic, partition) in &drop {
                tpl.add_partition(topic, *partition);
            }
            if let Err(e) = consumer.incremental_unassign(&tpl) {
                tracing::error!("standby reader: unassigning changelogs: {e}");
            }
            for tp in &drop {
                self.assigned.remove(tp);
            }
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), from) in &wanted {
            if !self.assigned.contains(&(topic.clone(), *partition)) {
                let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*from));
            }
        }
        if tpl.count() > 0 {
            match consumer.incremental_assign(&tpl) {
                Ok(()) => self.assigned.extend(wanted.into_keys()),
                Err(e) => tracing::error!("standby reader: assigning changelogs: {e}"),
            }
        }
    }

    fn poll_once(&mut self) {
        let Some(consumer) = &self.consumer else {
            std::thread::sleep(Duration::from_millis(100));
            return;
        };
        type Batch = (Vec<(Vec<u8>, Option<Vec<u8>>)>, i64);
        let mut read: HashMap<(String, i32), Batch> = HashMap::new();
        let mut count = 0;
        while let Some(polled) = consumer.poll(if count == 0 {
            Duration::from_millis(100)
        } else {
            Duration::ZERO
        }) {
            match polled {
                Ok(message) => {
                    let batch = read
                        .entry((message.topic().to_string(), message.partition()))
                        .or_default();
                    if let Some(key) = message.key() {
                        batch.0.push((key.to_vec(), message.payload().map(<[u8]>::to_vec)));
                    }
                    batch.1 = message.offset() + 1;
                    count += 1;
                    if count >= BATCH {
                        break;
                    }
                }
                Err(e) => tracing::debug!("standby reader: {e}"),
            }
        }
        for ((topic, partition), (records, next)) in read {
            let Some((task, stage)) = self.routes.get(&(topic.clone(), partition)) else {
                continue;
            };
            let Some(state) = self.tasks.get(task).and_then(|s| s.get(*stage)) else {
                continue;
            };
            if let Err(e) = state.apply_followed(&topic, records, next) {
                // Its position did not move: the records are read again
                // after the next reassignment.
                tracing::error!(task = %task, "standby: {e}");
                self.reassign(true);
                return;
            }
        }
        self.measure();
    }

    /// Publishes each standby's position and lag (`rill_standby_lag_records`).
    fn measure(&self) {
        let Some(consumer) = &self.consumer else { return };
        let mut progress = self.progress.lock();
        for (task, states) in &self.tasks {
            let mut entry = StandbyProgress {
                position: 0,
                lag: Some(0),
            };
            for (topic, partition, at) in states.iter().flat_map(StateManager::changelog_positions) {
                entry.position += at;
                let high = crate::kafka::cached_high_watermark(consumer.client(), &topic, partition);
                entry.lag = match (entry.lag, high) {
                    (Some(lag), Some(high)) => Some(lag + (high - at).max(0)),
                    _ => None,
                };
            }
            if let Some(lag) = entry.lag {
                metrics::gauge!(crate::observe::metrics::STANDBY_LAG, "task" => task.clone()).set(lag as f64);
            }
            progress.insert(task.clone(), entry);
        }
    }

    fn checkpoint_all(&self) {
        for (task, states) in &self.tasks {
            checkpoint(task, states);
        }
    }
}

fn checkpoint(task: &str, states: &[StateManager]) {
    for state in states {
        if let Err(e) = state.checkpoint() {
            tracing::warn!(task = %task, "standby checkpoint: {e}");
        }
    }
}
