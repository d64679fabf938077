/*
 * Unit tests of src/util: strbuf, json, ipaddr, addr.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/addr.h"
#include "util/chain.h"
#include "util/hex.h"
#include "util/ipaddr.h"
#include "util/json.h"
#include "util/linefile.h"
#include "util/strbuf.h"
#include "util/writeall.h"

#include "jsoncheck.h"

#define MARK	"\xe2\x80\xa6"		/* U+2026, written out independently */

/* strbuf */

START_TEST(t_strbuf_empty)
{
	struct strbuf sb;

	strbuf_init(&sb);
	ck_assert_str_eq(strbuf_str(&sb), "");
	ck_assert_uint_eq(sb.len, 0);
	ck_assert_int_eq(strbuf_failed(&sb), 0);
	strbuf_append(&sb, "", 0);
	ck_assert_str_eq(strbuf_str(&sb), "");
	ck_assert_uint_eq(sb.len, 0);
	strbuf_free(&sb);
	ck_assert_ptr_null(sb.data);
	ck_assert_str_eq(strbuf_str(&sb), "");
}
END_TEST

START_TEST(t_strbuf_append)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_append(&sb, "abcdef", 3);
	strbuf_puts(&sb, "-xy");
	strbuf_putc(&sb, '!');
	strbuf_append(&sb, "a\0b", 3);
	ck_assert_uint_eq(sb.len, 10);
	ck_assert_mem_eq(sb.data, "abc-xy!a\0b", 10);
	ck_assert_int_eq(sb.data[sb.len], '\0');
	ck_assert_int_eq(strbuf_failed(&sb), 0);
	strbuf_free(&sb);
}
END_TEST

START_TEST(t_strbuf_printf)
{
	struct strbuf sb;
	char	big[1000];

	strbuf_init(&sb);
	strbuf_puts(&sb, "x=");
	strbuf_printf(&sb, "%d,%s,%05.1f,%zu", -42, "str", 3.14159, (size_t)7);
	ck_assert_str_eq(strbuf_str(&sb), "x=-42,str,003.1,7");
	ck_assert_uint_eq(sb.len, strlen("x=-42,str,003.1,7"));
	/* an expansion longer than the first allocation */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	strbuf_printf(&sb, "[%s]", big);
	ck_assert_uint_eq(sb.len, 17 + 1001);
	ck_assert_int_eq(sb.data[17], '[');
	ck_assert_int_eq(sb.data[17 + 1000], ']');
	ck_assert_int_eq(sb.data[sb.len], '\0');
	ck_assert_uint_eq(strlen(strbuf_str(&sb)), sb.len);
	strbuf_printf(&sb, "%s", "");
	ck_assert_uint_eq(sb.len, 17 + 1001);
	strbuf_free(&sb);
}
END_TEST

START_TEST(t_strbuf_growth)
{
	struct strbuf sb;
	size_t	i, lastcap = 0, grows = 0, badcap = 0;
	char	*want = malloc(100000);

	ck_assert_ptr_nonnull(want);
	strbuf_init(&sb);
	for (i = 0; i < 100000; i++) {
		want[i] = (char)('a' + i % 26);
		strbuf_putc(&sb, want[i]);
		if (sb.cap <= sb.len)
			badcap++;
		if (sb.cap != lastcap) {
			grows++;
			lastcap = sb.cap;
		}
	}
	ck_assert_uint_eq(badcap, 0);
	ck_assert_uint_eq(sb.len, 100000);
	ck_assert_mem_eq(sb.data, want, 100000);
	ck_assert_int_eq(sb.data[100000], '\0');
	free(want);
	/* geometric: a handful of reallocations, not one a byte */
	ck_assert_uint_le(grows, 20);
	strbuf_free(&sb);
}
END_TEST

START_TEST(t_strbuf_reset)
{
	struct strbuf sb;
	size_t	cap;
	char	*data;

	strbuf_init(&sb);
	strbuf_puts(&sb, "hello world");
	cap = sb.cap;
	data = sb.data;
	strbuf_reset(&sb);
	ck_assert_uint_eq(sb.len, 0);
	ck_assert_str_eq(strbuf_str(&sb), "");
	ck_assert_uint_eq(sb.cap, cap);
	ck_assert_ptr_eq(sb.data, data);
	strbuf_puts(&sb, "again");
	ck_assert_str_eq(strbuf_str(&sb), "again");
	strbuf_free(&sb);
}
END_TEST

START_TEST(t_strbuf_failed)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_puts(&sb, "keep");
	ck_assert_int_eq(strbuf_reserve(&sb, SIZE_MAX - 2), -1);
	ck_assert_int_ne(strbuf_failed(&sb), 0);
	strbuf_puts(&sb, "more");
	strbuf_putc(&sb, 'x');
	strbuf_printf(&sb, "%d", 5);
	ck_assert_str_eq(strbuf_str(&sb), "keep");
	ck_assert_uint_eq(sb.len, 4);
	strbuf_reset(&sb);
	ck_assert_int_eq(strbuf_failed(&sb), 0);
	strbuf_puts(&sb, "ok");
	ck_assert_str_eq(strbuf_str(&sb), "ok");
	ck_assert_int_eq(strbuf_reserve(&sb, 10), 0);
	ck_assert_uint_ge(sb.cap, sb.len + 11);
	strbuf_free(&sb);
}
END_TEST

/* json */

static char *
jput(const char *data, size_t len, size_t max)
{
	struct strbuf sb;
	char	*r;

	strbuf_init(&sb);
	json_put_string(&sb, data, len, max);
	ck_assert_int_eq(strbuf_failed(&sb), 0);
	ck_assert_uint_eq(strlen(strbuf_str(&sb)), sb.len);
	r = strdup(strbuf_str(&sb));
	strbuf_free(&sb);
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(json_valid(r, strlen(r)), "not valid JSON: %s", r);
	return r;
}

#define JEQ(data, max, want) do {					\
	char *got_ = jput((data), sizeof(data) - 1, (max));		\
	ck_assert_str_eq(got_, (want));					\
	free(got_);							\
} while (0)

START_TEST(t_json_plain)
{
	JEQ("", 0, "\"\"");
	JEQ("hello, world", 0, "\"hello, world\"");
	JEQ("a\"b", 0, "\"a\\\"b\"");
	/* a backslash is doubled, then JSON-escaped: four in the JSON text */
	JEQ("a\\b", 0, "\"a\\\\\\\\b\"");
	JEQ("\\\"", 0, "\"\\\\\\\\\\\"\"");
	JEQ("\\x80", 0, "\"\\\\\\\\x80\"");
	JEQ("/", 0, "\"/\"");
	JEQ("~ }{", 0, "\"~ }{\"");
}
END_TEST

