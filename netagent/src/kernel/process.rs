//! Waiting for a container's process to end without polling: a pidfd
//! (pidfd_open(2), Linux 5.3) becomes readable when the process exits.
//! The agent uses it for namespaces adopted by process: a runtime that
//! never says the container is gone (`ctr run -d` sends no CNI DEL) must
//! not leave its sandbox, veth and name behind.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A handle on a running process that says when it has exited.
pub struct ProcessExit {
    pidfd: AsyncFd<OwnedFd>,
}

impl ProcessExit {
    /// Opens process `pid`; `Ok(None)` when it has exited already.
    pub fn open(pid: u32) -> io::Result<Option<ProcessExit>> {
        let pid = libc::pid_t::try_from(pid).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{pid} is not a pid"))
        })?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new
        // descriptor or -1; nothing is borrowed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ESRCH) => Ok(None),
                _ => Err(err),
            };
        }
        // SAFETY: the kernel just returned this descriptor to us alone.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: the AsyncFd owns the descriptor, which stays open
        // exactly as long as it is registered.
        let pidfd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|err| err.into_parts().1)?;
        Ok(Some(ProcessExit { pidfd }))
    }

    /// Resolves when the process has exited.
    pub async fn wait(self) -> io::Result<()> {
        self.pidfd.readable().await?.retain_ready();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn says_when_a_child_exits_and_that_a_gone_one_is_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.1")
            .spawn()
            .unwrap();
        let exit = ProcessExit::open(child.id()).unwrap().expect("running");
        tokio::time::timeout(std::time::Duration::from_secs(5), exit.wait())
            .await
            .expect("exit seen within 5 s")
            .unwrap();
        child.wait().unwrap();
        // Reaped: no such process any more.
        assert!(ProcessExit::open(child.id()).unwrap().is_none());
    }
}
