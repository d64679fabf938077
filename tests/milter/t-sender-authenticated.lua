-- sender_login_check = authenticated (SPEC section 8, Postfix's
-- reject_authenticated_sender_login_mismatch): an authenticated login may
-- use only addresses it owns, +extensions of them, and the domains of its
-- catch-alls; unlisted addresses are refused; a session that has not
-- authenticated may use anything; <> is exempt. The refusal comes at MAIL
-- (so MAIL is not negotiated away) with sender_reply.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
mail_want(conn, SMFIR_CONTINUE, "<alice@example.org>", "alice")
mt.disconnect(conn)
try_sender("192.0.2.10", "ALICE", "<Alice+Tag@Example.ORG>", SMFIR_CONTINUE)
try_sender("192.0.2.10", "bob", "<shared@example.org>", SMFIR_CONTINUE)
try_sender("192.0.2.10", "bob", "<alice@example.org>", SMFIR_REPLYCODE)
try_sender("192.0.2.10", "alice", "<nobody@remote.test>", SMFIR_REPLYCODE)
try_sender("192.0.2.10", "dave", "<anyone@example.net>", SMFIR_CONTINUE)
try_sender("192.0.2.10", "alice", "<x@example.net>", SMFIR_REPLYCODE)
try_sender("192.0.2.10", "dave", "<bob+special@example.org>", SMFIR_CONTINUE)
try_sender("192.0.2.10", "bob", "<bob+special@example.org>", SMFIR_REPLYCODE)
try_sender("192.0.2.10", "bob", "<>", SMFIR_CONTINUE)
try_sender("192.0.2.10", nil, "<alice@example.org>", SMFIR_CONTINUE)
