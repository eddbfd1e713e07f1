//! The BigCommerce twin.
