-- S2: authentication survives RSET (abort) and completed transactions, even
-- when the MTA stops sending the auth macros (the Nokia E61i session).
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "nokia.example.net")

-- first transaction: the MTA reports the login
mail(conn, "<alice@example.org>", "alice", "LOGIN")
rcpt(conn, "<friend@remote.test>", SMFIR_CONTINUE)
ok(mt.abort(conn), "abort")

-- after RSET the MTA sends no auth macros: the login is carried
mail(conn, "<alice@example.org>", nil, nil, nil, "SIZE=13")
rcpt(conn, "<friend@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<other@elsewhere.test>", SMFIR_CONTINUE)
ok(mt.data(conn), "data")
expect(conn, SMFIR_CONTINUE, "data")
-- no headers, no body: negotiated away (auth_results = no)
ok(mt.macro(conn, SMFIC_BODYEOB, "i", "4ABC123"), "macro")
ok(mt.eom(conn), "eom")
expect(conn, SMFIR_CONTINUE, "eom")

-- a third transaction after a completed one, and a repeated EHLO
ok(mt.helo(conn, "nokia.example.net"), "helo")
expect(conn, SMFIR_CONTINUE, "second helo")
mail(conn, "<alice@example.org>")
rcpt(conn, "<third@remote.test>", SMFIR_CONTINUE)
ok(mt.abort(conn), "abort")
mt.disconnect(conn)

-- a separate connection never inherits that login
conn = reconnect()
session(conn, "192.0.2.11", "other.example.net")
mail(conn, "<mallory@example.org>")
rcpt(conn, "<friend@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)
