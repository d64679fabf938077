-- Redis killed with limit_store_down = local: this process's own counters
-- decide (they start empty), the reason says so, and limit_store_down is
-- logged once; the limit still holds locally.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<r1@remote.test>", SMFIR_CONTINUE)
mt.disconnect(conn)

redis("stop")
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<bob@example.org>", "bob", "PLAIN")
rcpt(conn, "<d1@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<d2@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<d3@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)
if count_log('"kind":"limit_store_down"') ~= 1 then
	fail("limit_store_down not logged exactly once")
end
