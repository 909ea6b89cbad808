/*
 * json.c - JSON text out of jansson values, all or nothing.  jansson's
 * json_dumps ignores a failed write of an object KEY (dump.c calls
 * dump_string for keys without checking it), so when memory runs out at
 * that moment it returns text with the key missing ({"alg":"ES256",:{...}})
 * instead of NULL.  ck_json_dumps writes through a callback whose first
 * failure sticks: every later write fails too and the result is NULL.
 * Every JSON text certkeep signs, stores or sends goes through here.
 */
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

struct json_out {
	char *buf;
	size_t len, cap;
	int failed; /* sticky: once a write failed, the text is incomplete */
};

static int
json_out_write(const char *data, size_t n, void *arg)
{
	struct json_out *o = arg;
	size_t cap;
	char *p;

	if (o->failed)
		return -1;
	if (n >= o->cap - o->len) {
		cap = o->cap * 2 > o->len + n + 1 ? o->cap * 2 : o->len + n + 1;
		if ((p = realloc(o->buf, cap)) == NULL) {
			o->failed = 1;
			return -1;
		}
		o->buf = p;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, data, n);
	o->len += n;
	o->buf[o->len] = '\0';
	return 0;
}

char *
ck_json_dumps(const json_t *v, size_t flags)
{
	struct json_out o = { NULL, 0, 0, 0 };

	if (v == NULL)
		return NULL;
	if (json_dump_callback(v, json_out_write, &o, flags) != 0 || o.failed || o.buf == NULL) {
		free(o.buf);
		return NULL;
	}
	return o.buf;
}
