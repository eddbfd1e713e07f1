//! BigCommerce REST client, resource and webhook types, and quota pacing.
//!
//! - Resource types ([`Order`], [`Customer`], [`Product`], …) parse BigCommerce's mixed wire
//!   formats leniently (v2 money strings and RFC 2822 dates, v3 numbers and ISO-8601 dates).
//! - [`WebhookEnvelope`] is the body of a webhook delivery; [`WebhookEnvelope::resource`] says
//!   what to re-fetch.
//! - [`Refund`]s of an order (v3) are fetched by the client and attached to
//!   [`Order::refunds`] by the appliance; [`decode_refunds`] is their pure decoder.
//! - [`BigCommerceClient`] paces on the store's shared quota, retries what is worth retrying,
//!   and sleeps only on the injected clock.
//! - [`decode`] turns response bodies into those types, as pure functions of the bytes (what
//!   the client calls and `crates/fuzz` fuzzes; built without the `client` feature too).

mod cart;
mod catalog;
#[cfg(feature = "client")]
mod client;
mod customer;
pub mod decode;
mod error;
mod order;
#[cfg(feature = "client")]
mod pacing;
mod refund;
mod store;
mod webhook;
pub mod wire_format;

pub use cart::{Cart, CartCurrency, CartLine, CartLines};
pub use catalog::{CustomField, CustomUrl, OptionValue, Product, ProductImage, Variant};
#[cfg(feature = "client")]
pub use client::{BigCommerceClient, ClientConfig, IDS_PER_REQUEST, MAX_CART_ID_LEN, PAGE_LIMIT};
pub use customer::{Customer, CustomerAttribute, CustomerAttributeDefinition, CustomerGroup};
pub use decode::{DecodedOrder, Page};
pub use error::{BigCommerceError, RetryHint};
pub use order::{BillingAddress, FormField, Order, OrderProduct, ProductOption};
#[cfg(feature = "client")]
pub use pacing::{QuotaSnapshot, RetryPolicy};
pub use refund::{decode_refunds, Refund, RefundItem, RefundPayment};
pub use store::{Currency, StoreInformation, StoreTimezone};
pub use webhook::{
    EnvelopeError, Hook, HookUpdate, NewHook, OtherStore, ResourceKind, ResourceRef,
    WebhookEnvelope,
};
