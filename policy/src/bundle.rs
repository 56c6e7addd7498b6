//! A policy bundle: the source files of one policy version, and loading them.
//!
//! A bundle directory holds:
//! - `*.cedar`: policies and templates. A policy's id is its `@id("...")`
//!   annotation, or `FILE#N` (its position in the file) without one.
//! - at most one schema: `*.cedarschema` (Cedar syntax) or `*.cedarschema.json`;
//! - entities in Cedar's entity JSON format: `entities.json` or `*.entities.json`;
//! - template links: `links.json` or `*.links.json`, a list of
//!   `{"template_id": .., "link_id": .., "args": {"?principal": <entity uid>, ..}}`
//!   (the format of the `cedar` CLI);
//! - policy tests (`*.tests.json`), which the bundle ignores.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;
use crate::error::PolicyError;

/// Largest single file a bundle accepts.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;
/// Largest bundle, all files together.
pub const MAX_BUNDLE_BYTES: u64 = 1024 * 1024 * 1024;
/// Most files in a bundle directory tree.
const MAX_FILES: usize = 10_000;
/// Deepest directory nesting walked.
const MAX_DEPTH: usize = 16;

/// One source file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// Path relative to the bundle root, or a name given by the admin API.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// The sources of one policy version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyBundle {
    /// Cedar policy and template files.
    #[serde(default)]
    pub policies: Vec<SourceFile>,
    /// The schema, Cedar syntax or JSON (by file name).
    #[serde(default)]
    pub schema: Option<SourceFile>,
    /// Entity JSON files.
    #[serde(default)]
    pub entities: Vec<SourceFile>,
    /// Template link files.
    #[serde(default)]
    pub links: Vec<SourceFile>,
}

/// What kind of bundle file a path is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Policies,
    SchemaCedar,
    SchemaJson,
    Entities,
    Links,
    Ignored,
}

fn kind_of(name: &str) -> FileKind {
    if name.ends_with(".cedarschema.json") {
        FileKind::SchemaJson
    } else if name.ends_with(".cedarschema") {
        FileKind::SchemaCedar
    } else if name.ends_with(".cedar") {
        FileKind::Policies
    } else if name == "entities.json" || name.ends_with(".entities.json") {
        FileKind::Entities
    } else if name == "links.json" || name.ends_with(".links.json") {
        FileKind::Links
    } else {
        FileKind::Ignored
    }
}

impl PolicyBundle {
    /// Reads a bundle from a directory (recursively, in sorted order, skipping
    /// hidden files such as the `..data` links of Kubernetes ConfigMaps).
    pub fn from_dir(root: &Path) -> Result<Self, PolicyError> {
        let mut files = Vec::new();
        collect(root, root, 0, &mut files)?;
        files.sort();
        let mut bundle = PolicyBundle::default();
        let mut total = 0u64;
        let mut problems = Vec::new();
        for rel in files {
            let path = root.join(&rel);
            let name = rel.to_string_lossy().replace('\\', "/");
            let base = rel
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let kind = kind_of(&base);
            if kind == FileKind::Ignored {
                continue;
            }
            let len = std::fs::metadata(&path)
                .map_err(|e| PolicyError::io(&path, e))?
                .len();
            total += len;
            if len > MAX_FILE_BYTES || total > MAX_BUNDLE_BYTES {
                return Err(PolicyError::TooLarge {
                    path: path.display().to_string(),
                    limit: if len > MAX_FILE_BYTES {
                        MAX_FILE_BYTES
                    } else {
                        MAX_BUNDLE_BYTES
                    },
                });
            }
            let bytes = std::fs::read(&path).map_err(|e| PolicyError::io(&path, e))?;
            let text = match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    let offset = e.utf8_error().valid_up_to();
                    let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                    problems.push(Diagnostic::at(
                        &name,
                        &text,
                        offset,
                        "file is not valid UTF-8",
                    ));
                    continue;
                }
            };
            let file = SourceFile { name, text };
            match kind {
                FileKind::Policies => bundle.policies.push(file),
                FileKind::SchemaCedar | FileKind::SchemaJson => {
                    if let Some(first) = &bundle.schema {
                        problems.push(Diagnostic::file(
                            &file.name,
                            format!(
                                "a bundle has at most one schema; `{}` is already one",
                                first.name
                            ),
                        ));
                    } else {
                        bundle.schema = Some(file);
                    }
                }
                FileKind::Entities => bundle.entities.push(file),
                FileKind::Links => bundle.links.push(file),
                FileKind::Ignored => {}
            }
        }
        if problems.is_empty() {
            Ok(bundle)
        } else {
            Err(PolicyError::Invalid(problems))
        }
    }

    /// Whether the schema file is in JSON form (by its name).
    pub(crate) fn schema_is_json(&self) -> bool {
        self.schema
            .as_ref()
            .is_some_and(|s| s.name.ends_with(".json") || s.text.trim_start().starts_with('{'))
    }
}

fn collect(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<std::path::PathBuf>,
) -> Result<(), PolicyError> {
    if depth > MAX_DEPTH {
        return Err(PolicyError::Io {
            path: dir.display().to_string(),
            message: format!("directories nested deeper than {MAX_DEPTH} levels"),
        });
    }
    let entries = std::fs::read_dir(dir).map_err(|e| PolicyError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| PolicyError::io(dir, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows symlinks (ConfigMaps are symlinks); the depth bound stops loops.
        let meta = std::fs::metadata(&path).map_err(|e| PolicyError::io(&path, e))?;
        if meta.is_dir() {
            collect(root, &path, depth + 1, out)?;
        } else if meta.is_file() {
            if out.len() >= MAX_FILES {
                return Err(PolicyError::Io {
                    path: root.display().to_string(),
                    message: format!("more than {MAX_FILES} files"),
                });
            }
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            out.push(rel);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_directory_by_file_kind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir(p.join("sub")).unwrap();
        std::fs::write(p.join("a.cedar"), "permit(principal, action, resource);").unwrap();
        std::fs::write(p.join("sub/b.cedar"), "").unwrap();
        std::fs::write(p.join("app.cedarschema"), "entity User;").unwrap();
        std::fs::write(p.join("entities.json"), "[]").unwrap();
        std::fs::write(p.join("x.links.json"), "[]").unwrap();
        std::fs::write(p.join("README.md"), "ignored").unwrap();
        std::fs::write(p.join(".hidden.cedar"), "ignored").unwrap();
        let b = PolicyBundle::from_dir(p).unwrap();
        let names: Vec<_> = b.policies.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.cedar", "sub/b.cedar"]);
        assert_eq!(b.schema.unwrap().name, "app.cedarschema");
        assert_eq!(b.entities.len(), 1);
        assert_eq!(b.links.len(), 1);
    }

    #[test]
    fn two_schemas_and_bad_utf8_are_diagnosed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("a.cedarschema"), "").unwrap();
        std::fs::write(p.join("b.cedarschema.json"), "{}").unwrap();
        std::fs::write(p.join("c.cedar"), b"permit\n(\xff").unwrap();
        let PolicyError::Invalid(d) = PolicyBundle::from_dir(p).unwrap_err() else {
            panic!("expected diagnostics")
        };
        assert_eq!(d.len(), 2);
        assert!(d[0].message.contains("at most one schema"), "{}", d[0]);
        assert_eq!(
            (d[1].file.as_str(), d[1].line, d[1].column),
            ("c.cedar", Some(2), Some(2))
        );
    }
}