START_TEST(t_json_controls)
{
	JEQ("a\nb\rc\td", 0, "\"a\\nb\\rc\\td\"");
	JEQ("\x01", 0, "\"\\u0001\"");
	JEQ("\x08\x0c", 0, "\"\\u0008\\u000c\"");
	JEQ("\x1b[31m", 0, "\"\\u001b[31m\"");
	JEQ("\x1f", 0, "\"\\u001f\"");
	JEQ("\x7f", 0, "\"\\u007f\"");
	JEQ(" ", 0, "\" \"");
	JEQ("a\0b", 0, "\"a\\u0000b\"");
	JEQ("\0", 0, "\"\\u0000\"");
}
END_TEST

START_TEST(t_json_all_bytes)
{
	/* every single byte gives valid JSON that decodes back as specified */
	unsigned c;
	char	in[1], *got, dec[16];
	size_t	n;
	struct strbuf line;

	for (c = 0; c < 256; c++) {
		in[0] = (char)c;
		got = jput(in, 1, 0);
		strbuf_init(&line);
		strbuf_printf(&line, "{\"v\":%s}", got);
		ck_assert_int_eq(json_get_stringn(strbuf_str(&line), "v", dec,
		    sizeof(dec), &n), 0);
		if (c == '\\') {
			ck_assert_uint_eq(n, 2);
			ck_assert_str_eq(dec, "\\\\");
		} else if (c < 0x80) {
			ck_assert_uint_eq(n, 1);
			ck_assert_int_eq((unsigned char)dec[0], c);
		} else {
			char want[8];

			snprintf(want, sizeof(want), "\\x%02x", c);
			ck_assert_uint_eq(n, 4);
			ck_assert_str_eq(dec, want);
		}
		strbuf_free(&line);
		free(got);
	}
}
END_TEST

/* json_wire_decode() gives back the bytes from the wire */
static void
roundtrip(const unsigned char *data, size_t len)
{
	struct strbuf sb, line, back;
	char	*dec;
	size_t	n;

	strbuf_init(&sb);
	strbuf_init(&line);
	strbuf_init(&back);
	json_put_string(&sb, (const char *)data, len, 0);
	strbuf_printf(&line, "{\"v\":%s}", strbuf_str(&sb));
	ck_assert(json_valid(line.data, line.len));
	dec = malloc(4 * len + 1);
	ck_assert_ptr_nonnull(dec);
	ck_assert_int_eq(json_get_stringn(strbuf_str(&line), "v", dec,
	    4 * len + 1, &n), 0);
	json_wire_decode(&back, dec, n);
	ck_assert_msg(back.len == len
	    && (len == 0 || memcmp(back.data, data, len) == 0),
	    "%zu bytes came back as %zu", len, back.len);
	free(dec);
	strbuf_free(&sb);
	strbuf_free(&line);
	strbuf_free(&back);
}

START_TEST(t_json_wire_roundtrip)
{
	static const char *const fixed[] = {
		"", "\\", "\\\\", "\\x80", "\x80", "\\\x80", "\\xff\xff",
		"\\x", "\\x8", "x\\", "\\u0041", "caf\xc3\xa9\\", "\\\\x41",
	};
	unsigned char buf[64];
	unsigned seed = 12345;
	size_t	i, j, len;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		roundtrip((const unsigned char *)fixed[i], strlen(fixed[i]));
	/* arbitrary bytes, biased to backslash, 'x', hex digits and 0x80+ */
	for (i = 0; i < 20000; i++) {
		len = (size_t)(rand_r(&seed) % (int)sizeof(buf));
		for (j = 0; j < len; j++) {
			static const char pick[] = "\\x0aF8\x80\xff\xc3\xa9\"";
			int	r = rand_r(&seed);

			buf[j] = r % 3 ? (unsigned char)pick[(r >> 4) %
			    (int)(sizeof(pick) - 1)] : (unsigned char)(r >> 8);
		}
		roundtrip(buf, len);
	}
	/* the byte 0x80 and the text \x80 log differently */
	{
		char	*a = jput("\x80", 1, 0), *b = jput("\\x80", 4, 0);

		ck_assert_str_ne(a, b);
		free(a);
		free(b);
	}
}
END_TEST

START_TEST(t_json_wire_decode_old)
{
	struct strbuf sb;

	/* a lone backslash (logs from before the doubling) stays */
	strbuf_init(&sb);
	json_wire_decode(&sb, "a\\b\\x4", 6);
	ck_assert_str_eq(strbuf_str(&sb), "a\\b\\x4");
	strbuf_reset(&sb);
	json_wire_decode(&sb, "\\x41\\\\x41\\", 10);
	ck_assert_str_eq(strbuf_str(&sb), "A\\x41\\");
	strbuf_free(&sb);
}
END_TEST

START_TEST(t_json_utf8_valid)
{
	JEQ("caf\xc3\xa9", 0, "\"caf\xc3\xa9\"");			/* 2 bytes */
	JEQ("\xc2\x80\xdf\xbf", 0, "\"\xc2\x80\xdf\xbf\"");
	JEQ("\xe2\x82\xac 5", 0, "\"\xe2\x82\xac 5\"");		/* 3 bytes */
	JEQ("\xe0\xa0\x80\xef\xbf\xbf", 0, "\"\xe0\xa0\x80\xef\xbf\xbf\"");
	JEQ("\xed\x9f\xbf", 0, "\"\xed\x9f\xbf\"");		/* U+D7FF */
	JEQ("\xf0\x9f\x98\x80", 0, "\"\xf0\x9f\x98\x80\"");	/* 4 bytes */
	JEQ("\xf4\x8f\xbf\xbf", 0, "\"\xf4\x8f\xbf\xbf\"");	/* U+10FFFF */
	JEQ("\xf0\x90\x80\x80", 0, "\"\xf0\x90\x80\x80\"");	/* U+10000 */
}
END_TEST

