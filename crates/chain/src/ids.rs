//! `setuidgid`, `setuser`, `envuidgid` and `applyuidgid`: run a program as another
//! user, in one step or split in two (look the account up, then apply the ids).
//!
//! Invariant: ids are dropped in the only safe order — supplementary groups, then
//! the gid, then the uid — and whenever a user is named the supplementary list is
//! replaced, so no group of the caller survives a change of user.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use nix::errno::Errno;
use nix::unistd::{
    Gid, Group, Uid, User, getegid, getgrouplist, getgroups, setgid, setgroups, setuid,
};

use svkit_core::config::parse_uint;
use svkit_core::envdir::Change;
use svkit_core::getopt::Getopt;
use svkit_core::process;
use svkit_core::{Exit, Failure};

use crate::{Outcome, chain_main, program};

/// The ids to switch to; `None` leaves that one as it is.
#[derive(Debug, Default, PartialEq, Eq)]
struct Ids {
    uid: Option<u32>,
    gid: Option<u32>,
    /// The supplementary groups besides the gid (which is always added first).
    groups: Option<Vec<u32>>,
}

/// A user database entry and the user's supplementary groups.
#[derive(Debug)]
struct Account {
    uid: u32,
    gid: u32,
    /// The groups that list the user as a member (the primary one only if it does).
    groups: Vec<u32>,
    home: OsString,
}

impl Account {
    fn ids(&self) -> Ids {
        Ids {
            uid: Some(self.uid),
            gid: Some(self.gid),
            groups: Some(self.groups.clone()),
        }
    }
}

fn unknown(what: &str, name: &[u8]) -> Failure {
    Failure::new(
        Exit::No,
        format!("unknown {what}: {}", String::from_utf8_lossy(name)),
    )
}

/// A gid that no group has: `(gid_t)-2` (`(gid_t)-1` means "no change" to
/// the kernel).
const NO_GROUP: u32 = u32::MAX - 1;

/// Looks `name` up in the user database (`getpwnam`, then `getgrouplist`).
fn lookup_user(name: &[u8]) -> Result<Option<Account>, Failure> {
    let Ok(s) = std::str::from_utf8(name) else {
        return Ok(None);
    };
    if s.is_empty() {
        return Ok(None);
    }
    let sys = |what: &str, e: Errno| Failure::sys(format!("{what} {s}"), &e.into());
    let Some(user) = User::from_name(s).map_err(|e| sys("getpwnam for", e))? else {
        return Ok(None);
    };
    let cname = CString::new(s).map_err(|_| sys("getpwnam for", Errno::EINVAL))?;
    // getgrouplist puts its base gid first and leaves it out of the rest, so a
    // base that is nobody's group yields exactly the groups that list the user —
    // the primary one included when it does, as s6-envuidgid's GIDLIST has it.
    let mut groups: Vec<u32> = Vec::new();
    for g in getgrouplist(&cname, Gid::from_raw(NO_GROUP))
        .map_err(|e| sys("read the groups of", e))?
        .into_iter()
        .skip(1)
    {
        if !groups.contains(&g.as_raw()) {
            groups.push(g.as_raw());
        }
    }
    Ok(Some(Account {
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups,
        home: user.dir.into_os_string(),
    }))
}

/// Looks a group name up (`getgrnam`).
fn lookup_group(name: &[u8]) -> Result<Option<u32>, Failure> {
    let Ok(s) = std::str::from_utf8(name) else {
        return Ok(None);
    };
    if s.is_empty() {
        return Ok(None);
    }
    let group =
        Group::from_name(s).map_err(|e| Failure::sys(format!("getgrnam for {s}"), &e.into()))?;
    Ok(group.map(|g| g.gid.as_raw()))
}

/// A comma-separated list of gids (`GIDLIST`, `-G`); empty means none.
fn parse_gidlist(s: &[u8]) -> Option<Vec<u32>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(|&b| b == b',').map(parse_uint).collect()
}

