-- S1: what the client merely claims never authenticates: neither the
-- AUTH= parameter of MAIL FROM nor {auth_author}, which both MTAs pass on.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
-- {auth_author} alone, as Postfix and Sendmail send it
mail(conn, "<a@example.org>", nil, nil, "<victim@example.org>")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
ok(mt.abort(conn), "abort")
-- the AUTH= ESMTP parameter itself
mail(conn, "<a@example.org>", nil, nil, nil, "AUTH=<victim@example.org>")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
ok(mt.abort(conn), "abort")
-- an empty {auth_authen} is no login either
ok(mt.macro(conn, SMFIC_MAIL, "{auth_authen}", "", "{auth_type}", "PLAIN",
    "{auth_author}", "victim@example.org"), "macro")
ok(mt.mailfrom(conn, "<a@example.org>"), "mailfrom")
expect(conn, SMFIR_CONTINUE, "mail")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)

-- an authenticated client may send AUTH=: not an anomaly
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN", "<alice@example.org>")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
mt.disconnect(conn)
