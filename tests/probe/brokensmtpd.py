#!/usr/bin/python3
"""A small SMTP server with switchable bugs, for testing sessguard-probe.

Without switches it behaves: AUTH PLAIN/LOGIN for one user, relaying only
for an authenticated session, STARTTLS that discards what came before, 503
for commands out of sequence, 500 for unknown commands and for lines over
512 bytes. Each --bug switch breaks one rule, the way real servers have:

  rset-forgets-auth         RSET outside a transaction drops the login (the
                            Nokia E61i sequence EHLO, AUTH, RSET, MAIL, RCPT)
  transaction-forgets-auth  the RSET that ends a transaction drops the login
  ehlo-forgets-auth         a second EHLO drops the login
  starttls-injection        commands pipelined behind STARTTLS in plain text
                            run inside TLS (CVE-2011-0411)
  trusts-auth-param         MAIL FROM:<..> AUTH=<..> from a client that never
                            logged in lets it relay
  open-relay                relays for anyone
  second-auth               a second AUTH is accepted
  long-line-crash           a line over 512 bytes kills the session process
  tls-keeps-ehlo            the EHLO from before STARTTLS still counts in TLS
  sequence                  RCPT without MAIL and a nested MAIL are accepted
  unknown-250               unknown commands get 250

--implicit-tls speaks TLS from the first byte, --mechs LOGIN offers only
LOGIN. Listens on 127.0.0.1 only, on a free port that it writes to
--port-file once it listens. Every command it receives is appended to
--log (the test checks that no DATA ever arrives). Never delivers: DATA
gets 554. Each connection is served by a forked child, so a "crash" is
the death of that child, as in a forking MTA.

Usage: brokensmtpd.py --cert C --key K --user U --password P --port-file F
                      [--log L] [--bug NAME ...] [--implicit-tls] [--mechs M]
"""

import argparse
import base64
import os
import socket
import socketserver
import ssl
import sys

LOCAL_DOMAIN = "example.org"
LINE_MAX = 512          # RFC 5321 4.5.3.1.4, CRLF included
READ_MAX = 8192         # a longer line is cut off: no unbounded buffer
BUGS = ("rset-forgets-auth", "transaction-forgets-auth", "ehlo-forgets-auth",
        "starttls-injection", "trusts-auth-param", "open-relay", "second-auth",
        "long-line-crash", "tls-keeps-ehlo", "sequence", "unknown-250")


