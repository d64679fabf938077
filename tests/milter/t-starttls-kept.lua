-- S3: an MTA that keeps the login from before STARTTLS (Sendmail 8.17)
-- reports it at the EHLO after STARTTLS, before the client could have
-- sent AUTH again. It stays discarded, with the anomaly
-- auth_kept_across_tls (issue 10 item 3).
dofile(LIB)

TLS = { "{tls_version}", "TLSv1.3", "{cipher}", "TLS_AES_256_GCM_SHA384",
    "{cipher_bits}", "256" }

function tls_mail(conn, sender, user)
	local args = { table.unpack(TLS) }
	if user ~= nil then
		table.insert(args, "{auth_authen}")
		table.insert(args, user)
		table.insert(args, "{auth_type}")
		table.insert(args, "PLAIN")
	end
	ok(mt.macro(conn, SMFIC_MAIL, table.unpack(args)), "macro")
	ok(mt.mailfrom(conn, sender), "mailfrom")
	expect(conn, SMFIR_CONTINUE, "mail " .. sender)
end

-- 1. EHLO after STARTTLS: Sendmail reports the old login at HELO and MAIL
conn = start()
session(conn, "192.0.2.10", "plain.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
ok(mt.abort(conn), "abort")
ok(mt.macro(conn, SMFIC_HELO, "{auth_authen}", "alice", "{auth_type}",
    "PLAIN", table.unpack(TLS)), "macro")
ok(mt.helo(conn, "tls.example.net"), "helo")
expect(conn, SMFIR_CONTINUE, "EHLO after STARTTLS")
tls_mail(conn, "<alice@example.org>", "alice")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<y@remote.test>", SMFIR_REPLYCODE)
rcpt(conn, "<bob@example.org>", SMFIR_CONTINUE)
ok(mt.abort(conn), "abort")
-- a fresh AUTH inside TLS as another user counts
tls_mail(conn, "<bob@example.org>", "bob")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
mt.disconnect(conn)

-- 2. No EHLO after STARTTLS: the MAIL that shows TLS still reports the old
--    login; no AUTH could have come in between.
conn = reconnect()
session(conn, "192.0.2.10", "plain.example.net")
mail(conn, "<alice@example.org>", "alice", "PLAIN")
rcpt(conn, "<x@remote.test>", SMFIR_CONTINUE)
ok(mt.abort(conn), "abort")
tls_mail(conn, "<alice@example.org>", "alice")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)

-- 3. The login never reached a MAIL before STARTTLS (EHLO, AUTH,
--    STARTTLS, EHLO): the EHLO in TLS reporting a login still shows it.
conn = reconnect()
session(conn, "192.0.2.10", "plain.example.net")
ok(mt.macro(conn, SMFIC_HELO, "{auth_authen}", "alice", "{auth_type}",
    "PLAIN", table.unpack(TLS)), "macro")
ok(mt.helo(conn, "tls.example.net"), "helo")
expect(conn, SMFIR_CONTINUE, "EHLO after STARTTLS")
tls_mail(conn, "<alice@example.org>", "alice")
rcpt(conn, "<x@remote.test>", SMFIR_REPLYCODE)
mt.disconnect(conn)
