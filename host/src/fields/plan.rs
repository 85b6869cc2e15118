//! The union of the paths a task's processors declare, as a tree the
//! parser walks once per value: [`Plan::slot`] says where each path's span
//! lands in a [`super::Parsed`].

use super::{FieldPath, Segment};

/// One step of the tree: the slot of the value at this point (if a path
/// ends here) and the steps below it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Node {
    /// The slot a path ending here fills.
    pub slot: Option<usize>,
    /// Keys (or indexes) below, each with its subtree.
    pub children: Vec<(Segment, Node)>,
}

impl Node {
    /// The child under `key`, matching an object key.
    pub fn child(&self, key: &str) -> Option<&Node> {
        self.children.iter().find(|(s, _)| s.0 == key).map(|(_, n)| n)
    }

    /// The child under array index `index`.
    pub fn element(&self, index: usize) -> Option<&Node> {
        self.children.iter().find(|(s, _)| s.index() == Some(index)).map(|(_, n)| n)
    }
}

/// The paths of a task's processors, merged, each with its slot.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Plan {
    root: Node,
    paths: Vec<FieldPath>,
}

impl Plan {
    /// An empty plan (no processor declares fields).
    pub fn new() -> Plan {
        Plan::default()
    }

    /// The slot of `path`, adding it when new.
    pub fn slot(&mut self, path: &FieldPath) -> usize {
        if let Some(at) = self.paths.iter().position(|p| p == path) {
            return at;
        }
        let slot = self.paths.len();
        self.paths.push(path.clone());
        let mut node = &mut self.root;
        for segment in path.segments() {
            let at = match node.children.iter().position(|(s, _)| s == segment) {
                Some(at) => at,
                None => {
                    node.children.push((segment.clone(), Node::default()));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[at].1;
        }
        node.slot = Some(slot);
        slot
    }

    /// How many slots a parse fills.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// No paths at all.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The tree's root.
    pub fn root(&self) -> &Node {
        &self.root
    }
}
