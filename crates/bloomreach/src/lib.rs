//! Bloomreach Engagement client: tracking batch commands, catalogs, and retry classification.
