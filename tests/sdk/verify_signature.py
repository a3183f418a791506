"""Verifies a delivered webhook with the official Standard Webhooks library (standardwebhooks).

Started by the Rust integration test `delivery::requests_are_signed_per_standard_webhooks`: an
independent check of hookwheel's signing. Reads one JSON object from stdin:

    {"secret": "whsec_...", "headers": {"webhook-id": ..., ...}, "body_b64": "..."}

and calls `standardwebhooks.Webhook(secret).verify(body, headers)`. Prints "verified" and exits
0 when the signature verifies; prints the error and exits 1 when it does not.
"""

import base64
import json
import sys

from standardwebhooks import Webhook, WebhookVerificationError


def main() -> int:
    req = json.load(sys.stdin)
    body = base64.b64decode(req["body_b64"])
    try:
        Webhook(req["secret"]).verify(body, req["headers"])
    except WebhookVerificationError as e:
        print(f"not verified: {e}")
        return 1
    print("verified")
    return 0


if __name__ == "__main__":
    sys.exit(main())
