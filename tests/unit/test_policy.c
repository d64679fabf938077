/*
 * Unit tests of src/policy.c: the relay decision of SPEC section 2.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "policy.h"
#include "util/ipaddr.h"

static char err[1024];
static struct sg_config *cfg;

static const char conf[] =
    "local_domains = local.test, .Sub.Local.test, [192.0.2.25]\n"
    "relay_domains = Backup.test .relay.test\n"
    "trusted_networks = 198.51.100.0/24, 2001:db8:1::/48, 10.9.9.9 "
    "203.0.113.16/28\n";

static void
setup(void)
{
	cfg = config_load_string("t.conf", conf, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
}

static void
teardown(void)
{
	config_free(cfg);
	cfg = NULL;
}

static struct ipaddr *
ip(const char *text, struct ipaddr *a)
{
	ck_assert_msg(ipaddr_parse(text, a) == 0, "'%s' refused", text);
	return a;
}

static void
is_local(const char *rcpt, enum policy_why want)
{
	enum policy_why why = (enum policy_why)-1;

	ck_assert_msg(policy_is_local(cfg, rcpt, &why) == 1, "%s not local", rcpt);
	ck_assert_msg(why == want, "%s: why %d, want %d", rcpt, why, want);
}

static void
is_relay(const char *rcpt)
{
	enum policy_why why = WHY_LOCAL;

	ck_assert_msg(policy_is_local(cfg, rcpt, &why) == 0, "%s local", rcpt);
}

START_TEST(t_local_domains)
{
	is_local("<user@local.test>", WHY_LOCAL);
	is_local("<User@LOCAL.Test>", WHY_LOCAL);
	is_local("user@local.test", WHY_LOCAL);
	is_local("<user@local.test.>", WHY_LOCAL);
	is_local("<user@sub.local.test>", WHY_LOCAL);
	is_local("<user@a.b.SUB.local.test>", WHY_LOCAL);
	is_local("<user@[192.0.2.25]>", WHY_LOCAL);
	is_relay("<user@x.local.test>");	/* local.test has no dot: exact */
	is_relay("<user@badlocal.test>");
	is_relay("<user@local.test.evil.test>");
	is_relay("<user@xsub.local.test>");
	is_relay("<user@[192.0.2.26]>");
}
END_TEST

START_TEST(t_relay_domains)
{
	is_local("<user@backup.test>", WHY_RELAY_DOMAIN);
	is_local("<user@BACKUP.TEST>", WHY_RELAY_DOMAIN);
	is_local("<user@relay.test>", WHY_RELAY_DOMAIN);
	is_local("<user@mx.Relay.Test>", WHY_RELAY_DOMAIN);
	is_relay("<user@a.backup.test>");
	is_relay("<user@notrelay.test>");
}
END_TEST

START_TEST(t_address_forms)
{
	/* no domain: local */
	is_local("<postmaster>", WHY_NO_DOMAIN);
	is_local("postmaster", WHY_NO_DOMAIN);
	/* sender-specified routing is a relay attempt (as in Postfix) */
	is_relay("<\"a@remote.test\">");
	/* the domain is after the last @ outside quotes */
	is_relay("<\"x@local.test\"@remote.test>");
	is_relay("<x\\@local.test@remote.test>");
	is_relay("<x@local.test@remote.test>");
	is_relay("<\"x@remote.test\"@local.test>");
	is_relay("<user%remote.test@local.test>");
	is_relay("<remote.test!user@local.test>");
	is_relay("<\"user%remote.test\"@local.test>");
	is_local("<\"john doe\"@local.test>", WHY_LOCAL);
	/* source routes are stripped */
	is_relay("<@local.test:user@remote.test>");
	is_relay("<@local.test,@sub.local.test:user@remote.test>");
	is_local("<@remote.test:user@local.test>", WHY_LOCAL);
	/* malformed: in doubt, a relay attempt */
	is_relay("<>");
	is_relay("<user@local.test");
	is_relay("user@");
	is_relay("<\"user@local.test>");
	is_relay("<@local.test>");
	is_relay("");
}
END_TEST