fn format_gidlist(groups: &[u32]) -> String {
    groups
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether the process's group set already is `gid` plus `groups`: then there is
/// nothing to change, and an unprivileged `setgroups` failing does not matter.
fn already_in(gid: Gid, groups: &[Gid]) -> bool {
    let Ok(mut have) = getgroups() else {
        return false;
    };
    have.push(getegid());
    let mut want = groups.to_vec();
    want.push(gid);
    for set in [&mut have, &mut want] {
        set.sort_unstable_by_key(|g| g.as_raw());
        set.dedup();
    }
    have == want && getegid() == gid
}

/// Switches to `ids`: the group list, then the gid, then the uid. Without root
/// (a container run with `USER`), only a "switch" to the uid and gid we already
/// have works, and keeps the groups we have (Kubernetes' `fsGroup` and
/// `supplementalGroups` among them); any other is refused in one clear line
/// before anything changes.
fn apply(ids: &Ids) -> Result<(), Failure> {
    let me = Uid::effective();
    if !me.is_root() {
        let uid = ids.uid.unwrap_or(me.as_raw());
        let gid = ids.gid.unwrap_or(getegid().as_raw());
        if uid != me.as_raw() || gid != getegid().as_raw() {
            return Err(Failure::new(
                Exit::System,
                format!(
                    "unable to switch to uid {uid} gid {gid}: only root can switch users, \
                     and this runs as uid {me}"
                ),
            ));
        }
        if Uid::current() == me && nix::unistd::getgid() == getegid() {
            return Ok(());
        }
    }
    if let Some(list) = &ids.groups {
        let gid = ids.gid.map_or_else(getegid, Gid::from_raw);
        let mut all = vec![gid];
        all.extend(list.iter().map(|&g| Gid::from_raw(g)).filter(|&g| g != gid));
        match setgroups(&all) {
            Ok(()) => {}
            // Already the user asked for (a container run with `USER`): go on.
            Err(Errno::EPERM) if already_in(gid, &all) => {}
            Err(e) => return Err(Failure::sys("set supplementary group list", &e.into())),
        }
    }
    if let Some(gid) = ids.gid {
        setgid(Gid::from_raw(gid)).map_err(|e| Failure::sys("setgid", &e.into()))?;
    }
    if let Some(uid) = ids.uid {
        setuid(Uid::from_raw(uid)).map_err(|e| Failure::sys("setuid", &e.into()))?;
    }
    Ok(())
}

/// An id given by number or by name (`lookup`): `None` when the name is unknown.
fn id_or_name(
    s: &[u8],
    lookup: impl Fn(&[u8]) -> Result<Option<u32>, Failure>,
) -> Result<Option<u32>, Failure> {
    match parse_uint(s) {
        Some(id) => Ok(Some(id)),
        None => lookup(s),
    }
}

/// A user's uid (`getpwnam` alone: no group list to read).
fn user_id(name: &[u8]) -> Result<Option<u32>, Failure> {
    let Some(s) = std::str::from_utf8(name).ok().filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let user =
        User::from_name(s).map_err(|e| Failure::sys(format!("getpwnam for {s}"), &e.into()))?;
    Ok(user.map(|u| u.uid.as_raw()))
}

const SETUIDGID_USAGE: &str = "username prog...";
const SETUIDGID_HELP: &str = "\
setuidgid ACCOUNT PROG...
Run PROG as ACCOUNT: a user name (its uid, primary group and supplementary
groups), or USER:GROUP where each is a name or a number (only that group).
An empty ACCOUNT runs PROG unchanged. See docs/setuidgid.md.
";

/// The ids `setuidgid ACCOUNT` switches to.
fn setuidgid_ids(account: &[u8]) -> Result<Ids, Failure> {
    let Some(colon) = account.iter().position(|&b| b == b':') else {
        return lookup_user(account)?
            .map(|a| a.ids())
            .ok_or_else(|| unknown("user", account));
    };
    let (user, group) = (&account[..colon], &account[colon + 1..]);
    if user.is_empty() || group.is_empty() {
        return Err(Failure::usage());
    }
    let uid = id_or_name(user, user_id)?.ok_or_else(|| unknown("user", user))?;
    let gid = id_or_name(group, lookup_group)?.ok_or_else(|| unknown("group", group))?;
    Ok(Ids {
        uid: Some(uid),
        gid: Some(gid),
        groups: Some(Vec::new()),
    })
}

/// Entry point: `setuidgid ACCOUNT PROG...` (s6-setuidgid).
pub fn setuidgid(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    chain_main(
        args,
        "setuidgid",
        SETUIDGID_USAGE,
        SETUIDGID_HELP,
        |_, rest| -> Outcome {
            let (account, argv) = rest.split_first().ok_or_else(Failure::usage)?;
            let argv = program(argv)?;
            let account = account.as_bytes();
            if account.is_empty() {
                return Err(process::chain(argv, &[]));
            }
            apply(&setuidgid_ids(account)?)?;
            // s6-setuidgid runs `s6-envuidgid USER s6-applyuidgid -Uz` for a user
            // name, which removes these three whether or not the caller had them;
            // for UID:GID, `s6-applyuidgid -u -g -G ''`, which leaves them.
            let env = if account.contains(&b':') {
                Vec::new()
            } else {
                unset_id_vars()
            };
            Err(process::chain(argv, &env))
        },
    )
}

const SETUSER_USAGE: &str = "username prog...";
const SETUSER_HELP: &str = "\
setuser USER PROG...
Run PROG as USER (uid, primary group, supplementary groups) with HOME, USER and
LOGNAME set from USER's passwd entry. See docs/setuser.md.
";

/// Entry point: `setuser USER PROG...` (phusion's, with `LOGNAME` too).
pub fn setuser(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    chain_main(
        args,
        "setuser",
        SETUSER_USAGE,
        SETUSER_HELP,
        |_, rest| -> Outcome {
            let (name, argv) = rest.split_first().ok_or_else(Failure::usage)?;
            let argv = program(argv)?;
            let account =
                lookup_user(name.as_bytes())?.ok_or_else(|| unknown("user", name.as_bytes()))?;
            apply(&account.ids())?;
            let env = [
                Change::Set("HOME".into(), account.home.clone()),
                Change::Set("USER".into(), name.clone()),
                Change::Set("LOGNAME".into(), name.clone()),
            ];
            Err(process::chain(argv, &env))
        },
    )
}

const ENVUIDGID_USAGE: &str =
    "[ -i | -D defaultuid:defaultgid:defaultgidlist ] [ -u | -g | -B ] [ -n ] account prog...";
const ENVUIDGID_HELP: &str = "\
envuidgid [ -i | -D UID:GID:GIDLIST ] [ -u | -g | -B ] [ -n ] ACCOUNT PROG...
Run PROG with UID, GID and GIDLIST set in its environment from user ACCOUNT
(for applyuidgid -U). -u: UID only; -g: GID only, ACCOUNT a group; -B: ACCOUNT
is USER:GROUP, UID and GID only. -n: accept numbers for unknown names (their
leading digits), and -B's rules instead of the default mode.
-D: use these defaults for an unknown account; -i: fail instead (default).
An unknown account exits 1. See docs/envuidgid.md.
";

/// What `envuidgid` is asked to look up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lookup {
    /// A user: UID, GID, GIDLIST.
    User,
    /// `-u`: UID.
    Uid,
    /// `-g`: GID, from a group name.
    Gid,
    /// `-B`, and `-n` after the default mode: USER:GROUP, UID and GID.
    Both,
}

