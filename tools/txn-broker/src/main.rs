//! `rill-txn-broker [--port P] [--dir D]`: starts crabka-broker on
//! 127.0.0.1, prints `bootstrap.servers=127.0.0.1:P` once it answers, and
//! runs until SIGTERM, SIGINT or its stdin closes (so a test that dies
//! never leaves it behind).
//!
//! One quirk is fixed here (see ../../../shared/FACTS.md): crabka takes the
//! transaction protocol from the cluster feature `transaction.version`
//! (default 2) instead of the client's EndTxn version, and librdkafka
//! speaks only the old protocol, so its second transaction would be fenced.
//! The launcher finalizes the feature at 0 with an UpdateFeatures request.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// An UpdateFeatures v1 request (flexible): finalize `feature` at `level`
/// with upgrade type 2 (safe downgrade).
fn update_features(feature: &str, level: i16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&57i16.to_be_bytes()); // api key: UpdateFeatures
    body.extend_from_slice(&1i16.to_be_bytes()); // api version
    body.extend_from_slice(&1i32.to_be_bytes()); // correlation id
    body.extend_from_slice(&4i16.to_be_bytes()); // client id (a plain string in every header)
    body.extend_from_slice(b"rill");
    body.push(0); // header tagged fields
    body.extend_from_slice(&30_000i32.to_be_bytes()); // timeout ms
    body.push(2); // compact array of 1
    body.push(feature.len() as u8 + 1); // compact string
    body.extend_from_slice(feature.as_bytes());
    body.extend_from_slice(&level.to_be_bytes()); // max version level
    body.push(2); // upgrade type: safe downgrade
    body.push(0); // entry tagged fields
    body.push(0); // validate only: false
    body.push(0); // request tagged fields
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// Sends the request and checks the response's error codes (top level and
/// the one feature's).
fn finalize(addr: SocketAddr, feature: &str, level: i16) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(&update_features(feature, level))
        .map_err(|e| e.to_string())?;
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).map_err(|e| e.to_string())?;
    let mut response = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
    stream.read_exact(&mut response).map_err(|e| e.to_string())?;
    // correlation id (4), header tagged fields (1), throttle (4), error code (2)
    let code = |at: usize| response.get(at..at + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    match code(9) {
        Some(0) => {}
        other => return Err(format!("UpdateFeatures answered error {other:?}")),
    }
    // error message (compact nullable string), then the results array:
    // length, feature name (compact string), error code.
    let mut at = 11;
    let message = *response.get(at).ok_or("short response")? as usize;
    at += message.max(1);
    at += 1; // results array length
    let name = *response.get(at).ok_or("short response")? as usize;
    at += name.max(1);
    match code(at) {
        Some(0) => Ok(()),
        other => Err(format!("UpdateFeatures refused {feature}: error {other:?}")),
    }
}

/// Starts crabka on `port`, or on a fresh loopback port, and finalizes
/// `transaction.version` at 0. The data-plane socket is bound here and
/// handed to crabka live (`start_with_listeners`): a port picked by binding
/// and releasing a probe could be taken in between by any client's
/// outgoing connection (the same ephemeral range), which happened in CI
/// with many tests starting brokers side by side.
async fn start(
    port: Option<u16>,
    dir: &std::path::Path,
) -> Result<(crabka_broker::BrokerHandle, SocketAddr), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", port.unwrap_or(0)))?;
    let addr = listener.local_addr()?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let mut config = crabka_broker::BrokerConfig::for_tests(dir.to_path_buf());
    config.listen_addr = addr;
    config.advertised_listener = addr.to_string();
    let handle = crabka_broker::Broker::start_with_listeners(config, None, Some(listener))
        .await
        .map_err(|e| format!("crabka-broker did not start on {addr}: {e}"))?;
    if let Err(error) = ready(addr).await {
        handle.shutdown().await;
        return Err(error.into());
    }
    Ok((handle, addr))
}

/// Waits until the broker answers and `transaction.version` is 0.
async fn ready(addr: SocketAddr) -> Result<(), String> {
    let started = Instant::now();
    loop {
        match finalize(addr, "transaction.version", 0) {
            Ok(()) => return Ok(()),
            Err(error) if started.elapsed() > Duration::from_secs(30) => {
                return Err(format!("cannot set transaction.version to 0 on {addr}: {error}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: Option<u16> = arg("--port").and_then(|p| p.parse().ok());
    let dir = match arg("--dir") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("rill-txn-broker-{}", std::process::id())),
    };
    let (handle, addr) = match start(port, &dir).await {
        Ok(started) => started,
        Err(error) => {
            // Said on stderr (the tests show it) before exiting non-zero.
            eprintln!("rill-txn-broker: {error}");
            let _ = std::fs::remove_dir_all(&dir);
            return Err(error);
        }
    };
    println!("bootstrap.servers={addr}");
    std::io::stdout().flush()?;
    // A plain thread, not `spawn_blocking`: the runtime waits for its
    // blocking tasks when it shuts down, so a read of a stdin held open
    // kept the process alive after SIGTERM. A detached thread does not.
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 4096];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        let _ = closed.send(());
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = stdin_closed => {}
    }
    handle.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
