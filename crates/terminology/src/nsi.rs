//! Минздрав НСИ dictionaries in their CSV export form (semicolon-separated, UTF-8, a header
//! row) turned into FHIR CodeSystems with url `urn:oid:<OID>` and the dictionary's version.
//! The columns are found by name: the code (`MKB_CODE`, `CODE`, `S_CODE`), the name
//! (`MKB_NAME`, `NAME`, `S_NAME`, `FULLNAME`), the row id (`ID`) and the parent's row id
//! (`ID_PARENT`, `PARENT`), and an `ACTUAL` flag where present (0 = retired).

use std::collections::HashMap;

use serde_json::{json, Value};

const CODE: [&str; 4] = ["MKB_CODE", "CODE", "S_CODE", "KOD"];
const NAME: [&str; 5] = ["MKB_NAME", "NAME", "S_NAME", "FULLNAME", "NAIM"];
const ID: [&str; 1] = ["ID"];
const PARENT: [&str; 3] = ["ID_PARENT", "PARENT", "PARENT_ID"];

/// The CodeSystem of the НСИ dictionary `oid`, version `version`, from its CSV export.
pub fn code_system_from_csv(
    csv_text: &str,
    oid: &str,
    version: &str,
    title: Option<&str>,
) -> Result<Value, String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .from_reader(csv_text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("the CSV header cannot be read: {e}"))?
        .iter()
        .map(|h| h.trim().to_uppercase())
        .collect();
    let col = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| header.iter().position(|h| h == n))
    };
    let code_col = col(&CODE).ok_or_else(|| {
        format!(
            "no code column (one of {}) in the header {header:?}",
            CODE.join(", ")
        )
    })?;
    let name_col = col(&NAME);
    let id_col = col(&ID);
    let parent_col = col(&PARENT);
    let actual_col = col(&["ACTUAL"]);
    let mut rows = Vec::new();
    let mut code_of_id: HashMap<String, String> = HashMap::new();
    for (n, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| format!("CSV line {}: {e}", n + 2))?;
        let field = |c: Option<usize>| {
            c.and_then(|c| rec.get(c))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        // Heading rows (МКБ-О's groups) have no code but name their range last, in
        // parentheses: "ГЛИОМЫ (938-948)"; that range becomes their code.
        let Some(code) = field(Some(code_col)).or_else(|| {
            let name = field(name_col)?;
            let inner = name
                .strip_suffix(')')?
                .rsplit_once('(')?
                .1
                .trim()
                .to_string();
            (!inner.is_empty()).then_some(inner)
        }) else {
            return Err(format!("CSV line {}: the code is empty", n + 2));
        };
        if let Some(id) = field(id_col) {
            code_of_id.insert(id, code.clone());
        }
        rows.push((code, field(name_col), field(parent_col), field(actual_col)));
    }
    let mut seen = std::collections::HashSet::new();
    let mut concepts = Vec::with_capacity(rows.len());
    for (code, name, parent, actual) in rows {
        if !seen.insert(code.clone()) {
            continue; // a repeated code keeps its first row, as codes must be unique
        }
        let mut c = json!({"code": code});
        if let Some(n) = name {
            c["display"] = Value::String(n);
        }
        let mut props = Vec::new();
        if let Some(p) = parent.and_then(|p| code_of_id.get(&p).cloned()) {
            props.push(json!({"code": "parent", "valueCode": p}));
        }
        if actual.as_deref() == Some("0") {
            props.push(json!({"code": "status", "valueCode": "retired"}));
        }
        if !props.is_empty() {
            c["property"] = Value::Array(props);
        }
        concepts.push(c);
    }
    let id = format!("{oid}-{version}").replace(
        |c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-',
        "-",
    );
    Ok(json!({
        "resourceType": "CodeSystem",
        "id": id,
        "url": format!("urn:oid:{oid}"),
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": format!("urn:oid:{oid}")}],
        "version": version,
        "name": format!("NSI_{}", oid.replace('.', "_")),
        "title": title.unwrap_or(oid),
        "status": "active",
        "publisher": "Минздрав России (НСИ)",
        "caseSensitive": false,
        "hierarchyMeaning": "is-a",
        "content": "complete",
        "count": concepts.len(),
        "property": [
            {"code": "parent", "uri": "http://hl7.org/fhir/concept-properties#parent", "type": "code"},
            {"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status", "type": "code"}
        ],
        "concept": concepts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_concepts_with_parents_and_status() {
        let csv = "ID;REC_CODE;MKB_CODE;MKB_NAME;ID_PARENT;ADDL_CODE;ACTUAL;DATE\n\
                   1;01;\"I\";\"НЕКОТОРЫЕ ИНФЕКЦИОННЫЕ\";;;1;\n\
                   3;\"0101A00\";\"A00\";\"Холера; азиатская\";1;;1;\n\
                   4;\"0101A000\";\"A00.0\";\"Холера классическая\";3;;0;\n";
        let cs =
            code_system_from_csv(csv, "1.2.643.5.1.13.13.11.1005", "2.27", Some("МКБ-10")).unwrap();
        assert_eq!(cs["url"], "urn:oid:1.2.643.5.1.13.13.11.1005");
        assert_eq!(cs["id"], "1.2.643.5.1.13.13.11.1005-2.27");
        assert_eq!(cs["concept"][1]["display"], "Холера; азиатская");
        assert_eq!(cs["concept"][1]["property"][0]["valueCode"], "I");
        assert_eq!(cs["concept"][2]["property"][1]["valueCode"], "retired");
        assert!(code_system_from_csv("A;B\n1;2\n", "1.2", "1", None).is_err());
        let groups = "ID;PARENT;CODE;NAME;SYNONYMS\n1;;;\"ГЛИОМЫ (938-948)\";\"\"\n2;1;\"9380/3\";\"Глиома\";\"\"\n";
        let cs = code_system_from_csv(groups, "1.2", "1", None).unwrap();
        assert_eq!(cs["concept"][0]["code"], "938-948");
        assert_eq!(cs["concept"][1]["property"][0]["valueCode"], "938-948");
    }
}
