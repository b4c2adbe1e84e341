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
    /// Shared subscriptions (`$share/<name>/<filter>`) whose filter ends here, by ShareName.
    shared: HashMap<Box<str>, Group>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.subs.is_empty() && self.shared.is_empty() && self.children.is_empty()
    }
}

/// The members of one shared subscription; each message goes to the next in turn.
#[derive(Debug, Default)]
struct Group {
    members: Vec<(Arc<str>, SubEntry)>,
    // Routing only reads the tree; the turn is the one thing it moves on.
    next: std::cell::Cell<usize>,
}

/// Where `filter` lives in the tree: its levels (a shared subscription's inner filter)
/// and its ShareName, if shared.
fn place(filter: &str) -> (&str, Option<&str>) {
    match crate::codec::topic::shared_subscription(filter) {
        Some(Ok((name, inner))) => (inner, Some(name)),
        _ => (filter, None),
    }
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
        let (path, share) = place(filter);
        let mut node = &mut self.root;
        for level in path.split('/') {
            node = node.children.entry(level.into()).or_default();
        }
        let added = match share {
            None => node.subs.insert(key.clone(), entry).is_none(),
            Some(name) => {
                let group = node.shared.entry(name.into()).or_default();
                match group.members.iter_mut().find(|(k, _)| k == key) {
                    Some(member) => {
                        member.1 = entry;
                        false
                    }
                    None => {
                        group.members.push((key.clone(), entry));
                        true
                    }
                }
            }
        };
        if added {
            self.count += 1;
        }
    }

    /// Removes `key`'s subscription to `filter`; true when there was one.
    pub(crate) fn remove(&mut self, filter: &str, key: &str) -> bool {
        let (path, share) = place(filter);
        let levels: Vec<&str> = path.split('/').collect();
        let removed = remove_in(&mut self.root, &levels, key, share);
        if removed {
            self.count -= 1;
        }
        removed
    }

    /// Number of subscriptions.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Calls `f` for every subscription whose filter matches `topic`; for a shared
    /// subscription, for the one member whose turn it is.
    pub(crate) fn for_each_match(&self, topic: &str, f: &mut impl FnMut(&Arc<str>, &SubEntry)) {
        let levels: Vec<&str> = topic.split('/').collect();
        visit(&self.root, &levels, 0, topic.starts_with('$'), f);
    }
}

fn remove_in(node: &mut Node, levels: &[&str], key: &str, share: Option<&str>) -> bool {
    let Some((first, rest)) = levels.split_first() else {
        let Some(name) = share else {
            return node.subs.remove(key).is_some();
        };
        let Some(group) = node.shared.get_mut(name) else {
            return false;
        };
        let before = group.members.len();
        group.members.retain(|(k, _)| &**k != key);
        let removed = group.members.len() < before;
        if group.members.is_empty() {
            node.shared.remove(name);
        }
        return removed;
    };
    let Some(child) = node.children.get_mut(*first) else {
        return false;
    };
    let removed = remove_in(child, rest, key, share);
    if child.is_empty() {
        node.children.remove(*first);
    }
    removed
}

/// Calls `f` for every subscription ending at `node`.
fn at_node(node: &Node, f: &mut impl FnMut(&Arc<str>, &SubEntry)) {
    node.subs.iter().for_each(|(k, e)| f(k, e));
    for group in node.shared.values() {
        if group.members.is_empty() {
            continue;
        }
        let turn = group.next.get() % group.members.len();
        group.next.set(turn + 1);
        let (k, e) = &group.members[turn];
        f(k, e);
    }
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
            at_node(hash, f);
        }
    }
    let Some(level) = levels.get(i) else {
        at_node(node, f);
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

    #[test]
    fn a_shared_subscription_delivers_to_one_member_in_turn() {
        let mut tree = SubTree::default();
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        tree.insert("$share/g/t/+", &a, entry());
        tree.insert("$share/g/t/+", &b, entry());
        tree.insert("$share/h/t/#", &c, entry());
        tree.insert("t/x", &a, entry());
        assert_eq!(tree.len(), 4);
        let route = |tree: &SubTree| {
            let mut got: Vec<String> = Vec::new();
            tree.for_each_match("t/x", &mut |k, _| got.push(k.to_string()));
            got.sort();
            got
        };
        // Group g alternates between a and b; group h (one member) and the plain
        // subscription of a get every message.
        assert_eq!(route(&tree), ["a", "a", "c"]);
        assert_eq!(route(&tree), ["a", "b", "c"]);
        assert_eq!(route(&tree), ["a", "a", "c"]);
        // A shared filter does not match the topic `$share/g/t/x` itself.
        let mut literal = 0;
        tree.for_each_match("$share/g/t/x", &mut |_, _| literal += 1);
        assert_eq!(literal, 0);
        assert!(tree.remove("$share/g/t/+", "a"));
        assert!(!tree.remove("$share/g/t/+", "a"));
        assert_eq!(route(&tree), ["a", "b", "c"]);
        assert!(tree.remove("$share/g/t/+", "b"));
        assert!(tree.remove("$share/h/t/#", "c"));
        assert!(tree.remove("t/x", "a"));
        assert_eq!(tree.len(), 0);
        assert!(tree.root.children.is_empty());
    }
}
