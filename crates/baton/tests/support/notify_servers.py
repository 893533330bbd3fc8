#!/usr/bin/env python3
"""Receivers for the notification tests (crates/baton/tests/notify.rs), on 127.0.0.1.

  smtp DIR [--starttls CERT KEY | --tls CERT KEY] [--auth USER:PASSWORD] [--reject-data REPLY]
      aiosmtpd (--tls: TLS from the first byte, as on port 465); each accepted message is written to DIR/NNN.eml (with X-Test-Auth-User when the
      client authenticated). --reject-data answers DATA with REPLY (e.g. "554 5.7.1 no thanks").
  silent
      accepts TCP connections and never says a word (an SMTP server that times out).
  webhook DIR [--status CODE] [--fail-first N]
      an HTTP server; each POST is written to DIR/NNN.json ({path, headers, body}) and answered
      with CODE (default 200); the first N are answered 503 whatever CODE says.

Each prints "READY PORT" on stdout once it accepts connections, then serves until killed.
Files appear whole (written aside, then renamed), so a test may read any file it sees.
"""

import argparse
import asyncio
import json
import os
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def write_whole(directory, suffix, data):
    names = [n for n in os.listdir(directory) if n.endswith(suffix)]
    path = os.path.join(directory, "%03d%s" % (len(names) + 1, suffix))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def ready(port):
    print("READY %d" % port, flush=True)


def smtp(args):
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            if args.reject_data:
                return args.reject_data
            header = ""
            user = getattr(session, "baton_test_user", None)
            if session.authenticated and user:
                header = "X-Test-Auth-User: %s\r\n" % user
            header += "X-Test-Rcpt: %s\r\n" % ",".join(envelope.rcpt_tos)
            with lock:
                write_whole(args.dir, ".eml", header.encode() + envelope.original_content)
            return "250 2.0.0 OK: queued by the test server"

    authenticator = None
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            if ok:
                session.baton_test_user = user
            # handled=False: aiosmtpd answers the failure itself (535).
            return AuthResult(success=ok, handled=False)

    tls = None
    if args.starttls:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.starttls[0], args.starttls[1])
    wrapped = None
    if args.tls:
        wrapped = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        wrapped.load_cert_chain(args.tls[0], args.tls[1])

    def factory():
        return SMTP(
            Handler(),
            hostname="baton-test",
            tls_context=tls,
            require_starttls=tls is not None,
            authenticator=authenticator,
            auth_required=authenticator is not None,
            auth_require_tls=tls is not None,
        )

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=wrapped)
        ready(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def silent(_args):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    ready(listener.getsockname()[1])
    held = []
    while True:
        conn, _ = listener.accept()
        held.append(conn)


def webhook(args):
    lock = threading.Lock()
    seen = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            record = {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
            # Recorded before the answer: once baton knows it was sent, the file is there.
            with lock:
                seen[0] += 1
                status = 503 if seen[0] <= args.fail_first else args.status
                write_whole(args.dir, ".json", json.dumps(record).encode())
            reply = b"ok" if status < 400 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ready(server.server_address[1])
    server.serve_forever()


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="kind", required=True)
    s = sub.add_parser("smtp")
    s.add_argument("dir")
    s.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    s.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    s.add_argument("--auth")
    s.add_argument("--reject-data")
    sub.add_parser("silent")
    w = sub.add_parser("webhook")
    w.add_argument("dir")
    w.add_argument("--status", type=int, default=200)
    w.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    {"smtp": smtp, "silent": silent, "webhook": webhook}[args.kind](args)


if __name__ == "__main__":
    sys.exit(main())
