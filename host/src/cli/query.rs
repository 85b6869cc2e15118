//! `rill query`: interactive queries from the command line, over the
//! `/stores/...` endpoints a running instance serves on `--http`
//! (docs/observability.md), so a shell reads a store without curl:
//!
//! ```text
//! rill query --http 127.0.0.1:9464 counts q1            # one key
//! rill query --http 127.0.0.1:9464 counts --range a..m  # keys a to m, both inclusive
//! rill query --http 127.0.0.1:9464 counts --prefix q1 --limit 10
//! rill query --http 127.0.0.1:9464 per-minute k1 --windows 0..600000
//! ```
//!
//! It prints the JSON answer. A 307 to the instance owning the key is
//! followed once (with the token, when there is one); a 4xx or 5xx answer
//! is an error naming the status and the server's message, so scripts see
//! a non-zero exit status.

use crate::observe::store_queries::escape;
use clap::Args;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, HOST, LOCATION};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::path::PathBuf;
use std::time::Duration;
use tokio_rustls::TlsConnector;

/// Arguments of `rill query`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["key", "range", "prefix"]))]
pub struct QueryArgs {
    /// The instance to ask: the HOST:PORT of its `--http`.
    #[arg(long, value_name = "HOST:PORT")]
    http: String,
    /// The store to read.
    store: String,
    /// The key to read (UTF-8 text, or base64 with --key-encoding base64).
    key: Option<String>,
    /// The keys from FROM to TO, both inclusive (Kafka Streams' range);
    /// either may be left out (`a..`, `..m`, `..`).
    #[arg(long, value_name = "FROM..TO", conflicts_with_all = ["key", "prefix"])]
    range: Option<String>,
    /// The keys starting with P.
    #[arg(long, value_name = "P", conflicts_with = "key")]
    prefix: Option<String>,
    /// With KEY: the key's windows in a windowed store starting from FROM
    /// to TO (milliseconds since the epoch, both inclusive, either may be
    /// left out).
    #[arg(long, value_name = "FROM..TO", requires = "key", conflicts_with_all = ["range", "prefix"])]
    windows: Option<String>,
    /// At most this many entries (--range, --prefix; the server's default
    /// is 100, its most 10,000).
    #[arg(long)]
    limit: Option<usize>,
    /// How keys and bounds are written: utf-8 (default) or base64.
    #[arg(long, value_name = "ENCODING")]
    key_encoding: Option<String>,
    /// Send the bearer token in this file (the instance's
    /// `--http-token-file`).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Speak TLS (to instances run with --http-tls-cert), trusting the
    /// certificate authority in this PEM file.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
}

/// Why `rill query` printed no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// `--range` or `--windows` is not `FROM..TO`.
    #[error("--{flag} {value:?}: write FROM..TO (either side may be empty, e.g. a..m or ..m)")]
    Bounds {
        /// The flag.
        flag: &'static str,
        /// What was written.
        value: String,
    },
    /// The token file could not be read or is empty.
    #[error("--token-file {}: {problem}\n  fix: write the token (the same file the instance's --http-token-file names)", path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The instance could not be reached or answered no HTTP.
    #[error("{addr}: {problem}\n  fix: check --http names a running instance's --http address")]
    Transport {
        /// The address asked.
        addr: String,
        /// What went wrong.
        problem: String,
    },
    /// A redirect named no usable `http://HOST:PORT/...` location, or the
    /// owner redirected again.
    #[error("{addr} redirected to {location:?}, which cannot be followed ({why})")]
    Redirect {
        /// Who redirected.
        addr: String,
        /// Where to.
        location: String,
        /// Why it cannot be followed.
        why: &'static str,
    },
    /// The instance refused or could not answer.
    #[error("{status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's `error`, or its whole body.
        message: String,
    },
}

/// Runs `rill query`.
pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let path = request_path(&args)?;
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let tls = args.tls_ca.as_deref().map(crate::observe::tls::connector).transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let body = runtime.block_on(ask(&args.http, &path, token.as_deref(), tls.as_ref()))?;
    println!("{body}");
    Ok(())
}

/// The request's path and query.
fn request_path(args: &QueryArgs) -> Result<String, QueryError> {
    let store = escape(&args.store);
    let mut params: Vec<(&str, String)> = Vec::new();
    let path = if let Some(range) = &args.range {
        let (from, to) = bounds("range", range)?;
        params.extend(from.map(|from| ("from", from.to_string())));
        params.extend(to.map(|to| ("to", to.to_string())));
        format!("/stores/{store}/range")
    } else if let Some(prefix) = &args.prefix {
        format!("/stores/{store}/prefix/{}", escape(prefix))
    } else {
        let key = escape(args.key.as_deref().unwrap_or_default());
        match &args.windows {
            Some(times) => {
                let (from, to) = bounds("windows", times)?;
                params.extend(from.map(|from| ("from", from.to_string())));
                params.extend(to.map(|to| ("to", to.to_string())));
                format!("/stores/{store}/windows/{key}")
            }
            None => format!("/stores/{store}/keys/{key}"),
        }
    };
    params.extend(args.limit.map(|limit| ("limit", limit.to_string())));
    params.extend(args.key_encoding.clone().map(|encoding| ("key-encoding", encoding)));
    let query: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}={}", escape(value)))
        .collect();
    Ok(if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    })
}