#[derive(Debug, PartialEq, Eq)]
struct EnvOpts {
    lookup: Lookup,
    /// `-n`: a name that is not found may be a number.
    numeric: bool,
    /// An unknown name is an error (`-i`, the default); otherwise (`-D`) its
    /// value is taken from `defaults`.
    insist: bool,
    /// (uid, gid, gidlist): the `-D` values, zero until `-D` is given. `-B` uses
    /// them for an empty part of USER:GROUP even after `-i`, as s6 does.
    defaults: (u32, u32, Vec<u32>),
}

/// `-D uid[:gid[:gidlist]]`: each part may be empty (0, or no groups).
fn parse_defaults(s: &[u8]) -> Option<(u32, u32, Vec<u32>)> {
    let id = |p: &[u8]| if p.is_empty() { Some(0) } else { parse_uint(p) };
    let mut parts = s.splitn(3, |&b| b == b':');
    let uid = parts
        .next()
        .filter(|p| !p.is_empty() || s.contains(&b':'))?;
    let uid = id(uid)?;
    let gid = id(parts.next().unwrap_or_default())?;
    let groups = parse_gidlist(parts.next().unwrap_or_default())?;
    Some((uid, gid, groups))
}

/// `-n`'s number: the digits `s` starts with (s6 reads `55:66` as the uid 55 with
/// `-u`, and `5x` as 5); `None` if there are none, or too many for 32 bits.
fn leading_id(s: &[u8]) -> Option<u32> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    parse_uint(&s[..digits])
}

