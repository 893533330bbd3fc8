//! Branch globs as CI systems write them (`release/*`, `feature/**`): `*` stays within one
//! path component, because `release/*` meaning `release/a/b/c` too surprises people; `**`
//! crosses `/`; `?` is one character other than `/`. Everything else is literal, so names with
//! `[` or `{` need no escaping (git forbids `[` anyway, and `{` is rare and meant literally).

/// Whether `branch` matches any of `patterns`; an empty list matches every branch.
pub fn branch_matches(patterns: &[String], branch: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob_matches(p, branch))
}

#[derive(Clone, Copy)]
enum Token {
    Char(char),
    /// `?`
    One,
    /// `*`
    Segment,
    /// `**` (or more stars)
    Anything,
}

fn tokens(pattern: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            '?' => Token::One,
            '*' if chars.peek() == Some(&'*') => {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                Token::Anything
            }
            '*' => Token::Segment,
            c => Token::Char(c),
        });
    }
    out
}

/// One pass per token over the set of reachable positions in the name: linear in both, so no
/// pattern of stars can make matching take exponential time.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let text: Vec<char> = name.chars().collect();
    let n = text.len();
    let mut reach = vec![false; n + 1];
    reach[0] = true;
    for token in tokens(pattern) {
        let mut next = vec![false; n + 1];
        match token {
            Token::Char(c) => {
                for j in 0..n {
                    next[j + 1] = reach[j] && text[j] == c;
                }
            }
            Token::One => {
                for j in 0..n {
                    next[j + 1] = reach[j] && text[j] != '/';
                }
            }
            Token::Segment => {
                next[0] = reach[0];
                for j in 1..=n {
                    next[j] = reach[j] || (next[j - 1] && text[j - 1] != '/');
                }
            }
            Token::Anything => {
                next[0] = reach[0];
                for j in 1..=n {
                    next[j] = reach[j] || next[j - 1];
                }
            }
        }
        reach = next;
        if !reach.contains(&true) {
            return false;
        }
    }
    reach[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(patterns: &[&str], branch: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        branch_matches(&patterns, branch)
    }

    #[test]
    fn an_empty_list_matches_everything() {
        assert!(matches(&[], "main"));
        assert!(matches(&[], "feature/a/b"));
    }

    #[test]
    fn literal_names_match_exactly() {
        assert!(matches(&["main"], "main"));
        assert!(!matches(&["main"], "main2"));
        assert!(!matches(&["main"], "mai"));
        assert!(!matches(&["Main"], "main"));
        assert!(matches(&["develop", "main"], "main"));
    }

    #[test]
    fn a_star_stays_within_one_component() {
        assert!(matches(&["release/*"], "release/1.2"));
        assert!(matches(&["release/*"], "release/"));
        assert!(!matches(&["release/*"], "release/1.2/hotfix"));
        assert!(!matches(&["release/*"], "release"));
        assert!(!matches(&["release/*"], "prerelease/1.2"));
        assert!(matches(&["*"], "main"));
        assert!(!matches(&["*"], "feature/x"));
        assert!(matches(&["v*.x"], "v1.x"));
        assert!(matches(&["*-stable"], "1.2-stable"));
        assert!(matches(&["feat*/*"], "feature/login"));
    }

    #[test]
    fn a_double_star_crosses_components() {
        assert!(matches(&["feature/**"], "feature/a"));
        assert!(matches(&["feature/**"], "feature/a/b/c"));
        assert!(!matches(&["feature/**"], "feature"));
        assert!(matches(&["**"], "any/thing/at/all"));
        assert!(matches(&["**/hotfix"], "release/1.2/hotfix"));
        assert!(!matches(&["**/hotfix"], "hotfix"));
        assert!(matches(&["***"], "a/b"));
    }

    #[test]
    fn a_question_mark_is_one_character_but_not_a_slash() {
        assert!(matches(&["v?"], "v1"));
        assert!(!matches(&["v?"], "v10"));
        assert!(!matches(&["a?b"], "a/b"));
        assert!(matches(&["caf?"], "caf\u{e9}"));
    }

    #[test]
    fn other_characters_are_literal() {
        assert!(matches(&["a[b]"], "a[b]"));
        assert!(!matches(&["a[b]"], "ab"));
        assert!(matches(&["{x}"], "{x}"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let name = "a".repeat(2000);
        let pattern = format!("{}b", "*a".repeat(200));
        assert!(!matches(&[&pattern], &name));
    }
}
