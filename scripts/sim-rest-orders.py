#!/usr/bin/env python3
"""Drive `bigreach sim` from outside: create orders over the BigCommerce twin's REST API, pay
them, and check that each paid order is exactly one purchase in the Bloomreach twin.

Run `bigreach sim` and `bigreach serve` (pointed at the twins) first, then:

    scripts/sim-rest-orders.py --api-root http://127.0.0.1:PORT/stores/demo42/ \
        --token twin-bigcommerce-token --bloomreach http://127.0.0.1:PORT/ --orders 1000

(the API root, X-Auth-Token and Bloomreach base URL are the ones `bigreach sim` prints).

What it does, as any merchant tool would (python3 standard library only):
1. lists the products and their variants (`GET v3/catalog/products?include=variants`, paged);
2. creates `--orders` orders (`POST v2/orders`, one line each, variants in turn, a distinct
   guest email per order) and pays each one (`PUT v2/orders/{id}` `{"status_id": 11}`);
   a 429 waits for the window to reset (`X-Rate-Limit-Time-Reset-Ms`) and retries;
3. polls Bloomreach's ground truth (`GET /_twin/state`, no auth) until every paid order has a
   `purchase` event (`purchase_id` = the order id) or `--wait-secs` pass;
4. prints one JSON line: orders created, paid, purchases present, missing, doubled (more than
   one purchase event for one order after Bloomreach's duplicate filter), with a wrong amount
   (`total_price` not the order's `total_inc_tax`), and the time taken.

Exit status 0 when every paid order is exactly one purchase of the right amount, 1 otherwise.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request


class Rest:
    """The BigCommerce REST API with the store-level X-Auth-Token."""

    def __init__(self, api_root, token):
        self.root = api_root if api_root.endswith("/") else api_root + "/"
        self.token = token
        self.requests = 0
        self.waits_429 = 0

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        while True:
            request = urllib.request.Request(self.root + path, data=data, method=method)
            request.add_header("X-Auth-Token", self.token)
            request.add_header("Accept", "application/json")
            if data is not None:
                request.add_header("Content-Type", "application/json")
            self.requests += 1
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    text = response.read()
                    return json.loads(text) if text else None
            except urllib.error.HTTPError as error:
                if error.code != 429:
                    raise RuntimeError(
                        f"{method} {path}: {error.code} {error.read().decode(errors='replace')}"
                    ) from None
                self.waits_429 += 1
                reset_ms = error.headers.get("X-Rate-Limit-Time-Reset-Ms") or "1000"
                time.sleep(max(int(reset_ms), 100) / 1000)


def variants(rest):
    """Every (product_id, variant_id) of the catalog."""
    out, page = [], 1
    while True:
        answer = rest.call("GET", f"v3/catalog/products?include=variants&limit=250&page={page}")
        for product in answer["data"]:
            for variant in product.get("variants") or []:
                out.append((product["id"], variant["id"]))
        pagination = answer.get("meta", {}).get("pagination", {})
        if page >= pagination.get("total_pages", 1):
            return out
        page += 1


def purchases(bloomreach):
    """purchase_id → the `total_price` of each purchase event in Bloomreach's ground truth."""
    url = (bloomreach if bloomreach.endswith("/") else bloomreach + "/") + "_twin/state"
    with urllib.request.urlopen(url, timeout=60) as response:
        state = json.load(response)
    counts = {}
    for profile in state["profiles"]:
        for event in profile["events"]:
            if event["event_type"] == "purchase":
                pid = event["properties"].get("purchase_id")
                counts.setdefault(pid, []).append(event["properties"].get("total_price"))
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--api-root", required=True, help="BigCommerce twin API root")
    parser.add_argument("--token", required=True, help="X-Auth-Token printed by bigreach sim")
    parser.add_argument("--bloomreach", required=True, help="Bloomreach twin base URL")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--wait-secs", type=int, default=600)
    parser.add_argument("--tag", default=str(int(time.time())), help="makes the emails unique")
    args = parser.parse_args()

    rest = Rest(args.api_root, args.token)
    started = time.monotonic()
    catalog = variants(rest)
    if not catalog:
        sys.exit("the store has no variants")
    paid = {}  # order id → total_inc_tax (a decimal string)
    for i in range(args.orders):
        product_id, variant_id = catalog[i % len(catalog)]
        order = rest.call(
            "POST",
            "v2/orders",
            {
                "billing_address": {
                    "first_name": "Outside",
                    "last_name": f"Shopper {i}",
                    "zip": "78701",
                    "country_iso2": "US",
                    "email": f"outside-{args.tag}-{i}@example.com",
                },
                "products": [{"product_id": product_id, "variant_id": variant_id, "quantity": 1}],
            },
        )
        rest.call("PUT", f"v2/orders/{order['id']}", {"status_id": 11})
        paid[order["id"]] = order["total_inc_tax"]
    written = time.monotonic()

    while True:
        seen = purchases(args.bloomreach)
        present = sum(1 for oid in paid if oid in seen)
        if present == len(paid) or time.monotonic() - written > args.wait_secs:
            break
        time.sleep(2)
    report = {
        "orders_created": args.orders,
        "orders_paid": len(paid),
        "purchases_present": present,
        "purchases_missing": len(paid) - present,
        "purchases_doubled": sum(1 for oid in paid if len(seen.get(oid, [])) > 1),
        "purchases_wrong_amount": sum(
            1
            for oid, total in paid.items()
            if oid in seen
            and any(round(float(t or 0), 2) != round(float(total), 2) for t in seen[oid])
        ),
        "rest_requests": rest.requests,
        "rest_429_waits": rest.waits_429,
        "write_secs": round(written - started, 1),
        "all_present_after_secs": round(time.monotonic() - written, 1),
    }
    print(json.dumps(report))
    clean = not (
        report["purchases_missing"] or report["purchases_doubled"] or report["purchases_wrong_amount"]
    )
    sys.exit(0 if clean else 1)


if __name__ == "__main__":
    main()
