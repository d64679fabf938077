-- Security (issue 6): nothing a client sends can make a session
-- authenticated. Random HELO names, AUTH= parameters, {auth_author}
-- claims, quoted/8-bit/overlong addresses and ESMTP parameters, never an
-- {auth_authen} from the MTA: every relay RCPT must be refused.
dofile(LIB)
local seed = tonumber(os.getenv("SG_SEED") or "") or os.time()
math.randomseed(seed)
print("seed " .. seed)

local pieces = { "alice", "<alice@example.org>", "AUTH", "=", "<>", "\"",
    "\\", "@", "%", "!", ":", ",", "<", ">", "example.org", "remote.test",
    "\255\254", "\195\169", "\1", "\127", " ", "xn--", "[127.0.0.1]",
    "{auth_authen}", "PLAIN", "ESMTPA", "authenticated" }
local function junk(maxlen)
	local t = {}
	for _ = 1, math.random(0, 12) do
		t[#t + 1] = pieces[math.random(#pieces)]
	end
	local s = table.concat(t)
	if math.random(10) == 1 then
		s = s .. string.rep("A", math.random(100, 800))
	end
	return s:sub(1, maxlen)
end

conn = start()
for i = 1, 60 do
	if i > 1 then
		conn = reconnect()
	end
	session(conn, "192.0.2." .. (10 + i % 50), nil)
	ok(mt.helo(conn, junk(200) .. "h"), "helo")
	expect(conn, SMFIR_CONTINUE, "helo")
	for _ = 1, 3 do
		local args = { "{auth_author}", junk(300), "{auth_type}", junk(20) }
		if math.random(2) == 1 then
			args[#args + 1] = "{auth_ssf}"
			args[#args + 1] = "256"
		end
		ok(mt.macro(conn, SMFIC_MAIL, table.unpack(args)), "macro")
		ok(mt.mailfrom(conn, "<" .. junk(200) .. "@example.org>",
		    "AUTH=" .. junk(200), junk(50)), "mailfrom")
		expect(conn, SMFIR_CONTINUE, "mail")
		-- a relay attempt: a domain that is not local
		ok(mt.rcptto(conn, "<" .. junk(100) .. "@remote.test>"), "rcptto")
		expect(conn, SMFIR_REPLYCODE, "relay rcpt, seed " .. seed)
		ok(mt.abort(conn), "abort")
	end
	mt.disconnect(conn)
end
