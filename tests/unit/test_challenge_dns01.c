/*
 * test_challenge_dns01.c - the dns-01 responders against a real BIND 9
 * (`named`, started here in a temporary directory on a loopback port, with
 * a dynamic zone and TSIG keys from `tsig-keygen`): hook scripts that
 * publish with nsupdate, fail, print garbage or hang; RFC 2136 updates
 * with the right key, a wrong secret, an unknown key and a key the zone
 * does not allow; the wait at --dns-resolver and at the zone's
 * authoritative servers found by SOA/NS; cancel.  Everything on 127.0.0.1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "challenge/dns01.h"

#define ZONE "example.test"
#define KEYAUTH1 "tok1.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define KEYAUTH2 "tok2.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

static struct {
	char dir[64];
	unsigned port;
	pid_t pid;
	char spec[64];     /* "127.0.0.1:PORT" */
} B;

static struct ck_ctx ctx;

static void
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

static void
write_file(const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", B.dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static int
port_free(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int ok = 1, types[2] = { SOCK_DGRAM, SOCK_STREAM }, i;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < 2; i++) {
		int fd = socket(AF_INET, types[i], 0);

		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
			ok = 0;
		if (fd >= 0)
			close(fd);
	}
	return ok;
}

/* 1 if the server at spec answers TXT fqdn with value. */
static int
txt_at(const char *spec, const char *fqdn, const char *value)
{
	ldns_resolver *res = NULL;
	ldns_rdf *name = ldns_dname_new_frm_str(fqdn);
	ldns_pkt *p = NULL;
	int found = 0;

	assert_int_equal(dns01_resolver_for(spec, 53, 0, "test", &res, NULL), CK_OK);
	if (ldns_resolver_send(&p, res, name, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, 0) ==
	    LDNS_STATUS_OK && p != NULL)
		found = dns01_txt_match(p, fqdn, value, NULL, 0);
	ldns_pkt_free(p);
	ldns_rdf_deep_free(name);
	ldns_resolver_deep_free(res);
	return found;
}

/* 1 once named answers for the zone; 0 if it exited (its port was taken) or never answered. */
static int
bind_up(void)
{
	char *zone = NULL;
	ldns_resolver *res = NULL;
	int i, up = 0;

	for (i = 0; i < 150 && !up; i++) {
		if (waitpid(B.pid, NULL, WNOHANG) == B.pid) {
			B.pid = 0;
			return 0;
		}
		if (dns01_resolver_for(B.spec, 53, 0, "test", &res, NULL) == CK_OK &&
		    dns01_zone_find(res, "www." ZONE, &zone, NULL) == CK_OK)
			up = 1;
		free(zone);
		zone = NULL;
		ldns_resolver_deep_free(res);
		res = NULL;
		if (!up)
			usleep(100000);
	}
	return up;
}

/* Starts named on a free port of 127.0.0.1; 1 when it answers. */
static int
bind_launch(void)
{
	char conf[2048], path[128], port[16];

	do
		B.port = 20000 + (unsigned)rand() % 10000;
	while (!port_free(B.port));
	snprintf(B.spec, sizeof(B.spec), "127.0.0.1:%u", B.port);
	snprintf(conf, sizeof(conf),
		 "options { directory \"%s\"; listen-on port %u { 127.0.0.1; };\n"
		 "  listen-on-v6 { none; }; pid-file \"%s/named.pid\"; recursion no;\n"
		 "  dnssec-validation no; };\ncontrols { };\n"
		 "include \"%s/key.conf\";\ninclude \"%s/other.conf\";\n"
		 "zone \"" ZONE "\" { type primary; file \"%s/" ZONE ".zone\";\n"
		 "  allow-update { key ck-test; }; };\n",
		 B.dir, B.port, B.dir, B.dir, B.dir, B.dir);
	write_file("named.conf", conf, 0644);
	sh("chown -R bind:bind %s", B.dir);
	snprintf(path, sizeof(path), "%s/named.conf", B.dir);
	snprintf(port, sizeof(port), "%u", B.port);
	B.pid = fork();
	assert_true(B.pid >= 0);
	if (B.pid == 0) {
		char log[128];
		int fd;

		snprintf(log, sizeof(log), "%s/named.log", B.dir);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("named", "named", "-c", path, "-p", port, "-u", "bind", "-g", (char *)NULL);
		_exit(127);
	}
	return bind_up();
}

