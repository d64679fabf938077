-- S3: a TLS boundary (TLS macros at a HELO after plaintext) discards the
-- login and the HELO name; the refusal names STARTTLS.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "plain.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
ok(mt.abort(conn), "abort")
-- STARTTLS itself reaches no milter; the EHLO after it carries TLS macros
helo_tls(conn, "tls.example.net")
mail(conn, "<alice@example.org>")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<bob@example.org>", SMFIR_CONTINUE)
ok(mt.abort(conn), "abort")
-- logging in again inside TLS works
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
mt.disconnect(conn)

-- AUTH never reported before STARTTLS: the refusal still names it
conn = reconnect()
session(conn, "192.0.2.10", "plain.example.net")
helo_tls(conn, "tls.example.net")
mail(conn, "<alice@example.org>")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)

-- TLS from the first HELO (smtps): no boundary, plain refusal
conn = reconnect()
session(conn, "192.0.2.10", nil)
helo_tls(conn, "tls.example.net")
mail(conn, "<a@example.org>")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)
