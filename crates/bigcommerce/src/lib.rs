//! BigCommerce REST client, resource and webhook types, and quota pacing.
