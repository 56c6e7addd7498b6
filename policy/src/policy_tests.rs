//! Policy tests: requests with expected decisions, run against a bundle
//! (`palisade policy test`). The file format is the `cedar run-tests` one: a
//! JSON array of
//! `{"name", "request": {"principal", "action", "resource", "context"},
//!   "entities"?, "decision": "allow"|"deny", "reason"?: [ids], "num_errors"?: n}`.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::PolicyError;
use crate::version::{parse_uid_value, DecisionRequest, PolicyVersion};

/// One test case.
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyTestCase {
    /// What the case checks.
    pub name: String,
    /// The request.
    pub request: TestRequest,
    /// Request-scoped entities.
    #[serde(default)]
    pub entities: Option<Value>,
    /// `allow` or `deny`.
    pub decision: ExpectedDecision,
    /// The determining policies, when the case pins them.
    #[serde(default)]
    pub reason: Option<BTreeSet<String>>,
    /// How many evaluation errors, when the case pins it.
    #[serde(default)]
    pub num_errors: Option<usize>,
}

/// The request of a test case.
#[derive(Debug, Clone, Deserialize)]
pub struct TestRequest {
    /// Principal uid.
    pub principal: Value,
    /// Action uid.
    pub action: Value,
    /// Resource uid.
    pub resource: Value,
    /// Context.
    #[serde(default)]
    pub context: Option<Value>,
}

/// An expected decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectedDecision {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// The file it came from.
    pub file: String,
    /// The case's name.
    pub name: String,
    /// Empty when the case passed; otherwise one line per difference.
    pub mismatches: Vec<String>,
}

impl TestOutcome {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Reads every `*.tests.json` under `dir`.
pub fn load_test_files(dir: &Path) -> Result<Vec<(String, Vec<PolicyTestCase>)>, PolicyError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| PolicyError::io(&d, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| PolicyError::io(&d, e))?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".tests.json") {
                out.push(load_test_file(&path)?);
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Reads one test file.
pub fn load_test_file(path: &Path) -> Result<(String, Vec<PolicyTestCase>), PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError::io(path, e))?;
    let cases = serde_json::from_str(&text).map_err(|e| {
        PolicyError::Invalid(vec![crate::Diagnostic {
            file: path.display().to_string(),
            line: Some(e.line()),
            column: Some(e.column()),
            message: format!("invalid test file: {e}"),
            help: None,
        }])
    })?;
    Ok((path.display().to_string(), cases))
}

/// Runs the cases of one file against a compiled version.
pub fn run_cases(
    version: &PolicyVersion,
    file: &str,
    cases: &[PolicyTestCase],
) -> Vec<TestOutcome> {
    cases
        .iter()
        .map(|case| TestOutcome {
            file: file.to_owned(),
            name: case.name.clone(),
            mismatches: check(version, case),
        })
        .collect()
}

fn check(version: &PolicyVersion, case: &PolicyTestCase) -> Vec<String> {
    let uid = |v: &Value, what: &str| parse_uid_value(v).map_err(|e| format!("{what}: {e}"));
    let request = (|| {
        Ok::<_, String>(DecisionRequest {
            principal: uid(&case.request.principal, "principal")?,
            action: uid(&case.request.action, "action")?,
            resource: uid(&case.request.resource, "resource")?,
            context: case.request.context.clone(),
            entities: case.entities.clone(),
        })
    })();
    let request = match request {
        Ok(r) => r,
        Err(e) => return vec![format!("invalid request: {e}")],
    };
    let decision = version.decide(&request);
    let mut out = Vec::new();
    let got = if decision.allowed {
        ExpectedDecision::Allow
    } else {
        ExpectedDecision::Deny
    };
    if got != case.decision {
        out.push(format!("decision: expected {:?}, got {:?}", case.decision, got).to_lowercase());
    }
    if let Some(expected) = &case.reason {
        let actual: BTreeSet<String> = decision.reasons.iter().cloned().collect();
        let missing: Vec<_> = expected.difference(&actual).collect();
        let extra: Vec<_> = actual.difference(expected).collect();
        if !missing.is_empty() {
            out.push(format!("reason: expected but missing {missing:?}"));
        }
        if !extra.is_empty() {
            out.push(format!("reason: not expected {extra:?}"));
        }
    }
    let errors = decision.errors.len();
    match case.num_errors {
        Some(n) if n != errors => out.push(format!(
            "errors: expected {n}, got {errors}: {:?}",
            decision.errors
        )),
        None if errors > 0 && got != case.decision => {
            out.push(format!("errors: {:?}", decision.errors))
        }
        _ => {}
    }
    out
}