START_TEST(t_json_utf8_invalid)
{
	JEQ("\xff", 0, "\"\\\\xff\"");
	JEQ("a\xfe" "b", 0, "\"a\\\\xfeb\"");
	JEQ("\x80", 0, "\"\\\\x80\"");				/* lone continuation */
	JEQ("\xc3", 0, "\"\\\\xc3\"");				/* cut short at end */
	JEQ("\xc3" "A", 0, "\"\\\\xc3A\"");			/* missing continuation */
	JEQ("\xe2\x82", 0, "\"\\\\xe2\\\\x82\"");
	JEQ("\xe2\x82" "A", 0, "\"\\\\xe2\\\\x82A\"");
	JEQ("\xf0\x9f\x98", 0, "\"\\\\xf0\\\\x9f\\\\x98\"");
	/* overlong forms */
	JEQ("\xc0\xaf", 0, "\"\\\\xc0\\\\xaf\"");
	JEQ("\xc1\xbf", 0, "\"\\\\xc1\\\\xbf\"");
	JEQ("\xe0\x80\xaf", 0, "\"\\\\xe0\\\\x80\\\\xaf\"");
	JEQ("\xe0\x9f\xbf", 0, "\"\\\\xe0\\\\x9f\\\\xbf\"");
	JEQ("\xf0\x80\x80\xaf", 0, "\"\\\\xf0\\\\x80\\\\x80\\\\xaf\"");
	JEQ("\xf0\x8f\xbf\xbf", 0, "\"\\\\xf0\\\\x8f\\\\xbf\\\\xbf\"");
	/* UTF-16 surrogates encoded in UTF-8 */
	JEQ("\xed\xa0\x80", 0, "\"\\\\xed\\\\xa0\\\\x80\"");
	JEQ("\xed\xbf\xbf", 0, "\"\\\\xed\\\\xbf\\\\xbf\"");
	/* past U+10FFFF, and lead bytes that never occur */
	JEQ("\xf4\x90\x80\x80", 0, "\"\\\\xf4\\\\x90\\\\x80\\\\x80\"");
	JEQ("\xf5\x80\x80\x80", 0, "\"\\\\xf5\\\\x80\\\\x80\\\\x80\"");
	JEQ("\xf8\x88\x80\x80\x80", 0,
	    "\"\\\\xf8\\\\x88\\\\x80\\\\x80\\\\x80\"");
	/* a valid character right after an invalid byte survives */
	JEQ("\xff\xc3\xa9", 0, "\"\\\\xff\xc3\xa9\"");
}
END_TEST

START_TEST(t_utf8_seq_len)
{
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"a", 1), 1);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xc3\xa9", 2), 2);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xc3\xa9", 1), 0);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 3), 0);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xc0\x80", 2), 0);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3), 0);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
	ck_assert_uint_eq(utf8_seq_len((const unsigned char *)"\x80", 1), 0);
}
END_TEST

START_TEST(t_json_truncate_ascii)
{
	JEQ("abcdef", 3, "\"abc" MARK "(+3 bytes)\"");
	JEQ("abcdef", 5, "\"abcde" MARK "(+1 bytes)\"");
	JEQ("abcdef", 6, "\"abcdef\"");
	JEQ("abcdef", 7, "\"abcdef\"");
	JEQ("abcdef", 1, "\"a" MARK "(+5 bytes)\"");
	/* the bound counts input bytes; escapes do not shift the cut */
	JEQ("\"\"\"\"", 2, "\"\\\"\\\"" MARK "(+2 bytes)\"");
	JEQ("a\xff\xff" "bc", 3, "\"a\\\\xff\\\\xff" MARK "(+2 bytes)\"");
	JEQ("a\x80\x80\x80\x80", 3, "\"a\\\\x80\\\\x80" MARK "(+2 bytes)\"");
}
END_TEST

START_TEST(t_json_truncate_multibyte)
{
	/* never split a valid character at the cut */
	JEQ("a\xc3\xa9" "b", 2, "\"a" MARK "(+3 bytes)\"");
	JEQ("a\xc3\xa9" "b", 3, "\"a\xc3\xa9" MARK "(+1 bytes)\"");
	JEQ("a\xe2\x82\xac" "b", 2, "\"a" MARK "(+4 bytes)\"");
	JEQ("a\xe2\x82\xac" "b", 3, "\"a" MARK "(+4 bytes)\"");
	JEQ("a\xe2\x82\xac" "b", 4, "\"a\xe2\x82\xac" MARK "(+1 bytes)\"");
	JEQ("a\xf0\x9f\x98\x80" "b", 2, "\"a" MARK "(+5 bytes)\"");
	JEQ("a\xf0\x9f\x98\x80" "b", 3, "\"a" MARK "(+5 bytes)\"");
	JEQ("a\xf0\x9f\x98\x80" "b", 4, "\"a" MARK "(+5 bytes)\"");
	JEQ("a\xf0\x9f\x98\x80" "b", 5, "\"a\xf0\x9f\x98\x80" MARK "(+1 bytes)\"");
	JEQ("\xc3\xa9\xc3\xa9", 1, "\"" MARK "(+4 bytes)\"");
	/* a cut inside an invalid sequence is no character to keep whole */
	JEQ("a\xc3" "bcd", 2, "\"a\\\\xc3" MARK "(+3 bytes)\"");
}
END_TEST

/* Every bound on a mixed string: decodes to a whole-character prefix + mark. */
START_TEST(t_json_truncate_property)
{
	static const char in[] = "x\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80y\"z"
	    "\xc3\xa9\xf0\x90\x80\x80\xe2\x82\xac";
	size_t	len = sizeof(in) - 1, max, cut, n, left;
	char	*got, dec[256];
	const char *m;
	struct strbuf line;

	for (max = 1; max <= len + 1; max++) {
		got = jput(in, len, max);
		strbuf_init(&line);
		strbuf_printf(&line, "{\"v\":%s}", got);
		ck_assert_int_eq(json_get_stringn(strbuf_str(&line), "v", dec,
		    sizeof(dec), &n), 0);
		if (max >= len) {
			ck_assert_uint_eq(n, len);
			ck_assert_mem_eq(dec, in, len);
		} else {
			m = strstr(dec, MARK "(+");
			ck_assert_msg(m != NULL, "max %zu: no mark in %s", max, dec);
			cut = (size_t)(m - dec);
			ck_assert_int_eq(sscanf(m + 3, "(+%zu bytes)", &left), 1);
			ck_assert_uint_eq(cut + left, len);
			ck_assert_uint_le(cut, max);
			ck_assert_uint_gt(cut + 4, max);
			ck_assert_mem_eq(dec, in, cut);
			/* the cut falls on a character boundary */
			ck_assert_int_ne((unsigned char)in[cut] & 0xc0, 0x80);
			ck_assert_str_eq(strstr(m, ")"), ")");
		}
		strbuf_free(&line);
		free(got);
	}
}
END_TEST

