//! Topic names, topic filters, shared subscriptions and matching.

use super::error::Violation;

/// Checks a topic name: non-empty and free of wildcards. Emptiness is checked by the
/// caller where 5.0 topic aliases allow it.
pub fn check_topic_name(name: &str) -> Result<(), Violation> {
    // Branch-free so the compiler vectorises it: topic names are on every PUBLISH.
    let wildcard = name
        .bytes()
        .fold(false, |acc, b| acc | (b == b'+') | (b == b'#'));
    if wildcard {
        return Err(Violation::WildcardInTopicName);
    }
    Ok(())
}

/// Checks a topic filter: non-empty, `#` alone in the last level, `+` alone in its level.
/// With `shared_allowed` (5.0), a `$share/{name}/{filter}` form is checked as such.
pub fn check_topic_filter(filter: &str, shared_allowed: bool) -> Result<(), Violation> {
    if filter.is_empty() {
        return Err(Violation::EmptyTopic {
            field: "topic filter",
        });
    }
    let inner = match shared_subscription(filter) {
        Some(Ok((_, inner))) if shared_allowed => inner,
        Some(Err(())) if shared_allowed => return Err(Violation::InvalidSharedSubscription),
        _ => filter,
    };
    check_wildcards(inner)
}

fn check_wildcards(filter: &str) -> Result<(), Violation> {
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(Violation::InvalidMultiLevelWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(Violation::InvalidSingleLevelWildcard);
        }
    }
    Ok(())
}

/// Splits a `$share/{ShareName}/{filter}` filter. `None` when it is not a shared
/// subscription, `Some(Err(()))` when it starts with `$share/` but is malformed.
pub fn shared_subscription(filter: &str) -> Option<Result<(&str, &str), ()>> {
    let rest = filter.strip_prefix("$share/")?;
    Some(match rest.split_once('/') {
        Some((name, inner))
            if !name.is_empty() && !name.contains(['+', '#']) && !inner.is_empty() =>
        {
            Ok((name, inner))
        }
        _ => Err(()),
    })
}

/// True when `filter` matches `topic`. Filters starting with a wildcard do not match topics
/// starting with `$`. Shared-subscription prefixes are stripped first.
pub fn matches(filter: &str, topic: &str) -> bool {
    let filter = match shared_subscription(filter) {
        Some(Ok((_, inner))) => inner,
        _ => filter,
    };
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// True when the filter contains `+` or `#`.
pub fn has_wildcard(filter: &str) -> bool {
    filter.contains(['+', '#'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_rules() {
        for ok in [
            "#",
            "+",
            "a/#",
            "a/+/b",
            "+/+",
            "/",
            "sport/tennis/#",
            "+/tennis/#",
        ] {
            assert_eq!(check_topic_filter(ok, false), Ok(()), "{ok}");
        }
        for (bad, v) in [
            ("a/#/b", Violation::InvalidMultiLevelWildcard),
            ("a#", Violation::InvalidMultiLevelWildcard),
            ("sport/tennis#", Violation::InvalidMultiLevelWildcard),
            ("a+", Violation::InvalidSingleLevelWildcard),
            ("sport+", Violation::InvalidSingleLevelWildcard),
        ] {
            assert_eq!(check_topic_filter(bad, false), Err(v), "{bad}");
        }
        assert!(matches!(
            check_topic_filter("", false),
            Err(Violation::EmptyTopic { .. })
        ));
    }

    #[test]
    fn shared_subscriptions() {
        assert_eq!(check_topic_filter("$share/g/a/+", true), Ok(()));
        assert_eq!(
            check_topic_filter("$share/g+/a", true),
            Err(Violation::InvalidSharedSubscription)
        );
        assert_eq!(
            check_topic_filter("$share/g", true),
            Err(Violation::InvalidSharedSubscription)
        );
        // In 3.1.1 `$share/...` is an ordinary filter.
        assert_eq!(check_topic_filter("$share/g", false), Ok(()));
    }

    #[test]
    fn matching() {
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches("sport/#", "sport"));
        assert!(matches("sport/+", "sport/"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("+/+", "/finance"));
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("+/monitor", "$SYS/monitor"));
        assert!(matches("$SYS/#", "$SYS/x"));
        assert!(matches("$share/g/a/+", "a/b"));
    }

    #[test]
    fn names() {
        assert_eq!(check_topic_name("a/b"), Ok(()));
        assert_eq!(check_topic_name("a/+"), Err(Violation::WildcardInTopicName));
    }
}
