-- xxfi_negotiate with auth_results = yes: headers and end of headers are
-- asked (without reply), with the header actions; the body is not. eoh and
-- the header count are logged, and the header is edited.
dofile(LIB)
conn = start()
for _, f in ipairs({SMFIP_NOBODY, SMFIP_NR_HDR, SMFIP_NR_EOH, SMFIP_NR_CONN,
    SMFIP_NR_HELO, SMFIP_NR_MAIL, SMFIP_NR_DATA, SMFIP_NR_UNKN,
    SMFIP_RCPT_REJ}) do
	if not mt.test_option(conn, f) then
		fail("option not requested: " .. tostring(f))
	end
end
for _, f in ipairs({SMFIP_NOHDRS, SMFIP_NOEOH, SMFIP_NR_RCPT}) do
	if mt.test_option(conn, f) then
		fail("option requested: " .. tostring(f))
	end
end
if not mt.test_action(conn, SMFIF_ADDHDRS)
    or not mt.test_action(conn, SMFIF_CHGHDRS) then
	fail("header actions not asked with auth_results = yes")
end
session(conn, "192.0.2.10", "client.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN", nil, "SIZE=99")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
ok(mt.data(conn), "data")
ok(mt.header(conn, "Subject", "hi"), "header")
ok(mt.header(conn, "Authentication-Results",
    "mx.example.org; auth=pass smtp.auth=mallory"), "header")
ok(mt.eoh(conn), "eoh")
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
wait_log('"event":"close"')