/// The variables `envuidgid` sets for `account`: s6-envuidgid's steps, the group
/// looked up before the user.
fn envuidgid_vars(o: &EnvOpts, account: &[u8]) -> Result<Vec<(&'static str, String)>, Failure> {
    let (user, group) = match o.lookup {
        Lookup::User | Lookup::Uid => (Some(account), None),
        Lookup::Gid => (None, Some(account)),
        Lookup::Both => match account.iter().position(|&b| b == b':') {
            None => (Some(account), None),
            Some(i) => {
                let (u, g) = (&account[..i], &account[i + 1..]);
                ((!u.is_empty()).then_some(u), (!g.is_empty()).then_some(g))
            }
        },
    };
    let (mut uid, mut gid, groups) = (o.defaults.0, o.defaults.1, &o.defaults.2);
    let fallback = |name: &[u8], what: &str| match leading_id(name).filter(|_| o.numeric) {
        Some(id) => Ok(Some(id)),
        None if o.insist => Err(unknown(what, name)),
        None => Ok(None),
    };
    if let Some(name) = group {
        let found = match lookup_group(name)? {
            Some(id) => Some(id),
            None => fallback(name, "group")?,
        };
        gid = found.unwrap_or(gid);
    }
    if let Some(name) = user {
        if o.lookup == Lookup::User {
            if let Some(a) = lookup_user(name)? {
                return Ok(vec![
                    ("UID", a.uid.to_string()),
                    ("GID", a.gid.to_string()),
                    ("GIDLIST", format_gidlist(&a.groups)),
                ]);
            }
        }
        let found = match user_id(name)? {
            Some(id) => Some(id),
            None => fallback(name, "user")?,
        };
        uid = found.unwrap_or(uid);
    }
    let mut vars = Vec::new();
    if o.lookup != Lookup::Gid {
        vars.push(("UID", uid.to_string()));
    }
    if o.lookup != Lookup::Uid {
        vars.push(("GID", gid.to_string()));
    }
    if o.lookup == Lookup::User {
        vars.push(("GIDLIST", format_gidlist(groups)));
    }
    Ok(vars)
}

fn parse_envuidgid(args: &[OsString]) -> Result<(EnvOpts, &[OsString]), Failure> {
    let mut o = EnvOpts {
        lookup: Lookup::User,
        numeric: false,
        insist: true,
        defaults: (0, 0, Vec::new()),
    };
    let mut g = Getopt::new(args, "iD:ugBn");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        match opt.letter {
            b'i' => o.insist = true,
            b'D' => {
                let arg = opt.arg.map(OsStr::as_bytes).unwrap_or_default();
                o.defaults = parse_defaults(arg).ok_or_else(Failure::usage)?;
                o.insist = false;
            }
            b'u' => o.lookup = Lookup::Uid,
            b'g' => o.lookup = Lookup::Gid,
            b'B' => o.lookup = Lookup::Both,
            _ => {
                // A number cannot give a GIDLIST: -n turns the default mode into -B.
                if o.lookup == Lookup::User {
                    o.lookup = Lookup::Both;
                }
                o.numeric = true;
            }
        }
    }
    Ok((o, g.rest()))
}