START_TEST(t_trusted)
{
	struct ipaddr a;
	struct sg_config *def = config_defaults(err, sizeof(err));

	ck_assert(policy_is_trusted(cfg, ip("198.51.100.1", &a)));
	ck_assert(policy_is_trusted(cfg, ip("198.51.100.255", &a)));
	ck_assert(policy_is_trusted(cfg, ip("::ffff:198.51.100.7", &a)));
	ck_assert(policy_is_trusted(cfg, ip("10.9.9.9", &a)));
	ck_assert(policy_is_trusted(cfg, ip("2001:db8:1::1", &a)));
	ck_assert(policy_is_trusted(cfg, ip("2001:db8:1:ffff::1", &a)));
	ck_assert(!policy_is_trusted(cfg, ip("198.51.101.1", &a)));
	ck_assert(!policy_is_trusted(cfg, ip("10.9.9.8", &a)));
	ck_assert(!policy_is_trusted(cfg, ip("2001:db8:2::1", &a)));
	ck_assert(!policy_is_trusted(cfg, ip("127.0.0.1", &a)));
	ck_assert(!policy_is_trusted(cfg, ip("::1", &a)));
	ck_assert(!policy_is_trusted(cfg, NULL));
	memset(&a, 0, sizeof(a));
	ck_assert(!policy_is_trusted(cfg, &a));

	ck_assert_ptr_nonnull(def);
	ck_assert(policy_is_trusted(def, ip("127.0.0.1", &a)));
	ck_assert(policy_is_trusted(def, ip("::ffff:127.0.0.1", &a)));
	ck_assert(policy_is_trusted(def, ip("::1", &a)));
	ck_assert(!policy_is_trusted(def, ip("192.0.2.1", &a)));
	ck_assert(!policy_is_trusted(def, NULL));
	config_free(def);
}
END_TEST

START_TEST(t_no_trusted_networks)
{
	struct sg_config *none = config_load_string("t.conf",
	    "trusted_networks =\n", err, sizeof(err));
	struct ipaddr a;
	struct policy_result r;

	ck_assert_ptr_nonnull(none);
	ck_assert(!policy_is_trusted(none, ip("127.0.0.1", &a)));
	r = policy_decide_rcpt(none, ip("127.0.0.1", &a), "<x@remote.test>", 0);
	ck_assert_int_eq(r.relay, 1);
	ck_assert_int_eq(r.permitted, 0);
	ck_assert_int_eq(r.why, WHY_REFUSED);
	config_free(none);
}
END_TEST

