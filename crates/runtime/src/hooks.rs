//! Hook management: BigReach registers the webhooks it needs and re-activates deactivated ones
//! (BigCommerce deactivates a hook after about 48 hours of failed deliveries and never replays
//! what it missed; the poller back-fills that gap).

use std::collections::BTreeMap;

use bigreach_bigcommerce::{BigCommerceClient, BigCommerceError, HookUpdate, NewHook};

use crate::receiver::SECRET_HEADER;

/// The scopes BigReach follows.
pub const SCOPES: [&str; 5] = [
    "store/order/*",
    "store/customer/*",
    "store/product/*",
    "store/sku/*",
    "store/cart/*",
];

/// What [`ensure_hooks`] did (the application API's hook health).
pub use bigreach_core::app::status::HookHealth as HookReport;

/// Registers missing hooks and re-activates deactivated ones for `destination`.
pub async fn ensure_hooks(
    client: &BigCommerceClient,
    destination: &str,
    secret: &str,
) -> Result<HookReport, BigCommerceError> {
    let existing = client.hooks().await?;
    let headers = BTreeMap::from([(SECRET_HEADER.to_owned(), secret.to_owned())]);
    let mut report = HookReport::default();
    for scope in SCOPES {
        let found = existing
            .iter()
            .find(|h| h.scope == scope && h.destination == destination);
        match found {
            Some(hook) if hook.is_active => report.active.push(scope.to_owned()),
            Some(hook) => {
                client
                    .update_hook(
                        hook.id,
                        &HookUpdate {
                            is_active: Some(true),
                            destination: None,
                            headers: Some(headers.clone()),
                        },
                    )
                    .await?;
                report.reactivated.push(scope.to_owned());
            }
            None => {
                client
                    .create_hook(&NewHook {
                        scope: scope.to_owned(),
                        destination: destination.to_owned(),
                        is_active: true,
                        headers: Some(headers.clone()),
                    })
                    .await?;
                report.created.push(scope.to_owned());
            }
        }
    }
    Ok(report)
}
