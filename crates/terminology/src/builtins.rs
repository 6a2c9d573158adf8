//! The terminology compiled into the binary: the R4 CodeSystems and ValueSets, and the НСИ
//! dictionaries of `defs/nsi`. Compiled lazily: the first use of a system pays for it.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::codesystem::CodeSystemIndex;

static R4_GZ: &[u8] = include_bytes!("../defs/r4-terminology.json.gz");

/// The НСИ dictionaries shipped with zdrav: (OID, version, title, gzipped CSV).
pub const NSI: [(&str, &str, &str, &[u8]); 2] = [
    (
        "1.2.643.5.1.13.13.11.1005",
        "2.27",
        "Международная статистическая классификация болезней и проблем, связанных со здоровьем, 10-го пересмотра (МКБ-10)",
        include_bytes!("../defs/nsi/1.2.643.5.1.13.13.11.1005_2.27.csv.gz"),
    ),
    (
        "1.2.643.5.1.13.13.11.1486",
        "2.7",
        "Международная классификация болезней - онкология, морфология новообразований (МКБ-О)",
        include_bytes!("../defs/nsi/1.2.643.5.1.13.13.11.1486_2.7.csv.gz"),
    ),
];

fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    // Vendored files are part of the build; unreadable ones are a broken build, not input.
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut s)
        .unwrap_or_else(|e| panic!("vendored terminology is not valid gzip: {e}"));
    s
}

/// The built-in code systems and value sets.
pub struct Builtins {
    resources: HashMap<String, Value>,
    compiled: Mutex<HashMap<String, Arc<CodeSystemIndex>>>,
}

impl Builtins {
    /// The process-wide instance.
    pub fn get() -> &'static Builtins {
        static B: OnceLock<Builtins> = OnceLock::new();
        B.get_or_init(|| {
            let list: Vec<Value> = serde_json::from_str(&gunzip(R4_GZ))
                .unwrap_or_else(|e| panic!("vendored terminology is not valid JSON: {e}"));
            let mut resources = HashMap::new();
            for r in list {
                let kind = r.get("resourceType").and_then(Value::as_str).unwrap_or("");
                let url = r.get("url").and_then(Value::as_str).unwrap_or("");
                resources.insert(format!("{kind}|{url}"), r.clone());
            }
            Builtins {
                resources,
                compiled: Mutex::new(HashMap::new()),
            }
        })
    }

    /// A built-in code system by URL (and version, which must then match).
    pub fn code_system(&self, url: &str, version: Option<&str>) -> Option<Arc<CodeSystemIndex>> {
        let mut compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cs) = compiled.get(url) {
            return version
                .is_none_or(|v| cs.version.as_deref() == Some(v))
                .then(|| cs.clone());
        }
        let resource = match NSI.iter().find(|(oid, ..)| url == format!("urn:oid:{oid}")) {
            Some((oid, ver, title, gz)) => {
                crate::nsi::code_system_from_csv(&gunzip(gz), oid, ver, Some(title)).ok()?
            }
            None => self.resources.get(&format!("CodeSystem|{url}"))?.clone(),
        };
        let cs = Arc::new(CodeSystemIndex::from_resource(&resource).ok()?);
        compiled.insert(url.to_string(), cs.clone());
        version
            .is_none_or(|v| cs.version.as_deref() == Some(v))
            .then_some(cs)
    }

    /// A built-in value set by URL.
    pub fn value_set(&self, url: &str) -> Option<&Value> {
        self.resources.get(&format!("ValueSet|{url}"))
    }

    /// How many code systems and value sets are built in (НСИ dictionaries included).
    pub fn counts(&self) -> (usize, usize) {
        let cs = self
            .resources
            .keys()
            .filter(|k| k.starts_with("CodeSystem|"))
            .count();
        (cs + NSI.len(), self.resources.len() - cs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r4_and_nsi_are_built_in() {
        let b = Builtins::get();
        let (cs, vs) = b.counts();
        assert!(cs > 400 && vs > 600, "{cs} code systems, {vs} value sets");
        let gender = b
            .code_system("http://hl7.org/fhir/administrative-gender", None)
            .unwrap();
        assert_eq!(
            gender.get("female").unwrap().display.as_deref(),
            Some("Female")
        );
        let icd = b
            .code_system("urn:oid:1.2.643.5.1.13.13.11.1005", None)
            .unwrap();
        assert_eq!(icd.version.as_deref(), Some("2.27"));
        assert_eq!(icd.get("A00.0").map(|c| c.display.is_some()), Some(true));
        assert_eq!(
            icd.subsumes("A00-A09", "A00.0"),
            Some(crate::Subsumption::Subsumes)
        );
        assert!(b
            .code_system("urn:oid:1.2.643.5.1.13.13.11.1005", Some("1.0"))
            .is_none());
        let morph = b
            .code_system("urn:oid:1.2.643.5.1.13.13.11.1486", None)
            .unwrap();
        assert!(morph.get("8010/3").is_some());
        assert!(b
            .value_set("http://hl7.org/fhir/ValueSet/administrative-gender")
            .is_some());
    }
}
