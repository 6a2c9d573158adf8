//! The certification centres (УЦ) whose certificates registration trusts (`--trusted-ca`,
//! `--crl`), loaded once at start. Without any, registration checks each signature and its
//! certificate's dates but not who issued the certificate: the local/demo mode.

use std::path::PathBuf;
use std::sync::Arc;

use zdrav_gost::TrustStore;

/// Loads the trusted CA files (PEM bundles or DER) and CRL files; `None` when no CA is given.
/// A file that cannot be read or parsed fails with a message naming it and what is wrong.
pub fn load(
    ca_files: &[PathBuf],
    crl_files: &[PathBuf],
) -> Result<Option<Arc<TrustStore>>, String> {
    if ca_files.is_empty() {
        if let Some(crl) = crl_files.first() {
            return Err(format!(
                "--crl {} needs --trusted-ca: CRLs are checked only on paths to trusted CAs",
                crl.display()
            ));
        }
        return Ok(None);
    }
    let mut store = TrustStore::new();
    // CAs first: a CRL of a trusted CA is verified with its key as it loads.
    for path in ca_files {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("--trusted-ca {}: cannot read: {e}", path.display()))?;
        store
            .add_certificates(&bytes)
            .map_err(|e| format!("--trusted-ca {}: {e}", path.display()))?;
    }
    for path in crl_files {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("--crl {}: cannot read: {e}", path.display()))?;
        store
            .add_crls(&bytes)
            .map_err(|e| format!("--crl {}: {e}", path.display()))?;
    }
    Ok(Some(Arc::new(store)))
}
