//! Running a command inside a sandbox, as `ip netns exec` does: in the
//! sandbox's network namespace, with its resolv.conf bind-mounted over
//! /etc/resolv.conf in a mount namespace of the command's own, so the C
//! library resolves through the sandbox's resolver and the host's mounts
//! stay as they are.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus};

/// Runs `argv` inside the namespace at `netns` with `resolv_conf` as its
/// /etc/resolv.conf, and waits for it.
pub fn run_in_sandbox(
    netns: &Path,
    resolv_conf: Option<&Path>,
    argv: &[String],
) -> std::io::Result<ExitStatus> {
    command_in_sandbox(netns, resolv_conf, argv)?.status()
}

/// The command, not yet started (its output can be captured).
pub fn command_in_sandbox(
    netns: &Path,
    resolv_conf: Option<&Path>,
    argv: &[String],
) -> std::io::Result<Command> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("no command given"))?;
    let namespace = std::fs::File::open(netns)?;
    let source = match resolv_conf {
        Some(path) if path.exists() => {
            Some(CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?)
        }
        _ => None,
    };
    let mut command = Command::new(program);
    command.args(args);
    // SAFETY: the closure runs in the child between fork and exec and
    // makes only system calls (unshare, mount, setns), which are
    // async-signal-safe; the strings and the descriptor were made before.
    unsafe {
        command.pre_exec(move || {
            let fd = namespace.as_raw_fd();
            if let Some(source) = &source {
                check(libc::unshare(libc::CLONE_NEWNS))?;
                let root = c"/";
                check(libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                let target = c"/etc/resolv.conf";
                check(libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
            }
            check(libc::setns(fd, libc::CLONE_NEWNET))
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
