//! TLS for the HTTP API and the stream (rustls, ring provider): the server certificate and key,
//! optionally a CA whose client certificates are verified (mTLS, required or optional), read from
//! PEM files and read again whenever one of them changes.
//!
//! A reload that fails (a half-written file, a key that does not match) keeps the configuration
//! in force and says why; connections already open keep the one they started with. A verified
//! client certificate's subject CN is handed on, for the access layer to map to a user.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The largest PEM file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// Where the TLS material is, and whether clients must present a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CA that signs client certificates (PEM); `None`: no client certificates.
    pub client_ca: Option<PathBuf>,
    /// A client without a certificate from `client_ca` is refused at the handshake.
    pub require_client_cert: bool,
}

/// Why the TLS material cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read, or is too large.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the material (e.g. the key does not match the certificate).
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn read_limited(path: &Path) -> Result<Vec<u8>, TlsError> {
    crate::files::read_limited(path, MAX_PEM_BYTES).map_err(|e| TlsError::File { path: path.display().to_string(), reason: e.to_string() })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_limited(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::File { path: path.display().to_string(), reason: format!("not PEM certificates: {e}") })?;
    if certs.is_empty() {
        return Err(TlsError::File { path: path.display().to_string(), reason: "no certificate in it".into() });
    }
    Ok(certs)
}

/// Builds a server configuration from the files.
///
/// # Errors
/// [`TlsError`] naming the file or what rustls refused.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let chain = certificates(&files.cert)?;
    let key = PrivateKeyDer::from_pem_slice(&read_limited(&files.key)?)
        .map_err(|e| TlsError::File { path: files.key.display().to_string(), reason: format!("no private key in it: {e}") })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certificates(ca)? {
                roots.add(c).map_err(|e| TlsError::File { path: ca.display().to_string(), reason: e.to_string() })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if files.require_client_cert { verifier } else { verifier.allow_unauthenticated() };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| TlsError::Config(e.to_string()))?)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The TLS configuration in force, replaced when the files change (cheap to clone).
#[derive(Clone, Debug)]
pub struct Tls {
    files: Arc<TlsFiles>,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl Tls {
    /// Reads the files.
    ///
    /// # Errors
    /// [`TlsError`] when they cannot be used.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = server_config(&files)?;
        Ok(Self { files: Arc::new(files), current: Arc::new(RwLock::new(Arc::new(config))) })
    }

    /// Reads the files again; on failure the configuration in force stays.
    ///
    /// # Errors
    /// [`TlsError`] saying why the new files were refused.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(server_config(&self.files)?);
        match self.current.write() {
            Ok(mut c) => *c = config,
            Err(p) => *p.into_inner() = config,
        }
        Ok(())
    }

    fn acceptor(&self) -> TlsAcceptor {
        let config = self.current.read().map_or_else(|p| p.into_inner().clone(), |c| c.clone());
        TlsAcceptor::from(config)
    }

    /// Runs the handshake within `deadline`; answers the stream and the subject CN of the
    /// client's verified certificate, if it gave one.
    ///
    /// # Errors
    /// The handshake's failure, or a timeout.
    pub async fn accept(&self, tcp: TcpStream, deadline: Duration) -> std::io::Result<(TlsStream<TcpStream>, Option<String>)> {
        let handshake = self.acceptor().accept(tcp);
        let stream = tokio::time::timeout(deadline, handshake)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        let cn = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(|c| common_name(c));
        Ok((stream, cn))
    }

    /// Watches the files' folders; each change reloads (logged either way).
    ///
    /// # Errors
    /// The watcher's error.
    pub fn watch(&self) -> notify::Result<Vec<crate::adapters::watch::Watcher>> {
        let mut dirs: Vec<PathBuf> = [Some(&self.files.cert), Some(&self.files.key), self.files.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .map(|f| f.parent().filter(|d| !d.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf))
            .collect();
        dirs.sort();
        dirs.dedup();
        let names: Vec<PathBuf> = [Some(&self.files.cert), Some(&self.files.key), self.files.client_ca.as_ref()].into_iter().flatten().cloned().collect();
        let mut watchers = Vec::new();
        for dir in dirs {
            let (tls, names) = (self.clone(), names.clone());
            let w = crate::adapters::watch::start_filtered(&dir, Duration::from_millis(200), |_| true, move |p, exists| {
                // a change to any of the files (by name) reloads all of them
                if exists && names.iter().any(|n| n.file_name() == p.file_name()) {
                    match tls.reload() {
                        Ok(()) => tracing::info!(file = %p.display(), "TLS certificate reloaded"),
                        Err(e) => tracing::error!(error = %e, "TLS files refused; the certificate in force stays"),
                    }
                }
            })?;
            watchers.push(w);
        }
        Ok(watchers)
    }
}

/// A certificate's subject common name.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_owned();
    Some(cn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn material_is_checked_and_named() {
        let dir = tempfile::tempdir().expect("dir");
        let a = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let b = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let cert = write(dir.path(), "cert.pem", &a.cert.pem());
        let key = write(dir.path(), "key.pem", &a.signing_key.serialize_pem());
        let other_key = write(dir.path(), "other.pem", &b.signing_key.serialize_pem());
        let files = |cert: &Path, key: &Path| TlsFiles { cert: cert.into(), key: key.into(), client_ca: None, require_client_cert: true };
        let tls = Tls::load(files(&cert, &key)).expect("good material");
        assert!(server_config(&files(&cert, &other_key)).is_err_and(|e| matches!(e, TlsError::Config(_))), "a key of another certificate");
        let junk = write(dir.path(), "junk.pem", "not PEM at all");
        assert!(server_config(&files(&junk, &key)).is_err_and(|e| e.to_string().contains("no certificate in it")));
        assert!(server_config(&files(&dir.path().join("missing.pem"), &key)).is_err_and(|e| e.to_string().contains("missing.pem")));
        let mut with_ca = files(&cert, &key);
        with_ca.client_ca = Some(junk);
        assert!(server_config(&with_ca).is_err(), "a client CA file without certificates");
        // a failed reload keeps what is in force
        std::fs::write(&cert, "broken").expect("write");
        assert!(tls.reload().is_err());
        assert!(tls.acceptor().config().alpn_protocols.contains(&b"http/1.1".to_vec()));
        assert_eq!(common_name(a.cert.der()).as_deref(), Some("rcgen self signed cert"));
        assert_eq!(common_name(b"not DER"), None);
    }
}
