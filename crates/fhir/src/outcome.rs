//! OperationOutcome issues: the one shape every error and warning of zdrav takes.

use serde_json::{json, Map, Value};

/// Issue severity (`OperationOutcome.issue.severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The operation failed.
    Fatal,
    /// The content is invalid.
    Error,
    /// Worth knowing, not blocking.
    Warning,
    /// For information only.
    Information,
}

impl Severity {
    /// The FHIR code.
    pub fn code(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// One `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Severity.
    pub severity: Severity,
    /// `IssueType` code: `structure`, `required`, `value`, `invariant`, `code-invalid`, `not-found`,
    /// `conflict`, `processing`, `not-supported`, `too-costly`, `exception`, ...
    pub code: &'static str,
    /// Human-readable description.
    pub diagnostics: String,
    /// FHIRPath location of the problem, e.g. `Patient.name[0].given[1]`.
    pub expression: Option<String>,
}

impl Issue {
    /// An error issue.
    pub fn error(code: &'static str, diagnostics: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Error,
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// A warning issue.
    pub fn warning(code: &'static str, diagnostics: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Warning,
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// An information issue.
    pub fn information(code: &'static str, diagnostics: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Information,
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// Sets the location.
    pub fn at(mut self, expression: impl Into<String>) -> Issue {
        self.expression = Some(expression.into());
        self
    }

    /// True for error and fatal issues.
    pub fn is_error(&self) -> bool {
        self.severity <= Severity::Error
    }

    /// The issue as JSON.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("severity".into(), json!(self.severity.code()));
        m.insert("code".into(), json!(self.code));
        m.insert("diagnostics".into(), json!(self.diagnostics));
        if let Some(e) = &self.expression {
            m.insert("expression".into(), json!([e]));
        }
        Value::Object(m)
    }
}

/// Builds an `OperationOutcome` resource from issues (an `information` "All OK" issue if empty).
pub fn operation_outcome(issues: &[Issue]) -> Value {
    let issues: Vec<Value> = if issues.is_empty() {
        vec![Issue::information("informational", "All OK").to_json()]
    } else {
        issues.iter().map(Issue::to_json).collect()
    };
    json!({"resourceType": "OperationOutcome", "issue": issues})
}
