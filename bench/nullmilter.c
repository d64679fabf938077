/*
 * NAME
 *	nullmilter - the smallest libmilter filter, for benchmarks
 * SYNOPSIS
 *	nullmilter -p SOCKET
 * DESCRIPTION
 *	Registers the same callbacks and macro lists as sessguard, but asks
 *	the MTA for everything, as a plain null libmilter filter does: every
 *	protocol step, a reply to each, the header actions. On purpose this
 *	is NOT what sessguard negotiates: since issue 12 sessguard asks for
 *	no body, no headers (unless auth_results = yes) and no reply where
 *	it never refuses, and the target is that it beats this baseline.
 *	Every callback answers SMFIS_CONTINUE and keeps no state: what is
 *	left is the price of libmilter and the full milter protocol, the
 *	baseline sessguard is measured against.
 *
 *	SOCKET is in libmilter's syntax (unix:/path, inet:PORT@HOST). A unix
 *	socket is made mode 0666, so an MTA running as another user (Postfix)
 *	can connect. Runs in the foreground until SIGTERM (libmilter takes up
 *	to about 5 s to stop).
 * DIAGNOSTICS
 *	Exit 1 with a message when the socket cannot be opened.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

static sfsistat
null_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	(void)f2;
	(void)f3;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST);
	*pf1 = f1 & SMFIP_RCPT_REJ;
	*pf2 = 0;
	*pf3 = 0;
	if (f0 & SMFIF_SETSYMLIST) {
		smfi_setsymlist(ctx, SMFIM_CONNECT, "j {daemon_name}");
		smfi_setsymlist(ctx, SMFIM_HELO,
		    "{tls_version} {cipher} {cipher_bits}");
		smfi_setsymlist(ctx, SMFIM_ENVFROM,
		    "i {auth_type} {auth_authen} {auth_author}");
		smfi_setsymlist(ctx, SMFIM_ENVRCPT, "{rcpt_mailer}");
		smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

static sfsistat
null_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
	(void)ctx;
	(void)host;
	(void)addr;
	return SMFIS_CONTINUE;
}

static sfsistat
null_str(SMFICTX *ctx, char *s)
{
	(void)ctx;
	(void)s;
	return SMFIS_CONTINUE;
}

static sfsistat
null_argv(SMFICTX *ctx, char **argv)
{
	(void)ctx;
	(void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
null_header(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx;
	(void)name;
	(void)value;
	return SMFIS_CONTINUE;
}

static sfsistat
null_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	(void)ctx;
	(void)chunk;
	(void)len;
	return SMFIS_CONTINUE;
}

static sfsistat
null_unknown(SMFICTX *ctx, const char *cmd)
{
	(void)ctx;
	(void)cmd;
	return SMFIS_CONTINUE;
}

static sfsistat
null_ctx(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

int
main(int argc, char **argv)
{
	struct smfiDesc desc;
	const char *sock = NULL, *path = NULL;
	int	ch;

	while ((ch = getopt(argc, argv, "p:")) != -1) {
		if (ch != 'p') {
			fprintf(stderr, "usage: nullmilter -p SOCKET\n");
			return 2;
		}
		sock = optarg;
	}
	if (sock == NULL || optind != argc) {
		fprintf(stderr, "usage: nullmilter -p SOCKET\n");
		return 2;
	}
	memset(&desc, 0, sizeof(desc));
	desc.xxfi_name = "nullmilter";
	desc.xxfi_version = SMFI_VERSION;
	desc.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST;
	desc.xxfi_connect = null_connect;
	desc.xxfi_helo = null_str;
	desc.xxfi_envfrom = null_argv;
	desc.xxfi_envrcpt = null_argv;
	desc.xxfi_header = null_header;
	desc.xxfi_eoh = null_ctx;
	desc.xxfi_body = null_body;
	desc.xxfi_eom = null_ctx;
	desc.xxfi_abort = null_ctx;
	desc.xxfi_close = null_ctx;
	desc.xxfi_unknown = null_unknown;
	desc.xxfi_data = null_ctx;
	desc.xxfi_negotiate = null_negotiate;
	if (smfi_setconn((char *)sock) != MI_SUCCESS
	    || smfi_register(desc) != MI_SUCCESS
	    || smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "nullmilter: cannot open socket %s\n", sock);
		return 1;
	}
	if (strncmp(sock, "unix:", 5) == 0)
		path = sock + 5;
	else if (strncmp(sock, "local:", 6) == 0)
		path = sock + 6;
	else if (sock[0] == '/')
		path = sock;
	if (path != NULL && chmod(path, 0666) < 0)
		perror(path);
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
