"""Signs webhook requests with the senders' own reference libraries, for the ingest tests.

Reads a JSON list of jobs on stdin and prints a JSON list of header maps, one per job:
  {"scheme": "standard_webhooks", "secret": "whsec_...", "id": "msg_1", "timestamp": 1700000000, "body": "..."}
  {"scheme": "stripe", "secret": "whsec_...", "timestamp": 1700000000, "body": "..."}
Each Stripe header is also checked with the library's own verifier before it is printed.
"""

import datetime
import json
import sys

import standardwebhooks
import stripe


def sign(job):
    body = job["body"]
    ts = int(job["timestamp"])
    if job["scheme"] == "standard_webhooks":
        wh = standardwebhooks.Webhook(job["secret"])
        at = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
        signature = wh.sign(job["id"], at, body)
        return {"webhook-id": job["id"], "webhook-timestamp": str(ts), "webhook-signature": signature}
    if job["scheme"] == "stripe":
        header = stripe.WebhookSignature.generate_signature_header(body, job["secret"], timestamp=ts)
        stripe.WebhookSignature.verify_header(body, header, job["secret"])
        return {"stripe-signature": header}
    raise ValueError("unknown scheme " + job["scheme"])


print(json.dumps([sign(j) for j in json.load(sys.stdin)]))
