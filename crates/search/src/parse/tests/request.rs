use super::*;

#[test]
fn chains() {
    let c = cond("Observation", "subject:Patient.name=peter");
    let inner = Condition::Param {
        param: "name".into(),
        ptype: ParamType::String,
        modifier: Modifier::None,
        values: vec![SearchValue::String("peter".into())],
    };
    let chain = |t: &str, c: Condition| Condition::Chain {
        param: "subject".into(),
        target_type: Some(t.into()),
        condition: Box::new(c),
    };
    assert_eq!(c, chain("Patient", inner.clone()));
    // Only Patient among subject's targets has `birthdate`: the type is inferred.
    let c = cond("Observation", "subject.birthdate=2000");
    assert!(matches!(&c, Condition::Chain { target_type: Some(t), .. } if t == "Patient"));
    // `name` exists on several targets (Patient, Group, Device...): any of them.
    let c = cond("Observation", "subject.name=peter");
    assert!(
        matches!(
            &c,
            Condition::Chain {
                target_type: None,
                ..
            }
        ),
        "{c:?}"
    );
    // Multi-level.
    let c = cond("Observation", "subject:Patient.organization.name=acme");
    let org = Condition::Chain {
        param: "organization".into(),
        target_type: Some("Organization".into()),
        condition: Box::new(Condition::Param {
            param: "name".into(),
            ptype: ParamType::String,
            modifier: Modifier::None,
            values: vec![SearchValue::String("acme".into())],
        }),
    };
    assert_eq!(c, chain("Patient", org));
    let c = cond("Observation", "subject:Patient._id=1,2");
    assert_eq!(
        c,
        chain("Patient", Condition::Id(vec!["1".into(), "2".into()]))
    );
    let p = lenient("Observation", "subject.nosuch=1");
    assert!(p.query.conditions.is_empty() && p.ignored.len() == 1);
    assert!(matches!(
        strict("Observation", "status.name=x"),
        Err(SearchError::InvalidModifier { .. })
    ));
    assert!(err("Observation", "subject:Patient.birthdate=notadate").contains("not a date"));
}

#[test]
fn reverse_chains() {
    let c = cond("Patient", "_has:Observation:patient:code=1234-5");
    let expected = Condition::Has {
        rtype: "Observation".into(),
        param: "patient".into(),
        condition: Box::new(Condition::Param {
            param: "code".into(),
            ptype: ParamType::Token,
            modifier: Modifier::None,
            values: vec![tok(None, Some("1234-5"))],
        }),
    };
    assert_eq!(c, expected);
    let c = cond(
        "Patient",
        "_has:Observation:patient:_has:AuditEvent:entity:agent=u1",
    );
    let Condition::Has { condition, .. } = c else {
        panic!()
    };
    assert!(matches!(*condition, Condition::Has { ref rtype, .. } if rtype == "AuditEvent"));
    let c = cond("Patient", "_has:Observation:subject:code:text=glucose");
    assert!(matches!(c, Condition::Has { .. }));
    // Observation.encounter cannot point at a Patient.
    let p = lenient("Patient", "_has:Observation:encounter:code=1");
    assert_eq!(p.ignored.len(), 1);
    assert!(strict("Patient", "_has:Nope:patient:code=1").is_err());
    assert!(err("Patient", "_has:Observation=1").contains("_has:Type:reference-param"));
}

#[test]
fn ids_and_last_updated() {
    assert_eq!(
        cond("Patient", "_id=a,b"),
        Condition::Id(vec!["a".into(), "b".into()])
    );
    let c = cond("Patient", "_lastUpdated=gt2024-01-01");
    assert!(
        matches!(&c, Condition::LastUpdated(v) if matches!(v[0], SearchValue::Date { prefix: Prefix::Gt, .. }))
    );
    assert!(err("Patient", "_lastUpdated=yesterday")
        .contains("'_lastUpdated': invalid value 'yesterday'"));
}

#[test]
fn sort_count_paging_and_total() {
    let p = lenient(
        "Observation",
        "_sort=-date,status,_id&_count=5000&_offset=40&_snapshot=77&_total=none",
    );
    let keys: Vec<_> = p
        .query
        .sort
        .iter()
        .map(|k| (k.param.as_str(), k.ptype, k.direction))
        .collect();
    assert_eq!(
        keys,
        [
            ("date", ParamType::Date, Direction::Desc),
            ("status", ParamType::Token, Direction::Asc),
            ("_id", ParamType::Token, Direction::Asc)
        ]
    );
    assert_eq!(p.query.count, 1000, "capped at max_count");
    assert_eq!(
        (p.query.offset, p.query.snapshot, p.query.total),
        (40, Some(77), TotalMode::None)
    );
    assert!(p.applied.contains(&("_count".into(), "1000".into())));
    assert!(!p
        .applied
        .iter()
        .any(|a| a.0 == "_offset" || a.0 == "_snapshot"));
    assert_eq!(lenient("Patient", "_count=0").query.count, 0);
    assert_eq!(lenient("Patient", "").query.count, 20);
    let p = lenient("Patient", "_sort=nosuch,name");
    assert_eq!(p.query.sort.len(), 1);
    assert!(p.ignored[0].0.contains("nosuch"));
    assert!(strict("Patient", "_sort=nosuch").is_err());
    assert!(err("Patient", "_count=-1").contains("'_count': invalid value '-1'"));
    assert!(err("Patient", "_offset=x").contains("_offset"));
    assert!(err("Patient", "_snapshot=x").contains("_snapshot"));
    assert!(err("Patient", "_total=some").contains("none, estimate or accurate"));
}

