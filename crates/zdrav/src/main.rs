//! The `zdrav` binary: `serve` runs the FHIR server, `load` bulk-loads transaction bundles and
//! NDJSON (gzip too) into a database, `export` writes a database out as NDJSON files.

mod demo;
mod export;
mod load;
mod nsi;
mod tls;
mod token;

// glibc malloc dominated ingest profiles (~15% of CPU in malloc/free/consolidate) and kept
// hundreds of MB in per-thread arenas after bulk writes; mimalloc is faster on the many small
// JSON allocations and returns memory to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's option enum (v2 and v3 alike).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc give freed memory back to the OS at once. With its default delay, memory
/// freed on a thread that then idles (a blocking-pool thread after a large transaction) stays
/// resident until the thread allocates again: 380 MB instead of 165 MB after loading 570k
/// resources, for no measurable gain in ingest or read throughput.
fn release_memory_promptly() {
    // SAFETY: sets a process-wide allocator option; mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use zdrav_server::Limits;
use zdrav_store::{DynStore, PgStore, SqliteStore};

/// zdrav: the single digital health contour over FHIR R4.
#[derive(Parser)]
#[command(name = "zdrav", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// `zdrav nsi ...`.
#[derive(Subcommand)]
enum NsiCmd {
    /// Import a dictionary version from its CSV export.
    Import(nsi::ImportArgs),
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the FHIR API at /fhir, health at /health and metrics at /metrics.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Database: sqlite://PATH (the embedded default).
        #[arg(long, default_value = "sqlite://zdrav.db")]
        database: String,
        /// Serve without authentication (local testing only; refused unless on loopback).
        #[arg(long)]
        no_auth: bool,
        /// Public base URL of the FHIR API (default: http://LISTEN/fhir).
        #[arg(long)]
        base_url: Option<String>,
        /// Load the demo (synthetic patients and a Russian demo clinic with signed documents)
        /// if the database is empty, open the demo schedules, and let the demo users sign in.
        #[arg(long)]
        demo: bool,
        /// Largest request body, in MiB.
        #[arg(long, default_value_t = 64)]
        max_body_mib: usize,
        /// Most entries in a batch or transaction Bundle.
        #[arg(long, default_value_t = 20_000)]
        max_bundle_entries: usize,
        /// Deepest JSON nesting accepted.
        #[arg(long, default_value_t = 64)]
        max_json_depth: usize,
        /// Largest body of a registered document (РЭМД), in bytes after base64 decoding.
        #[arg(long, default_value_t = 33_554_432)]
        max_document_bytes: usize,
        /// Refuse references to types outside an element's targetProfile list (default: warn).
        #[arg(long)]
        strict_reference_targets: bool,
        /// Directory for $export files (default: zdrav-export beside a SQLite database file).
        #[arg(long)]
        export_dir: Option<PathBuf>,
        /// Clients and users of the built-in SMART authorization server (JSON).
        #[arg(long)]
        auth_config: Option<PathBuf>,
        /// Requests per second per client (token subject, or address before sign-in), bursts
        /// of twice that; 0 turns limits off. Default: 100 with authentication, off without.
        #[arg(long)]
        rate_limit: Option<u32>,
        /// A binding this deployment requires, e.g.
        /// Condition.code=urn:oid:1.2.643.5.1.13.13.11.1005 (МКБ-10); repeatable.
        #[arg(long = "require-binding")]
        require_binding: Vec<String>,
        /// Open (future, pending or booked) appointments one patient may hold at most.
        #[arg(long, default_value_t = 5)]
        max_open_appointments: usize,
        /// Seconds a waiting-list offer stays open before it goes to the next patient.
        #[arg(long, default_value_t = 86_400)]
        waitlist_offer_seconds: u64,
        /// Do not run the outbox worker (the waiting list) in this process: another one does.
        #[arg(long)]
        no_outbox_worker: bool,
        /// Also trust tokens of this external issuer (its `iss`), with keys from --jwks-file.
        #[arg(long, requires = "jwks_file")]
        issuer: Option<String>,
        /// The external issuer's JWKS (a file, e.g. fetched from Keycloak's certs endpoint).
        #[arg(long, requires = "issuer")]
        jwks_file: Option<PathBuf>,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// A certification centre (УЦ) certificate registration trusts: PEM bundle or DER;
        /// repeatable. With none, signer certificates are not checked against any CA (demo).
        #[arg(long = "trusted-ca")]
        trusted_ca: Vec<PathBuf>,
        /// A CRL (PEM or DER) of a trusted CA or an intermediate; repeatable; needs --trusted-ca.
        #[arg(long)]
        crl: Vec<PathBuf>,
    },
    /// Print a bearer token that a server on the same database accepts.
    Token {
        /// Database: sqlite://PATH or postgres://URL (the signing key lives there).
        #[arg(long, default_value = "sqlite://zdrav.db")]
        database: String,
        #[command(flatten)]
        args: token::Args,
    },
    /// Bulk-load transaction/batch Bundles (.json) and NDJSON (.ndjson), gzip too (.gz).
    Load {
        /// Database: sqlite://PATH.
        #[arg(long, default_value = "sqlite://zdrav.db")]
        database: String,
        /// Files or directories to load.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Минздрав НСИ dictionaries: `zdrav nsi import FILE --oid OID --version V`.
    Nsi {
        /// Database: sqlite://PATH or postgres://URL.
        #[arg(long, default_value = "sqlite://zdrav.db", global = true)]
        database: String,
        #[command(subcommand)]
        cmd: NsiCmd,
    },
    /// Export resources as <Type>.ndjson files (FHIR Bulk Data format), straight from the store.
    Export {
        /// Database: sqlite://PATH.
        #[arg(long, default_value = "sqlite://zdrav.db")]
        database: String,
        /// Output directory (created; must be new or empty).
        #[arg(long)]
        out: PathBuf,
        /// Only these resource types (comma-separated), like `_type`.
        #[arg(long = "type")]
        types: Option<String>,
        /// Only resources last updated at or after this FHIR instant, like `_since`.
        #[arg(long)]
        since: Option<String>,
        /// Only patients and the resources in their compartments, like `Patient/$export`.
        #[arg(long)]
        patient_level: bool,
    },
}

/// Opens the store named by a `--database` URL.
async fn open_store(url: &str) -> Result<DynStore, String> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err("sqlite:// needs a file path, e.g. sqlite://zdrav.db".into());
        }
        let store = SqliteStore::open(std::path::Path::new(path))
            .map_err(|e| format!("cannot open {url}: {e}"))?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PgStore::connect(url)
            .await
            .map_err(|e| format!("cannot open {url}: {e}"))?;
        return Ok(Arc::new(store));
    }
    Err(format!(
        "unsupported --database '{url}': use sqlite://PATH or postgres://USER@HOST:PORT/DB"
    ))
}