static int
bind_start(void **state)
{
	int tries;

	(void)state;
	/* The look-ups below are called directly, not through a responder,
	 * which opens ldns first (challenge/ldns_api.h). */
	if (dns01_ldns_load(NULL) != CK_OK)
		return -1;
	ck_ctx_init(&ctx);
	ctx.log.level = CK_LOG_ERROR;
	snprintf(B.dir, sizeof(B.dir), "/tmp/ck-bind-XXXXXX");
	assert_non_null(mkdtemp(B.dir));
	assert_non_null(getpwnam("bind"));
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	sh("cd %s && tsig-keygen -a hmac-sha256 ck-test > key.conf && "
	   "tsig-keygen -a hmac-sha256 ck-other > other.conf && "
	   "tsig-keygen -a hmac-sha256 ck-test > wrong.conf && "
	   "tsig-keygen -a hmac-sha256 ck-unknown > unknown.conf", B.dir);
	write_file(ZONE ".zone", "$TTL 60\n"
		   "@ IN SOA ns." ZONE ". hostmaster." ZONE ". 1 60 60 600 60\n"
		   "@ IN NS ns." ZONE ".\nns IN A 127.0.0.1\n@ IN A 127.0.0.1\n", 0644);
	/* another test may take the port between the check and named's bind: retry */
	for (tries = 0; tries < 5; tries++) {
		if (bind_launch())
			return 0;
		if (B.pid > 0)
			break;   /* running but not answering: not a port race */
	}
	sh("cat %s/named.log >&2", B.dir);
	return -1;
}

static int
bind_stop(void **state)
{
	(void)state;
	if (B.pid > 0) {
		kill(B.pid, SIGTERM);
		waitpid(B.pid, NULL, 0);
	}
	if (getenv("CK_KEEP_TMP") == NULL)
		sh("rm -rf %s", B.dir);
	return 0;
}

/* ---- helpers -------------------------------------------------------------------- */

static struct chall_responder *
responder(const struct ck_challenge_settings *cfg, int update)
{
	struct chall_responder *r = calloc(1, sizeof(*r));
	struct ck_err e;

	assert_non_null(r);
	r->ctx = &ctx;
	r->cfg = cfg;
	ck_err_clear(&e);
	assert_int_equal(update ? chall_dns01_update_new(r, &e) : chall_dns01_hook_new(r, &e),
			 CK_OK);
	return r;
}

static void
value_of(const char *keyauth, char out[44])
{
	assert_int_equal(chall_dns01_value(keyauth, out, NULL), CK_OK);
}

static char *
slurp(const char *name)
{
	static char buf[16384];
	char path[256];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", B.dir, name);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* A hook script NAME in B.dir: logs "$@" to NAME.log, then runs body. */
static void
hook_script(const char *name, const char *body, char *path, size_t n)
{
	char text[2048];

	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$1 $2 $3\" >> %s/%s.log\n%s\n", B.dir,
		 name, body);
	write_file(name, text, 0755);
	snprintf(path, n, "%s/%s", B.dir, name);
	unlink(strcat(strcpy(text, path), ".log"));
}

/* The body of a hook that publishes through nsupdate with key.conf. */
static const char *
nsupdate_body(void)
{
	static char body[512];

	snprintf(body, sizeof(body),
		 "op=add; [ \"$1\" = del ] && op=delete\n"
		 "printf 'server 127.0.0.1 %u\\nupdate %%s %%s. 60 TXT \"%%s\"\\nsend\\n' "
		 "\"$op\" \"$2\" \"$3\" | nsupdate -k %s/key.conf", B.port, B.dir);
	return body;
}

/* ---- the hook ----------------------------------------------------------------------- */

