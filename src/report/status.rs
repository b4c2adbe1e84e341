//! What a test's or rule's status tag (the rule catalogue's DOC, SDK, INF, NP …) makes of
//! its outcome: the one place where a missed expectation becomes a failure, a warning or a
//! recorded observation, for the judge's rules, broker tests and device tests alike.

use super::Verdict;
use crate::suite::schema::Status;

impl Status {
    /// The verdict when the peer did not do what the test or rule expects: a failure for
    /// documented behaviour (DOC, DOC*), a recorded observation where the behaviour is not
    /// pinned down (NP), a warning for every weaker source (SDK, 2ND, OBS, INF).
    pub fn missed(self, message: String) -> Verdict {
        match self {
            Status::Doc | Status::DocAmbiguous => Verdict::Failed { message },
            Status::NotPinned => Verdict::Recorded { message },
            Status::Sdk | Status::Secondary | Status::Observed | Status::Inferred => {
                Verdict::Warning { message }
            }
        }
    }

    /// The verdict when the peer did what is expected: passed, except where the behaviour
    /// is not pinned down (NP) and what was observed is recorded instead.
    pub fn met(self, observed: impl FnOnce() -> Option<String>) -> Verdict {
        if self != Status::NotPinned {
            return Verdict::Passed;
        }
        observed().map_or(Verdict::Passed, |message| Verdict::Recorded { message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_documented_behaviour_fails_a_peer() {
        let verdict = |s: Status| s.missed("m".into());
        assert!(matches!(verdict(Status::Doc), Verdict::Failed { .. }));
        assert!(matches!(
            verdict(Status::DocAmbiguous),
            Verdict::Failed { .. }
        ));
        assert!(matches!(
            verdict(Status::NotPinned),
            Verdict::Recorded { .. }
        ));
        for weaker in [
            Status::Sdk,
            Status::Secondary,
            Status::Observed,
            Status::Inferred,
        ] {
            assert!(matches!(verdict(weaker), Verdict::Warning { .. }));
        }
    }

    #[test]
    fn a_met_expectation_passes_unless_the_behaviour_is_only_recorded() {
        let seen = || Some("observed: a close".to_owned());
        assert_eq!(Status::Doc.met(seen), Verdict::Passed);
        assert!(matches!(
            Status::NotPinned.met(seen),
            Verdict::Recorded { .. }
        ));
        assert_eq!(Status::NotPinned.met(|| None), Verdict::Passed);
    }
}
