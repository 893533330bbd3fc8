"""An SMTP server for bench/monitor.sh: appends `UNIX_SECONDS SUBJECT` per message to a file.

Usage: smtp_sink.py PORT OUT_FILE   (prints `ready` on stdout once listening)
"""

import sys
import time
from email import message_from_bytes

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        subject = message_from_bytes(envelope.content).get("Subject", "")
        with open(self.out, "a") as f:
            f.write(f"{time.time():.3f} {subject}\n")
        return "250 OK"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(out), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