class Session:
    def __init__(self, sock, opts, tls_ctx):
        self.sock = sock
        self.opts = opts
        self.bugs = set(opts.bug or ())
        self.tls_ctx = tls_ctx
        self.buf = b""
        self.tls = False
        self.helo = False
        self.auth = None          # user name once logged in
        self.mail = None          # sender of the open transaction
        self.mail_auth_param = False
        self.rcpts = []

    # ---------------------------------------------------------------- I/O
    def reply(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > READ_MAX:
                line, self.buf = self.buf, b""
                return line
            data = self.sock.recv(4096)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def log(self, line):
        if self.opts.log:
            with open(self.opts.log, "ab") as f:
                f.write(line.rstrip(b"\r\n") + b"\n")

    # ----------------------------------------------------------- commands
    def run(self):
        if self.opts.implicit_tls:
            self.start_tls()
        self.reply("220 brokensmtpd ESMTP")
        while True:
            line = self.readline()
            if line is None:
                return
            self.log(line)
            if len(line) > LINE_MAX:
                if "long-line-crash" in self.bugs:
                    os._exit(134)       # the session process dies
                self.reply("500 5.5.2 Line too long")
                continue
            text = line.decode("latin-1").rstrip("\r\n")
            verb, _, arg = text.partition(" ")
            handler = getattr(self, "cmd_" + verb.lower(), None)
            if handler is None or not verb.isalpha():
                if "unknown-250" in self.bugs:
                    self.reply("250 2.0.0 Ok")
                else:
                    self.reply("500 5.5.2 Command not recognized")
                continue
            if handler(arg) == "quit":
                return

    def reset_transaction(self):
        self.mail = None
        self.mail_auth_param = False
        self.rcpts = []

    def cmd_ehlo(self, arg):
        if not arg:
            return self.reply("501 5.5.4 Syntax: EHLO hostname")
        self.reset_transaction()
        if "ehlo-forgets-auth" in self.bugs:
            self.auth = None
        self.helo = True
        lines = ["brokensmtpd", "PIPELINING", "AUTH " + self.opts.mechs]
        if not self.tls and self.tls_ctx is not None:
            lines.append("STARTTLS")
        lines.append("8BITMIME")
        self.reply("\r\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", l)
                               for i, l in enumerate(lines)))

    def cmd_helo(self, arg):
        self.reset_transaction()
        self.helo = True
        self.reply("250 brokensmtpd")

    def start_tls(self):
        self.sock = self.tls_ctx.wrap_socket(self.sock, server_side=True)
        self.tls = True

    def cmd_starttls(self, arg):
        if self.tls or self.tls_ctx is None:
            return self.reply("503 5.5.1 TLS already active")
        self.reply("220 2.0.0 Ready to start TLS")
        pipelined = self.buf
        self.buf = b""
        self.start_tls()
        if "starttls-injection" in self.bugs:
            self.buf = pipelined      # CVE-2011-0411: plain text runs in TLS
        self.reset_transaction()
        if "tls-keeps-ehlo" not in self.bugs:
            self.helo = False
        self.auth = None

    def cmd_auth(self, arg):
        if not self.helo:
            return self.reply("503 5.5.1 EHLO first")
        if self.auth is not None and "second-auth" not in self.bugs:
            return self.reply("503 5.5.1 Already authenticated")
        if self.mail is not None:
            return self.reply("503 5.5.1 AUTH not allowed in a transaction")
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        if mech not in self.opts.mechs.split():
            return self.reply("504 5.5.4 Unrecognized authentication type")
        try:
            if mech == "PLAIN":
                if not initial:
                    self.reply("334 ")
                    initial = self.auth_line()
                _, user, password = base64.b64decode(initial, validate=True).split(b"\0")
            else:
                self.reply("334 VXNlcm5hbWU6")
                user = base64.b64decode(self.auth_line(), validate=True)
                self.reply("334 UGFzc3dvcmQ6")
                password = base64.b64decode(self.auth_line(), validate=True)
        except (ValueError, TypeError):
            return self.reply("501 5.5.2 Cannot decode response")
        except EOFError:
            return "quit"
        if user.decode() == self.opts.user and password.decode() == self.opts.password:
            self.auth = user.decode()
            return self.reply("235 2.7.0 Authentication successful")
        return self.reply("535 5.7.8 Authentication credentials invalid")

    def auth_line(self):
        line = self.readline()
        if line is None:
            raise EOFError
        self.log(b"<auth response>")
        line = line.strip()
        if line == b"*":
            raise ValueError("cancelled")
        return line

    def cmd_mail(self, arg):
        if not self.helo:
            return self.reply("503 5.5.1 Error: send HELO/EHLO first")
        if self.mail is not None and "sequence" not in self.bugs:
            return self.reply("503 5.5.1 Error: nested MAIL command")
        if not arg.upper().startswith("FROM:<") or ">" not in arg:
            return self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
        sender, _, params = arg[6:].partition(">")
        self.reset_transaction()
        self.mail = sender
        for p in params.split():
            if p.upper().startswith("AUTH=") and "trusts-auth-param" in self.bugs:
                self.mail_auth_param = True
        self.reply("250 2.1.0 Ok")

    def cmd_rcpt(self, arg):
        if self.mail is None and "sequence" not in self.bugs:
            return self.reply("503 5.5.1 Error: need MAIL command")
        if not arg.upper().startswith("TO:<") or ">" not in arg:
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
        rcpt = arg[4:].partition(">")[0]
        domain = rcpt.rpartition("@")[2].lower() if "@" in rcpt else LOCAL_DOMAIN
        if domain != LOCAL_DOMAIN and not (self.auth or self.mail_auth_param
                                            or "open-relay" in self.bugs):
            return self.reply("554 5.7.1 <%s>: Relay access denied" % rcpt)
        self.rcpts.append(rcpt)
        self.reply("250 2.1.5 Ok")

    def cmd_rset(self, arg):
        in_transaction = self.mail is not None
        self.reset_transaction()
        if in_transaction and "transaction-forgets-auth" in self.bugs:
            self.auth = None
        if not in_transaction and "rset-forgets-auth" in self.bugs:
            self.auth = None
        self.reply("250 2.0.0 Ok")

    def cmd_noop(self, arg):
        self.reply("250 2.0.0 Ok")

    def cmd_data(self, arg):
        self.reply("554 5.5.1 This server delivers nothing")

    def cmd_quit(self, arg):
        self.reply("221 2.0.0 Bye")
        return "quit"


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(30)
        try:
            Session(self.request, self.server.opts, self.server.tls_ctx).run()
        except (OSError, ssl.SSLError):
            pass


class Server(socketserver.ForkingMixIn, socketserver.TCPServer):
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--user", default="alice")
    ap.add_argument("--password", default="alice-secret")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    ap.add_argument("--bug", action="append", choices=BUGS)
    ap.add_argument("--implicit-tls", action="store_true")
    ap.add_argument("--mechs", default="PLAIN LOGIN")
    opts = ap.parse_args()
    tls_ctx = None
    if opts.cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(opts.cert, opts.key)
    server = Server(("127.0.0.1", 0), Handler)
    server.opts = opts
    server.tls_ctx = tls_ctx
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, opts.port_file)      # the test sees the whole port or nothing
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
