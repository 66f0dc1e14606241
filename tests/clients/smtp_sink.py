"""A local SMTP sink for certdeck's notification tests (aiosmtpd), with STARTTLS
required: each message received is written to OUT_DIR as <n>.json (envelope, whether
the session was encrypted, the decoded subject and body, the message as received). Runs until stdin closes.

Usage: smtp_sink.py PORT CERT_PEM KEY_PEM OUT_DIR
"""

import email
import email.policy
import json
import pathlib
import ssl
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out):
        self.out = out
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        message = email.message_from_bytes(
            envelope.original_content, policy=email.policy.default
        )
        record = {
            "subject": str(message["subject"]),
            "body": message.get_content(),
            "tls": session.ssl is not None,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "content": envelope.original_content.decode("utf-8", "replace"),
        }
        partial = self.out / f"{self.count}.part"
        partial.write_text(json.dumps(record))
        partial.rename(self.out / f"{self.count}.json")
        return "250 Message accepted"


def main():
    port, cert, key, out = sys.argv[1:5]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controller = Controller(
        Sink(pathlib.Path(out)),
        hostname="127.0.0.1",
        port=int(port),
        tls_context=context,
        require_starttls=True,
    )
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
