"""A loopback SMTP sink for the alert tests: accepts every mail and appends it, one JSON
object per line ({"from", "to", "data"}), to the file named by the second argument.

Usage: sink.py <port> <out file>. Prints "ready" once it accepts connections.
"""

import json
import sys
import time

from aiosmtpd.controller import Controller


class Keep:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        line = json.dumps(
            {
                "from": envelope.mail_from,
                "to": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
            }
        )
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        return "250 OK"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Keep(out), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
