//! `topic-pattern`: the topics an output whose topic is chosen per record
//! may write to, as a regular expression that must match a whole topic
//! name (Kafka Streams' `TopicNameExtractor`, bounded by the manifest).

use std::fmt;

/// A compiled `topic-pattern`, matched against whole topic names; equal
/// when written the same (a hot swap compares manifests).
#[derive(Clone)]
pub struct TopicPattern {
    /// The pattern as written in the manifest.
    text: String,
    /// `^(?:text)$`: a topic matches only in full.
    regex: regex::Regex,
}

impl TopicPattern {
    /// Compiles `text`; the error is the regex crate's one-line reason
    /// (its `error: ...` line) and where in `text` it is.
    pub fn new(text: &str) -> Result<Self, String> {
        // The text alone first, so a syntax error points into what was written.
        regex::Regex::new(text).map_err(|e| describe(&e))?;
        let regex = regex::Regex::new(&format!("^(?:{text})$")).map_err(|e| describe(&e))?;
        Ok(TopicPattern {
            text: text.to_string(),
            regex,
        })
    }

    /// Whether `topic` is matched as a whole.
    pub fn matches(&self, topic: &str) -> bool {
        self.regex.is_match(topic)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The reason of a regex error on one line: "unclosed group (at 18)".
fn describe(error: &regex::Error) -> String {
    let regex::Error::Syntax(message) = error else {
        return error.to_string();
    };
    let reason = message
        .lines()
        .find_map(|line| line.strip_prefix("error: "))
        .unwrap_or(message.trim());
    // The caret line under the pattern marks where the problem starts.
    let at = message
        .lines()
        .find(|line| line.trim_start().starts_with('^'))
        .and_then(|line| line.find('^'))
        .and_then(|column| column.checked_sub(4));
    match at {
        Some(at) => format!("{reason} (at character {})", at + 1),
        None => reason.to_string(),
    }
}

impl PartialEq for TopicPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for TopicPattern {}

impl fmt::Debug for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicPattern({:?})", self.text)
    }
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::TopicPattern;

    #[test]
    fn only_whole_topic_names_match() {
        let p = TopicPattern::new(r"alerts\.[a-z0-9-]+").unwrap();
        assert!(p.matches("alerts.web-1"));
        assert!(!p.matches("alerts.web-1.extra"), "a prefix match is not enough");
        assert!(!p.matches("x.alerts.web-1"), "nor a suffix match");
        assert!(!p.matches("alerts."));
        let alternation = TopicPattern::new("a|b").unwrap();
        assert!(!alternation.matches("ab"), "the anchors hold around an alternation");
        assert!(TopicPattern::new("(").is_err());
    }
}
