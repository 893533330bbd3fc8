//! Branch filters (`branches:` of webhook and commit triggers): glob patterns with the semantics
//! of GitHub Actions' branch filters, so a filter copied from a workflow means the same here.
//!
//! - `*` matches any characters except `/`; `**` matches any characters, `/` included;
//! - `?` makes the preceding character optional, `+` repeats it one or more times;
//! - `[abc]`, `[a-z0-9]` match one listed character;
//! - `\` takes the next character literally;
//! - a pattern starting with `!` excludes what it matches. Patterns apply in order and the last
//!   one matching a branch decides, so `["releases/**", "!releases/**-alpha"]` keeps every
//!   release except alphas.
//!
//! An empty list matches every branch, and so does a list of exclusions only for every branch
//! none of them matches (`["!wip/**"]` is "everything but `wip/…`").

/// Whether `branch` passes the filter `patterns` (see the module documentation).
pub fn branch_matches(patterns: &[String], branch: &str) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let name: Vec<char> = branch.chars().collect();
    // A list of exclusions only starts from "everything"; otherwise from "nothing".
    let mut included = patterns.iter().all(|p| p.starts_with('!'));
    for pattern in patterns {
        let (negated, body) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        if Glob::parse(body).matches(&name) {
            included = !negated;
        }
    }
    included
}

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A literal character or a class, with how many times it may occur.
    Char(CharSet, Repeat),
    /// `*`: any run of characters without `/`.
    Star,
    /// `**`: any run of characters.
    DoubleStar,
}

#[derive(Debug, Clone, PartialEq)]
enum CharSet {
    Literal(char),
    /// `[...]`: single characters and inclusive ranges.
    Class(Vec<(char, char)>),
}

impl CharSet {
    fn contains(&self, c: char) -> bool {
        match self {
            CharSet::Literal(l) => *l == c,
            CharSet::Class(ranges) => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Repeat {
    Once,
    /// `?`: zero or one.
    Optional,
    /// `+`: one or more.
    OneOrMore,
}

struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Compile a pattern. Nothing is an error: a `[` without its `]`, or a `?`/`+` with nothing
    /// before it, is taken literally, as a branch name can hold those characters.
    fn parse(pattern: &str) -> Glob {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens: Vec<Token> = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '*' if chars.get(i + 1) == Some(&'*') => {
                    tokens.push(Token::DoubleStar);
                    i += 2;
                    // `***` and more are one `**`.
                    while chars.get(i) == Some(&'*') {
                        i += 1;
                    }
                    continue;
                }
                '*' => tokens.push(Token::Star),
                '?' | '+' => {
                    let repeat = if c == '?' {
                        Repeat::Optional
                    } else {
                        Repeat::OneOrMore
                    };
                    match tokens.last_mut() {
                        Some(Token::Char(_, r @ Repeat::Once)) => *r = repeat,
                        _ => tokens.push(Token::Char(CharSet::Literal(c), Repeat::Once)),
                    }
                }
                '\\' if i + 1 < chars.len() => {
                    tokens.push(Token::Char(CharSet::Literal(chars[i + 1]), Repeat::Once));
                    i += 1;
                }
                '[' => match parse_class(&chars[i + 1..]) {
                    Some((set, used)) => {
                        tokens.push(Token::Char(set, Repeat::Once));
                        i += used;
                    }
                    None => tokens.push(Token::Char(CharSet::Literal('['), Repeat::Once)),
                },
                _ => tokens.push(Token::Char(CharSet::Literal(c), Repeat::Once)),
            }
            i += 1;
        }
        Glob { tokens }
    }

    fn matches(&self, name: &[char]) -> bool {
        // Memoized on (token, position): stars in sequence cannot make it exponential.
        let mut failed = std::collections::HashSet::new();
        self.match_from(0, name, 0, &mut failed)
    }