START_TEST(t_json_unbounded)
{
	size_t	len = 200000, i;
	char	*in = malloc(len), *got;

	ck_assert_ptr_nonnull(in);
	for (i = 0; i < len; i++)
		in[i] = (char)('A' + i % 26);
	got = jput(in, len, 0);
	ck_assert_uint_eq(strlen(got), len + 2);
	ck_assert_mem_eq(got + 1, in, len);
	ck_assert_ptr_null(strstr(got, MARK));
	free(got);
	free(in);
}
END_TEST

START_TEST(t_json_appends)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_puts(&sb, "[");
	json_put_string(&sb, "a", 1, 0);
	strbuf_putc(&sb, ',');
	json_put_cstring(&sb, "b\"", 0);
	strbuf_putc(&sb, ',');
	json_put_cstring(&sb, NULL, 0);
	strbuf_putc(&sb, ',');
	json_put_cstring(&sb, "abcdef", 2);
	strbuf_putc(&sb, ']');
	ck_assert_str_eq(strbuf_str(&sb),
	    "[\"a\",\"b\\\"\",null,\"ab" MARK "(+4 bytes)\"]");
	ck_assert(json_valid(sb.data, sb.len));
	strbuf_free(&sb);
}
END_TEST

/* ipaddr */

static void
v4(const char *text, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	struct ipaddr ip;
	uint8_t	want[16] = { 0 };

	want[0] = a; want[1] = b; want[2] = c; want[3] = d;
	ck_assert_msg(ipaddr_parse(text, &ip) == 0, "%s refused", text);
	ck_assert_int_eq(ip.family, AF_INET);
	ck_assert_mem_eq(ip.bytes, want, 16);
}

static void
v6(const char *text, const char *canon)
{
	struct ipaddr ip;
	uint8_t	want[16];

	ck_assert_int_eq(inet_pton(AF_INET6, canon, want), 1);
	ck_assert_msg(ipaddr_parse(text, &ip) == 0, "%s refused", text);
	ck_assert_int_eq(ip.family, AF_INET6);
	ck_assert_mem_eq(ip.bytes, want, 16);
}

START_TEST(t_ipaddr_parse)
{
	static const char *const bad[] = {
		"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4",
		"abc", "::g", "1::2::3", "[::1", "::1]", "[]", "[1.2.3.4",
		"IPv6:", "IPv6:[", "12345::", "1.2.3.4/8", "localhost",
		"::1%lo",
	};
	struct ipaddr ip;
	size_t	i;

	v4("127.0.0.1", 127, 0, 0, 1);
	v4("0.0.0.0", 0, 0, 0, 0);
	v4("255.255.255.255", 255, 255, 255, 255);
	v4("[192.0.2.7]", 192, 0, 2, 7);
	v4("::ffff:127.0.0.1", 127, 0, 0, 1);
	v4("::FFFF:7f00:1", 127, 0, 0, 1);
	v4("[::ffff:10.1.2.3]", 10, 1, 2, 3);
	v6("::1", "::1");
	v6("[::1]", "::1");
	v6("IPv6:::1", "::1");
	v6("ipv6:2001:DB8::1", "2001:db8::1");
	v6("IPv6:[2001:db8::1]", "2001:db8::1");
	v6("2001:db8:0:0:0:0:0:1", "2001:db8::1");
	v6("::", "::");
	v6("::127.0.0.1", "::7f00:1");		/* IPv4-compatible, not mapped */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ip.family = 99;
		ck_assert_msg(ipaddr_parse(bad[i], &ip) == -1, "'%s' accepted",
		    bad[i]);
		ck_assert_int_eq(ip.family, 0);
	}
}
END_TEST

