-- xxfi_negotiate: sessguard asks for SMFIP_RCPT_REJ (recipients the MTA
-- rejected itself still reach the log) and skips no stage.
dofile(LIB)
conn = start()
session(conn, "192.0.2.10", "client.example.net")
if not mt.test_option(conn, SMFIP_RCPT_REJ) then
	fail("SMFIP_RCPT_REJ not requested")
end
for _, skip in ipairs({SMFIP_NOCONNECT, SMFIP_NOHELO, SMFIP_NOMAIL,
    SMFIP_NORCPT, SMFIP_NOBODY, SMFIP_NOHDRS, SMFIP_NOEOH, SMFIP_NOUNKNOWN,
    SMFIP_NODATA}) do
	if mt.test_option(conn, skip) then
		fail("a stage is skipped: option " .. tostring(skip))
	end
end
mail(conn, "<a@example.org>")
rcpt(conn, "<a@example.org>", SMFIR_CONTINUE)
mt.disconnect(conn)
