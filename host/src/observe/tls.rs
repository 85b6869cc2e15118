//! `--http-tls-cert FILE --http-tls-key FILE`: `--http` over TLS (rustls,
//! with ring's cryptography), so a bearer token and the stores' values
//! never cross the network in clear. Every endpoint is served the same way
//! over TLS; redirects to another instance then name `https://`, so every
//! instance of an application should be given a certificate.
//!
//! The files are PEM: the certificate chain (leaf first) and its private
//! key (PKCS#8, PKCS#1 or SEC1).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the certificate or key cannot serve TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read as PEM of the expected kind.
    #[error("{flag} {}: {problem}\n  fix: {fix}", path.display())]
    File {
        /// The flag that named it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
        /// What to give instead.
        fix: &'static str,
    },
    /// rustls refused the pair (the key does not match the certificate, or
    /// an algorithm it does not support).
    #[error("--http-tls-cert {} with --http-tls-key {}: {problem}\n  fix: give the key that belongs to the certificate", cert.display(), key.display())]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        problem: String,
    },
}

/// The TLS side of `--http`: what accepts connections.
pub fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, TlsError> {
    let chain = certificates("--http-tls-cert", cert)?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
        flag: "--http-tls-key",
        path: key.to_path_buf(),
        problem: format!("no private key in it ({e})"),
        fix: "give the PEM private key of the certificate (BEGIN PRIVATE KEY)",
    })?;
    let pair = |problem: String| TlsError::Pair {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        problem,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| pair(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| pair(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The client side, for `rill query --tls-ca FILE`: trusts the
/// certificates in `ca` (PEM) and nothing else.
pub fn connector(ca: &Path) -> Result<tokio_rustls::TlsConnector, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates("--tls-ca", ca)? {
        roots.add(certificate).map_err(|e| TlsError::File {
            flag: "--tls-ca",
            path: ca.to_path_buf(),
            problem: e.to_string(),
            fix: "give the PEM certificate of the authority that signed the server's",
        })?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::File {
            flag: "--tls-ca",
            path: ca.to_path_buf(),
            problem: e.to_string(),
            fix: "report this: the built-in protocol versions were refused",
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The PEM certificates in `path` (named by `flag`), at least one.
fn certificates(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let refused = |problem: String| TlsError::File {
        flag,
        path: path.to_path_buf(),
        problem,
        fix: "give a PEM file of certificates (BEGIN CERTIFICATE), the server's first",
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| refused(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| refused(e.to_string()))?;
    if chain.is_empty() {
        return Err(refused("no certificate in it".into()));
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_that_are_not_pem_certificates_and_keys_are_refused_by_flag_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");

        let refused = acceptor(&junk, &junk).err().unwrap().to_string();
        assert!(refused.starts_with("--http-tls-cert "), "{refused}");
        assert!(refused.contains("no certificate in it"), "{refused}");
        assert!(refused.contains("fix: give a PEM file of certificates"), "{refused}");
        let unread = acceptor(&missing, &junk).err().unwrap().to_string();
        assert!(
            unread.starts_with("--http-tls-cert ") && unread.contains("missing.pem"),
            "{unread}"
        );
        let ca = connector(&junk).err().unwrap().to_string();
        assert!(ca.starts_with("--tls-ca "), "{ca}");
    }
}
