//! `zdrav-bench booking`: booking throughput and `$find` latency under load. Sets up one
//! clinic with `doctors` schedules (slots laid out by `Schedule/$generate`, 08:00–20:00 in
//! 15-minute slots) and one patient per booking, then:
//! 1. books distinct free slots with `Appointment/$book` from `concurrency` clients
//!    (bookings/s of the atomic booking path, rules included);
//! 2. runs find-then-book clients (each `$find` by specialty and organisation over a day,
//!    then `$book` of a random proposal, so some lose races and get 409) and reports the
//!    `$find` latency under that load.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

const SPEC: &str = "urn:oid:1.2.643.5.1.13.13.11.1066";
const CODES: [&str; 5] = ["76", "65", "27", "49", "38"];

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let mut r = client.request(method, url);
    if let Some(b) = body {
        r = r
            .header("content-type", "application/fhir+json")
            .body(b.to_string());
    }
    let r = r.send().await.map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let v = r.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, v))
}

/// Working days (Mon–Fri) from the Monday after next, as YYYY-MM-DD.
fn days(n: usize) -> Vec<String> {
    use chrono::Datelike;
    let mut day = chrono::Utc::now().date_naive() + chrono::Duration::days(14);
    while day.weekday() != chrono::Weekday::Mon {
        day += chrono::Duration::days(1);
    }
    let mut out = Vec::new();
    while out.len() < n {
        if day.weekday().num_days_from_monday() < 5 {
            out.push(day.to_string());
        }
        day += chrono::Duration::days(1);
    }
    out
}

async fn setup(
    client: &reqwest::Client,
    base: &str,
    doctors: usize,
    days: &[String],
    patients: usize,
) -> Result<usize, String> {
    let mut entries = vec![
        json!({"resource": {"resourceType": "Organization", "id": "bench-org", "name": "ГБУЗ Бенч"},
        "request": {"method": "PUT", "url": "Organization/bench-org"}}),
    ];
    for d in 0..doctors {
        let code = CODES[d % CODES.len()];
        entries.push(json!({"resource": {"resourceType": "PractitionerRole", "id": format!("bench-r{d}"), "active": true,
            "organization": {"reference": "Organization/bench-org"},
            "specialty": [{"coding": [{"system": SPEC, "code": code}]}]},
            "request": {"method": "PUT", "url": format!("PractitionerRole/bench-r{d}")}}));
        entries.push(
            json!({"resource": {"resourceType": "Schedule", "id": format!("bench-s{d}"),
            "actor": [{"reference": format!("PractitionerRole/bench-r{d}")}],
            "specialty": [{"coding": [{"system": SPEC, "code": code}]}]},
            "request": {"method": "PUT", "url": format!("Schedule/bench-s{d}")}}),
        );
    }
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
    let (st, v) = send(client, reqwest::Method::POST, base.to_string(), Some(&tx)).await?;
    if st != 200 {
        return Err(format!("setup: {st} {v}"));
    }
    let mut slots = 0;
    for d in 0..doctors {
        let t = json!({"resourceType": "Parameters", "parameter": [
            {"name": "start", "valueDate": days[0]}, {"name": "end", "valueDate": days[days.len() - 1]},
            {"name": "day", "valueString": "mon-fri 08:00-20:00"}, {"name": "slotMinutes", "valueInteger": 15},
            {"name": "ruHolidays", "valueBoolean": false}]});
        let url = format!("{base}/Schedule/bench-s{d}/$generate");
        let (st, v) = send(client, reqwest::Method::POST, url, Some(&t)).await?;
        if st != 200 {
            return Err(format!("$generate: {st} {v}"));
        }
        slots += v["parameter"][0]["valueInteger"].as_u64().unwrap_or(0) as usize
            + v["parameter"][1]["valueInteger"].as_u64().unwrap_or(0) as usize;
    }
    for chunk in (0..patients).collect::<Vec<_>>().chunks(1000) {
        let entries: Vec<Value> = chunk
            .iter()
            .map(|p| {
                json!({"resource": {"resourceType": "Patient", "id": format!("bench-p{p}"),
                "managingOrganization": {"reference": "Organization/bench-org"}},
                "request": {"method": "PUT", "url": format!("Patient/bench-p{p}")}})
            })
            .collect();
        let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
        let (st, v) = send(client, reqwest::Method::POST, base.to_string(), Some(&tx)).await?;
        if st != 200 {
            return Err(format!("patients: {st} {v}"));
        }
    }
    Ok(slots)
}

fn book_body(slot: &str, patient: usize) -> Value {
    json!({"resourceType": "Parameters", "parameter": [
        {"name": "appointment-resource", "resource": {"resourceType": "Appointment", "status": "proposed",
            "slot": [{"reference": slot}],
            "participant": [{"actor": {"reference": format!("Patient/bench-p{patient}")}, "status": "needs-action"}]}},
        {"name": "channel", "valueCode": "epgu"}]})
}

