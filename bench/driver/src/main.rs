//! `zdrav-bench`: a small HTTP load driver for FHIR servers, used by `bench/run.sh` to measure
//! zdrav and a peer on the same data in the same run. It speaks only standard FHIR REST, so any
//! R4 server can be measured with it.

use clap::{Parser, Subcommand};

mod booking;
mod mpi;
mod remd;
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "zdrav-bench", about = "HTTP load driver for FHIR servers")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// POST every transaction bundle (.json or .json.gz) of a directory; prints resources/s.
    Ingest {
        /// FHIR base URL.
        #[arg(long)]
        base: String,
        /// Directory of bundles.
        #[arg(long)]
        dir: PathBuf,
        /// Bundles in flight at once.
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Post the whole directory this many times (every POST creates new resources), to
        /// reach larger volumes from the same files.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
    /// GET random resources by id for a while; prints requests/s, p50 and p99.
    Read {
        /// FHIR base URL.
        #[arg(long)]
        base: String,
        /// Resource type whose ids to read.
        #[arg(long, default_value = "Observation")]
        rtype: String,
        /// How many ids to collect first.
        #[arg(long, default_value_t = 2000)]
        ids: usize,
        /// Seconds to run.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Runs a query repeatedly; prints p50 and p99 latency and the result total.
    Query {
        /// FHIR base URL.
        #[arg(long)]
        base: String,
        /// Query path relative to the base, e.g. `Observation?code=8867-4&_count=50`.
        #[arg(long)]
        path: String,
        /// Name of the query in the RESULT line.
        #[arg(long)]
        name: Option<String>,
        /// Repetitions.
        #[arg(long, default_value_t = 200)]
        n: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// Writes a population of Russian patients as NDJSON (.gz too) for `zdrav load`.
    Patients {
        /// How many.
        #[arg(long)]
        count: u64,
        /// Population seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Booking throughput (`$book`) and `$find` latency under a find-then-book load.
    Booking {
        /// FHIR base URL.
        #[arg(long)]
        base: String,
        /// Schedules (doctors) in the clinic.
        #[arg(long, default_value_t = 50)]
        doctors: usize,
        /// Working days of slots (48 a day per doctor).
        #[arg(long, default_value_t = 10)]
        days: usize,
        /// Bookings per phase.
        #[arg(long, default_value_t = 5000)]
        bookings: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Registration throughput of signed documents (material from `bench/remd_fixture.sh`).
    Remd {
        /// FHIR base URL.
        #[arg(long)]
        base: String,
        /// Directory with body.txt, doctor.p7s and clinic.p7s.
        #[arg(long)]
        dir: PathBuf,
        /// Documents to register.
        #[arg(long, default_value_t = 2000)]
        n: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Times `Patient/$match` with mistyped members of a population; prints p50/p99 and hits.
    Match {
        /// FHIR base URL.
        #[arg(long)]
        base: String,
        /// The population's size and seed (as given to `patients`).
        #[arg(long)]
        count: u64,
        /// Population seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Probes.
        #[arg(long, default_value_t = 200)]
        n: usize,
    },
}

/// The `p` quantile of sorted latencies, in milliseconds (0 when there are none).
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len().max(1) - 1) as f64 * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

async fn ingest(
    base: String,
    dir: PathBuf,
    concurrency: usize,
    repeat: usize,
) -> Result<(), String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.to_string_lossy().ends_with(".json") || p.to_string_lossy().ends_with(".json.gz")
        })
        .collect();
    files.sort();
    let mut bodies = Vec::new();
    let mut resources = 0usize;
    for f in &files {
        let raw = std::fs::read(f).map_err(|e| e.to_string())?;
        let data = if f.to_string_lossy().ends_with(".gz") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .map_err(|e| e.to_string())?;
            out
        } else {
            raw
        };
        let v: Value = serde_json::from_slice(&data).map_err(|e| e.to_string())?;
        resources += v["entry"].as_array().map_or(0, Vec::len);
        bodies.push(data);
    }
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let files = bodies.len();
    resources *= repeat.max(1);
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(bodies);
    let posts = files * repeat.max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, bodies, base) =
            (client.clone(), next.clone(), bodies.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= posts {
                    return Ok::<(), String>(());
                }
                let Some(body) = bodies.get(i % files) else {
                    return Ok(());
                };
                let r = client
                    .post(&base)
                    .header("content-type", "application/fhir+json")
                    .header("prefer", "return=minimal")
                    .body(body.clone())
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let status = r.status();
                if !status.is_success() {
                    let text = r.text().await.unwrap_or_default();
                    return Err(format!(
                        "bundle {i}: {status}: {}",
                        &text[..text.len().min(500)]
                    ));
                }
                let _ = r.bytes().await;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "ingest: {resources} resources in {posts} bundles, {secs:.2} s, {:.0} resources/s",
        resources as f64 / secs
    );
    println!("RESULT ingest_rate {:.0}", resources as f64 / secs);
    println!("RESULT ingest_resources {resources}");
    Ok(())
}

