"""Turns the RESULT lines of bench/run.sh (bench/out/*.results) into one markdown table with the
ratios of each zdrav backend to the peer."""

import pathlib
import sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out")
servers = ["zdrav-sqlite", "zdrav-postgres", "helios"]
results = {}
for s in servers:
    f = out / f"{s}.results"
    if not f.exists():
        continue
    r = {}
    for line in f.read_text().splitlines():
        if line.startswith("RESULT "):
            _, key, value = line.split(" ", 2)
            r[key] = value
    results[s] = r

rows = [
    ("ingest_rate", "ingest over HTTP, resources/s", True),
    ("rss_after_ingest", "resident memory after ingest, MB", False),
    ("read_rate", "read by id, requests/s (16 clients)", True),
    ("read_p50", "read p50, ms", False),
    ("read_p99", "read p99, ms", False),
    ("q_token", "`Observation?code=…8867-4&_count=50` p50/p99", None),
    ("q_date", "`Observation?date=ge2015…&date=lt2016…&_count=50` p50/p99", None),
    ("q_string", "`Patient?name=Markus` p50/p99", None),
    ("q_chain", "`Observation?subject:Patient.name=Markus&_count=50` p50/p99", None),
    ("q_revinclude", "`Patient?_revinclude=Encounter:subject&_count=5` p50/p99", None),
    ("rss_end", "resident memory at the end, MB", False),
    ("resources_total", "resources after the memory passes", None),
    ("rss_at_total", "resident memory at that volume, MB", False),
]
present = [s for s in servers if s in results]
head = "| measure | " + " | ".join(present)
ratios = [s for s in present if s != "helios" and "helios" in results]
head += "".join(f" | {s} ÷ helios" for s in ratios) + " |"
print(head)
print("|---" * (1 + len(present) + len(ratios)) + "|")
for key, label, higher_better in rows:
    vals = [results[s].get(key, "–") for s in present]
    if all(v == "–" for v in vals):
        continue
    line = f"| {label} | " + " | ".join(vals)
    for s in ratios:
        a, b = results[s].get(key), results["helios"].get(key)
        try:
            fa, fb = float(a), float(b)
            ratio = fa / fb if higher_better else fb / fa
            line += f" | {ratio:.1f}×"
        except (TypeError, ValueError, ZeroDivisionError):
            line += " | "
    print(line + " |")
