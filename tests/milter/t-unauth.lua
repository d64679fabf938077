-- SPEC 2: an unauthenticated relay RCPT is refused; local recipients and
-- addresses without a domain pass; a recipient the MTA rejected itself is
-- logged as mta_rejected; routing in the local part (user%remote@local) is
-- a relay attempt.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<someone@remote.test>")
rcpt(conn, "<victim@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<bob@example.org>", SMFIR_CONTINUE)
rcpt(conn, "<Bob@EXAMPLE.ORG>", SMFIR_CONTINUE)
rcpt(conn, "<postmaster>", SMFIR_CONTINUE)
rcpt(conn, "<\"bob@example.org\"@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<@example.org:victim@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<nobody@remote.test>", SMFIR_CONTINUE, "error")
-- sender-specified routing to a local domain is relaying (percent hack)
rcpt(conn, "<victim%remote.test@example.org>", SMFIR_REPLYCODE, "local")
mt.disconnect(conn)
