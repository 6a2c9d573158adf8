use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
fn main() {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut n = 0;
    let t = std::time::Instant::now();
    for arg in std::env::args().skip(1) {
        let bytes = std::fs::read(&arg).unwrap();
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .unwrap();
        let v: Value = serde_json::from_str(&s).unwrap();
        for e in v["entry"].as_array().unwrap() {
            n += 1;
            for i in zdrav_fhirpath::check_invariants(zdrav_fhir::r4(), &e["resource"]) {
                let k = format!(
                    "{} {} {}",
                    if i.is_error() { "E" } else { "W" },
                    e["resource"]["resourceType"],
                    i.diagnostics.chars().take(90).collect::<String>()
                );
                *counts.entry(k).or_default() += 1;
            }
        }
    }
    println!("{n} resources in {:?}", t.elapsed());
    for (k, c) in counts {
        println!("{c:6} {k}");
    }
}
