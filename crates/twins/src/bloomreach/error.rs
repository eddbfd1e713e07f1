//! Errors of the Bloomreach twin's control surface.

/// Why the twin could not start, or refused a control request.
#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    /// Binding the listening socket on 127.0.0.1 failed.
    #[error("cannot bind the Bloomreach twin to 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    /// The configuration cannot describe a real project.
    #[error("invalid Bloomreach twin configuration: {0}")]
    InvalidConfig(String),
    /// A control request names something the twin does not have (a catalog, an item).
    #[error("{0}")]
    Control(String),
}
