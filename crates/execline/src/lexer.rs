//! The execline lexer (execline's `el_parse`): script text to argv, with `{ }`
//! blocks encoded the way the real `execlineb` encodes them.
//!
//! Invariant: for every script, the words (and the error, if any) are exactly
//! those of execline 2.9's `execlineb`: a word inside `depth` blocks is prefixed
//! by `depth` spaces, and the `}` closing a block of depth `d` becomes a word of
//! `d - 1` spaces (the empty word at depth 1), so that the argv can be handed to
//! any real execline program.

/// Why a script could not be lexed; each maps to one `execlineb` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LexError {
    /// `syntax error`: an unterminated string, a backslash at the end, a bad
    /// numeric escape (above 255, or a NUL, which no argument can hold), a `{`
    /// at the very end.
    Syntax,
    /// `unmatched {`: the script ended inside a block.
    UnmatchedOpen,
    /// `unmatched }`: a `}` closed no block.
    UnmatchedClose,
}

impl LexError {
    /// The text after `execlineb: fatal: `.
    pub(crate) fn message(self) -> &'static str {
        match self {
            LexError::Syntax => "syntax error",
            LexError::UnmatchedOpen => "unmatched {",
            LexError::UnmatchedClose => "unmatched }",
        }
    }
}

/// Where the lexer is.
#[derive(Clone, Copy, Debug)]
enum St {
    /// Between words.
    Start,
    /// In a `#` comment, until the end of the line.
    Comment,
    /// After a backslash between words.
    StartEscape,
    /// After a `{` that began a word.
    Open,
    /// After a `}` that began a word.
    Close,
    /// In an unquoted word.
    Word,
    /// After a backslash in an unquoted word.
    WordEscape,
    /// In a double-quoted string.
    Quote,
    /// After a backslash in a double-quoted string.
    QuoteEscape,
    /// After `\0` in a string: an octal digit or `x` must follow.
    Zero,
    /// After `\0x`: a hexadecimal digit must follow.
    HexStart,
    /// Inside a numeric escape: its base, digits read so far, value.
    Number { base: u32, digits: u32, value: u32 },
}

/// Whitespace for execline: every control character and the space (`\n`
/// included; it only matters to comments and line continuations).
fn is_space(c: u8) -> bool {
    (1..=b' ').contains(&c)
}

/// The control character a `\a`…`\v` escape stands for.
fn control(c: u8) -> Option<u8> {
    match c {
        b'a' => Some(7),
        b'b' => Some(8),
        b't' => Some(9),
        b'n' => Some(10),
        b'v' => Some(11),
        b'f' => Some(12),
        b'r' => Some(13),
        _ => None,
    }
}

/// The most digits a numeric escape of this base takes (`\0ooo`, `\ddd`, `\0xhh`).
fn max_digits(base: u32) -> u32 {
    if base == 16 { 2 } else { 3 }
}

/// The byte a numeric escape stands for: 1 to 255. A NUL would end the
/// argument it is in (found by fuzzing: `"\000"` made a word holding a NUL).
fn escaped(value: u32) -> Result<u8, LexError> {
    u8::try_from(value)
        .ok()
        .filter(|&b| b != 0)
        .ok_or(LexError::Syntax)
}

