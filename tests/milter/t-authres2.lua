-- auth_results = yes against forged Authentication-Results (issue 10 items
-- 1 and 4, RFC 8601 sections 2.2 and 5): a claim on our authserv-id is
-- deleted whatever its form (folded before ";", a quoted-string, comments,
-- a version, no ";" at all) and however many there are; the identity we
-- add is the exact login, or there is no header and an anomaly.
dofile(LIB)

-- One message: MAIL (login user or none), headers hs, end of message.
function message(conn, user, hs)
	mail(conn, "<a@example.org>", user, user and "PLAIN" or nil)
	rcpt(conn, "<b@example.org>", SMFIR_CONTINUE)
	ok(mt.data(conn), "data")
	expect(conn, SMFIR_CONTINUE, "data")
	for _, h in ipairs(hs) do
		ok(mt.header(conn, h[1], h[2]), "header")
		expect(conn, SMFIR_CONTINUE, "header " .. h[1])
	end
	ok(mt.eoh(conn), "eoh")
	expect(conn, SMFIR_CONTINUE, "eoh")
-- no body: sessguard negotiates SMFIP_NOBODY
	ok(mt.eom(conn), "eom")
	expect(conn, SMFIR_CONTINUE, "eom")
end

function deleted(conn)
	return mt.eom_check(conn, MT_HDRCHANGE, "Authentication-Results", "") or
	    mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results")
end

function added(conn)
	return mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results") or
	    mt.eom_check(conn, MT_HDRADD, "Authentication-Results")
end

-- 1. folded between the id and ";": deleted
conn = start()
session(conn, "192.0.2.10", "client.example.net")
message(conn, nil, {{"Authentication-Results",
    "mx.example.org\r\n ; auth=pass smtp.auth=ceo@example.org"}})
if not deleted(conn) then fail("folded Authentication-Results kept") end
mt.disconnect(conn)

-- 2. the id as a quoted-string: deleted
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
message(conn, nil, {{"Authentication-Results",
    "\"mx.example.org\"; auth=pass smtp.auth=ceo@example.org"}})
if not deleted(conn) then fail("quoted-string Authentication-Results kept") end
mt.disconnect(conn)

-- 3. only the id, no ";" at all, behind a comment: deleted
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
message(conn, nil, {{"Authentication-Results", "(x (y)) MX.example.org"}})
if not deleted(conn) then fail("bare authserv-id kept") end
mt.disconnect(conn)

-- 4. twenty claims in all forms between others: all deleted (the log's
-- ar_deleted counts them), ours added for alice
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
local forms = {
	"mx.example.org; auth=pass smtp.auth=ceo@example.org",
	"mx.example.org\r\n ; auth=pass",
	"\"mx.example.org\"; auth=pass",
	"(forged) mx.example.org 1; auth=pass",
	"mx.example.org; none",
}
local hs = {}
for i = 1, 20 do
	table.insert(hs, {"Authentication-Results", forms[(i - 1) % #forms + 1]})
	table.insert(hs, {"Authentication-Results", "other.example.net; spf=pass"})
end
message(conn, "alice", hs)
if not deleted(conn) then fail("claims not deleted") end
if not mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results",
    "mx.example.org; auth=pass smtp.auth=alice") then
	fail("no Authentication-Results added for alice")
end
mt.disconnect(conn)

-- 5. a login with a control character: no header, an anomaly
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
message(conn, "ceo\001@example.org", {})
if added(conn) then fail("header added for a login with a control character") end
mt.disconnect(conn)

-- 6. a login longer than the session keeps: no header, an anomaly
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
message(conn, string.rep("a", 300) .. "@example.org", {})
if added(conn) then fail("header added for a cut login") end
mt.disconnect(conn)

-- 7. a UTF-8 login: named exactly, as a quoted-string
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
message(conn, "j\195\184rn \"q\"", {})
if not mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results",
    "mx.example.org; auth=pass smtp.auth=\"j\195\184rn \\\"q\\\"\"") then
	fail("UTF-8 login not named exactly")
end
mt.disconnect(conn)

-- 8. more claims than sessguard records (10000): the message is refused
-- with tempfail and a reply, never delivered
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<a@example.org>", "alice", "PLAIN")
rcpt(conn, "<b@example.org>", SMFIR_CONTINUE)
ok(mt.data(conn), "data")
expect(conn, SMFIR_CONTINUE, "data")
for i = 1, 10001 do
	ok(mt.header(conn, "Authentication-Results", "mx.example.org; none"),
	    "header")
	expect(conn, SMFIR_CONTINUE, "header")
end
ok(mt.eoh(conn), "eoh")
expect(conn, SMFIR_CONTINUE, "eoh")
ok(mt.eom(conn), "eom")
-- SMFIR_REPLYCODE: a tempfail with our 451 4.3.0 reply (SMFIS_TEMPFAIL
-- without smfi_setreply would be SMFIR_TEMPFAIL)
expect(conn, SMFIR_REPLYCODE, "eom past the limit")
if deleted(conn) or added(conn) then
	fail("headers changed in a refused message")
end
mt.disconnect(conn)
