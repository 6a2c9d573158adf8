//! The terminology compiled into the binary: the R4 CodeSystems and ValueSets, and the НСИ
//! dictionaries of `defs/nsi`. Compiled lazily: the first use of a system pays for it.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

use crate::codesystem::CodeSystemIndex;

static R4_GZ: &[u8] = include_bytes!("../defs/r4-terminology.json.gz");

/// The НСИ dictionaries shipped with zdrav: (OID, version, title, gzipped CSV, whether the
/// CSV is the whole dictionary).
pub const NSI: [(&str, &str, &str, &[u8], bool); 3] = [
    (
        "1.2.643.5.1.13.13.11.1005",
        "2.27",
        "Международная статистическая классификация болезней и проблем, связанных со здоровьем, 10-го пересмотра (МКБ-10)",
        include_bytes!("../defs/nsi/1.2.643.5.1.13.13.11.1005_2.27.csv.gz"),
        true,
    ),
    (
        "1.2.643.5.1.13.13.11.1486",
        "2.7",
        "Международная классификация болезней - онкология, морфология новообразований (МКБ-О)",
        include_bytes!("../defs/nsi/1.2.643.5.1.13.13.11.1486_2.7.csv.gz"),
        true,
    ),
    // «Виды медицинской документации», the kinds of РЭМД documents: a fragment, because the
    // dictionary itself is not public. Its codes and names are those that the public НСИ
    // 1.2.643.5.1.13.13.11.1520 «Виды СЭМД» gives as the kind (`type_code`) of its document
    // formats, each name without its format and edition. Version "0-zdrav" sorts below every
    // real version, so an imported dictionary (`zdrav nsi import`) always takes precedence.
    (
        "1.2.643.5.1.13.13.11.1522",
        "0-zdrav",
        "Виды медицинской документации (известные zdrav виды; полный справочник импортируется)",
        include_bytes!("../defs/nsi/1.2.643.5.1.13.13.11.1522_fragment.csv.gz"),
        false,
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
            Some((oid, ver, title, gz, complete)) => {
                let mut cs =
                    crate::nsi::code_system_from_csv(&gunzip(gz), oid, ver, Some(title)).ok()?;
                if !complete {
                    cs["content"] = Value::String("fragment".into());
                }
                cs
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
        assert!(icd.complete);
    }

    /// The ten kinds of documents citizens see in «Мое здоровье» are known by name.
    #[test]
    fn remd_kinds_are_a_fragment_with_russian_names() {
        let kinds = Builtins::get()
            .code_system("urn:oid:1.2.643.5.1.13.13.11.1522", None)
            .unwrap();
        assert!(!kinds.complete, "the built-in kinds are a fragment");
        for (code, name) in [
            ("3", "Направление на госпитализацию, восстановительное лечение, обследование, консультацию"),
            ("34", "Направление на медико-социальную экспертизу"),
            ("6", "Протокол инструментального исследования"),
            ("5", "Протокол консультации"),
            ("7", "Протокол лабораторного исследования"),
            ("141", "Сведения о результатах диспансеризации или профилактического медицинского осмотра"),
            ("1", "Эпикриз в стационаре выписной"),
            ("86", "Рецепт на лекарственный препарат"),
            ("71", "Медицинское заключение об отсутствии противопоказаний к занятию определенными видами спорта"),
            ("88", "Справка об отсутствии контактов с инфекционными больными"),
        ] {
            assert_eq!(kinds.get(code).and_then(|c| c.display.as_deref()), Some(name), "{code}");
        }
        assert!(kinds.get("9999").is_none());
        // Any real version of the dictionary sorts above the fragment.
        assert!(crate::version_cmp("1.1", kinds.version.as_deref().unwrap()).is_gt());
    }
}
