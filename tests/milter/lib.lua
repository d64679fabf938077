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

-- MAIL answered with want (SMFIR_CONTINUE, SMFIR_REPLYCODE, ...): the
-- sender/login check (SPEC section 8). user nil: not authenticated.
function mail_want(conn, want, sender, user, mech)
	if user ~= nil then
		ok(mt.macro(conn, SMFIC_MAIL, "{auth_authen}", user,
		    "{auth_type}", mech or "PLAIN"), "macro")
	else
		ok(mt.macro(conn, SMFIC_MAIL, "i", "NOAUTH"), "macro")
	end
	ok(mt.mailfrom(conn, sender), "mailfrom")
	expect(conn, want, "mail " .. sender .. " as " .. tostring(user))
end

-- A new connection from client that sends MAIL as user and expects want.
function try_sender(client, user, sender, want)
	local conn = reconnect()
	session(conn, client, "client.example.net")
	mail_want(conn, want, sender, user)
	mt.disconnect(conn)
end

-- How many times text (plain) occurs in the log now.
function count_log(text)
	local f = io.open(DIR .. "/log.jsonl", "r")
	if f == nil then
		return 0
	end
	local all = f:read("a")
	f:close()
	local n, pos = 0, 1
	while true do
		local s, e = string.find(all, text, pos, true)
		if s == nil then
			return n
		end
		n, pos = n + 1, e + 1
	end
end

-- Runs one of run-one.sh's redis scripts (t-NAME.redis): "start", "stop".
function redis(what)
	local r = os.execute(DIR .. "/redis-" .. what .. ".sh")
	if r ~= true and r ~= 0 then
		fail("redis-" .. what .. ".sh failed")
	end
end

-- RCPT TO addr, sent again while the answer is want_while (the store is
-- retried once a second): up to 10 s; returns the final answer.
function rcpt_until(conn, addr, want_while)
	local got
	for _ = 1, 100 do
		ok(mt.rcptto(conn, addr), "rcptto")
		got = mt.getreply(conn)
		if got ~= want_while then
			return got
		end
		mt.sleep(0.1)
	end
	return got
end
