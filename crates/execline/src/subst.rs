//! execline's substitution engine (`el_substitute`, `el_transform`): `$VAR` and
//! `${VAR}` in every word of an argv, backslash escaping, and value splitting.
//!
//! Invariant: the same rules as execline 2.9, word by word — a reference is
//! `$NAME` (NAME running to the next `\`, `$`, `{`, `}` or the end of the word) or
//! `${NAME}`; only names being substituted are touched; `2n` backslashes before a
//! substituted reference become `n` and the reference is replaced, `2n+1` become
//! `n` and the reference stays literal; a variable with k values turns a word
//! into k words (the Cartesian product over its references), so a variable with
//! no value (undefined, or split into nothing) removes the word.

/// One variable being substituted: its name and its values (each a whole word).
#[derive(Debug, Clone)]
pub(crate) struct Subst {
    pub(crate) name: Vec<u8>,
    pub(crate) values: Vec<Vec<u8>>,
}

/// Where the word scanner is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Word,
    Dollar,
    DollarBrace,
    Var,
    VarBrace,
}

/// Scans one word: the text with every substituted reference cut out, and the
/// holes (position in that text, index of the variable) in order.
fn scan(word: &[u8], substs: &[Subst]) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut out: Vec<u8> = Vec::with_capacity(word.len());
    let mut holes: Vec<(usize, usize)> = Vec::new();
    let mut st = St::Word;
    let mut mark = 0usize;
    let mut esc = 0usize;
    for pos in 0..=word.len() {
        let c = word.get(pos).copied();
        // (next state, test the name that ends here, mark the name's start,
        // keep the backslash count, count this backslash)
        let (next, test, set_mark, keep, incr) = match (c, st) {
            (None, St::Var) => (St::Word, true, false, false, false),
            (None, _) => (St::Word, false, false, false, false),
            (Some(b'\\'), St::Word) => (St::Word, false, false, true, true),
            (Some(b'\\'), St::Var) => (St::Word, true, false, false, true),
            (Some(b'\\'), _) => (St::Word, false, false, false, true),
            (Some(b'$'), St::Word) => (St::Dollar, false, false, true, false),
            (Some(b'$'), St::Var) => (St::Dollar, true, false, false, false),
            (Some(b'$'), _) => (St::Dollar, false, false, false, false),
            (Some(b'{'), St::Dollar) => (St::DollarBrace, false, false, true, false),
            (Some(b'{' | b'}'), St::Var) => (St::Word, true, false, false, false),
            (Some(b'}'), St::VarBrace) => (St::Word, true, false, false, false),
            (Some(b'{' | b'}'), _) => (St::Word, false, false, false, false),
            (Some(_), St::Word) => (St::Word, false, false, false, false),
            (Some(_), St::Dollar) => (St::Var, false, true, true, false),
            (Some(_), St::DollarBrace) => (St::VarBrace, false, true, true, false),
            (Some(_), St::Var) => (St::Var, false, false, true, false),
            (Some(_), St::VarBrace) => (St::VarBrace, false, false, true, false),
        };
        let mut push = true;
        if test {
            let name = word.get(mark..pos).unwrap_or_default();
            if let Some(idx) = substs.iter().position(|s| s.name == name) {
                let braced = usize::from(st == St::VarBrace);
                // `out` ends with: esc backslashes, `$`, `{` if braced, the name.
                let reference = 1 + braced + name.len();
                let ref_start = out.len().saturating_sub(reference);
                let bs_start = ref_start.saturating_sub(esc);
                let literal: Vec<u8> = out.get(ref_start..).unwrap_or_default().to_vec();
                out.truncate(bs_start);
                out.resize(bs_start + esc / 2, b'\\');
                if esc % 2 == 1 {
                    out.extend_from_slice(&literal);
                } else {
                    holes.push((out.len(), idx));
                    if braced == 1 {
                        push = false;
                    }
                }
            }
        }
        if let Some(c) = c {
            if push {
                out.push(c);
            }
        }
        if set_mark {
            mark = pos;
        }
        if !keep {
            esc = 0;
        }
        if incr {
            esc += 1;
        }
        st = next;
    }
    (out, holes)
}

/// Fills the holes from `k` on, each with every value of its variable in turn.
fn expand(
    text: &[u8],
    holes: &[(usize, usize)],
    k: usize,
    shift: usize,
    substs: &[Subst],
    dst: &mut Vec<Vec<u8>>,
) {
    let Some(&(pos, idx)) = holes.get(k) else {
        dst.push(text.to_vec());
        return;
    };
    let Some(s) = substs.get(idx) else { return };
    let at = pos + shift;
    for v in &s.values {
        let mut w = Vec::with_capacity(text.len() + v.len());
        w.extend_from_slice(text.get(..at).unwrap_or_default());
        w.extend_from_slice(v);
        w.extend_from_slice(text.get(at..).unwrap_or_default());
        expand(&w, holes, k + 1, shift + v.len(), substs, dst);
    }
}

/// Substitutes every variable of `substs`, in parallel, in every word.
pub(crate) fn substitute(words: &[Vec<u8>], substs: &[Subst]) -> Vec<Vec<u8>> {
    let mut dst = Vec::with_capacity(words.len());
    for w in words {
        let (text, holes) = scan(w, substs);
        expand(&text, &holes, 0, 0, substs, &mut dst);
    }
    dst
}

