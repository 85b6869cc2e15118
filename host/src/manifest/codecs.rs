//! `[store-codecs]`: how each store's values read in interactive query
//! answers (`counts = "u64-be"`). Every name must be a store or windowed
//! store of this manifest and every codec one rill knows; stores not named
//! read as base64.

use super::problems::Problems;
use crate::observe::codec::{Codec, NAMES};
use std::collections::BTreeMap;

/// The codecs of `raw`, by store; problems recorded against
/// `store-codecs.<store>`.
pub(super) fn check_store_codecs(
    p: &mut Problems,
    raw: BTreeMap<String, String>,
    stores: &[String],
    windows: &[String],
) -> BTreeMap<String, Codec> {
    let declared: Vec<&String> = stores.iter().chain(windows).collect();
    let mut codecs = BTreeMap::new();
    for (store, name) in raw {
        let field = format!("store-codecs.{store}");
        let codec = Codec::from_name(&name);
        if codec.is_none() {
            p.add(
                &field,
                (
                    format!("\"{name}\" is not a codec"),
                    format!("use one of {}", quoted(NAMES.into_iter())),
                ),
            );
        }
        if !declared.contains(&&store) {
            let fix = if declared.is_empty() {
                "declare the store first (`stores = [\"<name>\"]` or `[windows.<name>]`)".to_string()
            } else {
                format!(
                    "name a store this manifest declares: {}",
                    quoted(declared.iter().map(|s| s.as_str()))
                )
            };
            p.add(&field, (format!("\"{store}\" is not a declared store"), fix));
            continue;
        }
        if let Some(codec) = codec {
            codecs.insert(store, codec);
        }
    }
    codecs
}

/// `"a", "b"`.
fn quoted<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}