fn main() -> std::process::ExitCode {
    release_memory_promptly();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Idle blocking threads (store work) end after a second instead of ten: a thread that
        // ran a large commit and then idles keeps the memory freed into its allocator heap
        // until it ends (measured: 405 MB instead of 170 MB resident at 570k resources).
        .thread_keep_alive(std::time::Duration::from_secs(1))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zdrav: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zdrav: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Serve {
            listen,
            database,
            no_auth,
            base_url,
            demo,
            max_body_mib,
            max_bundle_entries,
            max_json_depth,
            max_document_bytes,
            strict_reference_targets,
            export_dir,
            auth_config,
            rate_limit,
            require_binding,
            max_open_appointments,
            waitlist_offer_seconds,
            no_outbox_worker,
            issuer,
            jwks_file,
            tls_cert,
            tls_key,
            trusted_ca,
            crl,
        } => {
            if no_auth && !listen.ip().is_loopback() {
                return Err(format!(
                    "--no-auth is for local testing only and is refused on {}: listen on 127.0.0.1 or [::1]",
                    listen.ip()
                ));
            }
            let store = open_store(&database).await?;
            let limits = Limits {
                max_body_bytes: max_body_mib.saturating_mul(1024 * 1024),
                max_bundle_entries,
                max_json_depth,
                max_document_bytes,
                ..Limits::default()
            };
            // Read the certificate before anything else, so a bad one fails at once.
            let tls = match (&tls_cert, &tls_key) {
                (Some(c), Some(k)) => Some(tls::acceptor(c, k)?),
                _ => None,
            };
            // Likewise the trusted CAs and CRLs: a bad file must not surface at the first signing.
            let trust = zdrav_server::trust::load(&trusted_ca, &crl)?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            let base = base_url.unwrap_or_else(|| format!("{scheme}://{listen}/fhir"));
            let mut ctx =
                zdrav_server::context(store, base.trim_end_matches('/').to_string(), limits);
            ctx.validation.strict_reference_targets = strict_reference_targets;
            match &trust {
                Some(t) => tracing::info!(
                    cas = ?t.subjects(),
                    crls = t.crl_count(),
                    "registration trusts signer certificates of these certification centres"
                ),
                None => tracing::warn!(
                    "no --trusted-ca: signer certificates of registered documents are not checked against trusted certification centres (local/demo mode)"
                ),
            }
            ctx.trust = trust;
            let mut required = Vec::new();
            for spec in &require_binding {
                required.push(zdrav_server::bindings::resolve(&ctx, spec).await?);
            }
            ctx.required_bindings = Arc::new(required);
            let mut booking = zdrav_server::booking::Booking::new(max_open_appointments);
            booking.offer_ttl = std::time::Duration::from_secs(waitlist_offer_seconds.max(1));
            ctx.booking = Arc::new(booking);
            if !no_outbox_worker {
                zdrav_server::booking::waitlist::start(ctx.clone());
            }
            // The pages sign users in with the built-in issuer even when the API runs without
            // authentication, so that they act as a real user under the API's rules.
            let mut security = zdrav_server::auth::Security::open(&ctx.store).await?;
            if let Some(path) = &auth_config {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                security.config = zdrav_server::smart::AuthConfig::from_json(&text)?;
            } else if demo {
                security.config.users = demo::users();
            }
            // Audit events are written for authenticated callers only, so this records the
            // pages' users also under --no-auth.
            ctx.audit = Some(zdrav_server::audit::Audit::start(ctx.store.clone()));
            if !no_auth {
                if let (Some(iss), Some(path)) = (&issuer, &jwks_file) {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    let jwks: serde_json::Value = serde_json::from_str(&text)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    let n = security.verifier.trust_jwks(iss, &jwks)?;
                    if n == 0 {
                        return Err(format!(
                            "{} has no RS256 or ES256 (P-256) key with a kid",
                            path.display()
                        ));
                    }
                    tracing::info!(issuer = %iss, keys = n, "trusting an external issuer");
                }
                ctx.security = Some(Arc::new(security.clone()));
            } else if auth_config.is_some() || issuer.is_some() {
                return Err(
                    "--auth-config and --issuer need authentication on: drop --no-auth".into(),
                );
            }
            let rate = rate_limit.unwrap_or(if no_auth { 0 } else { 100 });
            if rate > 0 {
                ctx.rate_limit = Some(Arc::new(zdrav_server::limits::RateLimiter::new(rate)));
            }
            export::serve_jobs(&mut ctx, &database, export_dir);
            if demo {
                demo::load(&ctx).await?;
            }
            let store_label = if database.starts_with("postgres") {
                "PostgreSQL"
            } else {
                "SQLite (встроенная)"
            };
            let pages = zdrav_web::router(zdrav_web::Web::new(
                ctx.clone(),
                Arc::new(security.clone()),
                security.config.users.clone(),
                demo,
                store_label.into(),
            ));
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            tracing::info!(%listen, %database, "zdrav is serving FHIR R4 at {}", ctx.base);
            eprintln!(
                "zdrav: FHIR API at {} (CapabilityStatement: {}/metadata)",
                ctx.base, ctx.base
            );
            let root = ctx
                .base
                .strip_suffix("/fhir")
                .unwrap_or(&ctx.base)
                .to_string();
            eprintln!(
                "zdrav: start page at {root}/ («Мое здоровье»: {root}/portal, АРМ: {root}/arm)"
            );
            if demo && auth_config.is_none() {
                eprintln!("zdrav: demo users (password = name): patient, patient2, mother, doctor, cardio, registrar");
            }
            if let Some(acceptor) = tls {
                return tls::serve(listener, zdrav_server::app_with(ctx, pages), acceptor).await;
            }
            let app = zdrav_server::app_with(ctx, pages)
                .into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
                .map_err(|e| format!("server error: {e}"))
        }
        Cmd::Export {
            database,
            out,
            types,
            since,
            patient_level,
        } => {
            let store = open_store(&database).await?;
            export::run(
                store,
                &out,
                types.as_deref(),
                since.as_deref(),
                patient_level,
            )
            .await
        }
        Cmd::Token { database, args } => {
            let store = open_store(&database).await?;
            println!("{}", token::run(store, args).await?);
            Ok(())
        }
        Cmd::Nsi {
            database,
            cmd: NsiCmd::Import(args),
        } => {
            let store = open_store(&database).await?;
            let ctx = zdrav_server::context(store, "urn:zdrav:nsi".into(), Limits::default());
            println!("{}", nsi::import(&ctx, args).await?);
            Ok(())
        }
        Cmd::Load { database, paths } => {
            let store = open_store(&database).await?;
            let ctx = zdrav_server::context(store, "urn:zdrav:load".into(), Limits::default());
            let stats = load::load_paths(&ctx, &paths).await?;
            println!(
                "loaded {} resources from {} files in {:.2} s: {:.0} resources/s",
                stats.resources,
                stats.files,
                stats.seconds,
                stats.resources as f64 / stats.seconds.max(1e-9)
            );
            Ok(())
        }
    }
}
