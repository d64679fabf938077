-- mode = monitor: a refused relay RCPT is accepted and logged would_reject.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<someone@remote.test>")
rcpt(conn, "<victim@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<bob@example.org>", SMFIR_CONTINUE)
mt.disconnect(conn)