/// Entry point: `envuidgid [options] ACCOUNT PROG...` (s6-envuidgid).
pub fn envuidgid(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    chain_main(
        args,
        "envuidgid",
        ENVUIDGID_USAGE,
        ENVUIDGID_HELP,
        |_, rest| -> Outcome {
            let (o, rest) = parse_envuidgid(rest)?;
            let (account, argv) = rest.split_first().ok_or_else(Failure::usage)?;
            let argv = program(argv)?;
            let env: Vec<Change> = envuidgid_vars(&o, account.as_bytes())?
                .into_iter()
                .map(|(k, v)| Change::Set(k.into(), v.into()))
                .collect();
            Err(process::chain(argv, &env))
        },
    )
}

const APPLYUIDGID_USAGE: &str = "[ -z ] [ -u uid ] [ -g gid ] [ -G gidlist ] [ -U ] prog...";
const APPLYUIDGID_HELP: &str = "\
applyuidgid [ -z ] [ -u UID ] [ -g GID ] [ -G GIDLIST ] [ -U ] PROG...
Set the supplementary groups (GID first, then GIDLIST), the gid and the uid, then
exec PROG. -U takes UID, GID and GIDLIST from the environment (as envuidgid sets
them); options apply in order, the last one wins. -z removes UID, GID and
GIDLIST from PROG's environment. See docs/applyuidgid.md.
";

/// Removes `UID`, `GID` and `GIDLIST` (`applyuidgid -z`).
fn unset_id_vars() -> Vec<Change> {
    ["UID", "GID", "GIDLIST"]
        .into_iter()
        .map(|k| Change::Unset(k.into()))
        .collect()
}

/// One of `UID`, `GID`, `GIDLIST` from the environment, for `-U`.
fn from_env<T>(name: &str, parse: impl Fn(&[u8]) -> Option<T>) -> Result<T, Failure> {
    let v = std::env::var_os(name)
        .ok_or_else(|| Failure::new(Exit::Usage, format!("{name} not set")))?;
    parse(v.as_bytes()).ok_or_else(|| Failure::new(Exit::Usage, format!("invalid ${name}")))
}

fn parse_applyuidgid(args: &[OsString]) -> Result<(Ids, bool, &[OsString]), Failure> {
    let mut ids = Ids::default();
    let mut unexport = false;
    let mut g = Getopt::new(args, "zu:g:G:U");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        let arg = opt.arg.map(OsStr::as_bytes).unwrap_or_default();
        match opt.letter {
            b'z' => unexport = true,
            b'u' => ids.uid = Some(parse_uint(arg).ok_or_else(Failure::usage)?),
            b'g' => ids.gid = Some(parse_uint(arg).ok_or_else(Failure::usage)?),
            b'G' => ids.groups = Some(parse_gidlist(arg).ok_or_else(Failure::usage)?),
            _ => {
                ids.uid = Some(from_env("UID", parse_uint)?);
                ids.gid = Some(from_env("GID", parse_uint)?);
                ids.groups = Some(from_env("GIDLIST", parse_gidlist)?);
            }
        }
    }
    Ok((ids, unexport, g.rest()))
}

