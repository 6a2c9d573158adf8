//! The rules of `_include` and `_revinclude` (with `:iterate`) that both backends follow; each
//! backend fetches the reference rows its own way and feeds them through these.

use std::collections::HashSet;

use zdrav_search::{Include, SearchQuery};

use super::search::Hit;

/// Rounds of `:iterate` after the first pass over the page.
pub(crate) const MAX_ROUNDS: usize = 5;

/// Most resources one search includes: a revinclude of a busy patient can reach millions.
pub(crate) const MAX_INCLUDED: usize = 10_000;

/// Whether an include's type or parameter `pattern` (`*` for any) covers `value`.
pub(crate) fn applies(pattern: &str, value: &str) -> bool {
    pattern == "*" || pattern == value
}

/// The forward and reverse includes applied in `round`: every one on the page (round 0), only
/// the iterating ones on what the previous round added.
pub(crate) fn round_includes(q: &SearchQuery, round: usize) -> (Vec<&Include>, Vec<&Include>) {
    let wanted = |inc: &&Include| round == 0 || inc.iterate;
    (
        q.include.iter().filter(wanted).collect(),
        q.revinclude.iter().filter(wanted).collect(),
    )
}

/// Whether a reference row of parameter `param` from a `source_type` resource to a
/// `target_type` resource is followed by one of the forward `includes`.
pub(crate) fn follows(
    includes: &[&Include],
    source_type: &str,
    param: &str,
    target_type: &str,
) -> bool {
    includes.iter().any(|inc| {
        applies(&inc.source_type, source_type)
            && applies(&inc.param, param)
            && inc.target_type.as_ref().is_none_or(|t| t == target_type)
    })
}

/// The included resources so far: each once, none of them a match, in the order found, and
/// only those the query's patient restriction lets through.
pub(crate) struct Collector {
    seen: HashSet<i64>,
    allowed: Option<HashSet<String>>,
    pub(crate) out: Vec<Hit>,
}

impl Collector {
    /// Starts with the page's matches marked as seen.
    pub(crate) fn new(matches: &[Hit], q: &SearchQuery) -> Collector {
        Collector {
            seen: matches.iter().map(|h| h.rk).collect(),
            allowed: q.patients.as_ref().map(|p| p.iter().cloned().collect()),
            out: Vec::new(),
        }
    }

    /// Adds `hit` unless already seen or owned by a patient outside the restriction. (Refused
    /// hits are still marked seen, and `:iterate` does not walk on from them.)
    pub(crate) fn add(&mut self, hit: Hit) {
        if !self.seen.insert(hit.rk) {
            return;
        }
        let refused = match (&self.allowed, &hit.pat) {
            (Some(allowed), Some(pat)) => !allowed.contains(pat),
            _ => false,
        };
        if !refused {
            self.out.push(hit);
        }
    }

    /// Caps the result at [`MAX_INCLUDED`]; true when it was reached (the walk then stops).
    pub(crate) fn full(&mut self) -> bool {
        if self.out.len() >= MAX_INCLUDED {
            self.out.truncate(MAX_INCLUDED);
            true
        } else {
            false
        }
    }
}