/// Lexes a whole script. A NUL byte ends it, as in C.
pub(crate) fn parse(src: &[u8]) -> Result<Vec<Vec<u8>>, LexError> {
    let mut words: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut depth: usize = 0;
    let mut st = St::Start;
    let mut i = 0;
    // Starts a word: one space per enclosing block.
    let begin = |cur: &mut Vec<u8>, depth: usize| {
        cur.clear();
        cur.resize(depth, b' ');
    };
    loop {
        let c = src.get(i).copied().unwrap_or(0);
        i += 1;
        st = match st {
            St::Start => match c {
                0 => break,
                b'#' => St::Comment,
                b'"' => {
                    begin(&mut cur, depth);
                    St::Quote
                }
                b'\\' => St::StartEscape,
                c if is_space(c) => St::Start,
                b'{' | b'}' => {
                    begin(&mut cur, depth);
                    cur.push(c);
                    if c == b'{' { St::Open } else { St::Close }
                }
                c => {
                    begin(&mut cur, depth);
                    cur.push(c);
                    St::Word
                }
            },
            St::Comment => match c {
                0 => break,
                b'\n' => St::Start,
                _ => St::Comment,
            },
            St::StartEscape => match c {
                0 => break,
                b'\n' => St::Start,
                c => {
                    begin(&mut cur, depth);
                    cur.push(c);
                    St::Word
                }
            },
            St::Open => match c {
                0 => return Err(LexError::Syntax),
                c if is_space(c) => {
                    cur.clear();
                    depth += 1;
                    St::Start
                }
                b'"' => St::Quote,
                b'\\' => St::WordEscape,
                c => {
                    cur.push(c);
                    St::Word
                }
            },
            St::Close => match c {
                c if c == 0 || is_space(c) => {
                    depth = depth.checked_sub(1).ok_or(LexError::UnmatchedClose)?;
                    words.push(vec![b' '; depth]);
                    cur.clear();
                    if c == 0 {
                        break;
                    }
                    St::Start
                }
                b'"' => St::Quote,
                b'\\' => St::WordEscape,
                c => {
                    cur.push(c);
                    St::Word
                }
            },
            St::Word => match c {
                c if c == 0 || is_space(c) => {
                    words.push(std::mem::take(&mut cur));
                    if c == 0 {
                        break;
                    }
                    St::Start
                }
                b'"' => St::Quote,
                b'\\' => St::WordEscape,
                c => {
                    cur.push(c);
                    St::Word
                }
            },
            St::WordEscape => match c {
                0 => return Err(LexError::Syntax),
                c => {
                    cur.push(c);
                    St::Word
                }
            },
            St::Quote => match c {
                0 => return Err(LexError::Syntax),
                b'"' => St::Word,
                b'\\' => St::QuoteEscape,
                c => {
                    cur.push(c);
                    St::Quote
                }
            },
            St::QuoteEscape => match c {
                0 => return Err(LexError::Syntax),
                b'\n' => St::Quote,
                b'0' => St::Zero,
                b'1'..=b'9' => St::Number {
                    base: 10,
                    digits: 1,
                    value: u32::from(c - b'0'),
                },
                c => {
                    cur.push(control(c).unwrap_or(c));
                    St::Quote
                }
            },
            St::Zero => match c {
                b'0'..=b'7' => St::Number {
                    base: 8,
                    digits: 1,
                    value: u32::from(c - b'0'),
                },
                b'x' => St::HexStart,
                _ => return Err(LexError::Syntax),
            },
            St::HexStart => match char::from(c).to_digit(16) {
                Some(d) => St::Number {
                    base: 16,
                    digits: 1,
                    value: d,
                },
                None => return Err(LexError::Syntax),
            },
            St::Number {
                base,
                digits,
                value,
            } => match char::from(c).to_digit(base) {
                Some(d) if c != 0 => {
                    let value = value * base + d;
                    if digits + 1 == max_digits(base) {
                        cur.push(escaped(value)?);
                        St::Quote
                    } else {
                        St::Number {
                            base,
                            digits: digits + 1,
                            value,
                        }
                    }
                }
                _ => {
                    // The number ends here; this character is read again as
                    // part of the string.
                    cur.push(escaped(value)?);
                    i -= 1;
                    St::Quote
                }
            },
        };
    }
    if depth > 0 {
        return Err(LexError::UnmatchedOpen);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(s: &str) -> Vec<String> {
        parse(s.as_bytes())
            .unwrap()
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    #[test]
    fn words_comments_and_shebang() {
        assert_eq!(
            lex("#!/bin/execlineb -P\nfoo  bar\t# c\nbaz#x"),
            ["foo", "bar", "baz#x"]
        );
        assert!(lex("").is_empty());
        assert!(lex("# only\n  ").is_empty());
    }

    #[test]
    fn blocks_are_encoded_like_execlineb() {
        assert_eq!(
            lex("a { b { c } \"\" d } e"),
            ["a", " b", "  c", " ", " ", " d", "", "e"]
        );
        assert_eq!(lex("{{ x}} y"), ["{{", "x}}", "y"]);
        assert_eq!(lex("\"{\" \"}\" { } x"), ["{", "}", "", "x"]);
        assert_eq!(lex("{ \\} }"), [" }", ""]);
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(lex(r#""a\tb\nc""#), ["a\tb\nc"]);
        assert_eq!(lex(r#""\101\0101\x41\0x41z""#), ["eAx41Az"]);
        assert_eq!(lex(r#""\065\12a\1234""#), ["5\x0ca{4"]);
        assert_eq!(
            lex(r#""\019" "\0xFg" "\99" "\9""#),
            ["\x019", "\x0fg", "c", "\t"]
        );
        assert_eq!(
            lex(r#"a\ b \"x "q\"q" "\\" a"b"c"#),
            ["a b", "\"x", "q\"q", "\\", "abc"]
        );
        assert_eq!(lex("\\\nx a\\\nb \"c\\\nd\""), ["x", "a\nb", "cd"]);
        assert_eq!(lex(r#""\q\$\{""#), ["q${"]);
        assert_eq!(lex("x \\"), ["x"]);
    }

    #[test]
    fn errors() {
        for s in [
            "\"open",
            "x\\",
            "\"\\0\"",
            "\"\\0z\"",
            "\"\\08\"",
            "\"\\300\"",
            "\"\\0400\"",
            "x {",
            "\"\\0x\"",
            "\"\\000\"",
            "\"a\\0x00b\"",
        ] {
            assert_eq!(parse(s.as_bytes()), Err(LexError::Syntax), "{s}");
        }
        assert_eq!(parse(b"x { y"), Err(LexError::UnmatchedOpen));
        assert_eq!(parse(b"x } y"), Err(LexError::UnmatchedClose));
        assert_eq!(parse(b"a\0b c").unwrap(), [b"a".to_vec()]);
    }
}