/// Entry point: `applyuidgid [options] PROG...` (s6-applyuidgid).
pub fn applyuidgid(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    chain_main(
        args,
        "applyuidgid",
        APPLYUIDGID_USAGE,
        APPLYUIDGID_HELP,
        |_, rest| -> Outcome {
            let (ids, unexport, argv) = parse_applyuidgid(rest)?;
            let argv = program(argv)?;
            apply(&ids)?;
            let env = if unexport {
                unset_id_vars()
            } else {
                Vec::new()
            };
            Err(process::chain(argv, &env))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn gidlists() {
        assert_eq!(parse_gidlist(b""), Some(vec![]));
        assert_eq!(parse_gidlist(b"3,4"), Some(vec![3, 4]));
        assert_eq!(parse_gidlist(b"3,x"), None);
        assert_eq!(parse_gidlist(b"3,"), None);
        assert_eq!(format_gidlist(&[3, 4]), "3,4");
        assert_eq!(format_gidlist(&[]), "");
    }

    #[test]
    fn defaults_and_numbers() {
        assert_eq!(parse_defaults(b"1:2:3,4"), Some((1, 2, vec![3, 4])));
        assert_eq!(parse_defaults(b"1"), Some((1, 0, vec![])));
        assert_eq!(parse_defaults(b"x"), None);
        assert_eq!(parse_defaults(b""), None);
        assert_eq!(parse_defaults(b"1x"), None);
        assert_eq!(parse_defaults(b":5"), Some((0, 5, vec![])));
        assert_eq!(parse_defaults(b":"), Some((0, 0, vec![])));
        assert_eq!(parse_defaults(b"::3"), Some((0, 0, vec![3])));
        assert_eq!(leading_id(b"55:66"), Some(55));
        assert_eq!(leading_id(b"5x"), Some(5));
        assert_eq!(leading_id(b":66"), None);
        assert_eq!(leading_id(b""), None);
        assert_eq!(leading_id(b"4294967296"), None);
    }

    #[test]
    fn numeric_accounts_need_no_lookup() {
        let ids = setuidgid_ids(b"12:13").unwrap();
        assert_eq!(
            ids,
            Ids {
                uid: Some(12),
                gid: Some(13),
                groups: Some(vec![])
            }
        );
        assert_eq!(setuidgid_ids(b"12:").unwrap_err().exit, Exit::Usage);
        assert_eq!(setuidgid_ids(b":13").unwrap_err().exit, Exit::Usage);
        let o = EnvOpts {
            lookup: Lookup::Both,
            numeric: true,
            insist: true,
            defaults: (0, 0, vec![]),
        };
        let vars = envuidgid_vars(&o, b"5:7").unwrap();
        assert_eq!(vars, [("UID", "5".into()), ("GID", "7".into())]);
    }

    #[test]
    fn applyuidgid_options_apply_in_order() {
        let a = v(&["-u", "9", "-G", "10", "-z", "prog"]);
        let (ids, z, rest) = parse_applyuidgid(&a).unwrap();
        assert_eq!(
            ids,
            Ids {
                uid: Some(9),
                gid: None,
                groups: Some(vec![10])
            }
        );
        assert!(z);
        assert_eq!(rest, [OsString::from("prog")]);
        assert!(parse_applyuidgid(&v(&["-u", "x", "p"])).is_err());
    }

    #[test]
    fn envuidgid_options() {
        let a = v(&["-D", "1:2:3", "-i", "-B", "-n", "acct", "prog"]);
        let (o, rest) = parse_envuidgid(&a).unwrap();
        assert_eq!(
            o,
            EnvOpts {
                lookup: Lookup::Both,
                numeric: true,
                insist: true,
                defaults: (1, 2, vec![3]),
            }
        );
        assert_eq!(rest.len(), 2);
        assert!(parse_envuidgid(&v(&["-D", "x", "a", "p"])).is_err());
        // -n alone switches to -B's rules; after -u or -g it keeps them.
        let mode = |a: &[&str]| parse_envuidgid(&v(a)).unwrap().0.lookup;
        assert_eq!(mode(&["-n", "a", "p"]), Lookup::Both);
        assert_eq!(mode(&["-u", "-n", "a", "p"]), Lookup::Uid);
        assert_eq!(mode(&["-n", "-g", "a", "p"]), Lookup::Gid);
    }
}