static void
test_hook_apex_and_wildcard(void **state)
{
	struct ck_challenge_settings cfg = { .type = CK_CHALLENGE_DNS01 };
	struct chall_item apex = { .identifier = "www." ZONE, .token = "tok1", .keyauth = KEYAUTH1 };
	struct chall_item wild = { .identifier = "www." ZONE, .wildcard = 1, .token = "tok2",
				   .keyauth = KEYAUTH2 };
	struct chall_responder *r;
	char hook[256], v1[44], v2[44], want[512], *log;
	struct ck_err e;

	(void)state;
	hook_script("pub", nsupdate_body(), hook, sizeof(hook));
	cfg.dns_hook = hook;
	cfg.dns_resolver = B.spec;
	cfg.dns_wait = 20;
	value_of(KEYAUTH1, v1);
	value_of(KEYAUTH2, v2);
	setenv("CK_TEST_SECRET", "must-not-reach-the-hook", 1);
	r = responder(&cfg, 0);
	ck_err_clear(&e);
	assert_int_equal(r->ops->start(r, &e), CK_OK);
	assert_int_equal(r->ops->add(r, &apex, &e), CK_OK);
	assert_int_equal(r->ops->add(r, &wild, &e), CK_OK);
	assert_int_equal(r->ops->add(r, &apex, &e), CK_OK);   /* again: no second add */
	assert_int_equal(r->ops->ready(r, &e), CK_OK);
	assert_true(txt_at(B.spec, "_acme-challenge.www." ZONE, v1));
	assert_true(txt_at(B.spec, "_acme-challenge.www." ZONE, v2));
	log = slurp("pub.log");
	snprintf(want, sizeof(want), "add _acme-challenge.www." ZONE " %s\n"
		 "add _acme-challenge.www." ZONE " %s\n", v1, v2);
	assert_string_equal(log, want);
	r->ops->remove(r, &apex);
	assert_false(txt_at(B.spec, "_acme-challenge.www." ZONE, v1));
	assert_true(txt_at(B.spec, "_acme-challenge.www." ZONE, v2));
	r->ops->stop(r);   /* del for the wildcard's record */
	assert_false(txt_at(B.spec, "_acme-challenge.www." ZONE, v2));
	log = slurp("pub.log");
	assert_non_null(strstr(log, "del _acme-challenge.www." ZONE));
	assert_null(strstr(log, "add _acme-challenge.www." ZONE " del"));
	unsetenv("CK_TEST_SECRET");
}

static void
test_hook_env_is_minimal(void **state)
{
	struct ck_challenge_settings cfg = { .type = CK_CHALLENGE_DNS01, .dns_wait = 0 };
	struct chall_item it = { .identifier = ZONE, .token = "tok1", .keyauth = KEYAUTH1 };
	struct chall_responder *r;
	char hook[256], *log;
	struct ck_err e;

	(void)state;
	hook_script("envhook", "env >> \"$0.log\"", hook, sizeof(hook));
	cfg.dns_hook = hook;
	setenv("CK_TEST_SECRET", "must-not-reach-the-hook", 1);
	r = responder(&cfg, 0);
	ck_err_clear(&e);
	assert_int_equal(r->ops->start(r, &e), CK_OK);
	assert_int_equal(r->ops->add(r, &it, &e), CK_OK);
	assert_int_equal(r->ops->ready(r, &e), CK_OK);   /* --dns-wait 0: no check */
	r->ops->stop(r);
	log = slurp("envhook.log");
	assert_non_null(strstr(log, "PATH=/usr/local/bin:/usr/bin:/bin"));
	assert_null(strstr(log, "must-not-reach"));
	assert_null(strstr(log, "HOME="));
	unsetenv("CK_TEST_SECRET");
}