START_TEST(t_ipaddr_format_sockaddr)
{
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	struct sockaddr_un_like { sa_family_t fam; char pad[32]; } other;
	struct ipaddr ip;
	unsigned port;
	char	buf[64];

	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	in4.sin_port = htons(2525);
	inet_pton(AF_INET, "192.0.2.9", &in4.sin_addr);
	ck_assert_int_eq(ipaddr_from_sockaddr((struct sockaddr *)&in4, &ip,
	    &port), 0);
	ck_assert_uint_eq(port, 2525);
	ipaddr_format(&ip, buf, sizeof(buf));
	ck_assert_str_eq(buf, "192.0.2.9");

	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(25);
	inet_pton(AF_INET6, "2001:db8::25", &in6.sin6_addr);
	ck_assert_int_eq(ipaddr_from_sockaddr((struct sockaddr *)&in6, &ip,
	    NULL), 0);
	ipaddr_format(&ip, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2001:db8::25");

	inet_pton(AF_INET6, "::ffff:198.51.100.1", &in6.sin6_addr);
	ck_assert_int_eq(ipaddr_from_sockaddr((struct sockaddr *)&in6, &ip,
	    &port), 0);
	ck_assert_int_eq(ip.family, AF_INET);
	ck_assert_uint_eq(port, 25);
	ipaddr_format(&ip, buf, sizeof(buf));
	ck_assert_str_eq(buf, "198.51.100.1");

	memset(&other, 0, sizeof(other));
	other.fam = AF_UNIX;
	port = 7;
	ck_assert_int_eq(ipaddr_from_sockaddr((struct sockaddr *)&other, &ip,
	    &port), -1);
	ck_assert_int_eq(ip.family, 0);
	ck_assert_uint_eq(port, 0);
	ck_assert_int_eq(ipaddr_from_sockaddr(NULL, &ip, NULL), -1);
	ipaddr_format(&ip, buf, sizeof(buf));
	ck_assert_str_eq(buf, "unknown");
}
END_TEST

static struct cidr
C(const char *text)
{
	struct cidr c;
	const char *why = NULL;

	ck_assert_msg(cidr_parse(text, &c, &why) == 0, "'%s' refused: %s",
	    text, why ? why : "?");
	return c;
}

static int
M(const struct cidr *c, const char *addr)
{
	struct ipaddr ip;

	ck_assert_msg(ipaddr_parse(addr, &ip) == 0, "'%s' refused", addr);
	return cidr_match(c, &ip);
}

START_TEST(t_cidr_v4)
{
	struct cidr c;

	c = C("127.0.0.0/8");
	ck_assert_int_eq(c.addr.family, AF_INET);
	ck_assert_uint_eq(c.prefix, 8);
	ck_assert(M(&c, "127.0.0.1"));
	ck_assert(M(&c, "127.255.255.255"));
	ck_assert(!M(&c, "128.0.0.1"));
	ck_assert(!M(&c, "126.255.255.255"));
	ck_assert(M(&c, "::ffff:127.0.0.1"));
	ck_assert(M(&c, "[::ffff:127.1.2.3]"));
	ck_assert(!M(&c, "::1"));
	ck_assert(!M(&c, "::127.0.0.1"));

	c = C("192.168.1.128/25");
	ck_assert(M(&c, "192.168.1.128"));
	ck_assert(M(&c, "192.168.1.200"));
	ck_assert(!M(&c, "192.168.1.127"));
	ck_assert(!M(&c, "192.168.2.200"));

	c = C("10.1.2.3");
	ck_assert_uint_eq(c.prefix, 32);
	ck_assert(M(&c, "10.1.2.3"));
	ck_assert(!M(&c, "10.1.2.4"));

	c = C("10.1.2.3/32");
	ck_assert(M(&c, "10.1.2.3"));
	ck_assert(!M(&c, "10.1.2.2"));

	c = C("172.16.0.0/12");
	ck_assert(M(&c, "172.31.255.1"));
	ck_assert(!M(&c, "172.32.0.1"));

	c = C("0.0.0.0/0");
	ck_assert_uint_eq(c.prefix, 0);
	ck_assert(M(&c, "1.2.3.4"));
	ck_assert(M(&c, "255.255.255.255"));
	ck_assert(M(&c, "::ffff:1.2.3.4"));
	ck_assert(!M(&c, "2001:db8::1"));
}
END_TEST

START_TEST(t_cidr_v6)
{
	struct cidr c;
	struct ipaddr none;

	c = C("::1/128");
	ck_assert_int_eq(c.addr.family, AF_INET6);
	ck_assert(M(&c, "::1"));
	ck_assert(M(&c, "[::1]"));
	ck_assert(M(&c, "IPv6:::1"));
	ck_assert(!M(&c, "::2"));
	ck_assert(!M(&c, "127.0.0.1"));

	c = C("::1");
	ck_assert_uint_eq(c.prefix, 128);

	c = C("[::1]/128");
	ck_assert(M(&c, "::1"));

	c = C("IPv6:2001:db8::/32");
	ck_assert(M(&c, "2001:db8::1"));

	c = C("2001:db8::/32");
	ck_assert(M(&c, "2001:db8::1"));
	ck_assert(M(&c, "2001:db8:ffff:ffff::1"));
	ck_assert(!M(&c, "2001:db9::1"));
	ck_assert(!M(&c, "2001:db7:ffff::1"));

	c = C("2001:db8:8000::/33");
	ck_assert(M(&c, "2001:db8:8000::1"));
	ck_assert(M(&c, "2001:db8:ffff::1"));
	ck_assert(!M(&c, "2001:db8:7fff::1"));

	c = C("fe80::/10");
	ck_assert(M(&c, "fe80::1"));
	ck_assert(M(&c, "febf::1"));
	ck_assert(!M(&c, "fec0::1"));

	c = C("::/0");
	ck_assert(M(&c, "2001:db8::1"));
	ck_assert(M(&c, "::"));
	ck_assert(!M(&c, "10.0.0.1"));

	/* an IPv4-mapped block keeps its IPv4 meaning */
	c = C("::ffff:127.0.0.0/104");
	ck_assert_int_eq(c.addr.family, AF_INET);
	ck_assert_uint_eq(c.prefix, 8);
	ck_assert(M(&c, "127.9.9.9"));
	ck_assert(M(&c, "::ffff:127.0.0.1"));
	ck_assert(!M(&c, "128.0.0.1"));

	memset(&none, 0, sizeof(none));
	c = C("0.0.0.0/0");
	ck_assert_int_eq(cidr_match(&c, &none), 0);
	c = C("::/0");
	ck_assert_int_eq(cidr_match(&c, &none), 0);
}
END_TEST

/* cidr_cover(): the blocks of one family hold every address of it. */
static int
covers(int family, const char *const *texts, size_t n)
{
	struct cidr c[8];
	size_t	i;

	for (i = 0; i < n; i++)
		c[i] = C(texts[i]);
	return cidr_cover(c, n, family);
}
#define COVERS(fam, ...) covers(fam, (const char *const[]){ __VA_ARGS__ }, \
	sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

START_TEST(t_cidr_cover)
{
	ck_assert(COVERS(AF_INET, "0.0.0.0/0"));
	ck_assert(COVERS(AF_INET, "::ffff:0:0/96"));
	ck_assert(COVERS(AF_INET, "10.0.0.0/8", "0.0.0.0/0", "::1"));
	ck_assert(COVERS(AF_INET, "128.0.0.0/1", "0.0.0.0/1"));
	ck_assert(COVERS(AF_INET, "0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2",
	    "192.0.0.0/3", "224.0.0.0/3", "10.0.0.0/8"));
	ck_assert(COVERS(AF_INET, "255.255.255.255", "0.0.0.0/1",
	    "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/4", "240.0.0.0/5",
	    "248.0.0.0/5"));
	ck_assert(!COVERS(AF_INET, "0.0.0.0/1"));
	ck_assert(!COVERS(AF_INET, "0.0.0.0/1", "192.0.0.0/2"));
	ck_assert(!COVERS(AF_INET, "0.0.0.0/1", "128.0.0.0/2", "224.0.0.0/3"));
	ck_assert(!COVERS(AF_INET, "128.0.0.0/1", "0.0.0.0/2", "64.0.0.0/3",
	    "96.0.0.0/4", "112.0.0.0/5", "120.0.0.0/6", "124.0.0.0/7",
	    "126.0.0.0/8"));
	ck_assert(!COVERS(AF_INET, "::/0"));
	ck_assert(!COVERS(AF_INET, "127.0.0.0/8", "::1/128"));
	ck_assert(COVERS(AF_INET6, "::/0"));
	ck_assert(COVERS(AF_INET6, "8000::/1", "::/1"));
	ck_assert(!COVERS(AF_INET6, "::/1"));
	ck_assert(!COVERS(AF_INET6, "0.0.0.0/0", "::ffff:0:0/96"));
	ck_assert(!COVERS(AF_INET6, "::/1", "8000::/2", "c000::/3", "e000::/4",
	    "f000::/5", "f800::/6", "fc00::/7", "fe00::/8"));
	ck_assert(!cidr_cover(NULL, 0, AF_INET));
}
END_TEST

/* linefile: the reader of the configuration and of its included lists. */
static int
collect(void *ctx, char *line, int lineno, int ctl, char *err, size_t errlen)
{
	struct strbuf *sb = ctx;

	if (strcmp(line, "fail") == 0) {
		snprintf(err, errlen, "told to");
		return -1;
	}
	strbuf_printf(sb, "%d%s[%s]", lineno, ctl ? "!" : "", line);
	return 0;
}

START_TEST(t_linefile)
{
	struct strbuf sb;
	char	err[256], *big;

	strbuf_init(&sb);
	ck_assert_int_eq(linefile_text("x", "a\r\n# c\n b # c\nd#e\n\x01z # \x01"
	    "\nlast", collect, &sb, err, sizeof(err)), 0);
	ck_assert_str_eq(strbuf_str(&sb),
	    "1[a]2[]3[ b ]4[d#e]5![\x01z ]6[last]");
	strbuf_reset(&sb);
	ck_assert_int_eq(linefile_text("x", "ok\nfail\nnever", collect, &sb,
	    err, sizeof(err)), -1);
	ck_assert_str_eq(err, "x:2: told to");
	ck_assert_str_eq(strbuf_str(&sb), "1[ok]");
	big = calloc(1, LINEFILE_MAX_LINE + 8);
	memset(big, 'a', LINEFILE_MAX_LINE + 1);
	ck_assert_int_eq(linefile_text("x", big, collect, &sb, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "x:1: line longer than"));
	free(big);
	ck_assert_int_eq(linefile_read("/nonexistent/sg", collect, &sb, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/sg: cannot open"));
	strbuf_free(&sb);
}
END_TEST

START_TEST(t_cidr_bad)
{
	static const struct {
		const char *text;
		const char *why;	/* a word of the reason */
	} bad[] = {
		{ "10.0.0.1/8", "host bits" },
		{ "127.0.0.1/8", "host bits" },
		{ "192.168.1.129/25", "host bits" },
		{ "2001:db8::1/32", "host bits" },
		{ "::1/127", "host bits" },
		{ "::ffff:10.0.0.0/100", "host bits" },
		{ "10.0.0.0/33", "prefix" },
		{ "10.0.0.0/128", "prefix" },
		{ "::/129", "prefix" },
		{ "10.0.0.0/", "prefix" },
		{ "10.0.0.0/-1", "prefix" },
		{ "10.0.0.0/+8", "prefix" },
		{ "10.0.0.0/ 8", "prefix" },
		{ "10.0.0.0/8x", "prefix" },
		{ "10.0.0.0/8/8", "prefix" },
		{ "10.0.0.0/0x8", "prefix" },
		{ "10.0.0.0/99999999999999999999999", "prefix" },
		{ "::ffff:127.0.0.0/8", "prefix" },
		{ "10.0.0/8", "address" },
		{ "/8", "address" },
		{ "", "address" },
		{ "example.com", "address" },
		{ "300.0.0.0/8", "address" },
	};
	struct cidr c;
	const char *why;
	char	longtext[200];
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(cidr_parse(bad[i].text, &c, &why) == -1,
		    "'%s' accepted", bad[i].text);
		ck_assert_ptr_nonnull(why);
		ck_assert_msg(strstr(why, bad[i].why) != NULL,
		    "'%s': reason '%s' lacks '%s'", bad[i].text, why, bad[i].why);
	}
	memset(longtext, '1', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	why = NULL;
	ck_assert_int_eq(cidr_parse(longtext, &c, &why), -1);
	ck_assert_ptr_nonnull(why);
}
END_TEST

/* addr */

static void
dom_is(const char *addr, const char *want)
{
	const char *dom = (const char *)1;
	size_t	len = 99;
	int	rc = addr_domain(addr, &dom, &len);

	ck_assert_msg(rc == ADDR_DOMAIN, "'%s': rc %d", addr, rc);
	ck_assert_ptr_nonnull(dom);
	ck_assert_msg(len == strlen(want) && memcmp(dom, want, len) == 0,
	    "'%s': domain '%.*s', want '%s'", addr, (int)len, dom, want);
	/* points into the address */
	ck_assert(dom >= addr && dom + len <= addr + strlen(addr));
}

static void
dom_rc(const char *addr, int want)
{
	const char *dom = (const char *)1;
	size_t	len = 99;
	int	rc = addr_domain(addr, &dom, &len);

	ck_assert_msg(rc == want, "'%s': rc %d, want %d", addr, rc, want);
	ck_assert_ptr_null(dom);
	ck_assert_uint_eq(len, 0);
}

START_TEST(t_addr_domain)
{
	dom_is("<user@Example.COM>", "Example.COM");
	dom_is("user@example.com", "example.com");
	dom_is("  <user@example.com>\t", "example.com");
	dom_is("<@a.test,@b.test:u@dom.test>", "dom.test");
	dom_is("<@a.test:u@dom.test>", "dom.test");
	dom_is("@a.test:u@dom.test", "dom.test");
	dom_is("<\"a@b\"@dom.test>", "dom.test");
	dom_is("<\"x@local.test\"@remote.test>", "remote.test");
	dom_is("<\"a\\\"@b\"@dom.test>", "dom.test");
	dom_is("<\"a\\\\\"@dom.test>", "dom.test");
	dom_is("<a\\@b@dom.test>", "dom.test");
	dom_is("<a@b@dom.test>", "dom.test");
	dom_is("<user@dom.test.>", "dom.test");
	dom_is("<user@dom.test..>", "dom.test");
	dom_is("user@[192.0.2.1]", "[192.0.2.1]");
	dom_is("user@[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]");
}
END_TEST

START_TEST(t_addr_no_domain)
{
	dom_rc("postmaster", ADDR_NO_DOMAIN);
	dom_rc("<postmaster>", ADDR_NO_DOMAIN);
	dom_rc("<Postmaster>", ADDR_NO_DOMAIN);
	dom_rc("<\"a@b\">", ADDR_NO_DOMAIN);
	dom_rc("<a\\@b>", ADDR_NO_DOMAIN);
	dom_rc("<@a.test:postmaster>", ADDR_NO_DOMAIN);
}
END_TEST

START_TEST(t_addr_malformed)
{
	dom_rc("<>", ADDR_MALFORMED);
	dom_rc("", ADDR_MALFORMED);
	dom_rc("   ", ADDR_MALFORMED);
	dom_rc("user@", ADDR_MALFORMED);
	dom_rc("<user@>", ADDR_MALFORMED);
	dom_rc("<user@.>", ADDR_MALFORMED);
	dom_rc("<\"user@dom.test>", ADDR_MALFORMED);
	dom_rc("\"abc", ADDR_MALFORMED);
	dom_rc("<\"a\\\"@dom.test>", ADDR_MALFORMED);
	dom_rc("<user@dom", ADDR_MALFORMED);
	dom_rc("<", ADDR_MALFORMED);
	dom_rc("<@a.test>", ADDR_MALFORMED);
	dom_rc("<@a.test,@b.test>", ADDR_MALFORMED);
}
END_TEST

START_TEST(t_addr_readonly)
{
	char	addr[] = "<\"a@b\"@Dom.Test.>";
	char	copy[sizeof(addr)];
	const char *dom;
	size_t	len;

	memcpy(copy, addr, sizeof(addr));
	ck_assert_int_eq(addr_domain(addr, &dom, &len), ADDR_DOMAIN);
	ck_assert_mem_eq(addr, copy, sizeof(addr));
}
END_TEST

static int
DM(const char *entry, const char *dom)
{
	return domain_match(entry, dom, strlen(dom));
}

START_TEST(t_domain_match)
{
	ck_assert(DM("example.com", "example.com"));
	ck_assert(DM("example.com", "EXAMPLE.Com"));
	ck_assert(DM("Example.COM", "example.com"));
	ck_assert(!DM("example.com", "a.example.com"));
	ck_assert(!DM("example.com", "example.co"));
	ck_assert(!DM("example.com", "example.comm"));
	ck_assert(!DM("example.com", "xexample.com"));

	ck_assert(DM(".example.com", "example.com"));
	ck_assert(DM(".example.com", "a.example.com"));
	ck_assert(DM(".example.com", "a.b.example.com"));
	ck_assert(DM(".example.com", "A.B.EXAMPLE.COM"));
	ck_assert(DM(".EXAMPLE.com", "x.example.COM"));
	ck_assert(!DM(".example.com", "badexample.com"));
	ck_assert(!DM(".example.com", "example.com.evil.test"));
	ck_assert(!DM(".example.com", "xample.com"));
	ck_assert(!DM(".example.com", ".example.com"));
	ck_assert(!DM(".example.com", "com"));
	ck_assert(!DM(".example.com", ""));

	/* length is honoured: dom need not be NUL-terminated */
	ck_assert(domain_match("example.com", "example.com>", 11));
	ck_assert(!domain_match("example.com", "example.com", 10));
	ck_assert(domain_match(".example.com", "a.example.comXYZ", 13));
}
END_TEST

START_TEST(t_domain_valid)
{
	static const char *const good[] = {
		"example.com", ".example.com", "a", "a-b.c_d.example",
		"xn--bcher-kva.example", "EXAMPLE.COM", "123.example",
		"[192.0.2.1]", "[IPv6:2001:db8::1]",
	};
	static const char *const bad[] = {
		"", ".", "..example.com", "a..b", "example.com.", ".example..com",
		"exa mple.com", "exa!mple.com", "a/b", "a@b", "caf\xc3\xa9.test",
		"[192.0.2.1", ".[192.0.2.1]", "x[1.2.3.4]", "a*.b",
	};
	const char *why;
	size_t	i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = NULL;
		ck_assert_msg(domain_valid(good[i], &why) == 0, "'%s': %s",
		    good[i], why ? why : "?");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(domain_valid(bad[i], &why) == -1, "'%s' accepted",
		    bad[i]);
		ck_assert_ptr_nonnull(why);
		ck_assert_str_ne(why, "");
	}
}
END_TEST

/* Address literals must hold an address: regression of a laxer check. */
START_TEST(t_domain_valid_literal_content)
{
	static const char *const bad[] = {
		"[]", "[a;b]", "[a b]", "[x]y]", "[example.com]", "[1.2.3]",
		"[IPv6:]",
	};
	const char *why;
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(domain_valid(bad[i], &why) == -1,
		    "'%s' accepted as a domain", bad[i]);
		ck_assert_ptr_nonnull(why);
	}
}
END_TEST

/*
 * ipaddr_parse() itself strips brackets and an "IPv6:" tag, so the
 * literal check must not let doubly bracketed forms through.
 */
START_TEST(t_domain_valid_literal_nested)
{
	static const char *const bad[] = { "[[192.0.2.1]]", "[IPv6:[::1]]" };
	const char *why;
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(domain_valid(bad[i], &why) == -1,
		    "'%s' accepted as a domain", bad[i]);
	}
}
END_TEST