/// How a value becomes words (`-s`, `-n`, `-C`, `-d` of define and importas).
#[derive(Debug, Clone)]
pub(crate) struct Transform {
    pub(crate) delim: Vec<u8>,
    pub(crate) crunch: bool,
    pub(crate) chomp: bool,
    pub(crate) split: bool,
}

impl Default for Transform {
    fn default() -> Self {
        Transform {
            delim: b" \n\r\t".to_vec(),
            crunch: false,
            chomp: false,
            split: false,
        }
    }
}

/// A value split on an empty delimiter must be a sequence of netstrings.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadNetstring;

fn netstrings(mut s: &[u8]) -> Result<Vec<Vec<u8>>, BadNetstring> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let colon = s.iter().position(|&c| c == b':').ok_or(BadNetstring)?;
        let digits = s.get(..colon).ok_or(BadNetstring)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(BadNetstring);
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or(BadNetstring)?;
        let body = s.get(colon + 1..colon + 1 + len).ok_or(BadNetstring)?;
        if s.get(colon + 1 + len) != Some(&b',') {
            return Err(BadNetstring);
        }
        out.push(body.to_vec());
        s = s.get(colon + 2 + len..).unwrap_or_default();
    }
    Ok(out)
}

impl Transform {
    /// The words `value` stands for.
    pub(crate) fn apply(&self, value: &[u8]) -> Result<Vec<Vec<u8>>, BadNetstring> {
        let is_delim = |c: &u8| self.delim.contains(c);
        let mut v: Vec<u8> = Vec::with_capacity(value.len());
        if self.crunch && !self.delim.is_empty() {
            // Keep the first delimiter of every run of delimiters.
            let mut in_run = false;
            for &c in value {
                let d = is_delim(&c);
                if !(d && in_run) {
                    v.push(c);
                }
                in_run = d;
            }
        } else {
            v.extend_from_slice(value);
        }
        let mut chomped = false;
        if self.chomp && v.last().is_some_and(is_delim) {
            v.pop();
            chomped = true;
        }
        if !self.split {
            return Ok(vec![v]);
        }
        if self.delim.is_empty() {
            return netstrings(&v);
        }
        let mut out: Vec<Vec<u8>> = v.split(is_delim).map(<[u8]>::to_vec).collect();
        // `split` leaves the text after the last delimiter: a word only if it is
        // not empty, and not even then under -n when nothing was chomped.
        match out.pop() {
            Some(tail) if !tail.is_empty() && (!self.chomp || chomped) => out.push(tail),
            _ => {}
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(word: &str, vars: &[(&str, &[&str])]) -> Vec<String> {
        let substs: Vec<Subst> = vars
            .iter()
            .map(|(n, vs)| Subst {
                name: n.as_bytes().to_vec(),
                values: vs.iter().map(|v| v.as_bytes().to_vec()).collect(),
            })
            .collect();
        substitute(&[word.as_bytes().to_vec()], &substs)
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    #[test]
    fn references() {
        let x: &[(&str, &[&str])] = &[("x", &["V"])];
        assert_eq!(sub("$x", x), ["V"]);
        assert_eq!(sub("a${x}b", x), ["aVb"]);
        assert_eq!(sub("$xy", x), ["$xy"], "the name runs on");
        assert_eq!(sub("$x$x}", x), ["VV}"]);
        assert_eq!(sub("${x", x), ["${x"]);
        assert_eq!(sub("${}x $", x), ["${}x $"]);
        assert_eq!(sub("$y", x), ["$y"]);
    }

    #[test]
    fn backslashes() {
        let x: &[(&str, &[&str])] = &[("x", &["V"])];
        assert_eq!(sub(r"\$x", x), ["$x"]);
        assert_eq!(sub(r"\\$x", x), [r"\V"]);
        assert_eq!(sub(r"\\\$x", x), [r"\$x"]);
        assert_eq!(sub(r"\\\\${x}", x), [r"\\V"]);
        assert_eq!(sub(r"\${x}", x), ["${x}"]);
        assert_eq!(sub(r"\$y a\b", x), [r"\$y a\b"]);
    }

    #[test]
    fn products_and_removal() {
        let v: &[(&str, &[&str])] = &[("a", &["1", "2"]), ("b", &["x", "y"]), ("n", &[])];
        assert_eq!(sub("<${a}${b}>", v), ["<1x>", "<1y>", "<2x>", "<2y>"]);
        assert_eq!(
            sub("<$a$b>", v),
            ["<1$b>", "<2$b>"],
            "the name runs to the end"
        );
        assert!(sub("keep$n", v).is_empty());
    }

    #[test]
    fn transforms() {
        let t = |split, chomp, crunch, delim: &str, v: &str| -> Vec<String> {
            Transform {
                delim: delim.as_bytes().to_vec(),
                crunch,
                chomp,
                split,
            }
            .apply(v.as_bytes())
            .unwrap()
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
        };
        assert_eq!(t(true, false, false, " \n", "a  b\n"), ["a", "", "b"]);
        assert_eq!(t(true, false, true, " \n", "a  b\n"), ["a", "b"]);
        assert_eq!(t(false, true, false, "\n", "a b\n"), ["a b"]);
        assert_eq!(t(true, false, false, ":", "a:b::c:"), ["a", "b", "", "c"]);
        assert_eq!(t(true, false, false, ":", "a:b"), ["a", "b"]);
        assert_eq!(t(true, true, false, ":", "a:b"), ["a"]);
        assert!(t(true, false, false, ":", "").is_empty());
        assert_eq!(t(true, false, false, "", "1:a,2:bc,"), ["a", "bc"]);
    }
}
