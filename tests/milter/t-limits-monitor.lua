-- limit_action = monitor: a login over its limit is accepted; the rcpt
-- line says so, with the limit object, and limit_exceeded is logged.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<r1@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<r2@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<r3@remote.test>", SMFIR_CONTINUE)
mt.disconnect(conn)