/// `FROM..TO` with either side optional.
fn bounds<'a>(flag: &'static str, text: &'a str) -> Result<(Option<&'a str>, Option<&'a str>), QueryError> {
    let (from, to) = text.split_once("..").ok_or_else(|| QueryError::Bounds {
        flag,
        value: text.to_string(),
    })?;
    let some = |side: &'a str| (!side.is_empty()).then_some(side);
    Ok((some(from), some(to)))
}

fn read_token(path: &std::path::Path) -> Result<String, QueryError> {
    let problem = |problem: String| QueryError::Token {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(problem("it is empty".into()));
    }
    Ok(token.to_string())
}

/// The body of `path` at `addr`, following one redirect; refusals as
/// errors. With `tls`, every hop is TLS (a redirect to plain HTTP is not
/// followed).
async fn ask(addr: &str, path: &str, token: Option<&str>, tls: Option<&TlsConnector>) -> Result<String, QueryError> {
    let mut reply = get(addr, path, token, tls).await?;
    if reply.status == 307 {
        let location = reply.location.clone().unwrap_or_default();
        let redirect = |why| QueryError::Redirect {
            addr: addr.to_string(),
            location: location.clone(),
            why,
        };
        let rest = match tls {
            None => location
                .strip_prefix("http://")
                .ok_or_else(|| redirect("not an http:// address; give --tls-ca for https"))?,
            Some(_) => location
                .strip_prefix("https://")
                .ok_or_else(|| redirect("not an https:// address, and --tls-ca asks for TLS"))?,
        };
        let split = rest.find('/').ok_or_else(|| redirect("no path"))?;
        let (owner, owner_path) = rest.split_at(split);
        reply = get(owner, owner_path, token, tls).await?;
        if reply.status == 307 {
            return Err(redirect("the owner redirected again"));
        }
    }
    if reply.status >= 400 {
        let message = serde_json::from_str::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|json| json.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| reply.body.clone());
        return Err(QueryError::Refused {
            status: reply.status,
            message,
        });
    }
    Ok(reply.body)
}

/// One answer: status, `Location`, body.
struct Reply {
    status: u16,
    location: Option<String>,
    body: String,
}

/// One GET of `path` at `addr` over HTTP/1.1, through TLS with `tls`.
async fn get(addr: &str, path: &str, token: Option<&str>, tls: Option<&TlsConnector>) -> Result<Reply, QueryError> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        match tls {
            None => send(stream, addr, path, token).await,
            Some(connector) => {
                let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_string()).map_err(|e| format!("{host}: {e}"))?;
                let stream = connector
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                send(stream, addr, path, token).await
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| Err("no answer within 30 s".into()))
        .map_err(|problem| QueryError::Transport {
            addr: addr.to_string(),
            problem,
        })
}

/// The GET itself, over `io` (plain or TLS).
async fn send<S>(io: S, addr: &str, path: &str, token: Option<&str>) -> Result<Reply, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = hyper::Request::get(path).header(HOST, addr);
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .map(str::to_string);
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Reply {
        status,
        location,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: QueryArgs,
    }

    fn path(line: &[&str]) -> Result<String, String> {
        let args = Cli::try_parse_from(["rill-query", "--http", "h:1"].iter().chain(line))
            .map_err(|e| e.kind().to_string())?
            .args;
        request_path(&args).map_err(|e| e.to_string())
    }

    #[test]
    fn each_question_becomes_its_endpoint() {
        assert_eq!(path(&["counts", "q 1/x"]).unwrap(), "/stores/counts/keys/q%201%2Fx");
        assert_eq!(
            path(&["counts", "--range", "a..m", "--limit", "5"]).unwrap(),
            "/stores/counts/range?from=a&to=m&limit=5"
        );
        assert_eq!(
            path(&["counts", "--range", "..m"]).unwrap(),
            "/stores/counts/range?to=m"
        );
        assert_eq!(path(&["counts", "--range", ".."]).unwrap(), "/stores/counts/range");
        assert_eq!(path(&["counts", "--prefix", "q1"]).unwrap(), "/stores/counts/prefix/q1");
        assert_eq!(
            path(&["w", "k", "--windows", "0..600000"]).unwrap(),
            "/stores/w/windows/k?from=0&to=600000"
        );
        assert_eq!(
            path(&["counts", "cTA=", "--key-encoding", "base64"]).unwrap(),
            "/stores/counts/keys/cTA%3D?key-encoding=base64"
        );
    }

    #[test]
    fn questions_that_do_not_fit_are_refused() {
        assert!(path(&["counts"]).is_err(), "a key, --range or --prefix is needed");
        assert!(path(&["counts", "k", "--range", "a..b"]).is_err());
        assert!(path(&["counts", "--prefix", "a", "--range", "a..b"]).is_err());
        assert!(path(&["counts", "--prefix", "a", "--windows", "1..2"]).is_err());
        assert_eq!(
            path(&["counts", "--range", "a"]).unwrap_err(),
            "--range \"a\": write FROM..TO (either side may be empty, e.g. a..m or ..m)"
        );
    }

    #[test]
    fn a_token_file_must_hold_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret\n").unwrap();
        assert_eq!(read_token(&file).unwrap(), "s3cret");
        std::fs::write(&file, "\n").unwrap();
        assert!(read_token(&file).unwrap_err().to_string().contains("it is empty"));
        assert!(read_token(&dir.path().join("none")).is_err());
    }
}