static void
test_hook_fails_with_garbage(void **state)
{
	struct ck_challenge_settings cfg = { .type = CK_CHALLENGE_DNS01 };
	struct chall_item it = { .identifier = ZONE, .token = "tok1", .keyauth = KEYAUTH1 };
	struct chall_responder *r;
	char hook[256];
	struct ck_err e;
	size_t i;

	(void)state;
	hook_script("garbage", "i=0; while [ $i -lt 3000 ]; do printf '\\033[31mjunk\\377\\001\\n';"
		    " i=$((i+1)); done; exit 3", hook, sizeof(hook));
	cfg.dns_hook = hook;
	r = responder(&cfg, 0);
	ck_err_clear(&e);
	assert_int_equal(r->ops->start(r, &e), CK_OK);
	assert_int_equal(r->ops->add(r, &it, &e), CK_ERR_IO);
	assert_non_null(strstr(e.msg, hook));
	assert_non_null(strstr(e.msg, "add _acme-challenge." ZONE " failed"));
	assert_non_null(strstr(e.msg, "status 3"));
	assert_non_null(strstr(e.msg, "junk"));
	for (i = 0; e.msg[i] != '\0'; i++)
		assert_true(e.msg[i] >= 0x20 && e.msg[i] < 0x7f);
	r->ops->stop(r);
	/* nothing was added, so nothing is deleted */
	assert_null(strstr(slurp("garbage.log"), "del"));
}

static void
test_hook_not_executable(void **state)
{
	struct ck_challenge_settings cfg = { .type = CK_CHALLENGE_DNS01 };
	struct chall_responder *r;
	char hook[256];
	struct ck_err e;

	(void)state;
	hook_script("noexec", "exit 0", hook, sizeof(hook));
	chmod(hook, 0644);
	cfg.dns_hook = hook;
	r = responder(&cfg, 0);
	ck_err_clear(&e);
	assert_int_equal(r->ops->start(r, &e), CK_ERR_PERMISSION);
	assert_non_null(strstr(e.msg, hook));
	assert_non_null(strstr(e.msg, "not an executable file"));
	r->ops->stop(r);
}

static void
test_hook_hangs(void **state)
{
	struct ck_challenge_settings cfg = { .type = CK_CHALLENGE_DNS01, .dns_hook_timeout = 1 };
	struct chall_item it = { .identifier = ZONE, .token = "tok1", .keyauth = KEYAUTH1 };
	struct chall_responder *r;
	char hook[256], *log;
	struct ck_err e;
	time_t t0 = time(NULL);

	(void)state;
	hook_script("hang", "[ \"$1\" = add ] && exec sleep 60\nexit 0", hook, sizeof(hook));
	cfg.dns_hook = hook;
	r = responder(&cfg, 0);
	ck_err_clear(&e);
	assert_int_equal(r->ops->start(r, &e), CK_OK);
	assert_int_equal(r->ops->add(r, &it, &e), CK_ERR_TIMEOUT);
	assert_true(time(NULL) - t0 < 10);
	assert_non_null(strstr(e.msg, "add _acme-challenge." ZONE " failed"));
	assert_non_null(strstr(e.msg, "--dns-hook-timeout"));
	log = slurp("hang.log");
	assert_non_null(strstr(log, "del _acme-challenge." ZONE));   /* cleanup ran */
	r->ops->stop(r);
}

/*
 * A hook NAME that publishes nothing, checked at BIND with --dns-wait wait,
 * started and given it: ready can then only time out or be cancelled.
 */
static struct chall_responder *
idle_hook_added(const char *name, int wait, const struct chall_item *it,
		struct ck_challenge_settings *cfg, char *hook, size_t n)
{
	struct chall_responder *r;
	struct ck_err e;

	memset(cfg, 0, sizeof(*cfg));
	cfg->type = CK_CHALLENGE_DNS01;
	cfg->dns_wait = wait;
	hook_script(name, "exit 0", hook, n);
	cfg->dns_hook = hook;
	cfg->dns_resolver = B.spec;
	r = responder(cfg, 0);
	ck_err_clear(&e);
	assert_int_equal(r->ops->start(r, &e), CK_OK);
	assert_int_equal(r->ops->add(r, it, &e), CK_OK);
	return r;
}

