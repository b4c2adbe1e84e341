//! The subscription index: a tree of topic levels, so routing a PUBLISH costs the levels of
//! its topic, not the number of subscriptions.

use crate::codec::QoS;
use std::collections::HashMap;
use std::sync::Arc;

/// One subscription's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SubEntry {
    /// Granted QoS.
    pub(crate) qos: QoS,
    /// 5.0 No Local.
    pub(crate) no_local: bool,
    /// 5.0 Retain As Published.
    pub(crate) retain_as_published: bool,
    /// 5.0 Subscription Identifier.
    pub(crate) id: Option<u32>,
}

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    /// Subscriptions whose filter ends here, by session key.
    subs: HashMap<Arc<str>, SubEntry>,
}

/// Every subscription of every session.
#[derive(Debug, Default)]
pub(crate) struct SubTree {
    root: Node,
    count: usize,
}

impl SubTree {
    /// Adds or replaces `key`'s subscription to `filter`.
    pub(crate) fn insert(&mut self, filter: &str, key: &Arc<str>, entry: SubEntry) {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        if node.subs.insert(key.clone(), entry).is_none() {
            self.count += 1;
        }
    }

    /// Removes `key`'s subscription to `filter`; true when there was one.
    pub(crate) fn remove(&mut self, filter: &str, key: &str) -> bool {
        let levels: Vec<&str> = filter.split('/').collect();
        let removed = remove_in(&mut self.root, &levels, key);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Number of subscriptions.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Calls `f` for every subscription whose filter matches `topic`.
    pub(crate) fn for_each_match(&self, topic: &str, f: &mut impl FnMut(&Arc<str>, &SubEntry)) {
        let levels: Vec<&str> = topic.split('/').collect();
        visit(&self.root, &levels, 0, topic.starts_with('$'), f);
    }
}

fn remove_in(node: &mut Node, levels: &[&str], key: &str) -> bool {
    let Some((first, rest)) = levels.split_first() else {
        return node.subs.remove(key).is_some();
    };
    let Some(child) = node.children.get_mut(*first) else {
        return false;
    };
    let removed = remove_in(child, rest, key);
    if child.subs.is_empty() && child.children.is_empty() {
        node.children.remove(*first);
    }
    removed
}

fn visit(
    node: &Node,
    levels: &[&str],
    i: usize,
    dollar: bool,
    f: &mut impl FnMut(&Arc<str>, &SubEntry),
) {
    // Filters starting with a wildcard do not match `$` topics (MQTT-4.7.2-1).
    let wildcards = !(i == 0 && dollar);
    if wildcards {
        // `#` also matches the parent level: `a/#` matches `a` (MQTT 4.7.1.2).
        if let Some(hash) = node.children.get("#") {
            hash.subs.iter().for_each(|(k, e)| f(k, e));
        }
    }
    let Some(level) = levels.get(i) else {
        node.subs.iter().for_each(|(k, e)| f(k, e));
        return;
    };
    if wildcards {
        if let Some(plus) = node.children.get("+") {
            visit(plus, levels, i + 1, dollar, f);
        }
    }
    if let Some(child) = node.children.get(*level) {
        visit(child, levels, i + 1, dollar, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::topic::matches;

    fn entry() -> SubEntry {
        SubEntry {
            qos: QoS::AtMostOnce,
            no_local: false,
            retain_as_published: false,
            id: None,
        }
    }

    #[test]
    fn agrees_with_matches() {
        let filters = [
            "#", "+", "a", "a/#", "a/+", "a/b", "+/b", "a/+/c", "+/+", "/", "/+", "$SYS/#",
            "$SYS/+", "+/#", "a/b/#",
        ];
        let topics = [
            "a", "a/b", "a/b/c", "/", "/x", "b", "$SYS/x", "$SYS", "a/", "x/b",
        ];
        let mut tree = SubTree::default();
        for f in filters {
            tree.insert(f, &Arc::from(f), entry());
        }
        assert_eq!(tree.len(), filters.len());
        for t in topics {
            let mut got: Vec<String> = Vec::new();
            tree.for_each_match(t, &mut |k, _| got.push(k.to_string()));
            got.sort();
            let mut want: Vec<String> = filters
                .iter()
                .filter(|f| matches(f, t))
                .map(|f| f.to_string())
                .collect();
            want.sort();
            assert_eq!(got, want, "topic {t}");
        }
        for f in filters {
            assert!(tree.remove(f, f));
        }
        assert_eq!(tree.len(), 0);
        assert!(tree.root.children.is_empty());
    }
}
