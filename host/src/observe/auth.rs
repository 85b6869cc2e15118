//! Who may read `--http`: with `--http-token-file`, every endpoint but
//! `/health` (the liveness probe, which says only that the process is up)
//! asks for `Authorization: Bearer <token>`. No token is a 401 (with
//! `WWW-Authenticate: Bearer`), a wrong one a 403; both are answered before
//! routing, the same for every path, so a refusal never says whether a
//! store, a key or even an endpoint exists.
//!
//! Tokens are compared as SHA-256 digests with a fold of their XORs: the
//! time taken depends on neither where the bytes differ nor the token's
//! length, so it cannot be guessed byte by byte.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The one path answered without a token.
pub const OPEN_PATH: &str = "/health";

/// The bearer token `--http` requires, kept as its digest.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// Why the token file is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// It could not be read.
    #[error("--http-token-file {}: cannot read it: {source}\n  fix: name a readable file holding the token", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It holds nothing but white space.
    #[error("--http-token-file {}: it is empty\n  fix: write a token into it, e.g. `openssl rand -hex 32 > {}`", path.display(), path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Whether a request may be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The token matches.
    Allowed,
    /// No bearer token came with it: 401.
    Missing,
    /// The token is not the one required: 403.
    Wrong,
}

impl Token {
    /// The token in `path` (surrounding white space trimmed, so a trailing
    /// newline is not part of it).
    pub fn from_file(path: &Path) -> Result<Token, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(TokenError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Token::new(token))
    }

    /// A token from its text.
    pub fn new(text: &str) -> Token {
        Token {
            digest: Sha256::digest(text.as_bytes()).into(),
        }
    }

    /// What `headers` earn.
    pub fn check(&self, headers: &HeaderMap) -> Verdict {
        let Some(offered) = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
        else {
            return Verdict::Missing;
        };
        let offered: [u8; 32] = Sha256::digest(offered.trim().as_bytes()).into();
        let difference = offered.iter().zip(&self.digest).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference == 0 {
            Verdict::Allowed
        } else {
            Verdict::Wrong
        }
    }
}

/// The axum middleware (`from_fn_with_state`): answers the request only
/// when `token` allows it (or it asks for [`OPEN_PATH`]).
pub async fn require(State(token): State<Token>, request: Request, next: Next) -> Response {
    if request.uri().path() == OPEN_PATH {
        return next.run(request).await;
    }
    match token.check(request.headers()) {
        Verdict::Allowed => next.run(request).await,
        Verdict::Missing => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(serde_json::json!({"error": "a bearer token is required (Authorization: Bearer <token>)"})),
        )
            .into_response(),
        Verdict::Wrong => (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({"error": "the bearer token is not accepted"})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn only_the_exact_bearer_token_is_allowed() {
        let token = Token::new("s3cret");
        assert_eq!(token.check(&with("Bearer s3cret")), Verdict::Allowed);
        assert_eq!(token.check(&HeaderMap::new()), Verdict::Missing);
        assert_eq!(
            token.check(&with("Basic czNjcmV0")),
            Verdict::Missing,
            "not a bearer token"
        );
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "Bearer "] {
            assert_eq!(token.check(&with(wrong)), Verdict::Wrong, "{wrong}");
        }
        assert_eq!(format!("{token:?}"), "Token(..)", "never printed");
    }

    #[test]
    fn the_token_file_is_trimmed_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret\n").unwrap();
        let token = Token::from_file(&file).unwrap();
        assert_eq!(token.check(&with("Bearer s3cret")), Verdict::Allowed);
        std::fs::write(&file, " \n").unwrap();
        assert!(matches!(Token::from_file(&file), Err(TokenError::Empty { .. })));
        assert!(matches!(
            Token::from_file(&dir.path().join("missing")),
            Err(TokenError::Read { .. })
        ));
    }

    #[test]
    fn refusals_come_before_routing_and_say_nothing_of_stores() {
        use axum::Router;
        use axum::routing::get;
        let token = Token::new("s3cret");
        let app = Router::new()
            .route("/health", get(|| async { "up" }))
            .route("/stores/{store}/keys/{key}", get(|| async { "value" }))
            .layer(axum::middleware::from_fn_with_state(token, require));
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let status = |path: &str, authorization: Option<&str>| {
            let mut request = axum::http::Request::get(path);
            if let Some(value) = authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            let request = request.body(axum::body::Body::empty()).unwrap();
            let response = runtime
                .block_on(tower::ServiceExt::oneshot(app.clone(), request))
                .unwrap();
            response.status().as_u16()
        };
        assert_eq!(status("/health", None), 200, "liveness stays open");
        assert_eq!(status("/stores/counts/keys/q1", None), 401);
        assert_eq!(status("/stores/counts/keys/q1", Some("Bearer nope")), 403);
        assert_eq!(status("/stores/counts/keys/q1", Some("Bearer s3cret")), 200);
        // An unknown path is refused the same way: nothing is revealed.
        assert_eq!(status("/stores/nothing/here/at/all", None), 401);
        assert_eq!(status("/stores/nothing/here/at/all", Some("Bearer nope")), 403);
        assert_eq!(status("/stores/nothing/here/at/all", Some("Bearer s3cret")), 404);
    }
}
