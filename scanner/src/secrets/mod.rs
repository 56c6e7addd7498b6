//! Leaked-secret detection: private keys, cloud and SaaS tokens, JWTs and high-entropy values assigned to
//! secret-like names, in configuration files, any text file of a tree, and the files of image layers.
//!
//! ## Design
//!
//! - Rules are data ([`rules.toml`](cfg), the same format users write in their `--checks` files): a pattern with a
//!   `secret` capture group, keywords that must occur in the file before the pattern is run, and filters (least
//!   Shannon entropy, least length, per-rule and global allowlists, a built-in validation, proximity to another
//!   rule's finding).
//! - Bounded: patterns are the `regex` crate's (linear time); files over [`SecretScanner::max_file_bytes`] and
//!   binary files (a NUL byte in the first 8 KiB) are skipped and reported; paths on the allowlist (lockfiles,
//!   checksums, vendored test data) are not read.
//! - A parameter expansion is a reference, not a value: `${NAME}`, `$(command)` and the like are not secrets, and
//!   neither is a name inside one (`postgres://app:${DB_PASSWORD:-dev}@db`); the literal default an expansion
//!   falls back to is searched like any value (`expansion.rs`).
//! - A finding never carries the secret: only its first characters (at most 4, at most a fifth of it) and its
//!   length. Findings are [`ConfigFinding`]s of [`Family::Secret`], so reports, suppressions and the gate treat
//!   them like misconfigurations.

mod cfg;
mod expansion;

use std::path::Path;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use base64::Engine as _;
use regex::bytes::{Regex, RegexSet};

pub use cfg::{AllowlistDef, SecretRuleDef, Validator};

use crate::config::{CheckMeta, ConfigFinding, Family};

/// The built-in rules and allowlist (TOML).
pub const BUILTIN_RULES: &str = include_str!("rules.toml");

/// Default largest file searched for secrets.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 2 << 20;

/// A rules file: checks, secret rules and an allowlist (the format of `--checks` files and of the built-ins).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// Declarative checks.
    #[serde(default)]
    pub check: Vec<crate::config::CheckDef>,
    /// Secret rules.
    #[serde(default)]
    pub secret: Vec<SecretRuleDef>,
    /// Allowlist additions.
    #[serde(default)]
    pub allowlist: AllowlistDef,
}

/// Parses a rules file; `origin` names it in errors.
pub fn parse_rules_file(text: &str, origin: &str) -> Result<RulesFile, String> {
    toml::from_str(text).map_err(|e| format!("{origin}: {e}"))
}

#[derive(Debug)]
struct Rule {
    meta: Arc<CheckMeta>,
    regex: Regex,
    secret_group: Option<usize>,
    name_group: Option<usize>,
    keywords: Vec<usize>,
    entropy: Option<f64>,
    min_length: usize,
    allow: Option<RegexSet>,
    validate: Option<Validator>,
    near: Option<(usize, u32)>,
    report: bool,
}

/// Compiled secret rules and allowlists.
#[derive(Debug)]
pub struct SecretScanner {
    rules: Vec<Rule>,
    keywords: Option<AhoCorasick>,
    keyword_count: usize,
    allow_paths: RegexSet,
    allow_values: RegexSet,
    /// Largest file searched in trees ([`SecretScanner::scan_tree`]) and image layers; bigger ones are skipped
    /// with a warning. Configuration scans use their own cap (`ConfigOptions::max_file_bytes`).
    pub max_file_bytes: u64,
}

/// Why a file was not searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// Its path is on the allowlist.
    Allowlisted,
    /// It looks binary.
    Binary,
    /// It is over the size cap.
    TooLarge,
}

fn regex_set(patterns: &[String], what: &str) -> Result<RegexSet, String> {
    RegexSet::new(patterns).map_err(|e| format!("secret {what}: bad regular expression: {e}"))
}

/// Shannon entropy of `s` in bits per character.
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// The secret as findings show it: its first characters (at most 4, at most a fifth of it) and its length.
pub fn redact(secret: &str) -> String {
    let len = secret.chars().count();
    let shown: String = secret.chars().take((len / 5).min(4)).collect();
    format!("{shown}**** ({len} chars)")
}

