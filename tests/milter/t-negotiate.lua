-- xxfi_negotiate asks for the minimum (issue 12): no body, no headers and
-- no end of headers (auth_results = no here), no reply for connect, HELO,
-- MAIL (no check refuses there), DATA and unknown commands; RCPT keeps its
-- reply, and SMFIP_RCPT_REJ is asked. Every stage is still logged; a stage
-- without reply gives the script nothing to wait on, so it waits for the
-- log. A reload that turns auth_results on applies to connections
-- negotiated after it; the connection negotiated before edits no header.
dofile(LIB)
conn = start()
local want = {SMFIP_RCPT_REJ, SMFIP_NOBODY, SMFIP_NOHDRS, SMFIP_NOEOH,
    SMFIP_NR_CONN, SMFIP_NR_HELO, SMFIP_NR_MAIL, SMFIP_NR_DATA,
    SMFIP_NR_UNKN}
local never = {SMFIP_NOCONNECT, SMFIP_NOHELO, SMFIP_NOMAIL, SMFIP_NORCPT,
    SMFIP_NOUNKNOWN, SMFIP_NODATA, SMFIP_NR_RCPT, SMFIP_NR_BODY}
for _, f in ipairs(want) do
	if not mt.test_option(conn, f) then
		fail("option not requested: " .. tostring(f))
	end
end
for _, f in ipairs(never) do
	if mt.test_option(conn, f) then
		fail("option requested: " .. tostring(f))
	end
end
if mt.test_action(conn, SMFIF_ADDHDRS) or mt.test_action(conn, SMFIF_CHGHDRS) then
	fail("header actions asked without auth_results")
end
session(conn, "192.0.2.10", "client.example.net")
ok(mt.unknown(conn, "BOGUS"), "unknown")
mail(conn, "<a@example.org>", nil, nil, nil, "SIZE=4321")
rcpt(conn, "<a@example.org>", SMFIR_CONTINUE)
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
ok(mt.data(conn), "data")
ok(mt.macro(conn, SMFIC_BODYEOB, "i", "Q1"), "macro")
ok(mt.eom(conn), "eom")
expect(conn, SMFIR_CONTINUE, "eom")

-- the MTA's own size at end of message wins over SIZE=
mail(conn, "<a@example.org>", nil, nil, nil, "SIZE=10")
rcpt(conn, "<b@example.org>", SMFIR_CONTINUE)
ok(mt.data(conn), "data")
ok(mt.macro(conn, SMFIC_BODYEOB, "i", "Q2", "{msg_size}", "2345"), "macro")
ok(mt.eom(conn), "eom")
expect(conn, SMFIR_CONTINUE, "eom")

-- reload with auth_results = yes: a new connection asks for headers ...
local f = io.open(CONF, "a")
f:write("auth_results = yes\nauthserv_id = mx.example.org\n")
f:close()
local pf = io.open(DIR .. "/sessguard.pid", "r")
local pid = pf:read("l")
pf:close()
os.execute("kill -USR1 " .. pid)
local hdrs = false
for _ = 1, 400 do
	local c2 = reconnect()
	ok(mt.negotiate(c2, nil, nil, nil), "negotiate")
	hdrs = not mt.test_option(c2, SMFIP_NOHDRS)
	mt.disconnect(c2)
	if hdrs then
		break
	end
	mt.sleep(0.025)
end
if not hdrs then
	fail("no connection asked for headers after the reload")
end
-- ... but this one, negotiated without, edits none (its MAIL takes the
-- new configuration; the claims it would have to delete were never seen)
mail(conn, "<alice@example.org>", "alice", "PLAIN", nil, "SIZE=77")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
ok(mt.data(conn), "data")
ok(mt.macro(conn, SMFIC_BODYEOB, "i", "Q3"), "macro")
ok(mt.eom(conn), "eom")
expect(conn, SMFIR_CONTINUE, "eom")
if mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results") or
   mt.eom_check(conn, MT_HDRADD, "Authentication-Results") or
   mt.eom_check(conn, MT_HDRDELETE, "Authentication-Results") or
   mt.eom_check(conn, MT_HDRCHANGE, "Authentication-Results") then
	fail("a connection negotiated without headers edited a header")
end
mt.disconnect(conn)