/* A hook that publishes nothing: the wait ends with what the server showed. */
static void
test_wait_never_visible(void **state)
{
	struct ck_challenge_settings cfg;
	struct chall_item it = { .identifier = "nothing." ZONE, .token = "tok1",
				 .keyauth = KEYAUTH1 };
	struct chall_responder *r;
	char hook[256], at[96];
	struct ck_err e;

	(void)state;
	r = idle_hook_added("idle", 2, &it, &cfg, hook, sizeof(hook));
	ck_err_clear(&e);
	assert_int_equal(r->ops->ready(r, &e), CK_ERR_TIMEOUT);
	snprintf(at, sizeof(at), "at 127.0.0.1#%u: no TXT record (NXDOMAIN)", B.port);
	assert_non_null(strstr(e.msg, "_acme-challenge.nothing." ZONE));
	assert_non_null(strstr(e.msg, "not visible after 2 s"));
	assert_non_null(strstr(e.msg, at));
	r->ops->stop(r);
	assert_non_null(strstr(slurp("idle.log"), "del _acme-challenge.nothing." ZONE));
}

static void
test_wait_cancelled(void **state)
{
	static volatile sig_atomic_t cancel;
	struct ck_challenge_settings cfg;
	struct chall_item it = { .identifier = "c." ZONE, .token = "tok1", .keyauth = KEYAUTH1 };
	struct chall_responder *r;
	char hook[256];
	struct ck_err e;

	(void)state;
	r = idle_hook_added("cancel", 60, &it, &cfg, hook, sizeof(hook));
	cancel = 1;
	ctx.cancel = &cancel;
	ck_err_clear(&e);
	assert_int_equal(r->ops->ready(r, &e), CK_ERR_CANCELLED);
	r->ops->stop(r);   /* del still runs, though ctx is cancelled */
	ctx.cancel = NULL;
	assert_non_null(strstr(slurp("cancel.log"), "del _acme-challenge.c." ZONE));
}

/* Without --dns-resolver: zone by SOA, its NS, their addresses, asked directly. */
static void
test_wait_authoritative(void **state)
{
	struct ck_challenge_settings cfg = { .type = CK_CHALLENGE_DNS01, .dns_wait = 20 };
	struct chall_item it = { .identifier = "deep.er." ZONE, .token = "t", .keyauth = KEYAUTH1 };
	struct chall_responder *r;
	struct dns01_set set;
	struct dns01_rec rec;
	char hook[256], *zone = NULL;
	ldns_resolver *res = NULL, *srv[4];
	size_t n = 0;
	struct ck_err e;

	(void)state;
	ck_err_clear(&e);
	assert_int_equal(dns01_resolver_for(B.spec, 53, 0, "t", &res, &e), CK_OK);
	assert_int_equal(dns01_zone_find(res, "_acme-challenge.a.b.c." ZONE, &zone, &e), CK_OK);
	assert_string_equal(zone, ZONE ".");
	assert_int_equal(dns01_zone_servers(res, zone, B.port, srv, 4, &n, &e), CK_OK);
	assert_int_equal(n, 1);
	ldns_resolver_deep_free(srv[0]);
	free(zone);
	assert_int_equal(dns01_zone_find(res, "x.invalid", &zone, &e), CK_ERR_NOT_FOUND);
	ldns_resolver_deep_free(res);

	hook_script("auth", nsupdate_body(), hook, sizeof(hook));
	cfg.dns_hook = hook;
	r = responder(&cfg, 0);
	assert_int_equal(r->ops->add(r, &it, &e), CK_OK);
	/* the responder's own records, waited for through the update server's walk */
	dns01_set_init(&set);
	assert_int_equal(dns01_rec_from_item(&it, &rec, &e), CK_OK);
	assert_int_equal(dns01_set_add(&set, &rec, &e), CK_OK);
	assert_int_equal(dns01_wait(r, &set, B.spec, B.port, &e), CK_OK);
	dns01_set_cleanup(&set);
	r->ops->stop(r);
}

/* ---- RFC 2136 ------------------------------------------------------------------------ */