fn jwt_valid(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header.trim_end_matches('='))
    else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.as_object().map(|o| o.contains_key("alg")))
        .unwrap_or(false)
}

/// A match before filtering.
struct Hit {
    rule: usize,
    start: usize,
    end: usize,
    line: u32,
    name: String,
    secret: String,
}

impl SecretScanner {
    /// The built-in rules and allowlist alone.
    pub fn builtin() -> SecretScanner {
        SecretScanner::new(&RulesFile::default(), &[])
            .expect("built-in secret rules compile (tested)")
    }

    /// The built-in rules plus `custom` ones (and their allowlist), without the `skip` ids.
    pub fn new(custom: &RulesFile, skip: &[String]) -> Result<SecretScanner, String> {
        let builtin = parse_rules_file(BUILTIN_RULES, "secrets/rules.toml")?;
        let mut defs: Vec<&SecretRuleDef> = builtin.secret.iter().chain(&custom.secret).collect();
        defs.sort_by_key(|d| d.fallback);
        let check_defs: Vec<_> = defs.iter().map(|d| d.as_check()).collect();
        let metas = crate::config::rules::compile(&check_defs, true)?;
        let mut keyword_list: Vec<String> = Vec::new();
        let mut rules = Vec::new();
        for (d, c) in defs.iter().zip(metas) {
            let regex = Regex::new(&d.regex)
                .map_err(|e| format!("secret {}: bad regular expression: {e}", d.id))?;
            let group = |n: &str| regex.capture_names().position(|x| x == Some(n));
            let keywords = d
                .keywords
                .iter()
                .map(|k| {
                    let k = k.to_ascii_lowercase();
                    match keyword_list.iter().position(|x| *x == k) {
                        Some(i) => i,
                        None => {
                            keyword_list.push(k);
                            keyword_list.len() - 1
                        }
                    }
                })
                .collect();
            rules.push((
                d,
                Rule {
                    secret_group: group("secret"),
                    name_group: group("name"),
                    meta: c.meta,
                    regex,
                    keywords,
                    entropy: d.entropy,
                    min_length: d.min_length.unwrap_or(1),
                    allow: if d.allow.is_empty() {
                        None
                    } else {
                        Some(regex_set(&d.allow, &d.id)?)
                    },
                    validate: d.validate,
                    near: None,
                    // A skipped rule still runs when another is `near` it; its own findings are dropped.
                    report: !skip.contains(&d.id),
                },
            ));
        }
        let ids: Vec<String> = rules.iter().map(|(d, _)| d.id.clone()).collect();
        for (d, r) in &mut rules {
            if let Some(n) = &d.near {
                let i = ids
                    .iter()
                    .position(|x| x == n)
                    .ok_or_else(|| format!("secret {}: near names no rule {n:?}", d.id))?;
                r.near = Some((i, d.near_lines));
            }
        }
        let keywords = if keyword_list.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(&keyword_list)
                    .map_err(|e| format!("secret keywords: {e}"))?,
            )
        };
        let mut paths = builtin.allowlist.paths.clone();
        paths.extend(custom.allowlist.paths.iter().cloned());
        let mut values = builtin.allowlist.values.clone();
        values.extend(custom.allowlist.values.iter().cloned());
        Ok(SecretScanner {
            rules: rules.into_iter().map(|(_, r)| r).collect(),
            keywords,
            keyword_count: keyword_list.len(),
            allow_paths: regex_set(&paths, "allowlist paths")?,
            allow_values: regex_set(&values, "allowlist values")?,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        })
    }

    /// Every rule's metadata (skipped rules left out).
    pub fn rules(&self) -> impl Iterator<Item = &CheckMeta> {
        self.rules.iter().filter(|r| r.report).map(|r| &*r.meta)
    }

    /// True when the file at `path` is on the path allowlist.
    pub fn path_allowed(&self, path: &str) -> bool {
        self.allow_paths.is_match(path.as_bytes())
    }

    /// The same scanner with another size cap (bytes; see [`SecretScanner::max_file_bytes`]).
    pub fn with_max_file_bytes(mut self, max_file_bytes: u64) -> SecretScanner {
        self.max_file_bytes = max_file_bytes;
        self
    }

    /// Searches one file's bytes. `object` names where it is (e.g. an image layer) in findings.
    pub fn scan(
        &self,
        file: &str,
        object: &str,
        bytes: &[u8],
    ) -> Result<Vec<ConfigFinding>, Skipped> {
        self.scan_capped(file, object, bytes, self.max_file_bytes)
    }

    /// [`SecretScanner::scan`] under another size cap (configuration scans have their own).
    pub(crate) fn scan_capped(
        &self,
        file: &str,
        object: &str,
        bytes: &[u8],
        max_file_bytes: u64,
    ) -> Result<Vec<ConfigFinding>, Skipped> {
        if self.path_allowed(file) {
            return Err(Skipped::Allowlisted);
        }
        if bytes.len() as u64 > max_file_bytes {
            return Err(Skipped::TooLarge);
        }
        if bytes[..bytes.len().min(8192)].contains(&0) {
            return Err(Skipped::Binary);
        }
        let mut present = vec![false; self.keyword_count];
        if let Some(ac) = &self.keywords {
            let mut seen = 0;
            for m in ac.find_overlapping_iter(bytes) {
                let k = m.pattern().as_usize();
                if !present[k] {
                    present[k] = true;
                    seen += 1;
                    if seen == self.keyword_count {
                        break;
                    }
                }
            }
        }
        let newlines: Vec<usize> = Vec::new();
        let mut lines = LineIndex {
            bytes,
            newlines,
            built: false,
        };
        let mut hits: Vec<Hit> = Vec::new();
        let mut claimed: Vec<(usize, usize)> = Vec::new();
        for (ri, rule) in self.rules.iter().enumerate() {
            if !rule.keywords.is_empty() && !rule.keywords.iter().any(|k| present[*k]) {
                continue;
            }
            let near_lines: Option<Vec<u32>> = rule.near.map(|(other, _)| {
                hits.iter()
                    .filter(|h| h.rule == other)
                    .map(|h| h.line)
                    .collect()
            });
            if near_lines.as_ref().is_some_and(|v| v.is_empty()) {
                continue;
            }
            for caps in rule.regex.captures_iter(bytes) {
                let whole = caps.get(0).expect("group 0 is always present");
                let m = rule.secret_group.and_then(|g| caps.get(g)).unwrap_or(whole);
                let name = rule.name_group.and_then(|g| caps.get(g));
                let Some(m) = expansion::literal(bytes, name.map(|n| n.range()), m.range()) else {
                    continue;
                };
                if claimed.iter().any(|&(s, e)| m.start < e && s < m.end) {
                    continue;
                }
                let secret = String::from_utf8_lossy(&bytes[m.clone()]).into_owned();
                if !self.accept(rule, &secret) {
                    continue;
                }
                let line = lines.line_of(whole.start());
                if let (Some(near), Some((_, within))) = (&near_lines, rule.near) {
                    if !near.iter().any(|l| l.abs_diff(line) <= within) {
                        continue;
                    }
                }
                let name = name
                    .map(|n| String::from_utf8_lossy(n.as_bytes()).into_owned())
                    .unwrap_or_default();
                claimed.push((m.start, m.end));
                hits.push(Hit {
                    rule: ri,
                    start: m.start,
                    end: m.end,
                    line,
                    name,
                    secret,
                });
            }
        }
        hits.sort_by_key(|h| (h.start, h.end));
        Ok(hits
            .into_iter()
            .filter(|h| self.rules[h.rule].report)
            .map(|h| {
                let rule = &self.rules[h.rule];
                let shown = redact(&h.secret);
                let message = if h.name.is_empty() {
                    format!("{}: {shown}", rule.meta.title)
                } else {
                    format!("{}: {} = {shown}", rule.meta.title, h.name)
                };
                ConfigFinding::new(
                    &rule.meta,
                    Family::Secret,
                    file,
                    h.line,
                    h.name,
                    object.to_string(),
                    message,
                )
            })
            .collect())
    }

    fn accept(&self, rule: &Rule, secret: &str) -> bool {
        let len = secret.chars().count();
        if len < rule.min_length {
            return false;
        }
        let mut chars = secret.chars();
        if let Some(first) = chars.next() {
            if chars.all(|c| c == first) {
                return false;
            }
        }
        if self.allow_values.is_match(secret.as_bytes())
            || rule
                .allow
                .as_ref()
                .is_some_and(|a| a.is_match(secret.as_bytes()))
        {
            return false;
        }
        if rule.entropy.is_some_and(|t| shannon_entropy(secret) < t) {
            return false;
        }
        match rule.validate {
            Some(Validator::Jwt) => jwt_valid(secret),
            None => true,
        }
    }

    /// Searches every file under `root` (honouring `.gitignore`-style excludes when `gitignore`), for `scan fs`
    /// and `scan rootfs`. Returns the findings and warnings for skipped files.
    pub fn scan_tree(&self, root: &Path, gitignore: bool) -> (Vec<ConfigFinding>, Vec<String>) {
        let mut findings = Vec::new();
        let mut tally = SkipTally::default();
        for e in crate::config::walk(root, gitignore) {
            let e = match e {
                Ok(e) => e,
                Err(err) => {
                    tally.warnings.push(err.to_string());
                    continue;
                }
            };
            if !e.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let rel = e.path().strip_prefix(root).unwrap_or(e.path());
            let name = rel.display().to_string();
            if let Some(bytes) = self.read_capped(e.path(), &name, self.max_file_bytes, &mut tally)
            {
                match self.scan(&name, "", &bytes) {
                    Ok(f) => findings.extend(f),
                    Err(s) => tally.skipped(&name, s, self.max_file_bytes),
                }
            }
        }
        (findings, tally.finish())
    }

    /// Reads a file unless it is allowlisted or over `max_file_bytes` (then tallied).
    pub(crate) fn read_capped(
        &self,
        path: &Path,
        name: &str,
        max_file_bytes: u64,
        tally: &mut SkipTally,
    ) -> Option<Vec<u8>> {
        if self.path_allowed(name) {
            return None;
        }
        match std::fs::metadata(path) {
            Ok(m) if m.len() > max_file_bytes => {
                tally.skipped(name, Skipped::TooLarge, max_file_bytes);
                return None;
            }
            Ok(_) => {}
            Err(e) => {
                tally.warnings.push(format!("{name}: {e}"));
                return None;
            }
        }
        use std::io::Read as _;
        let mut buf = Vec::new();
        match std::fs::File::open(path)
            .and_then(|f| f.take(max_file_bytes + 1).read_to_end(&mut buf))
        {
            Ok(_) => Some(buf),
            Err(e) => {
                tally.warnings.push(format!("{name}: {e}"));
                None
            }
        }
    }
}

