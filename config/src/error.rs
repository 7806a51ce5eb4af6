//! Errors of configuration: one [`ConfigError`] per problem, gathered into
//! [`ConfigErrors`] so that a file's every problem is reported at once.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// One problem, with the place it was found (`resolver.ttl`,
/// `endpoints[3].aliases[0]`, ...) and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    /// Where in the file or request the problem is.
    pub origin: String,
    /// What is wrong, naming the offending value.
    pub message: String,
}

impl ConfigError {
    /// A problem at `origin`.
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            origin: origin.into(),
            message: message.into(),
        }
    }
}

/// Every problem found in one file or request, with the file's path when
/// there is one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ConfigErrors {
    /// The file the problems are in, if they came from a file.
    pub file: Option<PathBuf>,
    /// The problems, in the order they were found; never empty.
    pub errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// A single problem in `file`.
    pub fn one(file: &Path, error: ConfigError) -> Self {
        ConfigErrors {
            file: Some(file.to_owned()),
            errors: vec![error],
        }
    }

    /// The same problems, said to be in `file`.
    pub fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_owned());
        self
    }
}

impl From<Vec<ConfigError>> for ConfigErrors {
    fn from(errors: Vec<ConfigError>) -> Self {
        ConfigErrors { file: None, errors }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        let plural = if count == 1 { "" } else { "s" };
        match &self.file {
            Some(file) => write!(f, "{} has {count} error{plural}:", file.display())?,
            None => write!(f, "{count} error{plural}:")?,
        }
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}
