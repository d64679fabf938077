-- A real redis-server as limit_store (run-one.sh starts it: t-NAME.redis).
-- The limit holds through Redis; Redis killed with limit_store_down =
-- tempfail: a relay recipient that needs the store gets 451 4.3.0, local
-- recipients pass, and limit_store_down is logged once; Redis back (a new
-- server: the script is loaded again after NOSCRIPT): limit_store_up once,
-- and recipients are counted again.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<r1@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<r2@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<r3@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)

redis("stop")
conn = reconnect()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<bob@example.org>", "bob", "PLAIN")
rcpt(conn, "<d1@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<d2@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<local@example.org>", SMFIR_CONTINUE)
if count_log('"kind":"limit_store_down"') ~= 1 then
	fail("limit_store_down not logged exactly once")
end

redis("start")
if rcpt_until(conn, "<u1@remote.test>", SMFIR_REPLYCODE) ~= SMFIR_CONTINUE then
	fail("recipients not accepted after Redis came back")
end
rcpt(conn, "<u2@remote.test>", SMFIR_CONTINUE)
rcpt(conn, "<u3@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)
if count_log('"kind":"limit_store_down"') ~= 1 or
   count_log('"kind":"limit_store_up"') ~= 1 then
	fail("store changes not logged exactly once each")
end