static void
update_settings(struct ck_challenge_settings *cfg, const char *keyfile, char *path, size_t n)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->type = CK_CHALLENGE_DNS01;
	snprintf(path, n, "%s/%s", B.dir, keyfile);
	cfg->dns_update = B.spec;
	cfg->tsig_file = path;
	cfg->dns_resolver = B.spec;
	cfg->dns_wait = 20;
}

static void
test_update_add_remove(void **state)
{
	struct ck_challenge_settings cfg;
	struct chall_item apex = { .identifier = "u." ZONE, .token = "t1", .keyauth = KEYAUTH1 };
	struct chall_item wild = { .identifier = "u." ZONE, .wildcard = 1, .token = "t2",
				   .keyauth = KEYAUTH2 };
	struct chall_responder *r;
	char key[256], v1[44], v2[44];
	struct ck_err e;

	(void)state;
	update_settings(&cfg, "key.conf", key, sizeof(key));
	value_of(KEYAUTH1, v1);
	value_of(KEYAUTH2, v2);
	r = responder(&cfg, 1);
	ck_err_clear(&e);
	assert_int_equal(r->ops->start(r, &e), CK_OK);
	assert_int_equal(r->ops->add(r, &apex, &e), CK_OK);
	assert_int_equal(r->ops->add(r, &wild, &e), CK_OK);
	assert_int_equal(r->ops->ready(r, &e), CK_OK);
	assert_true(txt_at(B.spec, "_acme-challenge.u." ZONE, v1));
	assert_true(txt_at(B.spec, "_acme-challenge.u." ZONE, v2));
	r->ops->remove(r, &apex);
	assert_false(txt_at(B.spec, "_acme-challenge.u." ZONE, v1));
	assert_true(txt_at(B.spec, "_acme-challenge.u." ZONE, v2));
	r->ops->stop(r);
	assert_false(txt_at(B.spec, "_acme-challenge.u." ZONE, v2));
}

static void
update_refused(const char *keyfile, const char *keyname, const char *why)
{
	struct ck_challenge_settings cfg;
	struct chall_item it = { .identifier = "r." ZONE, .token = "t1", .keyauth = KEYAUTH1 };
	struct chall_responder *r;
	char key[256], v1[44];
	struct ck_err e;

	update_settings(&cfg, keyfile, key, sizeof(key));
	value_of(KEYAUTH1, v1);
	r = responder(&cfg, 1);
	ck_err_clear(&e);
	assert_int_equal(r->ops->start(r, &e), CK_OK);
	if (r->ops->add(r, &it, &e) != CK_ERR_PERMISSION)
		fail_msg("%s: %s", keyfile, e.msg);
	if (strstr(e.msg, "zone " ZONE ".") == NULL || strstr(e.msg, keyname) == NULL ||
	    strstr(e.msg, why) == NULL)
		fail_msg("%s: %s", keyfile, e.msg);
	assert_false(txt_at(B.spec, "_acme-challenge.r." ZONE, v1));
	r->ops->stop(r);
}

static void
test_update_wrong_secret(void **state)
{
	(void)state;
	update_refused("wrong.conf", "TSIG key ck-test", "BADSIG");
}

static void
test_update_unknown_key(void **state)
{
	(void)state;
	update_refused("unknown.conf", "TSIG key ck-unknown", "BADKEY");
}

static void
test_update_key_not_allowed(void **state)
{
	(void)state;
	update_refused("other.conf", "TSIG key ck-other", "REFUSED");
}

static void
test_update_bad_settings(void **state)
{
	struct ck_challenge_settings cfg;
	struct chall_responder *r;
	char key[256];
	struct ck_err e;

	(void)state;
	update_settings(&cfg, "key.conf", key, sizeof(key));
	cfg.tsig_file = NULL;
	r = responder(&cfg, 1);
	ck_err_clear(&e);
	assert_int_equal(r->ops->start(r, &e), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(e.msg, "--tsig-file"));
	r->ops->stop(r);
	update_settings(&cfg, "key.conf", key, sizeof(key));
	cfg.dns_update = "127.0.0.1:99999";
	r = responder(&cfg, 1);
	assert_int_equal(r->ops->start(r, &e), CK_ERR_INVALID_ARG);
	assert_non_null(strstr(e.msg, "--dns-update 127.0.0.1:99999"));
	r->ops->stop(r);
}

