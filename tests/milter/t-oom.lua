-- Allocation failure inside a callback: that connection gets TEMPFAIL, the
-- daemon stays up, says why, and serves the next connection normally.
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
ok(mt.conninfo(conn, "second.example.net", "192.0.2.11"), "conninfo")
expect(conn, SMFIR_TEMPFAIL, "connect without memory")
mt.disconnect(conn)

-- memory is back: the same daemon serves again
os.remove(flag)
conn = reconnect()
session(conn, "192.0.2.12", "third.example.net")
mail(conn, "<a@example.org>")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)
