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

/// The tarball extracted into a root with only busybox-static (no libc, no
/// bash, no python): two services (busybox httpd and sleep) boot, httpd
/// answers, and SIGTERM stops the container with exit code 0.
#[test]
fn dist_boots_a_busybox_only_root() {
    let mut sb = Sandbox::new();
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
    sb.service("etc/services.d/web")
        .run("exec httpd -f -p 8080 -h /www");
    sb.service("etc/services.d/sleeper")
        .run("exec sleep 100000");
    fs::write(sb.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    for libc in ["lib", "lib64", "usr/lib", "usr/bin/bash", "usr/bin/python3"] {
        assert!(!root.join(libc).exists(), "{libc} must not be in the image");
    }
    let mut c = Command::new("sh");
    c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/container.sh"))
        .arg("-m")
        .arg("-r")
        .arg(&root)
        .arg(sb.join("etc"));
    let pid = sb.spawn(c, "container.log");
    let container = Container {
        pid,
        root: root.clone(),
    };
    for name in ["web", "sleeper"] {
        container.wait_service(name, Goal::UP);
    }
    let init = container.init_pid();
    let mut page = String::new();
    poll_until("httpd answering", || {
        let out = Command::new("nsenter")
            .args(["-t", &init.to_string(), "-n", "/usr/bin/python3", "-c"])
            .arg("import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/').read().decode(), end='')")
            .output()
            .unwrap();
        page = stdout_of(&out);
        page == "hello from busybox\n"
    });
    signal(init, Signal::SIGTERM);
    assert_eq!(sb.wait_exit(pid), Some(0), "{}", sb.log("container"));
}