static const struct decision {
	const char *client;	/* NULL: no IP address */
	const char *rcpt;
	int	auth;
	int	relay;
	int	permitted;
	enum policy_why why;
} decisions[] = {
	/* local recipients: permitted whoever asks */
	{ "192.0.2.1", "<u@local.test>", 0, 0, 1, WHY_LOCAL },
	{ NULL, "<u@local.test>", 0, 0, 1, WHY_LOCAL },
	{ "192.0.2.1", "<u@Local.TEST>", 1, 0, 1, WHY_LOCAL },
	{ "198.51.100.9", "<u@x.sub.local.test>", 0, 0, 1, WHY_LOCAL },
	{ "192.0.2.1", "<u@backup.test>", 0, 0, 1, WHY_RELAY_DOMAIN },
	{ "192.0.2.1", "<postmaster>", 0, 0, 1, WHY_NO_DOMAIN },
	/* relay attempts */
	{ "192.0.2.1", "<u@remote.test>", 0, 1, 0, WHY_REFUSED },
	{ "192.0.2.1", "<u@remote.test>", 1, 1, 1, WHY_AUTHENTICATED },
	{ "198.51.100.9", "<u@remote.test>", 0, 1, 1, WHY_TRUSTED },
	{ "::ffff:198.51.100.9", "<u@remote.test>", 0, 1, 1, WHY_TRUSTED },
	{ "2001:db8:1::25", "<u@remote.test>", 0, 1, 1, WHY_TRUSTED },
	{ "2001:db8:2::25", "<u@remote.test>", 0, 1, 0, WHY_REFUSED },
	{ "2001:db8:2::25", "<u@remote.test>", 1, 1, 1, WHY_AUTHENTICATED },
	{ "198.51.100.9", "<u@remote.test>", 1, 1, 1, WHY_AUTHENTICATED },
	{ NULL, "<u@remote.test>", 0, 1, 0, WHY_REFUSED },
	{ NULL, "<u@remote.test>", 1, 1, 1, WHY_AUTHENTICATED },
	{ "127.0.0.1", "<u@remote.test>", 0, 1, 0, WHY_REFUSED },
	{ "192.0.2.1", "<\"u@local.test\"@remote.test>", 0, 1, 0, WHY_REFUSED },
	{ "192.0.2.1", "<@local.test:u@remote.test>", 0, 1, 0, WHY_REFUSED },
	{ "192.0.2.1", "<>", 0, 1, 0, WHY_REFUSED },
	{ "192.0.2.1", "<u@local.test", 0, 1, 0, WHY_REFUSED },
	{ "198.51.100.9", "<u@local.test", 0, 1, 1, WHY_TRUSTED },
	{ "192.0.2.1", "<u@badlocal.test>", 0, 1, 0, WHY_REFUSED },
	{ "203.0.113.31", "<u@remote.test>", 0, 1, 1, WHY_TRUSTED },
	{ "203.0.113.32", "<u@remote.test>", 0, 1, 0, WHY_REFUSED },
	{ "203.0.113.15", "<u@remote.test>", 0, 1, 0, WHY_REFUSED },
};

START_TEST(t_decide)
{
	const struct decision *d = &decisions[_i];
	struct ipaddr a, *client = NULL;
	struct policy_result r;

	if (d->client)
		client = ip(d->client, &a);
	r = policy_decide_rcpt(cfg, client, d->rcpt, d->auth);
	ck_assert_msg(r.relay == d->relay && r.permitted == d->permitted
	    && r.why == d->why,
	    "client %s rcpt %s auth %d: relay %d permitted %d why %d, "
	    "want %d %d %d", d->client ? d->client : "(none)", d->rcpt,
	    d->auth, r.relay, r.permitted, r.why, d->relay, d->permitted,
	    d->why);
}
END_TEST

START_TEST(t_decide_auth_is_boolean)
{
	struct ipaddr a;
	struct policy_result r;

	r = policy_decide_rcpt(cfg, ip("192.0.2.1", &a), "<u@remote.test>", 7);
	ck_assert_int_eq(r.permitted, 1);
	ck_assert_int_eq(r.why, WHY_AUTHENTICATED);
}
END_TEST

START_TEST(t_decide_monitor_same)
{
	/* mode does not change the decision, only what the caller does */
	struct sg_config *mon = config_load_string("t.conf",
	    "mode = monitor\nlocal_domains = local.test\n", err, sizeof(err));
	struct ipaddr a;
	struct policy_result r;

	ck_assert_ptr_nonnull(mon);
	r = policy_decide_rcpt(mon, ip("192.0.2.1", &a), "<u@remote.test>", 0);
	ck_assert_int_eq(r.relay, 1);
	ck_assert_int_eq(r.permitted, 0);
	ck_assert_int_eq(r.why, WHY_REFUSED);
	config_free(mon);
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite	*s = suite_create("policy");
	TCase	*tc;

	tc = tcase_create("policy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_local_domains);
	tcase_add_test(tc, t_relay_domains);
	tcase_add_test(tc, t_address_forms);
	tcase_add_test(tc, t_trusted);
	tcase_add_test(tc, t_no_trusted_networks);
	tcase_add_loop_test(tc, t_decide, 0,
	    (int)(sizeof(decisions) / sizeof(decisions[0])));
	tcase_add_test(tc, t_decide_auth_is_boolean);
	tcase_add_test(tc, t_decide_monitor_same);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(policy_suite());
	int	failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
