//! Running a command inside a sandbox, as `ip netns exec` does: in the
//! sandbox's network namespace, with its resolv.conf, hosts and hostname
//! bind-mounted over /etc in a mount namespace of the command's own, so
//! the C library resolves through the sandbox's resolver and the host's
//! mounts stay as they are, and with the sandbox's hostname in a UTS
//! namespace of its own.

use std::ffi::{CStr, CString};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a command started in a sandbox gets besides its network
/// namespace: files of the sandbox's bind-mounted over /etc (resolv.conf,
/// hosts, hostname, as `ip netns exec` mounts /etc/netns/NAME), and a
/// hostname of its own in a UTS namespace of its own (issue #13).
#[derive(Debug, Default)]
pub struct Setup {
    /// `(sandbox file, /etc file)` pairs; a sandbox file that does not
    /// exist is skipped.
    pub files: Vec<(PathBuf, &'static CStr)>,
    /// The hostname inside, when the sandbox is not in host mode.
    pub hostname: Option<String>,
}

/// The command, not yet started (its output can be captured).
pub fn command_in_sandbox(
    netns: &Path,
    resolv_conf: Option<&Path>,
    argv: &[String],
) -> std::io::Result<Command> {
    let setup = Setup {
        files: resolv_conf
            .map(|path| (path.to_owned(), c"/etc/resolv.conf"))
            .into_iter()
            .collect(),
        hostname: None,
    };
    command_with(netns, &setup, argv)
}

/// The command with the whole [`Setup`].
pub fn command_with(netns: &Path, setup: &Setup, argv: &[String]) -> std::io::Result<Command> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("no command given"))?;
    let namespace = std::fs::File::open(netns)?;
    let mut mounts = Vec::new();
    for (source, target) in &setup.files {
        if source.exists() {
            let source =
                CString::new(source.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
            mounts.push((source, *target));
        }
    }
    let hostname = setup.hostname.clone().map(String::into_bytes);
    let mut command = Command::new(program);
    command.args(args);
    // SAFETY: the closure runs in the child between fork and exec and
    // makes only system calls (unshare, mount, sethostname, setns), which
    // are async-signal-safe; the strings and the descriptor were made
    // before.
    unsafe {
        command.pre_exec(move || {
            if !mounts.is_empty() {
                check(libc::unshare(libc::CLONE_NEWNS))?;
                check(libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                for (source, target) in &mounts {
                    check(libc::mount(
                        source.as_ptr(),
                        target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND,
                        std::ptr::null(),
                    ))?;
                }
            }
            if let Some(name) = &hostname {
                check(libc::unshare(libc::CLONE_NEWUTS))?;
                check(libc::sethostname(name.as_ptr().cast(), name.len()))?;
            }
            check(libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET))
        });
    }
    Ok(command)
}

fn check(result: libc::c_int) -> std::io::Result<()> {
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
