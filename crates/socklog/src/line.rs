//! One datagram turned into one log line, as s6-socklog does it: trailing NULs
//! and newlines dropped, embedded ones turned into `~`, a leading `<code>`
//! spelt `facility.priority: ` with the names of glibc's syslog tables.
//!
//! Invariant: any byte string is accepted — empty, binary, unterminated `<13`,
//! an overflowing code — and yields exactly one line, ending in the only `\n`
//! of the output; nothing is dropped and nothing here can panic.

/// Facility names, indexed by `(code & 0x3f8) >> 3`, as glibc's `facilitynames`
/// resolves them (first match: `auth` rather than `security`; 24 is glibc's
/// internal `mark`). Anything else is `unknown`.
#[must_use]
pub(crate) fn facility(code: u32) -> &'static str {
    match (code & 0x3f8) >> 3 {
        0 => "kern",
        1 => "user",
        2 => "mail",
        3 => "daemon",
        4 => "auth",
        5 => "syslog",
        6 => "lpr",
        7 => "news",
        8 => "uucp",
        9 => "cron",
        10 => "authpriv",
        11 => "ftp",
        16 => "local0",
        17 => "local1",
        18 => "local2",
        19 => "local3",
        20 => "local4",
        21 => "local5",
        22 => "local6",
        23 => "local7",
        24 => "mark",
        _ => "unknown",
    }
}

/// Priority names, as glibc's `prioritynames` resolves them (first match:
/// `warn` rather than `warning`, `emerg` rather than `panic`).
#[must_use]
pub(crate) fn priority(code: u32) -> &'static str {
    match code & 7 {
        0 => "emerg",
        1 => "alert",
        2 => "crit",
        3 => "err",
        4 => "warn",
        5 => "notice",
        6 => "info",
        _ => "debug",
    }
}

/// A leading `<digits>`: the code and the length of the whole `<…>`. Digits are
/// read as skalibs' `uint_scan` reads them — up to the first one that would
/// overflow 32 bits — so `<4294967296>` is not a code.
#[must_use]
pub(crate) fn syslog_code(line: &[u8]) -> Option<(u32, usize)> {
    let rest = line.strip_prefix(b"<")?;
    let mut code: u32 = 0;
    let mut digits = 0;
    for &b in rest {
        if !b.is_ascii_digit() {
            break;
        }
        match code
            .checked_mul(10)
            .and_then(|c| c.checked_add(u32::from(b - b'0')))
        {
            Some(c) => code = c,
            None => break,
        }
        digits += 1;
    }
    (digits > 0 && rest.get(digits) == Some(&b'>')).then_some((code, digits + 2))
}

/// Appends the line for one datagram to `out`. `data` is what was received, at
/// most linelen + 1 bytes; `truncated` says it filled the buffer (the datagram
/// may have been longer), which ends the line with `...`. `data` is modified
/// in place (embedded NULs and newlines become `~`).
pub(crate) fn render(out: &mut impl Extend<u8>, data: &mut [u8], truncated: bool, raw: bool) {
    let keep = data
        .iter()
        .rposition(|&b| b != 0 && b != b'\n')
        .map_or(0, |i| i + 1);
    let line = data.get_mut(..keep).unwrap_or_default();
    for b in line.iter_mut() {
        if *b == 0 || *b == b'\n' {
            *b = b'~';
        }
    }
    let mut body: &[u8] = line;
    if !raw {
        if let Some((code, len)) = syslog_code(line) {
            out.extend(facility(code).bytes());
            out.extend(*b".");
            out.extend(priority(code).bytes());
            out.extend(*b": ");
            body = line.get(len..).unwrap_or_default();
        }
    }
    out.extend(body.iter().copied());
    if truncated {
        out.extend(*b"...");
    }
    out.extend(*b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(d: &[u8], raw: bool) -> String {
        let mut data = d.to_vec();
        let mut out = Vec::new();
        render(&mut out, &mut data, false, raw);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn codes_become_names() {
        assert_eq!(line(b"<13>hello", false), "user.notice: hello\n");
        assert_eq!(line(b"<165>x", false), "local4.notice: x\n");
        assert_eq!(line(b"<0>", false), "kern.emerg: \n");
        assert_eq!(line(b"<191>a", false), "local7.debug: a\n");
        assert_eq!(line(b"<192>x", false), "mark.emerg: x\n");
        assert_eq!(line(b"<1023>y", false), "unknown.debug: y\n");
        assert_eq!(line(b"<1024>z", false), "kern.emerg: z\n");
        assert_eq!(line(b"<4294967295>q", false), "unknown.debug: q\n");
        assert_eq!(line(b"<013>z", false), "user.notice: z\n");
        assert_eq!(line(b"<36>w", false), "auth.warn: w\n");
        assert_eq!(line(b"<86>w", false), "authpriv.info: w\n");
    }

    #[test]
    fn non_codes_pass_through() {
        for d in [
            &b"<4294967296>q"[..],
            b"<abc>x",
            b"<>x",
            b"<13",
            b"<",
            b"< 1>z",
            b"<+1>z",
            b"",
        ] {
            let want = format!("{}\n", String::from_utf8_lossy(d));
            assert_eq!(line(d, false), want);
        }
        assert_eq!(line(b"<13>raw", true), "<13>raw\n");
    }

    #[test]
    fn nuls_and_newlines() {
        assert_eq!(line(b"a\0b\nc", false), "a~b~c\n");
        assert_eq!(line(b"trail\n\n\0\0", false), "trail\n");
        assert_eq!(line(b"\n", false), "\n");
        assert_eq!(line(b"<13>\n", false), "user.notice: \n");
        assert_eq!(line(b"<1\0>x", false), "<1~>x\n");
    }

    #[test]
    fn truncation_marks_the_line() {
        let mut data = b"<13>abc\n".to_vec();
        let mut out = Vec::new();
        render(&mut out, &mut data, true, false);
        assert_eq!(out, b"user.notice: abc...\n");
    }
}
