-- sender_login_check = known (Postfix's reject_known_sender_login_mismatch):
-- a listed address only for one of its owners, and not without a login;
-- unlisted addresses for anyone. The default sender_reply names the login.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
mail_want(conn, SMFIR_REPLYCODE, "<alice@example.org>", nil)
mt.disconnect(conn)
try_sender("192.0.2.10", nil, "<free@remote.test>", SMFIR_CONTINUE)
try_sender("192.0.2.10", "alice", "<free@remote.test>", SMFIR_CONTINUE)
try_sender("192.0.2.10", "bob", "<alice@example.org>", SMFIR_REPLYCODE)
try_sender("192.0.2.10", "bob", "<shared+x@example.org>", SMFIR_CONTINUE)
try_sender("192.0.2.10", "carol", "<z@example.net>", SMFIR_CONTINUE)
try_sender("192.0.2.10", "alice", "<z@example.net>", SMFIR_REPLYCODE)
try_sender("192.0.2.10", nil, "<>", SMFIR_CONTINUE)
