-- S3 when the client sends no EHLO after STARTTLS (Postfix allows it): the
-- boundary is the first MAIL or RCPT whose TLS macros are set, and a macro
-- that libmilter kept from an earlier event is never taken for a fresh
-- report (issue 10 item 2).
dofile(LIB)

TLS = { "{tls_version}", "TLSv1.3", "{cipher}", "TLS_AES_256_GCM_SHA384",
    "{cipher_bits}", "256" }

-- 1. What Postfix sends: the MAIL after STARTTLS carries the TLS macros
--    and no login (Postfix reset SASL at STARTTLS).
conn = start()
session(conn, "192.0.2.10", "plain.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
ok(mt.abort(conn), "abort")
-- STARTTLS: no callback, and no EHLO after it
ok(mt.macro(conn, SMFIC_MAIL, table.unpack(TLS)), "macro")
ok(mt.mailfrom(conn, "<alice@example.org>"), "mailfrom")
expect(conn, SMFIR_CONTINUE, "mail after STARTTLS")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<bob@example.org>", SMFIR_CONTINUE)
mt.disconnect(conn)

-- 2. The MTA sends no macros with a MAIL: libmilter still holds the
--    previous MAIL's login. That is no report: the login is carried (S2),
--    not reported afresh by the MTA.
conn = reconnect()
session(conn, "192.0.2.10", "plain.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
ok(mt.abort(conn), "abort")
ok(mt.mailfrom(conn, "<alice@example.org>"), "mailfrom")
expect(conn, SMFIR_CONTINUE, "mail without macros")
-- ... and the TLS macros first come with a RCPT: that is the boundary
ok(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "smtp", table.unpack(TLS)),
    "macro")
ok(mt.rcptto(conn, "<x@remote.test>"), "rcptto")
expect(conn, SMFIR_REPLYCODE, "rcpt after STARTTLS")
mt.disconnect(conn)

-- 3. A login the MTA reported at a plaintext EHLO is still in libmilter's
--    HELO set after STARTTLS; a MAIL without a login must not inherit it.
conn = reconnect()
session(conn, "192.0.2.10", "plain.example.net")
ok(mt.macro(conn, SMFIC_HELO, "{auth_authen}", "alice", "{auth_type}",
    "PLAIN"), "macro")
ok(mt.helo(conn, "plain.example.net"), "helo")
expect(conn, SMFIR_CONTINUE, "second EHLO after AUTH")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
ok(mt.abort(conn), "abort")
ok(mt.macro(conn, SMFIC_MAIL, table.unpack(TLS)), "macro")
ok(mt.mailfrom(conn, "<alice@example.org>"), "mailfrom")
expect(conn, SMFIR_CONTINUE, "mail after STARTTLS")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)