/* ---- server specs ------------------------------------------------------------------ */

static void
test_resolver_specs(void **state)
{
	static const struct {
		const char *spec, *name;
	} ok[] = {
		{ "127.0.0.1", "127.0.0.1#53" },
		{ "127.0.0.1:5353", "127.0.0.1#5353" },
		{ "::1", "::1#53" },
		{ "[::1]:5353", "::1#5353" },
		{ "[2001:db8::1]", "2001:db8::1#53" },
	};
	static const char *const bad[] = {
		"", ":53", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:5x", "[::1", "[::1]5353",
		"[]:53", "127.0.0.1:", "[::1]:",
	};
	ldns_resolver *res;
	char name[96];
	struct ck_err e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		res = NULL;
		ck_err_clear(&e);
		assert_int_equal(dns01_resolver_for(ok[i].spec, 53, 1, "--dns-resolver", &res, &e),
				 CK_OK);
		dns01_resolver_name(res, name, sizeof(name));
		assert_string_equal(name, ok[i].name);
		assert_true(ldns_resolver_recursive(res));
		ldns_resolver_deep_free(res);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		res = NULL;
		ck_err_clear(&e);
		if (dns01_resolver_for(bad[i], 53, 1, "--dns-resolver", &res, &e) !=
		    CK_ERR_INVALID_ARG)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_null(res);
		assert_non_null(strstr(e.msg, "--dns-resolver"));
	}
}

/* ---- TXT answers ---------------------------------------------------------------------- */

static ldns_pkt *
answer(const char *const *rrs, size_t n)
{
	ldns_pkt *p = ldns_pkt_new();
	size_t i;

	for (i = 0; i < n; i++) {
		ldns_rr *rr = NULL;

		assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	return p;
}

static void
test_txt_match(void **state)
{
	static const char *const rrs[] = {
		"_acme-challenge.a.example. 60 IN CNAME x.dns.example.",
		"x.dns.example. 60 IN TXT \"abc\" \"def\"",
		"other.example. 60 IN TXT \"wanted\"",
		"X.DNS.example. 60 IN TXT \"w\\009ith\\010ctl\"",
	};
	ldns_pkt *p = answer(rrs, 4);
	char seen[DNS01_SEEN_MAX];

	(void)state;
	assert_true(dns01_txt_match(p, "_acme-challenge.a.example", "abcdef", seen, sizeof(seen)));
	assert_false(dns01_txt_match(p, "_acme-challenge.a.example", "wanted", seen, sizeof(seen)));
	assert_string_equal(seen, "TXT \"abcdef\", \"w?ith?ctl\"");
	assert_false(dns01_txt_match(p, "nothing.example", "abc", seen, sizeof(seen)));
	assert_string_equal(seen, "no TXT record (NOERROR)");
	ldns_pkt_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt_match),
		cmocka_unit_test(test_resolver_specs),
		cmocka_unit_test(test_hook_apex_and_wildcard),
		cmocka_unit_test(test_hook_env_is_minimal),
		cmocka_unit_test(test_hook_fails_with_garbage),
		cmocka_unit_test(test_hook_not_executable),
		cmocka_unit_test(test_hook_hangs),
		cmocka_unit_test(test_wait_never_visible),
		cmocka_unit_test(test_wait_cancelled),
		cmocka_unit_test(test_wait_authoritative),
		cmocka_unit_test(test_update_add_remove),
		cmocka_unit_test(test_update_wrong_secret),
		cmocka_unit_test(test_update_unknown_key),
		cmocka_unit_test(test_update_key_not_allowed),
		cmocka_unit_test(test_update_bad_settings),
	};

	return cmocka_run_group_tests(tests, bind_start, bind_stop);
}
