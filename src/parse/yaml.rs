//! A guard run on YAML text before the YAML parser sees it: libyaml's time
//! grows with the square of flow nesting (a 50 KB `[[[…]]]` took seconds),
//! and no config this exporter reads needs more than a few levels.

/// Deepest flow (`[`, `{`) or block nesting accepted in a config file.
pub const MAX_DEPTH: usize = 32;

/// The first place where flow nesting exceeds `max` levels, or indentation
/// exceeds `max` levels of two spaces: `line N: ...`. Quoted scalars and
/// comments are skipped.
pub fn nesting_error(text: &str, max: usize) -> Option<String> {
    let mut depth = 0usize;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches([' ', '-', '?', ':']).len();
        if indent > 2 * max {
            return Some(format!("line {}: indented {indent} columns, deeper than {max} levels", n + 1));
        }
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some('"'), '\\') => {
                    chars.next();
                }
                (Some(q), c) if c == q => {
                    // '' inside single quotes is an escaped quote.
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                (Some(_), _) => {}
                (None, '#') if prev.is_whitespace() => break,
                (None, '"' | '\'') if prev.is_whitespace() || matches!(prev, '[' | '{' | ',' | ':' | '-') => quote = Some(c),
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > max {
                        return Some(format!("line {}: nested deeper than {max} levels", n + 1));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_and_block_nesting_are_refused_with_the_line() {
        let ok = "ports:\n  - {name: \"a [[[[\", port: 1, expect: {user: 'it''s [['}}  # [[[[[[\n";
        assert_eq!(nesting_error(ok, 2), None, "brackets in quotes and comments do not count");
        let deep = format!("ports:\n  - {}1{}\n", "[".repeat(33), "]".repeat(33));
        assert_eq!(nesting_error(&deep, MAX_DEPTH).as_deref(), Some("line 2: nested deeper than 32 levels"));
        assert_eq!(nesting_error(&format!("a: {}{}\n", "[".repeat(32), "]".repeat(32)), MAX_DEPTH), None);
        let split = format!("a:\n{}\n{}\n", "{a: [".repeat(10), "[".repeat(20));
        assert!(nesting_error(&split, MAX_DEPTH).is_some_and(|e| e.starts_with("line 3")), "depth carries across lines");
        let indented = format!("a:\n{}b: 1\n", " ".repeat(65));
        assert!(nesting_error(&indented, MAX_DEPTH).is_some_and(|e| e.contains("line 2")));
        assert!(nesting_error(&format!("{}x\n", "- ".repeat(40)), MAX_DEPTH).is_some(), "block sequences nest too");
    }
}
