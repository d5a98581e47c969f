//! TLS to the acceptor: the client configuration from the settings' PEM files (the authorities
//! to trust, and a client certificate when the acceptor asks for one), built once per
//! connection attempt so that renewed files are read again.

use crate::settings::TlsSettings;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use std::sync::Arc;

/// A client connection to `settings.server_name`, checked against the configured authorities.
///
/// # Errors
/// A text naming the file or setting at fault.
pub fn client(settings: &TlsSettings) -> Result<ClientConnection, String> {
    let mut roots = RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(&settings.ca_file).map_err(|e| format!("TLS_CA_FILE {}: {e}", settings.ca_file))?;
    for ca in cas {
        let ca = ca.map_err(|e| format!("TLS_CA_FILE {}: {e}", settings.ca_file))?;
        roots.add(ca).map_err(|e| format!("TLS_CA_FILE {}: {e}", settings.ca_file))?;
    }
    if roots.is_empty() {
        return Err(format!("TLS_CA_FILE {}: no certificate in it", settings.ca_file));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    let config = match &settings.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| format!("TLS_CERT_FILE {cert}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("TLS_CERT_FILE {cert}: {e}"))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("TLS_KEY_FILE {key}: {e}"))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("TLS client certificate: {e}"))?
        }
    };
    let name = ServerName::try_from(settings.server_name.clone()).map_err(|e| format!("TLS_SERVER_NAME {:?}: {e}", settings.server_name))?;
    ClientConnection::new(Arc::new(config), name).map_err(|e| format!("TLS: {e}"))
}
