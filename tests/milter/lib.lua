-- Helpers shared by the protocol tests (loaded with dofile(LIB)).
-- Globals from run-one.sh: SESSGUARD, CONF, DIR.

-- miltertest defines the macro stages of connect, helo, mail and rcpt only.
SMFIC_DATA = SMFIC_DATA or string.byte("T")
SMFIC_EOH = SMFIC_EOH or string.byte("N")
SMFIC_BODYEOB = SMFIC_BODYEOB or string.byte("E")

function fail(msg)
	print("FAIL: " .. msg)
	os.exit(1)
end

function start()
	mt.startfilter(SESSGUARD, "-f", "-c", CONF)
	local conn = mt.connect("unix:" .. DIR .. "/sessguard.sock", 100, 0.05)
	if conn == nil then
		fail("cannot connect to the filter")
	end
	return conn
end

-- A new connection to the running filter.
function reconnect()
	local conn = mt.connect("unix:" .. DIR .. "/sessguard.sock", 100, 0.05)
	if conn == nil then
		fail("cannot connect to the filter")
	end
	return conn
end

local names = {}
names[SMFIR_CONTINUE] = "continue"
names[SMFIR_REPLYCODE] = "replycode"
names[SMFIR_REJECT] = "reject"
names[SMFIR_TEMPFAIL] = "tempfail"
names[SMFIR_ACCEPT] = "accept"
names[SMFIR_DISCARD] = "discard"

function expect(conn, want, what)
	local got = mt.getreply(conn)
	if got ~= want then
		fail(what .. ": expected " .. (names[want] or tostring(want))
		    .. ", got " .. (names[got] or tostring(got)))
	end
end

function ok(err, what)
	if err ~= nil then
		fail(what .. ": " .. tostring(err))
	end
end

-- connect + HELO; tls: nil or {version, cipher, bits}
function session(conn, client, helo)
	ok(mt.conninfo(conn, "client.example.net", client or "192.0.2.10"), "conninfo")
	expect(conn, SMFIR_CONTINUE, "connect")
	if helo ~= nil then
		ok(mt.helo(conn, helo), "helo")
		expect(conn, SMFIR_CONTINUE, "helo")
	end
end

function helo_tls(conn, name)
	ok(mt.macro(conn, SMFIC_HELO, "{tls_version}", "TLSv1.3",
	    "{cipher}", "TLS_AES_256_GCM_SHA384", "{cipher_bits}", "256"), "macro")
	ok(mt.helo(conn, name), "helo")
	expect(conn, SMFIR_CONTINUE, "helo after STARTTLS")
end

-- MAIL with optional SASL macros (user, mech) and optional AUTH= claim
function mail(conn, sender, user, mech, author, ...)
	if user ~= nil or author ~= nil then
		local args = {}
		if user ~= nil then
			table.insert(args, "{auth_authen}")
			table.insert(args, user)
			table.insert(args, "{auth_type}")
			table.insert(args, mech or "PLAIN")
		end
		if author ~= nil then
			table.insert(args, "{auth_author}")
			table.insert(args, author)
		end
		ok(mt.macro(conn, SMFIC_MAIL, table.unpack(args)), "macro")
	else
		ok(mt.macro(conn, SMFIC_MAIL, "i", "NOAUTH"), "macro")
	end
	ok(mt.mailfrom(conn, sender, ...), "mailfrom")
	expect(conn, SMFIR_CONTINUE, "mail " .. sender)
end

function rcpt(conn, addr, want, mailer)
	if mailer ~= nil then
		ok(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", mailer), "macro")
	end
	ok(mt.rcptto(conn, addr), "rcptto")
	expect(conn, want, "rcpt " .. addr)
end

-- Waits until the log holds a line containing text (plain): a stage whose
-- reply the filter waived (SMFIP_NR_*) gives the script nothing to wait on.
function wait_log(text)
	for _ = 1, 400 do
		local f = io.open(DIR .. "/log.jsonl", "r")
		if f ~= nil then
			local all = f:read("a")
			f:close()
			if all ~= nil and string.find(all, text, 1, true) then
				return
			end
		end
		mt.sleep(0.025)
	end
	fail("the log never showed " .. text)
end
