//! A field's path as a manifest writes it: dotted (`system.cpu.total`) or,
//! for keys that contain dots, a JSON Pointer (`/a.b/c`, RFC 6901).

use std::fmt;

/// One step of a path: an object key, which also indexes an array when it
/// is a number (as JSON Pointer does).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Segment(pub String);

impl Segment {
    /// The array index this segment names, if it is one.
    pub fn index(&self) -> Option<usize> {
        let s = &self.0;
        if s.is_empty() || (s.len() > 1 && s.starts_with('0')) {
            return None;
        }
        s.parse().ok()
    }
}

/// A parsed path: at least one segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Vec<Segment>,
    text: String,
}

/// Why a path cannot be used; the manifest check turns it into an error
/// naming the file and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Nothing to follow.
    Empty,
    /// `a..b`, `.a` or `a.`.
    EmptySegment,
    /// `~` not followed by `0` or `1` in a JSON Pointer.
    BadEscape(char),
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => f.write_str("the path is empty"),
            PathError::EmptySegment => f.write_str(
                "the path has an empty segment (two dots in a row, or a leading or trailing dot); \
                 for a key that contains dots write a JSON Pointer such as \"/a.b/c\"",
            ),
            PathError::BadEscape(c) => {
                write!(f, "a JSON Pointer escapes `~` as `~0` and `/` as `~1`; `~{c}` is neither")
            }
        }
    }
}

impl std::error::Error for PathError {}

impl FieldPath {
    /// Parses `text`: a JSON Pointer when it starts with `/`, else dotted.
    pub fn parse(text: &str) -> Result<FieldPath, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        let segments = if let Some(pointer) = text.strip_prefix('/') {
            pointer.split('/').map(unescape_pointer).collect::<Result<Vec<_>, _>>()?
        } else {
            let parts: Vec<&str> = text.split('.').collect();
            if parts.iter().any(|p| p.is_empty()) {
                return Err(PathError::EmptySegment);
            }
            parts.into_iter().map(|p| Segment(p.to_string())).collect()
        };
        Ok(FieldPath {
            segments,
            text: text.to_string(),
        })
    }

    /// The steps from the value's root.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn unescape_pointer(token: &str) -> Result<Segment, PathError> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                other => return Err(PathError::BadEscape(other.unwrap_or(' '))),
            }
        } else {
            out.push(c);
        }
    }
    Ok(Segment(out))
}
