//! Finding a node kind by what the user types: its name first, then its
//! category, then words of its summary. The palette window and the
//! dropped-wire menu both list through [`search`].

use patchbay_core::NodeDescriptor;

/// How well a kind matches a query; lower is better.
fn rank(desc: &NodeDescriptor, words: &[String]) -> Option<u8> {
    let kind = desc.kind.to_ascii_lowercase();
    let category = desc.category.to_ascii_lowercase();
    let summary = desc.summary.to_ascii_lowercase();
    let mut worst = 0;
    for word in words {
        let score = if kind == *word {
            0
        } else if kind.starts_with(word.as_str()) {
            1
        } else if kind.contains(word.as_str()) {
            2
        } else if category.starts_with(word.as_str()) {
            3
        } else if summary.contains(word.as_str()) {
            4
        } else {
            return None;
        };
        worst = worst.max(score);
    }
    Some(worst)
}

/// The kinds among `kinds` matching every word of `query`, best first (ties
/// keep the given order). An empty query matches everything. Internal kinds
/// (category `internal`) are never offered.
pub fn search(kinds: &[&'static NodeDescriptor], query: &str) -> Vec<&'static NodeDescriptor> {
    let words: Vec<String> = query.split_whitespace().map(str::to_ascii_lowercase).collect();
    let mut found: Vec<(u8, usize, &'static NodeDescriptor)> = kinds
        .iter()
        .enumerate()
        .filter(|(_, d)| d.category != "internal")
        .filter_map(|(i, d)| rank(d, &words).map(|r| (r, i, *d)))
        .collect();
    found.sort_by_key(|&(r, i, _)| (r, i));
    found.into_iter().map(|(_, _, d)| d).collect()
}

/// The first sentence of a kind's summary, for one-line listings.
pub fn short_summary(desc: &NodeDescriptor) -> &'static str {
    let s = desc.summary;
    match s.find(". ") {
        Some(end) => &s[..=end],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(query: &str) -> Vec<&'static str> {
        search(&patchbay_nodes::registry().kinds(), query)
            .iter()
            .map(|d| d.kind)
            .collect()
    }

    #[test]
    fn an_exact_name_comes_first_then_prefixes() {
        let found = names("low");
        assert_eq!(found[0], "lowpass", "{found:?}");
        assert!(found.contains(&"lowshelf"), "{found:?}");
        assert_eq!(names("saw")[0], "saw");
    }

    #[test]
    fn category_and_summary_words_find_kinds() {
        let analysis = names("analysis");
        for kind in ["meter", "scope", "spectrum"] {
            assert!(analysis.contains(&kind), "{analysis:?}");
        }
        let echo = names("oscilloscope");
        assert_eq!(echo, ["scope"]);
        assert!(names("no such thing at all").is_empty());
        assert_eq!(names("").len(), patchbay_nodes::registry().kinds().len());
    }
}
