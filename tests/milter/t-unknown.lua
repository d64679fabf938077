-- Unknown commands and hostile values: logged verbatim, escaped and bounded;
-- the anomaly auth_changed; the daemon survives. (miltertest sends a HELO
-- of its own before MAIL, so mail_without_helo is tested in the unit tests
-- and end to end.)
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", nil)
ok(mt.unknown(conn, "A128 AUTH xxxx xxxx"), "unknown")
expect(conn, SMFIR_CONTINUE, "unknown")
ok(mt.unknown(conn, "X\"q\\b\t\1\255\254end"), "unknown")
expect(conn, SMFIR_CONTINUE, "unknown")
ok(mt.unknown(conn, string.rep("Z", 900)), "unknown")
expect(conn, SMFIR_CONTINUE, "unknown")
ok(mt.helo(conn, "odd.example.net"), "helo")
expect(conn, SMFIR_CONTINUE, "helo")
-- a sender full of control characters
mail(conn, "<a\1b\"c\\d\255@example.org>", "alice", "PLAIN")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
-- the MTA reports another login in the same TLS epoch: newest wins
mail(conn, "<b@example.org>", "bob", "LOGIN")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
ok(mt.helo(conn, string.rep("h", 900)), "helo")
expect(conn, SMFIR_CONTINUE, "long helo")
rcpt(conn, string.rep("r", 900) .. "@remote.test", SMFIR_CONTINUE)
mt.disconnect(conn)
