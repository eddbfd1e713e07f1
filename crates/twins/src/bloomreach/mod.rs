//! The Bloomreach Engagement twin.
