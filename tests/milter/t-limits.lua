-- Rate limits with limit_store = memory (SPEC section 8), limit_action
-- tempfail: a login over limit_login_recipients gets 4xx (limit_reply) at
-- the first relay recipient past the limit, with the limit object in the
-- log and the anomaly limit_exceeded once; local recipients are not
-- counted; the count holds across connections. limit_exempt exempts a
-- login and a network; limit_client_recipients counts a trusted client.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<r1@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<local@example.org>", SMFIR_CONTINUE)
rcpt(conn, "<r2@remote.test>", SMFIR_CONTINUE)
mt.disconnect(conn)

conn = reconnect()
session(conn, "192.0.2.11", "client.example.net")
mail(conn, "<alice@example.org>", "Alice", "PLAIN")
rcpt(conn, "<r3@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<r4@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<r5@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<local2@example.org>", SMFIR_CONTINUE)
mt.disconnect(conn)

-- limit_exempt: a login, and a network
conn = reconnect()
session(conn, "192.0.2.12", "client.example.net")
mail(conn, "<boss@example.org>", "boss", "PLAIN")
for i = 1, 5 do
	rcpt(conn, "<b" .. i .. "@remote.test>", SMFIR_CONTINUE)
end
mt.disconnect(conn)
conn = reconnect()
session(conn, "10.9.1.1", "webmail.example.net")
mail(conn, "<w@example.org>")
for i = 1, 4 do
	rcpt(conn, "<w" .. i .. "@remote.test>", SMFIR_CONTINUE)
end
mt.disconnect(conn)

-- a trusted client that is not exempt: limit_client_recipients
conn = reconnect()
session(conn, "10.8.0.1", "app.example.net")
mail(conn, "<app@example.org>")
rcpt(conn, "<a1@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<a2@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<a3@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)
