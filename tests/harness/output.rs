//! Reading and checking a finished command's output, for every test.

use std::process::Output;

/// Reading and checking a finished command.
pub trait OutputExt {
    /// Its stdout as text.
    fn stdout_text(&self) -> String;
    /// Its stderr as text.
    fn stderr_text(&self) -> String;
    /// Panics with both streams unless it succeeded.
    fn assert_ok(&self, what: &str) -> &Self;
    /// Panics unless it failed with `needle` in its stderr.
    fn assert_fails_with(&self, needle: &str);
}

impl OutputExt for Output {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    fn assert_ok(&self, what: &str) -> &Self {
        assert!(
            self.status.success(),
            "{what} failed:\nstdout: {}\nstderr: {}",
            self.stdout_text(),
            self.stderr_text()
        );
        self
    }

    fn assert_fails_with(&self, needle: &str) {
        assert!(
            !self.status.success(),
            "expected a failure with {needle:?}, got success: {}",
            self.stdout_text()
        );
        let stderr = self.stderr_text();
        assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "one line on stderr: {stderr}"
        );
    }
}