async fn collect_ids(
    client: &reqwest::Client,
    base: &str,
    rtype: &str,
    n: usize,
) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    let mut url = format!("{base}/{rtype}?_count={}&_elements=id", n.min(1000));
    while ids.len() < n {
        let b: Value = client
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        for e in b["entry"].as_array().into_iter().flatten() {
            if let Some(id) = e["resource"]["id"].as_str() {
                ids.push(id.to_string());
            }
        }
        match b["link"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["relation"] == "next"))
        {
            Some(next) => url = next["url"].as_str().unwrap_or_default().to_string(),
            None => break,
        }
    }
    if ids.is_empty() {
        return Err(format!("no {rtype} ids found"));
    }
    Ok(ids)
}

async fn read(
    base: String,
    rtype: String,
    n: usize,
    seconds: u64,
    concurrency: usize,
) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    let ids = Arc::new(collect_ids(&client, &base, &rtype, n).await?);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    let start = Instant::now();
    for k in 0..concurrency {
        let (client, ids, base, rtype) = (client.clone(), ids.clone(), base.clone(), rtype.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = k * 7919;
            while Instant::now() < deadline {
                i = (i + 104_729) % ids.len();
                let t = Instant::now();
                let r = client
                    .get(format!("{base}/{rtype}/{}", ids[i]))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("read failed: {}", r.status()));
                }
                let _ = r.bytes().await.map_err(|e| e.to_string())?;
                lat.push(t.elapsed());
            }
            Ok::<_, String>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    println!(
        "read: {} requests in {secs:.1} s, {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms (concurrency {concurrency})",
        all.len(),
        all.len() as f64 / secs,
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    );
    println!("RESULT read_rate {:.0}", all.len() as f64 / secs);
    println!("RESULT read_p50 {:.2}", percentile(&all, 0.5));
    println!("RESULT read_p99 {:.2}", percentile(&all, 0.99));
    Ok(())
}

async fn query(
    base: String,
    path: String,
    name: Option<String>,
    n: usize,
    concurrency: usize,
) -> Result<(), String> {
    let client = reqwest::Client::new();
    let url = format!("{}/{}", base, path.trim_start_matches('/'));
    let name = name.unwrap_or_else(|| "query".into());
    let resp = client.get(&url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let first: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() || first["resourceType"] == "OperationOutcome" {
        // A peer may not support a query; that is a result, not a reason to stop the run.
        let why = first["issue"][0]["diagnostics"].as_str().unwrap_or("");
        println!("query {path}: unsupported ({status}) {why}");
        println!("RESULT {name} unsupported");
        return Ok(());
    }
    // A searchset's entries, or an expansion's codes.
    let entries = first["entry"]
        .as_array()
        .or_else(|| first["expansion"]["contains"].as_array())
        .map_or(0, Vec::len);
    let total = if first["total"].is_null() {
        first["expansion"]["total"].clone()
    } else {
        first["total"].clone()
    };
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let t = Instant::now();
                let r = client.get(&url).send().await.map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("query failed: {}", r.status()));
                }
                let _ = r.bytes().await.map_err(|e| e.to_string())?;
                lat.push(t.elapsed());
            }
            Ok::<_, String>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    all.sort();
    println!(
        "query {path}: n={}, p50 {:.2} ms, p99 {:.2} ms, total {}, entries on page {entries}",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        total
    );
    println!(
        "RESULT {name} {:.2}/{:.2} ms ({} on page, total {})",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        entries,
        total
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Ingest {
            base,
            dir,
            concurrency,
            repeat,
        } => ingest(base, dir, concurrency, repeat).await,
        Cmd::Read {
            base,
            rtype,
            ids,
            seconds,
            concurrency,
        } => read(base, rtype, ids, seconds, concurrency).await,
        Cmd::Query {
            base,
            path,
            name,
            n,
            concurrency,
        } => query(base, path, name, n, concurrency).await,
        Cmd::Patients { count, seed, out } => mpi::write_population(count, seed, out),
        Cmd::Match {
            base,
            count,
            seed,
            n,
        } => mpi::run_matches(base, count, seed, n).await,
        Cmd::Booking {
            base,
            doctors,
            days,
            bookings,
            concurrency,
        } => booking::run(base, doctors, days, bookings, concurrency).await,
        Cmd::Remd {
            base,
            dir,
            n,
            concurrency,
        } => remd::run(base, dir, n, concurrency).await,
    };
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zdrav-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
