//! The document model every configuration parser produces and every check reads: a tree of values, each carrying
//! the line it starts on, so that a finding can point at the offending field.

/// One value of a parsed document, with the (1-based) line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// 1-based line in the file.
    pub line: u32,
}

/// A document value. Mappings keep their order; Terraform expressions that cannot be evaluated stay [`Value::Expr`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~`, an empty value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (integers and floats alike).
    Num(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(String, Node)>),
    /// An expression that could not be evaluated (its source text): it compares equal to nothing.
    Expr(String),
}

impl Node {
    /// A node.
    pub fn new(value: Value, line: u32) -> Node {
        Node { value, line }
    }

    /// The value under `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string at `key`, when there is one.
    pub fn str_at(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Node::as_str)
    }

    /// The elements, when this is a sequence (empty otherwise).
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(s) => s,
            _ => &[],
        }
    }

    /// The entries, when this is a mapping (empty otherwise).
    pub fn entries(&self) -> &[(String, Node)] {
        match &self.value {
            Value::Map(m) => m,
            _ => &[],
        }
    }

    /// True for `true`.
    pub fn is_true(&self) -> bool {
        matches!(self.value, Value::Bool(true))
    }

    /// The value as text, the way a user wrote it (scalars only).
    pub fn scalar_text(&self) -> Option<String> {
        Some(match &self.value {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Num(n) => num_text(*n),
            Value::Str(s) => s.clone(),
            Value::Expr(e) => format!("${{{e}}}"),
            Value::Seq(_) | Value::Map(_) => return None,
        })
    }

    /// How many nodes this tree holds (for memory budgets).
    pub fn size(&self) -> usize {
        let mut n = 0;
        let mut stack = vec![self];
        while let Some(x) = stack.pop() {
            n += 1;
            match &x.value {
                Value::Seq(s) => stack.extend(s.iter()),
                Value::Map(m) => stack.extend(m.iter().map(|(_, v)| v)),
                _ => {}
            }
        }
        n
    }
}

/// A number as a user would write it (`3`, not `3.0`).
pub(crate) fn num_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}
