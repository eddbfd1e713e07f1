//! Both currencies of an order: the shopper's (`local_currency`, the order's transactional
//! currency) and the project's reference currency (`total_price`). Every money conversion of an
//! order goes through [`OrderCurrency::reference`], so purchases, lines, cancellations and
//! refunds all convert the same way.
//!
//! Direction (reference §3.6, checked against the twin's `GET v2/currencies`): a currency's
//! `currency_exchange_rate` and an order's `store_default_to_transactional_exchange_rate` are
//! units of that currency per 1 unit of the store's default currency. BigReach's
//! `exchange_rate` is **local units per 1 reference unit**, so
//! `reference amount = local amount ÷ exchange_rate`, rounded half away from zero to 2 places.

use std::collections::BTreeMap;

use bigreach_bigcommerce::Order;
use rust_decimal::{Decimal, RoundingStrategy};

/// The store's currencies as `GET v2/currencies` lists them, and the reference currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCurrencies {
    /// The reference currency (`[bloomreach] reference_currency`); empty = the store default.
    pub reference: String,
    /// Currency code → units per 1 unit of the store default currency (`currency_exchange_rate`).
    pub rates: BTreeMap<String, Decimal>,
}

/// Why an order's amounts cannot be put in the reference currency (the purchase is withheld
/// rather than sent with a wrong number).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    /// No rate from the store default to the order's currency.
    #[error("no exchange rate from the store currency {store} to the order currency {local} (the order's store_default_to_transactional_exchange_rate and GET v2/currencies have none)")]
    NoLocalRate {
        /// Store default.
        store: String,
        /// The order's transactional currency.
        local: String,
    },
    /// No rate from the store default to the reference currency.
    #[error("no exchange rate from the store currency {store} to the reference currency {reference} (GET v2/currencies does not list it with a rate)")]
    NoReferenceRate {
        /// Store default.
        store: String,
        /// The configured reference currency.
        reference: String,
    },
}

/// An order's two currencies and the rate between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderCurrency {
    /// The shopper's transactional currency (`default_currency_code`, never the display one).
    pub local: String,
    /// The reference currency.
    pub reference: String,
    /// Local units per 1 store-default unit.
    local_per_store: Decimal,
    /// Reference units per 1 store-default unit.
    reference_per_store: Decimal,
}

/// Half away from zero to 2 decimal places (finance rounding).
pub fn round_cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

impl OrderCurrency {
    /// The currencies of `order` for a store whose default currency is `store_currency`.
    pub fn of(
        order: &Order,
        store_currency: &str,
        currencies: &StoreCurrencies,
    ) -> Result<Self, CurrencyError> {
        let store = if order.store_default_currency_code.is_empty() {
            store_currency.to_owned()
        } else {
            order.store_default_currency_code.clone()
        };
        let local = if !order.default_currency_code.is_empty() {
            order.default_currency_code.clone()
        } else if !order.currency_code.is_empty() {
            order.currency_code.clone()
        } else {
            store.clone()
        };
        let reference = if currencies.reference.is_empty() {
            store.clone()
        } else {
            currencies.reference.clone()
        };
        let listed = |code: &str| {
            currencies
                .rates
                .get(code)
                .copied()
                .filter(|r| *r > Decimal::ZERO)
        };
        let local_per_store = if local == store {
            Decimal::ONE
        } else if order.store_default_to_transactional_exchange_rate > Decimal::ZERO {
            // The rate the order was transacted at.
            order.store_default_to_transactional_exchange_rate
        } else {
            listed(&local).ok_or_else(|| CurrencyError::NoLocalRate {
                store: store.clone(),
                local: local.clone(),
            })?
        };
        let reference_per_store = if reference == store {
            Decimal::ONE
        } else if reference == local {
            local_per_store
        } else {
            listed(&reference).ok_or_else(|| CurrencyError::NoReferenceRate {
                store: store.clone(),
                reference: reference.clone(),
            })?
        };
        Ok(Self {
            local,
            reference,
            local_per_store,
            reference_per_store,
        })
    }

    /// The one conversion: a local amount in the reference currency, to the cent (half away
    /// from zero). An amount already in the reference currency is only rounded.
    pub fn reference(&self, local_amount: Decimal) -> Decimal {
        if self.local == self.reference {
            return round_cents(local_amount);
        }
        round_cents(local_amount * self.reference_per_store / self.local_per_store)
    }

    /// `exchange_rate` as sent: local units per 1 reference unit (10 decimal places, as
    /// BigCommerce writes rates).
    pub fn exchange_rate(&self) -> Decimal {
        if self.local == self.reference {
            return Decimal::ONE;
        }
        (self.local_per_store / self.reference_per_store)
            .round_dp(10)
            .normalize()
    }
}
