//! The MPI benchmark: a deterministic population of Russian patients (names with ё,
//! patronymics, valid СНИЛС, birth dates 1930–2020, cities) written as NDJSON for `zdrav load`,
//! and `$match` probes made from members of that population written the way people mistype
//! them (ё as е, Latin transliteration, day and month swapped), timed and checked: the
//! expected patient must come first.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Value};

const MALE: [&str; 24] = [
    "Александр",
    "Алексей",
    "Андрей",
    "Антон",
    "Артём",
    "Борис",
    "Вадим",
    "Виктор",
    "Владимир",
    "Георгий",
    "Дмитрий",
    "Евгений",
    "Иван",
    "Игорь",
    "Кирилл",
    "Константин",
    "Максим",
    "Михаил",
    "Николай",
    "Олег",
    "Павел",
    "Пётр",
    "Сергей",
    "Фёдор",
];
const FEMALE: [&str; 20] = [
    "Александра",
    "Алёна",
    "Анастасия",
    "Анна",
    "Валентина",
    "Виктория",
    "Галина",
    "Дарья",
    "Екатерина",
    "Елена",
    "Ирина",
    "Ксения",
    "Людмила",
    "Мария",
    "Наталья",
    "Ольга",
    "Светлана",
    "Татьяна",
    "Юлия",
    "Софья",
];
const SURNAMES: [&str; 40] = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
    "Романов",
    "Воробьёв",
    "Сергеев",
    "Кузьмин",
    "Фролов",
    "Александров",
    "Дмитриев",
    "Королёв",
    "Гусев",
    "Киселёв",
];
const CITIES: [&str; 8] = [
    "Москва",
    "Санкт-Петербург",
    "Казань",
    "Новосибирск",
    "Екатеринбург",
    "Нижний Новгород",
    "Самара",
    "Чебоксары",
];

/// xorshift64*: small, fast and reproducible, which is all a population generator needs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn snils(n: u64) -> String {
    let body = format!("{:09}", 1_002_000 + n);
    let sum: u32 = body
        .chars()
        .zip((1..=9).rev())
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    let check = match sum {
        0..=99 => sum,
        100 | 101 => 0,
        _ => match sum % 101 {
            100 => 0,
            r => r,
        },
    };
    format!("{}-{}-{} {check:02}", &body[..3], &body[3..6], &body[6..9])
}

/// Patient number `i` of the population with `seed`.
pub fn person(seed: u64, i: u64) -> Value {
    let mut r = Rng(seed ^ (i.wrapping_add(1)).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    r.next();
    let male = r.below(2) == 0;
    let mut family = SURNAMES[r.below(SURNAMES.len())].to_string();
    let given = if male {
        MALE[r.below(MALE.len())]
    } else {
        FEMALE[r.below(FEMALE.len())]
    };
    let father = MALE[r.below(MALE.len())];
    let stem = father.trim_end_matches(['й', 'ь']);
    let patronymic = match (male, father.ends_with(['й', 'ь'])) {
        (true, true) => format!("{stem}евич"),
        (true, false) => format!("{stem}ович"),
        (false, true) => format!("{stem}евна"),
        (false, false) => format!("{stem}овна"),
    };
    if !male {
        family.push('а');
    }
    let (y, m, d) = (1930 + r.below(91), 1 + r.below(12), 1 + r.below(28));
    json!({"resourceType": "Patient", "id": format!("mpi-{i}"),
        "identifier": [{"system": "urn:identity:snils:Patient", "value": snils(i)}],
        "name": [{"use": "official", "family": family, "given": [given, patronymic]}],
        "gender": if male { "male" } else { "female" },
        "birthDate": format!("{y}-{m:02}-{d:02}"),
        "address": [{"city": CITIES[r.below(CITIES.len())]}]})
}

/// Writes `count` patients as NDJSON (gzip when the name ends in .gz).
pub fn write_population(count: u64, seed: u64, out: PathBuf) -> Result<(), String> {
    let file = std::fs::File::create(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut w: Box<dyn Write> = if out.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(std::io::BufWriter::new(file))
    };
    for i in 0..count {
        writeln!(w, "{}", person(seed, i)).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())?;
    println!("wrote {count} patients to {}", out.display());
    Ok(())
}

fn translit(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            match c {
                'а' => "a",
                'б' => "b",
                'в' => "v",
                'г' => "g",
                'д' => "d",
                'е' | 'ё' => "e",
                'ж' => "zh",
                'з' => "z",
                'и' => "i",
                'й' => "y",
                'к' => "k",
                'л' => "l",
                'м' => "m",
                'н' => "n",
                'о' => "o",
                'п' => "p",
                'р' => "r",
                'с' => "s",
                'т' => "t",
                'у' => "u",
                'ф' => "f",
                'х' => "kh",
                'ц' => "ts",
                'ч' => "ch",
                'ш' => "sh",
                'щ' => "shch",
                'ы' => "y",
                'э' => "e",
                'ю' => "yu",
                'я' => "ya",
                _ => "",
            }
            .to_string()
        })
        .collect()
}

