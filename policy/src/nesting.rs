//! A cheap pre-scan that refuses Cedar text nested deeper than the Cedar
//! parser can take.
//!
//! Cedar's parser and its syntax-tree conversions recurse once per level of
//! nesting and use several kilobytes of stack per level: a policy with a few
//! hundred nested parentheses overflows a thread's stack and aborts the whole
//! process, which no `Result` can catch. Palisade therefore scans policy and
//! schema text before Cedar sees it — skipping strings and comments — and
//! refuses nesting beyond [`MAX_NESTING`] brackets or [`MAX_CONDITIONALS`]
//! `if` expressions in one policy, with a diagnostic at the offending
//! position. Compilation also runs on a thread with a large stack
//! (see `PolicyVersion::compile`), so the limits leave a wide margin.

use crate::diagnostic::Diagnostic;

/// Deepest bracket nesting (`(`, `[`, `{`, and `<` in schemas) accepted.
pub(crate) const MAX_NESTING: usize = 128;
/// Most `if` expressions accepted in one policy (an `else if` chain nests).
pub(crate) const MAX_CONDITIONALS: usize = 512;

/// Which grammar the text is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// Policies and templates (`.cedar`).
    Policy,
    /// The Cedar schema syntax (`.cedarschema`), where `<`/`>` enclose types.
    Schema,
}

/// Returns a diagnostic for the first place `text` nests too deeply.
pub(crate) fn check(file: &str, text: &str, syntax: Syntax) -> Option<Diagnostic> {
    let mut depth = 0usize;
    let mut conditionals = 0usize;
    let (mut line, mut column) = (1usize, 0usize);
    let mut chars = text.chars().peekable();
    let mut prev_ident = false;
    let too_deep = |line, column, message: String| Diagnostic {
        file: file.to_string(),
        line: Some(line),
        column: Some(column),
        message,
        help: Some("split the expression, or use a Set or an entity attribute instead".into()),
    };
    while let Some(c) = chars.next() {
        column += 1;
        match c {
            '\n' => {
                line += 1;
                column = 0;
            }
            '"' => {
                // A string literal: skip to its unescaped end.
                while let Some(s) = chars.next() {
                    column += 1;
                    match s {
                        '\\' => {
                            if chars.next() == Some('\n') {
                                line += 1;
                                column = 0;
                            } else {
                                column += 1;
                            }
                        }
                        '"' => break,
                        '\n' => {
                            line += 1;
                            column = 0;
                        }
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for s in chars.by_ref() {
                    if s == '\n' {
                        line += 1;
                        column = 0;
                        break;
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(too_deep(
                        line,
                        column,
                        format!("expression nested deeper than {MAX_NESTING} levels"),
                    ));
                }
            }
            '<' if syntax == Syntax::Schema => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(too_deep(
                        line,
                        column,
                        format!("type nested deeper than {MAX_NESTING} levels"),
                    ));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '>' if syntax == Syntax::Schema => depth = depth.saturating_sub(1),
            ';' if depth == 0 => conditionals = 0,
            'i' if !prev_ident && syntax == Syntax::Policy && chars.peek() == Some(&'f') => {
                chars.next();
                column += 1;
                let ends = chars
                    .peek()
                    .is_none_or(|n| !(n.is_alphanumeric() || *n == '_'));
                if ends {
                    conditionals += 1;
                    if conditionals > MAX_CONDITIONALS {
                        return Some(too_deep(
                            line,
                            column - 1,
                            format!("more than {MAX_CONDITIONALS} `if` expressions in one policy"),
                        ));
                    }
                }
                prev_ident = true;
                continue;
            }
            _ => {}
        }
        prev_ident = c.is_alphanumeric() || c == '_';
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_policies_pass() {
        let text = r#"
            // a comment with ((((( and if if if
            @id("x")
            permit (principal in Group::"a", action, resource)
            when { if resource.owner == principal then true else [1, [2]].contains(1) }
            unless { context.note like "((((*" };
        "#;
        assert_eq!(check("p.cedar", text, Syntax::Policy), None);
    }

    #[test]
    fn deep_brackets_are_refused_at_their_position() {
        let text = format!(
            "permit (principal, action, resource) when {{\n  {}",
            "(".repeat(500)
        );
        let d = check("deep.cedar", &text, Syntax::Policy).expect("refused");
        assert_eq!((d.line, d.column), (Some(2), Some(3 + MAX_NESTING - 1)));
        assert!(
            d.message.contains("nested deeper than 128"),
            "{}",
            d.message
        );
        assert_eq!(d.file, "deep.cedar");
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let text = format!(
            "permit (principal, action, resource) when {{ context.s == \"{}\\\"\" }};",
            "(".repeat(1000)
        );
        assert_eq!(check("p.cedar", &text, Syntax::Policy), None);
    }

    #[test]
    fn long_if_chains_are_refused_but_identifiers_containing_if_are_not() {
        let chain = format!(
            "permit (principal, action, resource) when {{ {}true{} }};",
            "if true then ".repeat(600),
            " else false".repeat(600)
        );
        assert!(check("p.cedar", &chain, Syntax::Policy).is_some());
        let idents = format!(
            "permit (principal, action, resource) when {{ {} true }};",
            "context.iffy && context.diff && ".repeat(600)
        );
        assert_eq!(check("p.cedar", &idents, Syntax::Policy), None);
        // The count starts again with each policy.
        let many = "permit (principal, action, resource) when { if true then true else false };\n"
            .repeat(600);
        assert_eq!(check("p.cedar", &many, Syntax::Policy), None);
    }

    #[test]
    fn schema_types_count_angle_brackets() {
        let text = format!(
            "entity User {{ tags: {}String{} }};",
            "Set<".repeat(200),
            ">".repeat(200)
        );
        let d = check("s.cedarschema", &text, Syntax::Schema).expect("refused");
        assert!(d.message.contains("type nested"), "{}", d.message);
        assert_eq!(check("p.cedar", &text, Syntax::Policy), None);
    }
}
