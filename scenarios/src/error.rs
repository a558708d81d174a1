//! Errors in scenarios and manifests: each names the file, the line and column (where
//! known) and the field path, e.g.
//! `scenario.yaml:14:9: cluster.nodePools[0].memory: invalid quantity "12 apples": unknown suffix`.

use std::fmt;

use thiserror::Error;

/// A position in a source file, 1-based as editors show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

/// Where a problem is: a file, optionally a position in it, optionally a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    pub file: String,
    pub pos: Option<Pos>,
    /// Field path from the root of the scenario, `cluster.nodePools[0].memory`; empty for
    /// a problem with the file as a whole.
    pub path: String,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(pos) = self.pos {
            write!(f, ":{}:{}", pos.line, pos.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        Ok(())
    }
}

/// Everything that can be wrong with a scenario or its manifests. Each is bad input: the
/// CLI maps every one of them to exit code 2.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScenarioError {
    /// A value that does not parse, does not fit, or does not make sense.
    #[error("{at}: {message}")]
    Invalid { at: At, message: String },
    /// A file the scenario names could not be read.
    #[error("{at}: cannot read {path}: {reason}")]
    Unreadable {
        at: At,
        path: String,
        reason: String,
    },
    /// Neither a file nor a built-in scenario.
    #[error(
        "no scenario file or built-in scenario named {name:?} (`kubesim scenarios` lists the built-in ones)"
    )]
    NotFound { name: String },
}

impl ScenarioError {
    pub fn invalid(at: At, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            at,
            message: message.into(),
        }
    }

    /// Where the problem is, when it is in a file.
    pub fn at(&self) -> Option<&At> {
        match self {
            ScenarioError::Invalid { at, .. } | ScenarioError::Unreadable { at, .. } => Some(at),
            ScenarioError::NotFound { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_line_column_path_message() {
        let error = ScenarioError::invalid(
            At {
                file: "scenario.yaml".to_string(),
                pos: Some(Pos {
                    line: 14,
                    column: 9,
                }),
                path: "cluster.nodePools[0].memory".to_string(),
            },
            "invalid quantity \"12 apples\": unknown suffix",
        );
        assert_eq!(
            error.to_string(),
            "scenario.yaml:14:9: cluster.nodePools[0].memory: invalid quantity \"12 apples\": unknown suffix"
        );
    }

    #[test]
    fn omits_what_is_unknown() {
        let at = At {
            file: "web.yaml".to_string(),
            pos: None,
            path: String::new(),
        };
        assert_eq!(
            ScenarioError::invalid(at, "empty").to_string(),
            "web.yaml: empty"
        );
    }
}