/// A probe for patient `i`: no identifier, and one of the usual distortions.
fn probe(seed: u64, i: u64, kind: usize) -> Value {
    let mut p = person(seed, i);
    if let Some(o) = p.as_object_mut() {
        o.remove("id");
        o.remove("identifier");
    }
    let fam = p["name"][0]["family"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let given = p["name"][0]["given"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match kind {
        0 => {
            p["name"][0]["family"] = json!(fam.replace('ё', "е"));
            p["name"][0]["given"][0] = json!(given.replace('ё', "е"));
        }
        1 => {
            p["name"][0]["family"] = json!(translit(&fam));
            p["name"][0]["given"] = json!([translit(&given)]);
        }
        _ => {
            let bd = p["birthDate"].as_str().unwrap_or_default().to_string();
            let (y, m, d) = (&bd[..4], &bd[5..7], &bd[8..10]);
            if d.parse::<u32>().is_ok_and(|d| d <= 12) {
                p["birthDate"] = json!(format!("{y}-{d}-{m}"));
            }
        }
    }
    p
}

/// Times `n` `$match` calls against a population of `count`; prints p50/p99 and how often the
/// expected patient came first.
pub async fn run_matches(base: String, count: u64, seed: u64, n: usize) -> Result<(), String> {
    let client = reqwest::Client::new();
    let url = format!("{base}/Patient/$match");
    let mut rng = Rng(seed ^ 0xdead_beef);
    let (mut lat, mut first, mut found) = (Vec::new(), 0usize, 0usize);
    for k in 0..n {
        let i = rng.next() % count;
        let body = json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": probe(seed, i, k % 3)},
            {"name": "count", "valueInteger": 5}]});
        let t = Instant::now();
        let r = client
            .post(&url)
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("$match failed: {}", r.status()));
        }
        let b: Value = r.json().await.map_err(|e| e.to_string())?;
        lat.push(t.elapsed());
        let want = format!("mpi-{i}");
        let ids: Vec<&str> = b["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["resource"]["id"].as_str())
            .collect();
        first += usize::from(ids.first() == Some(&want.as_str()));
        found += usize::from(ids.contains(&want.as_str()));
    }
    lat.sort();
    println!("$match over {count} patients: n={n}, p50 {:.2} ms, p99 {:.2} ms; expected patient first in {first}/{n}, among the 5 returned in {found}/{n}", crate::percentile(&lat, 0.5), crate::percentile(&lat, 0.99));
    println!(
        "RESULT mpi_match {:.2}/{:.2} ms (first {first}/{n}, in top 5 {found}/{n})",
        crate::percentile(&lat, 0.5),
        crate::percentile(&lat, 0.99)
    );
    Ok(())
}