/* hex */

START_TEST(t_hex_encode)
{
	char	out[80], *end;
	unsigned char all[256];
	unsigned i;

	end = hex_encode(out, "", 0);
	ck_assert_ptr_eq(end, out);
	ck_assert_str_eq(out, "");
	end = hex_encode(out, "\x00\x01\x7f\x80\xab\xff", 6);
	ck_assert_str_eq(out, "00017f80abff");
	ck_assert_ptr_eq(end, out + 12);
	/* every byte, against printf */
	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	for (i = 0; i < 256; i++) {
		char	want[3];

		hex_encode(out, all + i, 1);
		snprintf(want, sizeof(want), "%02x", i);
		ck_assert_str_eq(out, want);
	}
	/* chained calls */
	end = hex_encode(out, "\x12", 1);
	hex_encode(end, "\x34", 1);
	ck_assert_str_eq(out, "1234");
}
END_TEST

/* chain: HMAC-SHA256 over prev, "\n", body (values from Python's hmac) */
START_TEST(t_chain_mac)
{
	unsigned char kb[] = "0123456789abcdef";
	struct pseudo_key key = { kb, 16 };
	struct chain ch;
	char	out[CHAIN_HEX + 1];
	int	i;

	ck_assert_int_eq(chain_init(&ch, &key), 0);
	/* the same answer every time: the fetched algorithm is reused */
	for (i = 0; i < 3; i++) {
		chain_mac(&ch, "", "{\"a\":1}", 7, out);
		ck_assert_str_eq(out, "adee178e73dfb7b72bdea1822ce962fa"
		    "49c3dc9b4200f1e4fd9d828c21efcd14");
		chain_mac(&ch, "abc", "{\"a\":1}", 7, out);
		ck_assert_str_eq(out, "89d01a70074bb038e1e6680d9a8c7c14"
		    "84bd1790c1a2ac8bf6b04d5388ec6e1b");
	}
	chain_free(&ch);
	ck_assert_ptr_null(ch.mac);
	/* after chain_free(): no mac, not a crash */
	chain_mac(&ch, "", "x", 1, out);
	ck_assert_str_eq(out, "");
}
END_TEST

