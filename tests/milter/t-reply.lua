-- relay_reply sets code, enhanced code and text (%r: the reason);
-- trusted_networks pass IPv4 and IPv6 clients; .example.com matches
-- subdomains.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<someone@remote.test>")
rcpt(conn, "<victim@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<u@mx.sub.example.com>", SMFIR_CONTINUE)
rcpt(conn, "<u@example.com>", SMFIR_CONTINUE)
rcpt(conn, "<u@notexample.com>", SMFIR_REPLYCODE)
mt.disconnect(conn)

conn = reconnect()
session(conn, "10.1.2.3", "webmail.example.net")
mail(conn, "<someone@example.org>")
rcpt(conn, "<victim@remote.test>", SMFIR_CONTINUE)
mt.disconnect(conn)

conn = reconnect()
session(conn, "2001:db8::25", "v6.example.net")
mail(conn, "<someone@example.org>")
rcpt(conn, "<victim@remote.test>", SMFIR_CONTINUE)
mt.disconnect(conn)

conn = reconnect()
session(conn, "2001:db9::25", "v6.example.net")
mail(conn, "<someone@example.org>")
rcpt(conn, "<victim@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)