#[test]
fn includes_in_every_form() {
    let p = lenient(
        "Observation",
        "_include=Observation:subject&_include=Observation:subject:Patient&_include=*\
         &_include:iterate=Patient:organization&_include:recurse=Patient:link\
         &_revinclude=Provenance:target&_revinclude:iterate=Observation:has-member:Observation",
    );
    let inc = |s: &str, p: &str, t: Option<&str>, i: bool| Include {
        source_type: s.into(),
        param: p.into(),
        target_type: t.map(Into::into),
        iterate: i,
    };
    assert_eq!(
        p.query.include,
        [
            inc("Observation", "subject", None, false),
            inc("Observation", "subject", Some("Patient"), false),
            inc("*", "*", None, false),
            inc("Patient", "organization", None, true),
            inc("Patient", "link", None, true),
        ]
    );
    assert_eq!(
        p.query.revinclude,
        [
            inc("Provenance", "target", None, false),
            inc("Observation", "has-member", Some("Observation"), true),
        ]
    );
    assert!(p.ignored.is_empty(), "{:?}", p.ignored);
    for bad in [
        "_include=Observation:status",
        "_include=Observation:subject:Medication",
        "_include=Patient:organization",
        "_include:deep=Observation:subject",
        "_include=Nope:subject",
    ] {
        assert_eq!(lenient("Observation", bad).ignored.len(), 1, "{bad}");
        assert!(strict("Observation", bad).is_err(), "{bad}");
    }
    assert!(err("Observation", "_include=subject").contains("Type:search-param"));
}

#[test]
fn strict_and_lenient_unknown_parameters() {
    let p = lenient(
        "Patient",
        "nosuch=1&name=x&_text=abc&_format=json&_pretty=true&given=",
    );
    assert_eq!(p.query.conditions.len(), 1);
    let ignored: Vec<&str> = p.ignored.iter().map(|i| i.0.as_str()).collect();
    assert_eq!(ignored, ["nosuch", "_text", "given"]);
    assert_eq!(p.applied, [("name".to_string(), "x".to_string())]);
    let e = strict("Patient", "nosuch=1").unwrap_err();
    assert_eq!(
        e,
        SearchError::UnknownParam {
            param: "nosuch".into(),
            types: "Patient".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "unknown search parameter 'nosuch' for Patient"
    );
    assert!(matches!(
        strict("Patient", "_text=a"),
        Err(SearchError::Unsupported { .. })
    ));
    assert!(matches!(
        strict("Location", "near=1|2|3"),
        Err(SearchError::Unsupported { .. })
    ));
    assert!(strict("Patient", "name=x&_format=json").is_ok());
    // Invalid values are errors in lenient mode too.
    assert_eq!(
        err("Patient", "birthdate=notadate"),
        "parameter 'birthdate': invalid value 'notadate': not a date (expected YYYY, YYYY-MM, \
         YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm])"
    );
}

#[test]
fn system_search_summary_and_elements() {
    let opts = ParseOptions::default();
    let p = parse_query(
        None,
        &pairs("_type=Patient,Observation&_tag=a|b&_summary=count"),
        &opts,
    )
    .unwrap();
    assert_eq!(p.query.types, ["Patient", "Observation"]);
    assert_eq!(p.query.conditions.len(), 1);
    assert_eq!((p.summary.as_deref(), p.query.count), (Some("count"), 0));
    let e = parse_query(None, &pairs("_type=Patient,Nope"), &opts).unwrap_err();
    assert_eq!(
        e,
        SearchError::UnknownType {
            param: "_type".into(),
            name: "Nope".into()
        }
    );
    // `name` is not common to all resources.
    let p = parse_query(None, &pairs("name=x&_id=1"), &opts).unwrap();
    assert_eq!((p.query.conditions.len(), p.ignored.len()), (1, 1));
    let p = parse_query(None, &pairs("_type=Patient,Practitioner&name=x"), &opts).unwrap();
    assert_eq!(p.query.conditions.len(), 1);
    let p = lenient("Patient", "_elements=name,birthDate&_summary=true");
    assert_eq!(
        p.elements,
        Some(vec!["name".to_string(), "birthDate".to_string()])
    );
    assert!(err("Patient", "_summary=maybe").contains("_summary"));
    assert!(matches!(
        parse_query(Some("Nope"), &[], &opts),
        Err(SearchError::UnknownType { .. })
    ));
}

#[test]
fn compartments() {
    assert_eq!(
        compartment_condition("Patient", "p1", "Observation"),
        Some(Condition::Compartment {
            compartment: "Patient".into(),
            id: "p1".into(),
            params: vec!["subject".into(), "performer".into()],
        })
    );
    assert!(matches!(
        compartment_condition("Patient", "p1", "Patient"),
        Some(Condition::Compartment { params, .. }) if params == ["link"]
    ));
    assert_eq!(compartment_condition("Patient", "p1", "Organization"), None);
    assert_eq!(
        compartment_condition("Encounter", "e1", "Observation"),
        None
    );
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("partof{}=x", ".partof".repeat(50));
    assert!(matches!(
        strict("Organization", &deep),
        Err(SearchError::Unsupported { .. })
    ));
    let p = lenient("Organization", &deep);
    assert!(p.query.conditions.is_empty() && p.ignored[0].1.contains("at most 6 levels"));
    let ok = "partof.partof.partof.name=x";
    assert_eq!(lenient("Organization", ok).query.conditions.len(), 1);
    let has = format!("{}code=1", "_has:Observation:subject:".repeat(20));
    assert!(strict("Patient", &has).is_err());
}
