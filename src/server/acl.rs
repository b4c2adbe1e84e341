//! The profile's topic catalogue: which topics a device may publish to and which filters
//! it may subscribe to.

use crate::codec::topic::{has_wildcard, matches};
use crate::suite::profile::TopicRules;
use crate::suite::vars::{Vars, references};

/// Per-connection values for patterns that name them (`${client_id}`, `${username}`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnVars<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) username: Option<&'a str>,
}

/// One pattern: resolved at bind time, or resolved per connection.
#[derive(Debug, Clone)]
pub(crate) enum Pattern {
    Fixed(String),
    /// Still names `${client_id}` / `${username}`; the other variables are substituted.
    PerConnection(String),
}

impl Pattern {
    /// Substitutes the suite's values; `${client_id}` / `${username}` wait for a connection.
    pub(crate) fn compile(text: &str, vars: &Vars) -> Result<Self, String> {
        let refs = references(text)?;
        let mut per_connection = false;
        for name in &refs {
            let name: &str = name.as_ref();
            if vars.get(name).is_some() {
                continue;
            }
            if name == "client_id" || name == "username" {
                per_connection = true;
            } else {
                return Err(format!(
                    "profile topic pattern `{text}` refers to `${{{name}}}`, which has no value"
                ));
            }
        }
        if !per_connection {
            return vars.interpolate(text).map(Pattern::Fixed);
        }
        // Substitute what is known now; keep the per-connection names.
        let mut partial = vars.clone();
        for name in ["client_id", "username"] {
            if partial.get(name).is_none() {
                partial.set(name, format!("${{{name}}}"));
            }
        }
        partial.interpolate(text).map(Pattern::PerConnection)
    }

    /// The pattern for one connection; `None` when it names a value the connection lacks.
    pub(crate) fn resolve<'a>(&'a self, ctx: ConnVars<'_>) -> Option<std::borrow::Cow<'a, str>> {
        match self {
            Pattern::Fixed(p) => Some(p.as_str().into()),
            Pattern::PerConnection(p) => {
                if p.contains("${username}") && ctx.username.is_none() {
                    return None;
                }
                let mut s = p.replace("${client_id}", ctx.client_id);
                if let Some(u) = ctx.username {
                    s = s.replace("${username}", u);
                }
                Some(s.into())
            }
        }
    }
}

/// Why a subscription is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubRefusal {
    /// `no_wildcards` or `wildcard_min_level`.
    Wildcard,
    /// Not covered by any `topics.subscribe` pattern.
    NotAllowed,
}

/// The compiled catalogue.
#[derive(Debug, Clone, Default)]
pub(crate) struct Acl {
    publish: Vec<Pattern>,
    subscribe: Vec<Pattern>,
    wildcard_min_level: Option<usize>,
    no_wildcards: bool,
}

impl Acl {
    /// Resolves the profile's patterns with `vars`; an unknown variable is an error.
    pub(crate) fn new(rules: &TopicRules, vars: &Vars) -> Result<Self, String> {
        let compile = |list: &[String]| -> Result<Vec<Pattern>, String> {
            list.iter().map(|p| Pattern::compile(p, vars)).collect()
        };
        Ok(Self {
            publish: compile(&rules.publish)?,
            subscribe: compile(&rules.subscribe)?,
            wildcard_min_level: rules.wildcard_min_level,
            no_wildcards: rules.no_wildcards,
        })
    }

    /// May this connection publish to `topic`? (Any topic when the list is empty.)
    pub(crate) fn may_publish(&self, topic: &str, ctx: ConnVars<'_>) -> bool {
        self.publish.is_empty()
            || self
                .publish
                .iter()
                .filter_map(|p| p.resolve(ctx))
                .any(|p| matches(&p, topic))
    }

    /// May this connection subscribe to `filter`?
    pub(crate) fn may_subscribe(&self, filter: &str, ctx: ConnVars<'_>) -> Result<(), SubRefusal> {
        if has_wildcard(filter) {
            if self.no_wildcards {
                return Err(SubRefusal::Wildcard);
            }
            // Wildcards only from level N+1: the first N levels must be literal.
            if let Some(n) = self.wildcard_min_level {
                if filter
                    .split('/')
                    .take(n)
                    .any(|level| level == "+" || level == "#")
                {
                    return Err(SubRefusal::Wildcard);
                }
            }
        }
        if self.subscribe.is_empty()
            || self
                .subscribe
                .iter()
                .filter_map(|p| p.resolve(ctx))
                .any(|p| covers(&p, filter))
        {
            Ok(())
        } else {
            Err(SubRefusal::NotAllowed)
        }
    }
}

