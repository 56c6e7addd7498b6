//! Load-time diagnostics: every problem in a catalogue, registry,
//! attestation or waiver file, with the file and line it is on.

use std::fmt;

/// One problem found while loading a data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as the user named it (embedded files: `compliance/...`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Collects diagnostics for one file, turning byte offsets into lines.
pub(crate) struct FileDiags<'a> {
    name: &'a str,
    text: &'a str,
    pub(crate) out: &'a mut Vec<Diagnostic>,
}

impl<'a> FileDiags<'a> {
    pub(crate) fn new(name: &'a str, text: &'a str, out: &'a mut Vec<Diagnostic>) -> Self {
        Self { name, text, out }
    }

    /// The file's name.
    pub(crate) fn name(&self) -> &str {
        self.name
    }

    /// Reports `message` at byte offset `at`.
    pub(crate) fn at(&mut self, at: usize, message: impl Into<String>) {
        let at = at.min(self.text.len());
        let line = self.text.as_bytes()[..at]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        self.out.push(Diagnostic {
            file: self.name.to_owned(),
            line,
            message: message.into(),
        });
    }

    /// Reports a TOML syntax or shape error.
    pub(crate) fn toml(&mut self, e: &toml::de::Error) {
        let at = e.span().map_or(0, |s| s.start);
        self.at(at, e.message().to_owned());
    }
}
