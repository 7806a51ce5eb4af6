//! The busybox image every runtime fixture runs, made from the machine's
//! busybox-static with no registry: a root filesystem, the tar podman
//! imports, and the OCI image layout (umoci) containerd imports. Each is
//! built once per test process, in a temporary directory removed when the
//! process exits (and, should it be killed, by the next test process).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::checked;

/// The image's name in podman and containerd.
pub const IMAGE: &str = "localhost/bb:latest";

/// What `httpd -h /var/www` serves at `/`.
pub const INDEX_HTML: &str = "hello from busybox\n";

/// The applets linked in `/bin`. Busybox's wget crashes with `-T`: bound
/// it with `timeout N wget ...` instead.
const APPLETS: [&str; 34] = [
    "sh", "nslookup", "wget", "httpd", "sleep", "cat", "ip", "nc", "hostname", "ls", "echo", "ps",
    "kill", "timeout", "ifconfig", "route", "netstat", "ping", "env", "grep", "sed", "awk", "tee",
    "mkdir", "rm", "touch", "true", "false", "test", "[", "id", "head", "tail", "wc",
];

/// Writes a busybox root filesystem into `dir` (made if missing): the
/// static busybox, its applets as symlinks, `etc/passwd` and `etc/group`,
/// empty `etc/hosts` and `etc/resolv.conf` (runtimes mount their own over
/// them) and `var/www/index.html`.
pub fn busybox_rootfs(dir: &Path) {
    for sub in [
        "bin", "etc", "var/www", "tmp", "proc", "sys", "dev", "root", "run",
    ] {
        std::fs::create_dir_all(dir.join(sub)).expect("rootfs directory");
    }
    let busybox = static_busybox();
    std::fs::copy(&busybox, dir.join("bin/busybox")).expect("copy busybox");
    for applet in APPLETS {
        let link = dir.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link).expect("applet symlink");
        }
    }
    let files = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
        ("etc/hosts", ""),
        ("etc/resolv.conf", ""),
        ("var/www/index.html", INDEX_HTML),
    ];
    for (path, text) in files {
        std::fs::write(dir.join(path), text).expect("rootfs file");
    }
    use std::os::unix::fs::PermissionsExt;
    let sticky = std::fs::Permissions::from_mode(0o1777);
    std::fs::set_permissions(dir.join("tmp"), sticky).expect("chmod tmp");
}

/// The busybox to copy: `/bin/busybox`, which must be busybox-static's (a
/// dynamically linked one would not start in a rootfs without libc).
fn static_busybox() -> PathBuf {
    let path = PathBuf::from("/bin/busybox");
    let elf = std::fs::read(&path).expect("/bin/busybox: install busybox-static");
    assert!(
        !has_interpreter(&elf),
        "/bin/busybox is dynamically linked: install busybox-static"
    );
    path
}

/// Whether a 64-bit little-endian ELF file has a PT_INTERP program header
/// (that is, needs a dynamic loader).
fn has_interpreter(elf: &[u8]) -> bool {
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    assert!(elf.len() > 64 && &elf[..4] == b"\x7fELF", "not an ELF file");
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| u32_at(phoff + i * phentsize) == 3)
}

/// This process's directory for the shared images.
fn shared_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        remove_stale_dirs();
        let dir = std::env::temp_dir().join(format!("netagent-runtimes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("shared image directory");
        // SAFETY: registering a plain extern "C" function is always sound.
        unsafe { libc::atexit(remove_shared_dir) };
        dir
    })
}

extern "C" fn remove_shared_dir() {
    let dir = std::env::temp_dir().join(format!("netagent-runtimes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(dir);
}

/// Removes the directories of test processes that are gone (killed before
/// their exit handler ran).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix("netagent-runtimes-"));
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The shared root filesystem (read it, copy it; never write into it).
pub fn shared_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let dir = shared_dir().join("rootfs");
        busybox_rootfs(&dir);
        dir
    })
}

/// The rootfs as a tar, for `podman import`.
pub fn podman_archive() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let tar = shared_dir().join("bb.tar");
        tar_dir(shared_rootfs(), &tar);
        tar
    })
}

/// The image as a tarred OCI layout whose manifest carries
/// `io.containerd.image.name`, for `ctr image import`.
pub fn oci_archive() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let work = shared_dir().join("oci");
        let layout = work.join("layout");
        let bundle = work.join("bundle");
        let image = format!("{}:latest", layout.display());
        umoci(&["init", "--layout", layout.to_str().unwrap()]);
        umoci(&["new", "--image", &image]);
        umoci(&[
            "unpack",
            "--rootless",
            "--image",
            &image,
            bundle.to_str().unwrap(),
        ]);
        let mut from = OsString::from(shared_rootfs());
        from.push("/.");
        let copy = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(bundle.join("rootfs"))
            .output();
        checked(
            copy.expect("run cp"),
            "copy the rootfs into the umoci bundle",
        );
        umoci(&["repack", "--image", &image, bundle.to_str().unwrap()]);
        umoci(&["config", "--image", &image, "--config.cmd", "/bin/sh"]);
        umoci(&["gc", "--layout", layout.to_str().unwrap()]);
        name_image(&layout.join("index.json"));
        let tar = shared_dir().join("bb-oci.tar");
        tar_dir(&layout, &tar);
        tar
    })
}

fn umoci(args: &[&str]) {
    let output = Command::new("umoci")
        .args(args)
        .output()
        .expect("run umoci");
    checked(output, &format!("umoci {args:?}"));
}

/// `ctr image import` names an image from this annotation only.
fn name_image(index: &Path) {
    let text = std::fs::read_to_string(index).expect("read index.json");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("index.json");
    let annotations = &mut json["manifests"][0]["annotations"];
    annotations["io.containerd.image.name"] = IMAGE.into();
    std::fs::write(index, json.to_string()).expect("write index.json");
}

fn tar_dir(dir: &Path, tar: &Path) {
    let output = Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(tar)
        .arg(".")
        .output()
        .expect("run tar");
    checked(output, &format!("tar {}", dir.display()));
}
