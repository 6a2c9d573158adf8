//! `zdrav nsi import FILE --oid OID --version V`: a Минздрав НСИ dictionary export (the CSV form
//! of ../shared/data/nsi, gzip too) becomes the CodeSystem `urn:oid:OID` version V, written
//! through the same validated path as `PUT CodeSystem/[id]`. Each version is its own resource,
//! so older versions stay and `$lookup?version=` can still ask for them; the newest is the
//! default.

use std::io::Read;
use std::path::PathBuf;

use zdrav_server::rest::{self, Conditions};
use zdrav_server::Ctx;

/// What `zdrav nsi import` was asked for.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The CSV export (semicolon-separated, header row; .gz too).
    pub file: PathBuf,
    /// The dictionary's OID, e.g. 1.2.643.5.1.13.13.11.1005.
    #[arg(long)]
    pub oid: String,
    /// The dictionary's version, e.g. 2.27.
    #[arg(long)]
    pub version: String,
    /// A title for the CodeSystem (default: the OID).
    #[arg(long)]
    pub title: Option<String>,
}

/// Imports the dictionary; returns what was written.
pub async fn import(ctx: &Ctx, a: ImportArgs) -> Result<String, String> {
    zdrav_ru::check_oid(&a.oid)?;
    let raw = std::fs::read(&a.file).map_err(|e| format!("{}: {e}", a.file.display()))?;
    let mut text = String::new();
    if raw.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .map_err(|e| format!("{}: not valid gzip UTF-8: {e}", a.file.display()))?;
    } else {
        text = String::from_utf8(raw).map_err(|_| format!("{}: not UTF-8", a.file.display()))?;
    }
    let cs = zdrav_terminology::nsi::code_system_from_csv(
        &text,
        &a.oid,
        &a.version,
        a.title.as_deref(),
    )?;
    let id = cs["id"].as_str().unwrap_or_default().to_string();
    let count = cs["count"].as_u64().unwrap_or(0);
    let reply = rest::update(ctx, "CodeSystem", &id, cs, &Conditions::default())
        .await
        .map_err(|e| {
            let why: Vec<String> = e.issues.iter().map(|i| i.diagnostics.clone()).collect();
            format!("the CodeSystem was refused: {}", why.join("; "))
        })?;
    Ok(format!(
        "CodeSystem/{id} (urn:oid:{} version {}): {count} concepts, HTTP {}",
        a.oid, a.version, reply.status
    ))
}