/// True when every topic `filter` matches is also matched by `pattern` (both are valid
/// filters). `#` also matches its parent level, and filters starting with a wildcard do
/// not match `$` topics.
pub(crate) fn covers(pattern: &str, filter: &str) -> bool {
    let mut p = pattern.split('/');
    let mut f = filter.split('/');
    let mut first = true;
    loop {
        let (pl, fl) = (p.next(), f.next());
        if first {
            first = false;
            // A pattern starting with a wildcard does not reach `$` topics.
            if matches!(pl, Some("+" | "#")) && fl.is_some_and(|l| l.starts_with('$')) {
                return false;
            }
        }
        match (pl, fl) {
            (Some("#"), _) => return true,
            (Some("+"), Some(fl)) if fl != "#" => {}
            (Some(pl), Some(fl)) if pl == fl && fl != "+" && fl != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: ConnVars<'static> = ConnVars {
        client_id: "c1",
        username: None,
    };

    #[test]
    fn coverage() {
        assert!(covers("a/b", "a/b"));
        assert!(!covers("a/b", "a/c"));
        assert!(covers("a/+", "a/b"));
        assert!(covers("a/+", "a/+"));
        assert!(!covers("a/+", "a/#"));
        assert!(!covers("a/+", "a/b/c"));
        assert!(covers("a/#", "a"));
        assert!(covers("a/#", "a/b/#"));
        assert!(covers("#", "x/y"));
        assert!(!covers("#", "$sys/x"));
        assert!(!covers("+/x", "$sys/x"));
        assert!(covers("$sys/#", "$sys/p/d/#"));
        assert!(!covers("a/b/c", "a/b"));
        assert!(!covers("a/b", "a/+"));
    }

    #[test]
    fn catalogue_with_variables() {
        let mut vars = Vars::new();
        vars.set("device_id", "d1");
        let rules = TopicRules {
            publish: vec!["tylink/${device_id}/thing/property/report".into()],
            subscribe: vec!["tylink/${device_id}/#".into(), "c/${client_id}/+".into()],
            ..TopicRules::default()
        };
        let acl = Acl::new(&rules, &vars).unwrap();
        assert!(acl.may_publish("tylink/d1/thing/property/report", CTX));
        assert!(!acl.may_publish("tylink/d2/thing/property/report", CTX));
        assert_eq!(acl.may_subscribe("tylink/d1/channel/x", CTX), Ok(()));
        assert_eq!(acl.may_subscribe("c/c1/x", CTX), Ok(()));
        assert_eq!(
            acl.may_subscribe("c/c2/x", CTX),
            Err(SubRefusal::NotAllowed)
        );
        let bad = TopicRules {
            publish: vec!["x/${nope}".into()],
            ..TopicRules::default()
        };
        assert!(Acl::new(&bad, &vars).unwrap_err().contains("nope"));
    }

    #[test]
    fn wildcard_levels() {
        let rules = TopicRules {
            wildcard_min_level: Some(3),
            ..TopicRules::default()
        };
        let acl = Acl::new(&rules, &Vars::new()).unwrap();
        assert_eq!(acl.may_subscribe("$sys/p/d/#", CTX), Ok(()));
        assert_eq!(acl.may_subscribe("$sys/p/d/+/x", CTX), Ok(()));
        assert_eq!(
            acl.may_subscribe("$sys/p/#", CTX),
            Err(SubRefusal::Wildcard)
        );
        assert_eq!(acl.may_subscribe("#", CTX), Err(SubRefusal::Wildcard));
        assert_eq!(acl.may_subscribe("a/b", CTX), Ok(()));
        let none = Acl::new(
            &TopicRules {
                no_wildcards: true,
                ..TopicRules::default()
            },
            &Vars::new(),
        )
        .unwrap();
        assert_eq!(none.may_subscribe("a/+", CTX), Err(SubRefusal::Wildcard));
        assert_eq!(none.may_subscribe("a/b", CTX), Ok(()));
    }
}
