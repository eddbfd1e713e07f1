//! Twins: faithful simulators of the BigCommerce and Bloomreach APIs.
//!
//! Each twin serves the documented wire protocol with hyper on 127.0.0.1 (port picked by the OS),
//! keeps a ground truth, serves a control API under `/_twin/` (the truth, run-time faults and
//! shopper crowds; see [`control`]), and reads time from an injected [`bigreach_clock::Clock`]. The twins never share code or types with the
//! production clients, so a misunderstanding of the wire format cannot hide in both at once.

pub mod bigcommerce;
pub mod bloomreach;
pub mod control;
