//! JSON spec files: the same structure as TOML, read by rewriting the JSON
//! as TOML text (one TOML line per case key and per array element) with a
//! map from each TOML line back to the JSON line it came from, so the TOML
//! parser's checks and every error with a line apply to JSON specs as
//! written, with their JSON line numbers.

/// A JSON spec rewritten as TOML: its text, and per TOML line (0-based)
/// the JSON line (1-based) it came from.
#[derive(Debug)]
pub struct Rewritten {
    /// The TOML text.
    pub toml: String,
    /// JSON line of each TOML line.
    pub lines: Vec<usize>,
}

/// A JSON value with the line it starts on.
#[derive(Debug)]
enum Node {
    Scalar(String, usize),
    Array(Vec<Node>, usize),
    Object(Vec<(String, usize, Node)>, usize),
}

impl Node {
    fn line(&self) -> usize {
        match self {
            Node::Scalar(_, l) | Node::Array(_, l) | Node::Object(_, l) => *l,
        }
    }
}

/// Rewrites the JSON spec `text` as TOML; a JSON syntax error, a `null` or
/// a top level that is not an object is reported as (line, message).
pub fn rewrite(text: &str) -> Result<Rewritten, (usize, String)> {
    // serde_json's parser gives the precise syntax errors; ours then only
    // walks valid JSON.
    serde_json::from_str::<serde_json::Value>(text).map_err(|e| (e.line(), e.to_string()))?;
    let mut parser = Parser {
        text: text.as_bytes(),
        at: 0,
        line: 1,
    };
    let root = parser.value()?;
    let Node::Object(fields, _) = root else {
        return Err((
            root.line(),
            "a spec file is a JSON object ({\"manifest\": ..., \"case\": [...]})".into(),
        ));
    };
    let mut out = Rewritten {
        toml: String::new(),
        lines: Vec::new(),
    };
    let mut cases = None;
    for (key, line, value) in &fields {
        if key == "case" {
            cases = Some((value, *line));
            continue;
        }
        let value = inline(value)?;
        out.push(*line, &format!("{} = {value}", quote(key)));
    }
    if let Some((value, line)) = cases {
        let Node::Array(items, _) = value else {
            // Left to the TOML parser to refuse with its usual message.
            out.push(line, &format!("case = {}", inline(value)?));
            return Ok(out);
        };
        for item in items {
            let Node::Object(fields, line) = item else {
                return Err((item.line(), "each case is a JSON object".into()));
            };
            out.push(*line, "[[case]]");
            for (key, line, value) in fields {
                match value {
                    // expect / stores / files / interceptors: one dotted key
                    // per output, store, file or interceptor.
                    Node::Object(entries, _)
                        if ["expect", "stores", "files", "interceptors"].contains(&key.as_str()) =>
                    {
                        for (name, line, value) in entries {
                            let key = format!("{}.{}", quote(key), quote(name));
                            out.array(&key, *line, value)?;
                        }
                    }
                    _ => out.array(&quote(key), *line, value)?,
                }
            }
        }
    }
    Ok(out)
}

impl Rewritten {
    fn push(&mut self, json_line: usize, text: &str) {
        for _ in text.lines() {
            self.lines.push(json_line);
        }
        self.toml.push_str(text);
        self.toml.push('\n');
    }

    /// `key = value`, an array with each element on a line of its own.
    fn array(&mut self, key: &str, line: usize, value: &Node) -> Result<(), (usize, String)> {
        let Node::Array(items, _) = value else {
            self.push(line, &format!("{key} = {}", inline(value)?));
            return Ok(());
        };
        self.push(line, &format!("{key} = ["));
        for item in items {
            self.push(item.line(), &format!("  {},", inline(item)?));
        }
        self.push(line, "]");
        Ok(())
    }

    /// The JSON line of byte offset `at` of the TOML text.
    pub fn json_line(&self, at: usize) -> usize {
        let toml_line = line_of(&self.toml, at);
        self.lines
            .get(toml_line.saturating_sub(1))
            .or(self.lines.last())
            .copied()
            .unwrap_or(1)
    }
}

/// A TOML basic string (also used for keys).
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A value as one line of TOML.
fn inline(node: &Node) -> Result<String, (usize, String)> {
    Ok(match node {
        Node::Scalar(raw, line) => {
            if raw == "null" {
                return Err((
                    *line,
                    "null has no TOML equivalent in a spec: leave the field out".into(),
                ));
            }
            if raw.starts_with('"') {
                let text: String = serde_json::from_str(raw).map_err(|e| (*line, e.to_string()))?;
                quote(&text)
            } else {
                raw.clone()
            }
        }
        Node::Array(items, _) => {
            let items: Result<Vec<String>, _> = items.iter().map(inline).collect();
            format!("[{}]", items?.join(", "))
        }
        Node::Object(fields, _) => {
            let fields: Result<Vec<String>, _> = fields
                .iter()
                .map(|(k, _, v)| Ok(format!("{} = {}", quote(k), inline(v)?)))
                .collect();
            if fields.as_ref().is_ok_and(Vec::is_empty) {
                "{}".to_string()
            } else {
                format!("{{ {} }}", fields?.join(", "))
            }
        }
    })
}

/// A walk over JSON already known to be valid, keeping line numbers.
struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while let Some(&b) = self.text.get(self.at) {
            match b {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => break,
            }
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<Node, (usize, String)> {
        self.skip_space();
        let line = self.line;
        match self.text.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                loop {
                    self.skip_space();
                    if self.text.get(self.at) == Some(&b'}') {
                        self.at += 1;
                        return Ok(Node::Object(fields, line));
                    }
                    let key_line = self.line;
                    let Node::Scalar(raw, _) = self.scalar() else {
                        unreachable!()
                    };
                    let key: String = serde_json::from_str(&raw).map_err(|e| (key_line, e.to_string()))?;
                    self.skip_space();
                    self.at += 1; // ':'
                    let value = self.value()?;
                    fields.push((key, key_line, value));
                    self.skip_space();
                    if self.text.get(self.at) == Some(&b',') {
                        self.at += 1;
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.text.get(self.at) == Some(&b']') {
                        self.at += 1;
                        return Ok(Node::Array(items, line));
                    }
                    items.push(self.value()?);
                    self.skip_space();
                    if self.text.get(self.at) == Some(&b',') {
                        self.at += 1;
                    }
                }
            }
            Some(_) => Ok(self.scalar()),
            None => Err((line, "unexpected end of the JSON text".into())),
        }
    }

    /// A string, number, `true`, `false` or `null`, as its raw text.
    fn scalar(&mut self) -> Node {
        let (start, line) = (self.at, self.line);
        if self.text.get(self.at) == Some(&b'"') {
            self.at += 1;
            while let Some(&b) = self.text.get(self.at) {
                self.at += 1;
                match b {
                    b'\\' => self.at += 1,
                    b'"' => break,
                    _ => {}
                }
            }
        } else {
            while self
                .text
                .get(self.at)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
            {
                self.at += 1;
            }
        }
        Node::Scalar(String::from_utf8_lossy(&self.text[start..self.at]).into_owned(), line)
    }
}

/// 1-based line of byte offset `at` in `text`: TOML and JSON errors carry
/// byte offsets, spec errors name lines. Here, below `spec.rs`, so the two
/// files do not import each other.
pub fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}
