//! Shell-style patterns as fnmatch(3) matches them without flags, in the C
//! locale: `*`, `?`, bracket expressions with ranges, negation and POSIX
//! classes, backslash escapes. Used per path component for sysctl.d keys
//! (`sysctld`) and over a whole cgroup path for `expect.cgroup`. Pure.

/// Whether a pattern is well formed: every `[` opens a bracket expression
/// that closes, with no collating element (`[.`, `[=`) inside, and no
/// backslash ends it. fnmatch agrees with glibc's fnmatch(3) on these; on
/// others glibc has quirks of its own (an unterminated bracket ending in
/// `-` fails or not by what the name holds), so configs refuse them.
pub fn well_formed(p: &[u8]) -> bool {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'\\' if i + 1 == p.len() => return false,
            b'\\' => i += 2,
            b'[' => {
                let Some((_, rest)) = class_match(&p[i + 1..], Some(0)) else { return false };
                let end = p.len() - rest.len();
                // A bracket cut short by a final backslash ends on it, not on `]`.
                if p[end - 1] != b']' || p[i + 1..end].windows(2).any(|w| w == b"[." || w == b"[=") {
                    return false;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    true
}

/// fnmatch(3) without flags: `*` and `?` match any byte, `/` included.
pub fn fnmatch(p: &[u8], s: &[u8]) -> bool {
    // Greedy with backtracking to the last `*` only: linear in practice and
    // never exponential, whatever the pattern (a key is anyone's input).
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            if p[pi] == b'*' {
                star = Some((pi + 1, si));
                pi += 1;
                continue;
            }
            let (hit, used) = one(&p[pi..], s.get(si).copied());
            if hit {
                pi += used;
                si += 1;
                continue;
            }
        } else if si == s.len() {
            return true;
        }
        match star {
            Some((after, from)) if from < s.len() => {
                star = Some((after, from + 1));
                pi = after;
                si = from + 1;
            }
            _ => return false,
        }
    }
}

/// Whether the pattern element at the start of `p` (not `*`) matches `c`,
/// and how many pattern bytes it takes.
fn one(p: &[u8], c: Option<u8>) -> (bool, usize) {
    match p {
        [b'?', ..] => (c.is_some(), 1),
        [b'[', rest @ ..] => match class_match(rest, c) {
            Some((hit, after)) => (hit, p.len() - after.len()),
            // No closing ']': the '[' is literal.
            None => (c == Some(b'['), 1),
        },
        [b'\\', e, ..] => (c == Some(*e), 2),
        // A trailing backslash never matches (glibc: "trailing \\ loses").
        [b'\\'] => (false, 1),
        [x, ..] => (c == Some(*x), 1),
        [] => (false, 0),
    }
}

/// A bracket expression after its `[`: whether `c` is in it, and the rest of
/// the pattern; None when it has no closing `]`.
fn class_match(p: &[u8], c: Option<u8>) -> Option<(bool, &[u8])> {
    let (negate, mut i) = match p.first() {
        Some(b'!' | b'^') => (true, 1),
        _ => (false, 0),
    };
    let mut hit = false;
    let mut first = true;
    loop {
        let b = *p.get(i)?;
        if b == b']' && !first {
            return Some((c.is_some() && hit != negate, &p[i + 1..]));
        }
        first = false;
        if b == b'[' && p.get(i + 1) == Some(&b':') {
            if let Some(len) = p[i + 2..].windows(2).position(|w| w == b":]") {
                let name = &p[i + 2..i + 2 + len];
                hit |= c.is_some_and(|c| posix_class(name, c));
                i += len + 4;
                continue;
            }
        }
        // A backslash takes the next byte literally, inside brackets too; one
        // with nothing after it never matches (glibc returns no match).
        let Some((b, used)) = escaped(&p[i..]) else { return Some((false, &p[p.len()..])) };
        i += used;
        if p.get(i) == Some(&b'-') && p.get(i + 1).is_some_and(|e| *e != b']') {
            let Some((e, used)) = escaped(&p[i + 1..]) else { return Some((false, &p[p.len()..])) };
            hit |= c.is_some_and(|c| b <= c && c <= e);
            i += 1 + used;
        } else {
            hit |= c == Some(b);
        }
    }
}

/// The byte a bracket element stands for and the pattern bytes it takes
/// (`\x` is `x`); None for a backslash that ends the pattern.
fn escaped(p: &[u8]) -> Option<(u8, usize)> {
    match p {
        [b'\\', e, ..] => Some((*e, 2)),
        [b'\\'] => None,
        [b, ..] => Some((*b, 1)),
        [] => None,
    }
}

/// `[:name:]` inside a bracket expression, in the C locale.
fn posix_class(name: &[u8], c: u8) -> bool {
    match name {
        b"alpha" => c.is_ascii_alphabetic(),
        b"digit" => c.is_ascii_digit(),
        b"alnum" => c.is_ascii_alphanumeric(),
        b"lower" => c.is_ascii_lowercase(),
        b"upper" => c.is_ascii_uppercase(),
        b"space" => matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b"punct" => c.is_ascii_punctuation(),
        b"xdigit" => c.is_ascii_hexdigit(),
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => c.is_ascii_control(),
        b"print" => (0x20..0x7f).contains(&c),
        b"graph" => c.is_ascii_graphic(),
        _ => false,
    }
}
