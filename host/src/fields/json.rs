//! The JSON codec: one validating pass over a value with serde_json's
//! borrowing parser, skipping what no path asks for (`IgnoredAny`) and
//! taking the exact text of every value a path ends at (`RawValue`), so no
//! value is built and nothing is allocated but the spans.

use super::{FieldCodec, Node, Parsed, Plan, Span};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// JSON values (RFC 8259), parsed by serde_json.
#[derive(Debug, Default, Clone, Copy)]
pub struct Json;

impl FieldCodec for Json {
    fn parse(&self, plan: &Plan, value: &[u8]) -> Parsed {
        let mut spans: Vec<Span> = vec![None; plan.len()];
        let mut walk = Walk {
            base: value.as_ptr() as usize,
            spans: &mut spans,
        };
        let mut de = serde_json::Deserializer::from_slice(value);
        walk.node(plan.root(), &mut de)
            .and_then(|()| de.end())
            .map_err(|e| format!("the value is not JSON: {e}"))?;
        Ok(spans)
    }
}

/// The spans being filled, and where the value's bytes start (a span is
/// the offset of a borrowed slice from it).
struct Walk<'s> {
    base: usize,
    spans: &'s mut Vec<Span>,
}

impl Walk<'_> {
    /// Reads the value at `node` from `de`.
    fn node<'de, D: de::Deserializer<'de>>(&mut self, node: &Node, de: D) -> Result<(), D::Error> {
        match node.slot {
            // Only deeper paths: walk into it, skipping the rest.
            None if !node.children.is_empty() => de.deserialize_any(NodeVisitor { walk: self, node }),
            None => de.deserialize_ignored_any(IgnoredAny).map(|_| ()),
            // A path ends here: its text, then any deeper paths inside it.
            Some(slot) => {
                let raw: &RawValue = de::Deserialize::deserialize(de)?;
                let text = raw.get();
                let start = (text.as_ptr() as usize - self.base) as u32;
                self.spans[slot] = Some(start..start + text.len() as u32);
                if !node.children.is_empty() {
                    let mut inner = serde_json::Deserializer::from_str(text);
                    self.node(&Node { slot: None, children: node.children.clone() }, &mut inner)
                        .map_err(de::Error::custom)?;
                }
                Ok(())
            }
        }
    }
}

/// A value to read at one node of the plan.
struct Step<'w, 's> {
    walk: &'w mut Walk<'s>,
    node: &'w Node,
}

impl<'de> DeserializeSeed<'de> for Step<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        self.walk.node(self.node, de)
    }
}

struct NodeVisitor<'w, 's> {
    walk: &'w mut Walk<'s>,
    node: &'w Node,
}

impl<'de> Visitor<'de> for NodeVisitor<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(child) = map.next_key_seed(KeySeed(self.node))? {
            match child {
                Some(node) => map.next_value_seed(Step { walk: &mut *self.walk, node })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let more = match self.node.element(index) {
                Some(node) => seq.next_element_seed(Step { walk: &mut *self.walk, node })?.is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    // A scalar where an object was wanted: the paths below are missing.
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Reads an object key without allocating and finds its child, if any.
struct KeySeed<'n>(&'n Node);

impl<'de, 'n> DeserializeSeed<'de> for KeySeed<'n> {
    type Value = Option<&'n Node>;
    fn deserialize<D: de::Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de, 'n> Visitor<'de> for KeySeed<'n> {
    type Value = Option<&'n Node>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.child(key))
    }
}