    fn match_from(
        &self,
        t: usize,
        name: &[char],
        n: usize,
        failed: &mut std::collections::HashSet<(usize, usize)>,
    ) -> bool {
        if failed.contains(&(t, n)) {
            return false;
        }
        let found = match self.tokens.get(t) {
            None => n == name.len(),
            Some(Token::DoubleStar) => {
                (n..=name.len()).any(|end| self.match_from(t + 1, name, end, failed))
            }
            Some(Token::Star) => {
                let stop = name[n..]
                    .iter()
                    .position(|c| *c == '/')
                    .map_or(name.len(), |p| n + p);
                (n..=stop).any(|end| self.match_from(t + 1, name, end, failed))
            }
            Some(Token::Char(set, repeat)) => {
                let one = name.get(n).is_some_and(|c| set.contains(*c));
                match repeat {
                    Repeat::Once => one && self.match_from(t + 1, name, n + 1, failed),
                    Repeat::Optional => {
                        (one && self.match_from(t + 1, name, n + 1, failed))
                            || self.match_from(t + 1, name, n, failed)
                    }
                    Repeat::OneOrMore => {
                        let run = name[n..].iter().take_while(|c| set.contains(**c)).count();
                        (1..=run).any(|k| self.match_from(t + 1, name, n + k, failed))
                    }
                }
            }
        };
        if !found {
            failed.insert((t, n));
        }
        found
    }
}

/// The class after a `[`: its set and how many characters it used, `]` included; `None` when
/// the `]` is missing or the class is empty.
fn parse_class(rest: &[char]) -> Option<(CharSet, usize)> {
    let end = rest.iter().position(|c| *c == ']')?;
    let body = &rest[..end];
    if body.is_empty() {
        return None;
    }
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            let (lo, hi) = (body[i], body[i + 2]);
            ranges.push(if lo <= hi { (lo, hi) } else { (hi, lo) });
            i += 3;
        } else {
            ranges.push((body[i], body[i]));
            i += 1;
        }
    }
    Some((CharSet::Class(ranges), end + 1))
}

#[cfg(test)]
mod tests {
    use super::branch_matches;

    fn matches(patterns: &[&str], branch: &str) -> bool {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        branch_matches(&patterns, branch)
    }

    #[test]
    fn an_empty_filter_matches_every_branch() {
        assert!(matches(&[], "main"));
        assert!(matches(&[], "feature/a/b"));
    }

    #[test]
    fn literal_names_match_exactly() {
        assert!(matches(&["main"], "main"));
        assert!(!matches(&["main"], "main2"));
        assert!(!matches(&["main"], "mai"));
        assert!(matches(&["main", "develop"], "develop"));
    }

    #[test]
    fn a_star_stops_at_a_slash_and_a_double_star_crosses_it() {
        assert!(matches(&["feature/*"], "feature/login"));
        assert!(!matches(&["feature/*"], "feature/login/v2"));
        assert!(matches(&["feature/**"], "feature/login/v2"));
        assert!(matches(&["*"], "main"));
        assert!(!matches(&["*"], "feature/x"));
        assert!(matches(&["**"], "feature/x"));
        assert!(matches(&["**-hotfix"], "releases/v1-hotfix"));
        assert!(!matches(&["*-hotfix"], "releases/v1-hotfix"));
        assert!(matches(&["v*.*"], "v1.2"));
        assert!(matches(&["feature/*"], "feature/"));
    }

    #[test]
    fn question_mark_and_plus_quantify_the_preceding_character() {
        assert!(matches(&["v1?"], "v"));
        assert!(matches(&["v1?"], "v1"));
        assert!(!matches(&["v1?"], "v11"));
        assert!(matches(&["v1+"], "v111"));
        assert!(!matches(&["v1+"], "v"));
        assert!(matches(&["v[0-9]+.[0-9]+"], "v10.2"));
        assert!(!matches(&["v[0-9]+.[0-9]+"], "v10.x"));
    }

    #[test]
    fn classes_escapes_and_unclosed_brackets() {
        assert!(matches(&["release-[ab]"], "release-b"));
        assert!(!matches(&["release-[ab]"], "release-c"));
        assert!(matches(&["a\\*b"], "a*b"));
        assert!(!matches(&["a\\*b"], "axb"));
        assert!(matches(&["fix[1"], "fix[1"));
    }

    #[test]
    fn the_last_matching_pattern_decides() {
        let filter = ["releases/**", "!releases/**-alpha"];
        assert!(matches(&filter, "releases/v1"));
        assert!(!matches(&filter, "releases/v1-alpha"));
        assert!(!matches(&filter, "main"));
        // Re-included by a later positive pattern.
        let filter = ["releases/**", "!releases/**-alpha", "releases/keep-alpha"];
        assert!(matches(&filter, "releases/keep-alpha"));
    }

    #[test]
    fn exclusions_only_start_from_every_branch() {
        assert!(matches(&["!wip/**"], "main"));
        assert!(!matches(&["!wip/**"], "wip/x"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = "*a*a*a*a*a*a*a*a*a*a*a*a*b";
        assert!(!matches(&[pattern], &"a".repeat(60)));
    }
}