/// Counts and warnings for files secret detection did not search.
#[derive(Debug, Default)]
pub(crate) struct SkipTally {
    pub(crate) warnings: Vec<String>,
    binaries: usize,
}

impl SkipTally {
    pub(crate) fn skipped(&mut self, name: &str, why: Skipped, cap: u64) {
        match why {
            Skipped::Allowlisted => {}
            Skipped::Binary => self.binaries += 1,
            Skipped::TooLarge => self.warnings.push(format!(
                "{name}: larger than the per-file size cap ({cap} bytes), not searched for secrets"
            )),
        }
    }

    pub(crate) fn finish(mut self) -> Vec<String> {
        if self.binaries > 0 {
            self.warnings.push(format!(
                "{} binary file(s) not searched for secrets",
                self.binaries
            ));
        }
        self.warnings
    }
}

/// Line numbers of byte offsets, computed on the first request.
struct LineIndex<'a> {
    bytes: &'a [u8],
    newlines: Vec<usize>,
    built: bool,
}

impl LineIndex<'_> {
    fn line_of(&mut self, offset: usize) -> u32 {
        if !self.built {
            self.newlines = self
                .bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i)
                .collect();
            self.built = true;
        }
        (self.newlines.partition_point(|&n| n < offset) + 1) as u32
    }
}