/* write_buf */

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A whole buffer through a pipe, bigger than the pipe: a reader drains. */
struct drain {
	int	 fd;
	size_t	 got;
	unsigned long sum;
};

static void *
drain_main(void *arg)
{
	struct drain *d = arg;
	unsigned char buf[1000];
	ssize_t	n;
	ssize_t	i;

	while ((n = read(d->fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++)
			d->sum += buf[i] * (unsigned long)((d->got + (size_t)i) % 7 + 1);
		d->got += (size_t)n;
	}
	return NULL;
}

START_TEST(t_write_buf_whole)
{
	static unsigned char data[300000];
	struct drain d;
	pthread_t th;
	unsigned long want = 0;
	size_t	i, done = 1;
	int	pfd[2];

	for (i = 0; i < sizeof(data); i++) {
		data[i] = (unsigned char)(i * 31 + 7);
		want += data[i] * (unsigned long)(i % 7 + 1);
	}
	ck_assert_int_eq(pipe(pfd), 0);
	/* non-blocking: short writes and EAGAIN happen, and are waited out */
	ck_assert_int_eq(fcntl(pfd[1], F_SETFL, O_NONBLOCK), 0);
	memset(&d, 0, sizeof(d));
	d.fd = pfd[0];
	ck_assert_int_eq(pthread_create(&th, NULL, drain_main, &d), 0);
	ck_assert_int_eq(write_buf(pfd[1], data, sizeof(data), -1, &done), 0);
	ck_assert_uint_eq(done, sizeof(data));
	ck_assert_int_eq(write_buf(pfd[1], data, 0, 0, &done), 0);
	ck_assert_uint_eq(done, 0);
	close(pfd[1]);
	pthread_join(th, NULL);
	close(pfd[0]);
	ck_assert_uint_eq(d.got, sizeof(data));
	ck_assert_uint_eq(d.sum, want);
}
END_TEST

/* A full pipe nobody reads: bounded wait, ETIMEDOUT, the bytes written. */
START_TEST(t_write_buf_timeout)
{
	static char data[200000];
	long long t0, ms;
	size_t	done = 0, cap;
	int	pfd[2];

	ck_assert_int_eq(pipe(pfd), 0);
	ck_assert_int_eq(fcntl(pfd[1], F_SETFL, O_NONBLOCK), 0);
	cap = (size_t)fcntl(pfd[1], F_GETPIPE_SZ);
	memset(data, 'x', sizeof(data));
	ck_assert_uint_lt(cap, sizeof(data));
	t0 = mono_ms();
	errno = 0;
	ck_assert_int_eq(write_buf(pfd[1], data, sizeof(data), 100, &done), -1);
	ms = mono_ms() - t0;
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_uint_eq(done, cap);		/* stopped part-way, and says so */
	ck_assert_msg(ms >= 90, "gave up after %lld ms, not 100", ms);
	ck_assert_msg(ms < 2000, "waited %lld ms for a 100 ms bound", ms);
	/* timeout 0: no wait at all */
	t0 = mono_ms();
	ck_assert_int_eq(write_buf(pfd[1], data, 10, 0, &done), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_lt(mono_ms() - t0, 50);
	close(pfd[0]);
	close(pfd[1]);
}
END_TEST

/* A write error ends the call at once, with errno and the count. */
START_TEST(t_write_buf_error)
{
	size_t	done = 7;
	int	fd;

	fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	errno = 0;
	ck_assert_int_eq(write_buf(fd, "abc", 3, -1, &done), -1);
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_uint_eq(done, 0);
	close(fd);
	errno = 0;
	ck_assert_int_eq(write_buf(-1, "abc", 3, 100, NULL), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

static Suite *
util_suite(void)
{
	Suite	*s = suite_create("util");
	TCase	*tc;

	tc = tcase_create("strbuf");
	tcase_add_test(tc, t_strbuf_empty);
	tcase_add_test(tc, t_strbuf_append);
	tcase_add_test(tc, t_strbuf_printf);
	tcase_add_test(tc, t_strbuf_growth);
	tcase_add_test(tc, t_strbuf_reset);
	tcase_add_test(tc, t_strbuf_failed);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_test(tc, t_json_plain);
	tcase_add_test(tc, t_json_controls);
	tcase_add_test(tc, t_json_all_bytes);
	tcase_add_test(tc, t_json_wire_roundtrip);
	tcase_add_test(tc, t_json_wire_decode_old);
	tcase_add_test(tc, t_json_utf8_valid);
	tcase_add_test(tc, t_json_utf8_invalid);
	tcase_add_test(tc, t_utf8_seq_len);
	tcase_add_test(tc, t_json_truncate_ascii);
	tcase_add_test(tc, t_json_truncate_multibyte);
	tcase_add_test(tc, t_json_truncate_property);
	tcase_add_test(tc, t_json_unbounded);
	tcase_add_test(tc, t_json_appends);
	suite_add_tcase(s, tc);

	tc = tcase_create("ipaddr");
	tcase_add_test(tc, t_ipaddr_parse);
	tcase_add_test(tc, t_ipaddr_format_sockaddr);
	tcase_add_test(tc, t_cidr_v4);
	tcase_add_test(tc, t_cidr_v6);
	tcase_add_test(tc, t_cidr_bad);
	tcase_add_test(tc, t_cidr_cover);
	tcase_add_test(tc, t_linefile);
	suite_add_tcase(s, tc);

	tc = tcase_create("addr");
	tcase_add_test(tc, t_addr_domain);
	tcase_add_test(tc, t_addr_no_domain);
	tcase_add_test(tc, t_addr_malformed);
	tcase_add_test(tc, t_addr_readonly);
	tcase_add_test(tc, t_domain_match);
	tcase_add_test(tc, t_domain_valid);
	tcase_add_test(tc, t_domain_valid_literal_content);
	tcase_add_test(tc, t_domain_valid_literal_nested);
	suite_add_tcase(s, tc);

	tc = tcase_create("io");
	tcase_add_test(tc, t_hex_encode);
	tcase_add_test(tc, t_chain_mac);
	tcase_add_test(tc, t_write_buf_whole);
	tcase_add_test(tc, t_write_buf_timeout);
	tcase_add_test(tc, t_write_buf_error);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(util_suite());
	int	failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