/// Runs both phases; prints RESULT lines.
pub async fn run(
    base: String,
    doctors: usize,
    ndays: usize,
    bookings: usize,
    concurrency: usize,
) -> Result<(), String> {
    let client = reqwest::Client::new();
    let days = days(ndays);
    let t0 = Instant::now();
    let slots = setup(&client, &base, doctors, &days, bookings * 4).await?;
    println!(
        "setup: {doctors} schedules, {slots} slots over {ndays} days, {} patients, {:.1} s",
        bookings * 4,
        t0.elapsed().as_secs_f64()
    );
    // Phase 1: distinct slots, the first day of every schedule, then the next days.
    let per_day = 48;
    let ids: Vec<String> = (0..ndays)
        .flat_map(|k| {
            let day = days[k].replace('-', "");
            (0..doctors).flat_map(move |d| {
                let day = day.clone();
                (0..per_day).map(move |i| {
                    let m = 8 * 60 + i * 15;
                    format!("Slot/bench-s{d}-{day}{:02}{:02}", m / 60, m % 60)
                })
            })
        })
        .take(bookings)
        .collect();
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, ids, next) = (client.clone(), base.clone(), ids.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = ids.get(i) else {
                    return Ok::<_, String>(lat);
                };
                let t = Instant::now();
                let url = format!("{base}/Appointment/$book");
                let (st, v) = send(
                    &client,
                    reqwest::Method::POST,
                    url,
                    Some(&book_body(slot, i)),
                )
                .await?;
                if st != 201 {
                    return Err(format!("$book {slot}: {st} {v}"));
                }
                lat.push(t.elapsed());
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.map_err(|e| e.to_string())??);
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "book: {} bookings in {secs:.2} s, {:.0} bookings/s, p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        lat.len() as f64 / secs,
        crate::percentile(&lat, 0.5),
        crate::percentile(&lat, 0.99)
    );
    println!("RESULT booking_rate {:.0}", lat.len() as f64 / secs);

    // Phase 2: find, then book a random proposal, with patients not used yet.
    let patient = Arc::new(AtomicUsize::new(bookings));
    let done = Arc::new(AtomicUsize::new(0));
    let days = Arc::new(days);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (client, base, patient, done, days) = (
            client.clone(),
            base.clone(),
            patient.clone(),
            done.clone(),
            days.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut finds, mut booked, mut lost) = (Vec::new(), 0usize, 0usize);
            let mut k = c;
            while done.load(Ordering::Relaxed) < bookings {
                k = k.wrapping_mul(31).wrapping_add(7);
                let day = &days[k % days.len()];
                let code = CODES[k % CODES.len()];
                let url = format!(
                    "{base}/Appointment/$find?start={day}T00:00:00%2B03:00&end={day}T23:59:00%2B03:00&specialty={SPEC}|{code}&organization=Organization/bench-org&channel=epgu&_count=10"
                );
                let t = Instant::now();
                let (st, v) = send(&client, reqwest::Method::GET, url, None).await?;
                finds.push(t.elapsed());
                if st != 200 {
                    return Err(format!("$find: {st} {v}"));
                }
                let Some(entries) = v["entry"].as_array().filter(|e| !e.is_empty()) else {
                    continue;
                };
                let pick = &entries[k % entries.len()]["resource"]["slot"][0]["reference"];
                let p = patient.fetch_add(1, Ordering::Relaxed);
                let url = format!("{base}/Appointment/$book");
                let body = book_body(pick.as_str().unwrap_or(""), p);
                let (st, v) = send(&client, reqwest::Method::POST, url, Some(&body)).await?;
                match st {
                    201 => {
                        booked += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    409 => lost += 1,
                    _ => return Err(format!("$book after $find: {st} {v}")),
                }
            }
            Ok::<_, String>((finds, booked, lost))
        }));
    }
    let (mut finds, mut booked, mut lost) = (Vec::new(), 0, 0);
    for t in tasks {
        let (f, b, l) = t.await.map_err(|e| e.to_string())??;
        finds.extend(f);
        booked += b;
        lost += l;
    }
    let secs = start.elapsed().as_secs_f64();
    finds.sort();
    println!(
        "find+book: {} finds, {booked} booked, {lost} lost races (409), {secs:.2} s, {:.0} bookings/s; $find p50 {:.2} ms, p99 {:.2} ms",
        finds.len(),
        booked as f64 / secs,
        crate::percentile(&finds, 0.5),
        crate::percentile(&finds, 0.99)
    );
    println!("RESULT find_p50_ms {:.2}", crate::percentile(&finds, 0.5));
    println!("RESULT find_p99_ms {:.2}", crate::percentile(&finds, 0.99));
    println!("RESULT find_book_rate {:.0}", booked as f64 / secs);
    Ok(())
}
