-- Allocation failure inside a callback: that connection gets TEMPFAIL at the
-- first stage that has a reply (connect, HELO, DATA and, with no check at
-- MAIL, MAIL are SMFIP_NR_*: no reply), the daemon stays up, says why, logs
-- nothing of it and serves the next connection normally.
dofile(LIB)
local flag = DIR .. "/fail-calloc"
mt.startfilter("/usr/bin/env", "LD_PRELOAD=" .. FAILALLOC,
    "SG_FAIL_CALLOC_MIN=512", "SG_FAIL_CALLOC_FILE=" .. flag,
    SESSGUARD, "-f", "-c", CONF)
conn = reconnect()
session(conn, "192.0.2.10", "first.example.net")
mail(conn, "<a@example.org>")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)

-- from now on the session cannot be allocated
local f = io.open(flag, "w")
f:close()
conn = reconnect()
for _, nr in ipairs({SMFIP_NR_CONN, SMFIP_NR_HELO, SMFIP_NR_MAIL,
    SMFIP_NR_DATA}) do
	if not mt.test_option(conn, nr) then
		fail("no-reply flag not negotiated: " .. tostring(nr))
	end
end
ok(mt.conninfo(conn, "second.example.net", "192.0.2.11"), "conninfo")
ok(mt.helo(conn, "second.example.net"), "helo")
ok(mt.mailfrom(conn, "<a@example.org>"), "mailfrom")
-- RCPT has a reply: tempfail, also for a recipient that would be accepted
rcpt(conn, "<b@example.org>", SMFIR_REPLYCODE)
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
ok(mt.data(conn), "data")
ok(mt.eom(conn), "eom")
expect(conn, SMFIR_TEMPFAIL, "eom without memory")
mt.disconnect(conn)

-- memory is back: the same daemon serves again
os.remove(flag)
conn = reconnect()
session(conn, "192.0.2.12", "third.example.net")
mail(conn, "<a@example.org>")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)
