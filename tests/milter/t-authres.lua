-- auth_results = yes (SPEC 2, RFC 8601): an authenticated session's message
-- gets "Authentication-Results: <authserv_id>; auth=pass smtp.auth=<login>";
-- incoming ones claiming our authserv-id are deleted, others kept.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
ok(mt.data(conn), "data")
expect(conn, SMFIR_CONTINUE, "data")
for _, h in ipairs({
    {"Authentication-Results", "other.example.net; spf=pass"},
    {"Authentication-Results", "mx.example.org; auth=pass smtp.auth=mallory"},
    {"Subject", "hi"},
    {"authentication-results", " (forged) MX.Example.Org ; dkim=pass"}}) do
	ok(mt.header(conn, h[1], h[2]), "header")
	expect(conn, SMFIR_CONTINUE, "header " .. h[1])
end
ok(mt.eoh(conn), "eoh")
expect(conn, SMFIR_CONTINUE, "eoh")
-- no body: sessguard negotiates SMFIP_NOBODY
ok(mt.eom(conn), "eom")
expect(conn, SMFIR_CONTINUE, "eom")
if not mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results",
    "mx.example.org; auth=pass smtp.auth=alice") then
	fail("no Authentication-Results added")
end
if not mt.eom_check(conn, MT_HDRCHANGE, "Authentication-Results", "") and
   not mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results") then
	fail("forged Authentication-Results not deleted")
end
mt.disconnect(conn)

-- not authenticated: nothing added, forged one still deleted
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<a@example.org>")
rcpt(conn, "<b@example.org>", SMFIR_CONTINUE)
ok(mt.header(conn, "Authentication-Results", "mx.example.org; auth=pass smtp.auth=x"), "header")
expect(conn, SMFIR_CONTINUE, "header")
ok(mt.eom(conn), "eom")
expect(conn, SMFIR_CONTINUE, "eom")
if mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results") or
   mt.eom_check(conn, MT_HDRADD, "Authentication-Results") then
	fail("Authentication-Results added for an unauthenticated session")
end
if not mt.eom_check(conn, MT_HDRCHANGE, "Authentication-Results", "") and
   not mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results") then
	fail("forged Authentication-Results not deleted (unauthenticated)")
end
mt.disconnect(conn)
