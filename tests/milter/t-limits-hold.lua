-- limit_action = hold: a login over its limit is accepted, and the message
-- is quarantined at end of message (SMFIR_QUARANTINE: Postfix's hold
-- queue, Sendmail's quarantine); the message within the limit is not.
-- limit_login_messages counts transactions, not recipients.
dofile(LIB)
conn = start()
if not mt.test_action(conn, SMFIF_QUARANTINE) then
	fail("quarantine not asked at negotiation")
end
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<r1@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<r2@remote.test>", SMFIR_CONTINUE)
ok(mt.data(conn), "data")
ok(mt.eom(conn), "eom")
expect(conn, SMFIR_CONTINUE, "eom")
if mt.eom_check(conn, MT_QUARANTINE) then
	fail("a message within the limit was quarantined")
end

mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<local@example.org>", SMFIR_CONTINUE)
rcpt(conn, "<r3@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<r4@remote.test>", SMFIR_CONTINUE)
ok(mt.data(conn), "data")
ok(mt.eom(conn), "eom")
expect(conn, SMFIR_CONTINUE, "eom")
if not mt.eom_check(conn, MT_QUARANTINE) then
	fail("the message over the limit was not quarantined")
end
mt.disconnect(conn)
