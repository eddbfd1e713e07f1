//! BigReach domain: model, store, identity, mapping, outbox, config and the application API.
