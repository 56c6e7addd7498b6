//! Diagnostics that name the file, line and column of a problem.

use std::fmt;

use serde::Serialize;

/// One problem found in a policy bundle, located in its source file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file, relative to the bundle root (or the name the admin API gave it).
    pub file: String,
    /// 1-based line, when the problem has a position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column (in characters), when the problem has a position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when Cedar knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

impl Diagnostic {
    /// A diagnostic for a whole file, without a position.
    pub(crate) fn file(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            column: None,
            message: message.into(),
            help: None,
        }
    }

    /// A diagnostic at a byte offset of `source`.
    pub(crate) fn at(file: &str, source: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = line_column(source, offset);
        Self {
            file: file.to_owned(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
            help: None,
        }
    }

    /// Flattens a Cedar (miette) diagnostic and its related diagnostics,
    /// placing each at its first label in `source`.
    pub(crate) fn from_miette(
        file: &str,
        source: Option<&str>,
        diag: &dyn miette::Diagnostic,
    ) -> Vec<Self> {
        let mut out = vec![Self::one(file, source, diag)];
        if let Some(related) = diag.related() {
            out.extend(related.map(|d| Self::one(file, source, d)));
        }
        out
    }

    fn one(file: &str, source: Option<&str>, diag: &dyn miette::Diagnostic) -> Self {
        let offset = diag
            .labels()
            .and_then(|mut labels| labels.next())
            .map(|l| l.offset());
        let mut d = match (source, offset) {
            (Some(src), Some(offset)) => Self::at(file, src, offset, diag.to_string()),
            _ => Self::file(file, diag.to_string()),
        };
        d.help = diag.help().map(|h| h.to_string());
        d
    }
}

/// 1-based line and character column of a byte offset (clamped to the text).
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let src = "ab\nçd\nef";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 3), (2, 1));
        assert_eq!(line_column(src, 5), (2, 2)); // after the two-byte 'ç'
        assert_eq!(line_column(src, 4), (2, 1)); // inside 'ç': clamped back
        assert_eq!(line_column(src, 999), (3, 3));
    }
}
