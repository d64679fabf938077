-- sender_login_check = strict (Postfix's reject_sender_login_mismatch):
-- both rules: a login only its own addresses, a listed address only for its
-- owners. After a refused MAIL the client may try again with another
-- sender in the same connection.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
mail_want(conn, SMFIR_REPLYCODE, "<free@remote.test>", "alice")
mail_want(conn, SMFIR_CONTINUE, "<alice@example.org>", "alice")
rcpt(conn, "<someone@remote.test>", SMFIR_CONTINUE)
mt.disconnect(conn)
try_sender("192.0.2.10", nil, "<alice@example.org>", SMFIR_REPLYCODE)
try_sender("192.0.2.10", nil, "<free@remote.test>", SMFIR_CONTINUE)
try_sender("192.0.2.10", "carol", "<w@example.net>", SMFIR_CONTINUE)
try_sender("192.0.2.10", "carol", "<>", SMFIR_CONTINUE)
