//! TLS client configuration for `turns:` servers: rustls with the *ring* provider, trusting the
//! system's root certificates plus root certificates given by the user (private CAs, tests).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::error::{Error, Result};

/// Reads every PEM `CERTIFICATE` of the file at `path`, to pass to [`client_config`] as extra
/// trusted roots. A file without any certificate is an error.
pub(crate) fn read_pem_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bad = |why: String| Error::Tls(format!("CA file {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The system's root certificates (`rustls-native-certs`), read once per process. Unreadable
/// or unparsable system certificates are skipped.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// A TLS client configuration (TLS 1.2 and 1.3, *ring*) trusting the system roots and
/// `extra_roots` (from [`read_pem_roots`]); no client certificate. Build it once and share it:
/// connections made with one configuration resume sessions.
pub(crate) fn client_config(extra_roots: &[CertificateDer<'static>]) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(system_roots().iter().cloned());
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| Error::Tls(format!("unusable CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_builds_with_system_roots_only() {
        assert!(client_config(&[]).is_ok());
    }

    #[test]
    fn pem_file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("floe-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = read_pem_roots(&empty).unwrap_err().to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let missing = dir.join("missing.pem");
        let e = read_pem_roots(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with("TLS: CA file ") && e.contains("missing.pem"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
