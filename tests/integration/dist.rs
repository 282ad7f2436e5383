//! The release tarball (`make dist`, which `make test` runs first): reproducible,
//! and self-contained — it boots an image that holds nothing but busybox-static.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::signal::Signal;
use svkit_core::event::Goal;

use crate::util::*;

/// `dist/svkit-*-amd64.tar.gz`, built by `make dist`.
fn tarball() -> PathBuf {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist");
    fs::read_dir(&dist)
        .ok()
        .and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with("-amd64.tar.gz"))
        })
        .unwrap_or_else(|| {
            panic!(
                "no amd64 tarball in {}: run make dist (make test does)",
                dist.display()
            )
        })
}

fn sha256(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn dist_is_reproducible_and_carries_its_checksum() {
    let sb = Sandbox::new();
    let built = tarball();
    let sum = fs::read_to_string(format!("{}.sha256", built.display())).unwrap();
    let name = built.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        sum,
        format!("{}  {name}\n", sha256(&built)),
        "the .sha256 beside it"
    );
    // Packaging again (the binary is already built) gives the same bytes.
    let st = Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/dist.sh"))
        .arg(sb.join("again"))
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(sha256(&sb.join("again").join(&name)), sha256(&built));
    // Laid out for ADD at /: /init, /command/<tool and s6- name>, /usr/bin links, docs.
    let list = Command::new("tar").arg("tzf").arg(&built).output().unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    for entry in [
        "init",
        "command/svkit",
        "command/s6-svc",
        "command/svc",
        "command/with-contenv",
        "usr/bin/s6-svscan",
        "usr/share/doc/svkit/README.md",
    ] {
        assert!(list.lines().any(|l| l == entry), "{entry} in the tarball");
    }
}

/// The tarball extracted into `sb/root`, with busybox-static and its applets as
/// the whole rest of the image, a page for httpd, and `sb/etc` for /etc.
fn busybox_root(sb: &Sandbox) -> PathBuf {
    let root = sb.join("root");
    fs::create_dir_all(root.join("bin")).unwrap();
    let st = Command::new("tar")
        .arg("xzf")
        .arg(tarball())
        .arg("-C")
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success());
    fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("busybox-static (apt-get install busybox-static)");
    let applets = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for a in String::from_utf8(applets.stdout).unwrap().lines() {
        let link = root.join("bin").join(a);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link).unwrap();
        }
    }
    fs::create_dir_all(root.join("www")).unwrap();
    fs::write(root.join("www/index.html"), "hello from busybox\n").unwrap();
    fs::create_dir_all(sb.join("etc")).unwrap();
    fs::write(
        sb.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\n",
    )
    .unwrap();
    fs::write(sb.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    for libc in ["lib", "lib64", "usr/lib", "usr/bin/bash", "usr/bin/python3"] {
        assert!(!root.join(libc).exists(), "{libc} must not be in the image");
    }
    root
}

/// Starts `tools/container.sh -m` with `opts` on the image in `root`.
fn boot(sb: &mut Sandbox, root: &Path, opts: &[&str]) -> Container {
    let mut c = Command::new("sh");
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/container.sh"))
        .arg("-m")
        .args(opts)
        .arg("-r")
        .arg(root)
        .arg(sb.join("etc"));
    let pid = sb.spawn(c, "container.log");
    Container {
        pid,
        root: root.to_path_buf(),
    }
}

/// What the container's httpd on port 8080 serves, fetched from its network.
fn fetch(init: u32) -> String {
    let out = Command::new("nsenter")
        .args(["-t", &init.to_string(), "-n", "/usr/bin/python3", "-c"])
        .arg("import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/').read().decode(), end='')")
        .output()
        .unwrap();
    stdout_of(&out)
}

/// The tarball extracted into a root with only busybox-static (no libc, no
/// bash, no python): two services (busybox httpd and sleep) boot, httpd
/// answers, and SIGTERM stops the container with exit code 0.
#[test]
fn dist_boots_a_busybox_only_root() {
    let mut sb = Sandbox::new();
    let root = busybox_root(&sb);
    sb.service("etc/services.d/web")
        .run("exec httpd -f -p 8080 -h /www");
    sb.service("etc/services.d/sleeper")
        .run("exec sleep 100000");
    let container = boot(&mut sb, &root, &[]);
    for name in ["web", "sleeper"] {
        container.wait_service(name, Goal::UP);
    }
    let init = container.init_pid();
    poll_until("httpd answering", || fetch(init) == "hello from busybox\n");
    signal(init, Signal::SIGTERM);
    let code = sb.wait_exit(container.pid);
    assert_eq!(code, Some(0), "{}", sb.log("container"));
}

/// The same image as `USER 1000` on a read-only root with Docker's tmpfs /run
/// (noexec, mode 1777): the services run as uid 1000 from links to the image,
/// httpd answers, the probe `svstat --all-ready` (run as a `kubectl exec`
/// would: the container's namespaces, uid 1000) passes, and SIGTERM stops the
/// container with the exit code a finish script wrote.
#[test]
fn dist_runs_as_uid_1000_on_a_read_only_root() {
    let mut sb = Sandbox::new();
    let root = busybox_root(&sb);
    sb.service("etc/services.d/web")
        .run("exec httpd -f -p 8080 -h /www");
    sb.service("etc/services.d/sleeper")
        .run("exec sleep 100000")
        .finish(
            "[ \"$1\" = 256 ] && echo $((128 + $2)) > /run/s6-linux-init-container-results/exitcode\nexit 0",
        );
    let container = boot(&mut sb, &root, &["-O", "-u", "1000:1000"]);
    for name in ["web", "sleeper"] {
        container.wait_dir(
            &container.inside(&format!("/run/s6/legacy-services/{name}")),
            Goal::UP,
        );
    }
    let init = container.init_pid();
    for name in ["web", "sleeper"] {
        let dir = container.inside(&format!("/run/s6/legacy-services/{name}"));
        let pid = host_pid(init, read_status(&dir).pid);
        let st = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(
            st.contains("\nUid:\t1000\t1000\t1000\t1000\n"),
            "{name}: {st}"
        );
    }
    assert!(
        fs::read_to_string(format!("/proc/{init}/status"))
            .unwrap()
            .contains("\nUid:\t1000\t1000\t1000\t1000\n"),
        "PID 1 runs as uid 1000"
    );
    poll_until("httpd answering", || fetch(init) == "hello from busybox\n");
    let probe = Command::new("nsenter")
        .args([
            "-t",
            &init.to_string(),
            "-m",
            "-p",
            "-r",
            "-S",
            "1000",
            "-G",
            "1000",
        ])
        .args(["/command/svstat", "--all-ready"])
        .output()
        .unwrap();
    assert_eq!(
        (probe.status.code(), stdout_of(&probe)),
        (Some(0), "all ready: 2 services up\n".to_owned()),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    signal(init, Signal::SIGTERM);
    let code = sb.wait_exit(container.pid);
    assert_eq!(code, Some(143), "{}", sb.log("container"));
}
