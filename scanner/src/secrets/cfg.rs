//! The secret rule format, shared by the built-in rules (`rules.toml`) and users' own (the `--checks` files).
//!
//! ```toml
//! [[secret]]
//! id = "ACME-SEC-001"                  # stable, unique (also among checks)
//! title = "ACME deploy token"
//! severity = "critical"                # low, medium, high, critical
//! regex = '''\b(?P<secret>acme_[A-Za-z0-9]{32})\b'''   # `secret` group: the secret (else the whole match);
//!                                      # optional `name` group: the variable it is assigned to
//! keywords = ["acme_"]                 # optional: only files containing one of these (any case) are searched
//! entropy = 3.5                        # optional: least Shannon entropy (bits per character) of the secret
//! min_length = 16                      # optional: shortest secret
//! allow = ["^acme_test_"]              # optional: secrets matching one of these are not findings
//! validate = "jwt"                     # optional: built-in validation of the secret (`jwt`)
//! near = "PAL-SEC-002"                 # optional: only within `near_lines` lines of a finding of that rule
//! near_lines = 5
//! fallback = false                     # optional: true = tried after every other rule (generic rules)
//! risk = "Anyone who reads the file can deploy as us."
//! remediation = "Revoke the token and load it from the secrets store at run time."
//! checkov = []                         # optional cross-references and controls, as for checks
//! trivy = []
//! controls = ["SOC2 CC6.1"]
//!
//! [allowlist]                          # optional: adds to the built-in allowlist
//! paths = ['(^|/)fixtures/fake-keys/'] # files whose path matches one of these are not searched
//! values = ['^sk_live_0{24}$']         # secrets matching one of these are not findings, whatever the rule
//! ```
//!
//! Patterns are Rust `regex` syntax: linear time, no look-around or back-references.

use serde::Deserialize;

/// A built-in validation a secret must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validator {
    /// Three base64url parts whose first decodes to a JSON object with an `alg` member.
    Jwt,
}

/// One secret rule as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRuleDef {
    /// Stable id.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Severity name.
    pub severity: String,
    /// The pattern (`secret` and `name` capture groups are used when present).
    pub regex: String,
    /// Only files containing one of these (ASCII case-insensitive) are searched; empty = every file.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Least Shannon entropy (bits per character) of the secret.
    #[serde(default)]
    pub entropy: Option<f64>,
    /// Shortest secret, in characters.
    #[serde(default)]
    pub min_length: Option<usize>,
    /// Secrets matching one of these patterns are not findings.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Built-in validation.
    #[serde(default)]
    pub validate: Option<Validator>,
    /// Only within `near_lines` lines of a finding of this rule.
    #[serde(default)]
    pub near: Option<String>,
    /// See `near`.
    #[serde(default = "default_near_lines")]
    pub near_lines: u32,
    /// Tried after all other rules (the generic assignment rules): a span another rule reported is not
    /// reported again.
    #[serde(default)]
    pub fallback: bool,
    /// The risk.
    pub risk: String,
    /// How to fix it.
    pub remediation: String,
    /// Checkov ids.
    #[serde(default)]
    pub checkov: Vec<String>,
    /// Trivy ids.
    #[serde(default)]
    pub trivy: Vec<String>,
    /// Compliance controls it supports.
    #[serde(default)]
    pub controls: Vec<String>,
}

fn default_near_lines() -> u32 {
    5
}

/// Paths and values that are never findings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistDef {
    /// Files whose path matches one of these patterns are not searched.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Secrets matching one of these patterns are not findings.
    #[serde(default)]
    pub values: Vec<String>,
}

impl SecretRuleDef {
    /// The rule's metadata as a check definition (no target: it is evaluated by the secret scanner).
    pub(crate) fn as_check(&self) -> crate::config::CheckDef {
        crate::config::CheckDef {
            id: self.id.clone(),
            title: self.title.clone(),
            severity: self.severity.clone(),
            target: None,
            kinds: vec![],
            each: None,
            when: vec![],
            message: String::new(),
            risk: self.risk.clone(),
            remediation: self.remediation.clone(),
            checkov: self.checkov.clone(),
            trivy: self.trivy.clone(),
            controls: self.controls.clone(),
            profile: None,
        }
    }
}
