//! `rill run`: load manifests (or an application file connecting them) and
//! their plugins, then run them as one consumer-group member until a signal
//! (or `--stop-when-idle`).

use crate::kafka::KafkaSettings;
use crate::kafka::embedded::EmbeddedBroker;
use crate::plugin::cache::CompileCache;
use crate::plugin::{Plugin, new_engine};
use crate::runtime::{self, HotSwap, ProcessorDef, RunOptions};
use anyhow::Context as _;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `rill run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Plugin manifests (plugin.toml), one per processor, or one
    /// application file (app-version = 1) connecting them in memory.
    #[arg(required = true)]
    manifests: Vec<PathBuf>,
    /// Kafka bootstrap servers (host:port,...), or `embedded` for an
    /// in-process development broker with the manifests' topics created.
    #[arg(long, env = "RILL_BROKERS")]
    brokers: String,
    /// Consumer group id and prefix of internal topics (Kafka Streams'
    /// application.id).
    #[arg(long)]
    application_id: String,
    /// Worker threads (Kafka Streams' num.stream.threads).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Directory for local state (and the compiled-plugin cache).
    #[arg(long, default_value = "rill-state", env = "RILL_STATE_DIR")]
    state_dir: PathBuf,
    /// Start even if this version breaks the state of the version last
    /// started from this state directory (what `rill upgrade-check` says).
    #[arg(long)]
    accept_breaking_upgrade: bool,
    /// Exit 0 once the inputs are drained, all output acknowledged and
    /// committed, and nothing arrived for this long (e.g. `2s`).
    #[arg(long, value_parser = humantime::parse_duration)]
    stop_when_idle: Option<Duration>,
    /// Most records handed to a plugin in one call.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// How often acknowledged progress is committed.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    commit_interval: Duration,
    /// Records a partition may buffer before its fetching pauses (resumed
    /// below half; Kafka Streams' buffered.records.per.partition). Lower
    /// holds less memory, higher rides out uneven inputs.
    #[arg(long, default_value_t = crate::task::manager::FeedOptions::default().max_buffered)]
    buffered_records_per_partition: usize,
    /// How long a caught-up, empty input partition may hold its task back
    /// waiting for data (Kafka Streams' max.task.idle.ms). At 0 a task waits
    /// only for records known to be on the broker.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    max_task_idle: Duration,
    /// Partitions of each topic the embedded broker creates.
    #[arg(long, default_value_t = 3)]
    embedded_partitions: i32,
    /// Serve Prometheus metrics, /health, /ready, /status, /lag, /topology
    /// and a status page on this address, e.g. 127.0.0.1:9464.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// The address other instances and clients reach this one's --http at
    /// (Kafka Streams' application.server), shared through the membership
    /// topic: a query of a key another instance owns is redirected there.
    #[arg(long, value_name = "HOST:PORT", requires = "http")]
    advertised_http: Option<String>,
    /// Require this file's bearer token (`Authorization: Bearer <token>`)
    /// on every --http endpoint but /health: 401 without it, 403 with
    /// another. Every instance of an application should share it, since
    /// clients follow redirects between them with the same token.
    #[arg(long, value_name = "FILE", requires = "http")]
    http_token_file: Option<std::path::PathBuf>,
    /// Serve --http over TLS with this PEM certificate chain (with
    /// --http-tls-key); redirects to other instances then name https.
    #[arg(long, value_name = "FILE", requires_all = ["http", "http_tls_key"])]
    http_tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --http-tls-cert.
    #[arg(long, value_name = "FILE", requires = "http_tls_cert")]
    http_tls_key: Option<std::path::PathBuf>,
    /// What a fatal error does: `shutdown` stops the application;
    /// `replace-worker` replaces the failed worker thread and restarts its
    /// tasks from their last commit (Kafka Streams' REPLACE_THREAD).
    #[arg(long, value_enum, default_value = "shutdown")]
    on_fatal: crate::runtime::OnFatal,
    /// `at-least-once`, or `exactly-once`: outputs, changelog records,
    /// dead letters and input offsets of each commit interval commit in one
    /// Kafka transaction, and local state only moves when it commits
    /// (needs brokers with transactions; Kafka Streams' exactly_once_v2).
    #[arg(long, value_enum, default_value = "at-least-once")]
    processing_guarantee: crate::runtime::Guarantee,
    /// Testing aid: under exactly-once, make the Nth commit that carries
    /// offsets fail (aborting its transaction) to watch the abort path.
    #[arg(long, value_name = "N", hide = true)]
    inject_commit_failure: Option<u64>,
    /// The consumer-group protocol: `classic` (every broker; rebalances
    /// revoke only what moves unless a task reads several topics, which
    /// needs eager range assignment) or `consumer` (KIP-848, Apache Kafka
    /// 4.0+: incremental, co-partitioning, timeouts set by the broker).
    /// Every member of an application must use the same one.
    #[arg(long, value_enum, default_value = "classic")]
    group_protocol: crate::kafka::protocol::GroupProtocol,
    /// Static membership (Kafka's group.instance.id, as
    /// `<application-id>-<ID>`): a member restarted within the session
    /// timeout gets its partitions back with no rebalance. `auto` uses the
    /// state directory's own id; otherwise one id per instance, stable
    /// across restarts (e.g. a pod ordinal).
    #[arg(long, value_name = "ID|auto")]
    instance_id: Option<crate::runtime::InstanceId>,
    /// Standby replicas per stateful task (Kafka Streams'
    /// num.standby.replicas): other instances keep each task's stores warm
    /// by following its changelog, so a task that moves to one of them
    /// replays only the changelog tail. Placed by the instances themselves
    /// from the `<application-id>-rill-members` topic, other hosts first.
    #[arg(long, value_name = "N", default_value_t = 0)]
    standby_replicas: usize,
    /// Before joining the group, warm the stores of the tasks this instance
    /// is likely to receive (as standbys, from the membership topic) and
    /// join once they are within --acceptable-recovery-lag, so scaling out
    /// moves no cold task. Skipped when no other instance is running.
    #[arg(long)]
    warm_up: bool,
    /// What standby placement treats as one failure domain: standbys go to
    /// instances with another tag first. Defaults to the hostname; in
    /// Kubernetes, where each pod has its own, pass the node's name (or a
    /// zone) from the downward API. Kafka Streams' rack-aware standbys.
    #[arg(long, value_name = "TAG")]
    host_tag: Option<String>,
    /// Changelog records a warmed store may lack when the instance joins
    /// (Kafka Streams' acceptable.recovery.lag).
    #[arg(long, value_name = "RECORDS", default_value_t = 10_000, requires = "warm_up")]
    acceptable_recovery_lag: i64,
    /// The longest a warm-up waits before the instance joins anyway.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration, requires = "warm_up")]
    warm_up_timeout: Duration,
    /// Commits each partition's lag status is judged on (Burrow's window).
    #[arg(long, default_value_t = crate::observe::lag::DEFAULT_WINDOW)]
    lag_window: usize,
    /// librdkafka property for every client, e.g. -X security.protocol=SSL;
    /// prefix with consumer. or producer. for one kind of client.
    #[arg(short = 'X', value_parser = super::parse_property)]
    property: Vec<(String, String)>,
}

/// Bounds shutdown: once the signal has come, the process exits after
/// `grace` (the longest plugin call plus 10 s) whatever is still running.
/// A clean shutdown ends far sooner (queued batches are abandoned after a few
/// seconds, every plugin call ends within its limit); this is the backstop.
/// Exiting here commits nothing more, so nothing is lost: what was not
/// committed is processed again after a restart.
fn watchdog(shutdown: Arc<std::sync::atomic::AtomicBool>, grace: Duration) {
    let spawned = std::thread::Builder::new().name("rill-watchdog".into()).spawn(move || {
        while !shutdown.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(grace);
        tracing::error!(
            "shutdown did not finish within {}; exiting without committing the rest (it is processed again after a restart)",
            humantime::format_duration(grace)
        );
        std::process::exit(1);
    });
    if let Err(error) = spawned {
        tracing::warn!("cannot start the shutdown watchdog: {error}");
    }
}

/// Refuses to start a version that breaks the state of the version last
/// started from `dir` (`rill upgrade-check`'s verdicts and words) unless
/// `accept`, then records this version as the last.
fn check_upgrade(
    dir: &std::path::Path,
    application_id: &str,
    manifests: &[Arc<crate::manifest::Manifest>],
    connections: &[crate::app::Connection],
    accept: bool,
) -> anyhow::Result<()> {
    use crate::runtime::deployed::Deployed;
    use crate::topology::upgrade::{Verdict, compare, report};
    let now = Deployed::of(manifests, connections).context("reading the manifests to record the deployment")?;
    let last = Deployed::last(dir);
    if let Some(last) = last.as_ref().filter(|last| **last != now) {
        match last.app() {
            Ok(old) => {
                let new = crate::app::App {
                    path: manifests.first().map(|m| m.path.clone()).unwrap_or_default(),
                    processors: manifests.to_vec(),
                    connections: connections.to_vec(),
                    interceptors: Vec::new(),
                };
                let changes = compare(application_id, &old, &new);
                if changes.iter().any(|c| c.verdict > Verdict::Safe) {
                    let shown = report("the version last started here", "this version", application_id, &changes);
                    if !accept {
                        anyhow::bail!(
                            "{shown}  fix: keep the stores' names and shapes, or start with --accept-breaking-upgrade to give up what the report says breaks"
                        );
                    }
                    tracing::warn!("starting a version that breaks state (--accept-breaking-upgrade):\n{shown}");
                } else if !changes.is_empty() {
                    tracing::info!("upgrade from the version last started here is safe ({} differences)", changes.len());
                }
            }
            Err(error) => tracing::warn!(
                "the version last started here ({}) no longer parses ({error}); the upgrade is not checked",
                dir.join(crate::runtime::deployed::FILE).display()
            ),
        }
    }
    if last.as_ref() != Some(&now) {
        now.record(dir)
            .with_context(|| format!("recording the deployment in {}", dir.display()))?;
    }
    Ok(())
}

/// Runs `rill run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    // First, so /health answers and a taken port fails before anything runs.
    let _http = match &args.http {
        Some(addr) => {
            let token = args
                .http_token_file
                .as_deref()
                .map(crate::observe::auth::Token::from_file)
                .transpose()?;
            let tls = match (&args.http_tls_cert, &args.http_tls_key) {
                (Some(cert), Some(key)) => Some(crate::observe::tls::acceptor(cert, key)?),
                _ => None,
            };
            Some(crate::observe::http::start(
                addr,
                crate::observe::http::Guard { token, tls },
            )?)
        }
        None => None,
    };
    // One application file, or plain manifests (each its own sub-topology).
    let app = crate::app::App::load_args(&args.manifests)?;
    let engine = new_engine()?;
    let cache = CompileCache::new(args.state_dir.join("compiled"));
    let interceptors = crate::intercept::load_for_app(&engine, Some(&cache), &app)?;
    let crate::app::App {
        processors: manifests,
        connections,
        ..
    } = app;
    let mut processors = Vec::new();
    for (manifest, interceptors) in manifests.iter().zip(interceptors) {
        let plugin = Plugin::load(&engine, manifest.clone(), Some(&cache))?;
        tracing::info!(processor = %manifest.name, version = %plugin.version, "plugin loaded from {}", manifest.component.display());
        processors.push(ProcessorDef {
            manifest: manifest.clone(),
            factory: Arc::new(plugin),
            interceptors,
        });
    }
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("creating --state-dir {}", args.state_dir.display()))?;
    check_upgrade(
        &args.state_dir.join(&args.application_id),
        &args.application_id,
        &manifests,
        &connections,
        args.accept_breaking_upgrade,
    )?;

    let _embedded;
    let brokers = if args.brokers == "embedded" {
        let broker = EmbeddedBroker::start(1)?;
        let topology = crate::topology::Topology::build(&args.application_id, &manifests, &connections);
        for (topic, partitions) in topology.all_topics(args.embedded_partitions) {
            broker.create_topic(&topic, partitions)?;
        }
        tracing::info!("embedded broker at {}", broker.bootstrap_servers());
        let bootstrap = broker.bootstrap_servers().to_string();
        _embedded = broker;
        bootstrap
    } else {
        args.brokers.clone()
    };

    if args.processing_guarantee == crate::runtime::Guarantee::ExactlyOnce
        && let Some((key, _)) = args
            .property
            .iter()
            .find(|(k, v)| k.ends_with("isolation.level") && v != "read_committed")
    {
        anyhow::bail!(
            "-X {key}: exactly-once reads only committed records.\n  fix: drop the property, or run --processing-guarantee at-least-once"
        );
    }
    let options = RunOptions {
        application_id: args.application_id,
        kafka: KafkaSettings {
            brokers,
            overrides: args.property,
        },
        threads: args.threads,
        batch_size: args.batch_size.max(1),
        buffered_records_per_partition: args.buffered_records_per_partition.max(1),
        commit_interval: args.commit_interval,
        max_task_idle: args.max_task_idle,
        stop_when_idle: args.stop_when_idle,
        state_dir: args.state_dir.clone(),
        hot_swap: Some(HotSwap {
            engine,
            cache: Some(cache),
        }),
        lag_window: args.lag_window.max(2),
        on_fatal: args.on_fatal,
        guarantee: match (args.processing_guarantee, args.inject_commit_failure) {
            (crate::runtime::Guarantee::ExactlyOnce, Some(n)) => crate::runtime::Guarantee::ExactlyOnceFailing(n),
            (_, Some(_)) => anyhow::bail!("--inject-commit-failure needs --processing-guarantee exactly-once"),
            (guarantee, None) => guarantee,
        },
        group: crate::runtime::GroupOptions {
            protocol: args.group_protocol,
            instance_id: args.instance_id,
            standby_replicas: args.standby_replicas,
            endpoint: args
                .advertised_http
                .clone()
                .or_else(|| _http.as_ref().map(|h| h.addr.to_string())),
            advertise_queries: args.advertised_http.is_some(),
            warm_up: args.warm_up.then_some(crate::runtime::warm_up::WarmUpOptions {
                acceptable_lag: args.acceptable_recovery_lag.max(0),
                timeout: args.warm_up_timeout,
            }),
            host_tag: args.host_tag.clone().filter(|t| !t.trim().is_empty()),
        },
    };
    let (shutdown, _signals) = super::shutdown_flag()?;
    let slowest = manifests
        .iter()
        .map(|m| m.limits.time_per_batch)
        .max()
        .unwrap_or_default();
    watchdog(shutdown.clone(), slowest + Duration::from_secs(10));
    let report = runtime::run_connected(&options, processors, &connections, &shutdown)?;
    for p in &report.processors {
        tracing::info!(
            processor = %p.name,
            records_in = p.counts.records_in,
            calls = p.calls,
            plugin_ns = p.plugin_nanos,
            parse_ns = p.parse_nanos,
            produce_ns = p.produce_nanos,
            late = p.counts.late,
            "processed {} records: {} emitted, {} dropped, {} dead-lettered, {} traps, {} late",
            p.counts.records_in, p.counts.records_out, p.counts.dropped, p.counts.dead_lettered, p.counts.traps, p.counts.late
        );
    }
    let time = report.poll_loop;
    let per = |nanos: u64| nanos as f64 / time.records.max(1) as f64 / 1e3;
    tracing::info!(
        records = time.records,
        poll_ns = time.poll_nanos,
        copy_in_ns = time.copy_in_nanos,
        dispatch_ns = time.dispatch_nanos,
        dispatch_wait_ns = time.dispatch_wait_nanos,
        commit_ns = time.commit_nanos,
        "poll loop per source record: poll {:.2} us, copy in {:.2} us, dispatch {:.2} us (of which waiting on full worker queues {:.2} us), commit {:.2} us",
        per(time.poll_nanos),
        per(time.copy_in_nanos),
        per(time.dispatch_nanos),
        per(time.dispatch_wait_nanos),
        per(time.commit_nanos)
    );
    if !report.failed.is_empty() {
        anyhow::bail!(
            "{} task(s) stopped on a failure; their offsets were not committed past it, so a restart after the \
             fix reprocesses from there:\n  {}",
            report.failed.len(),
            report.failed.join("\n  ")
        );
    }
    Ok(())
}
