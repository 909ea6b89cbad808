/*
 * retry.c - Retry-After (RFC 9110 section 10.2.3: delta-seconds or an
 * HTTP-date) and its clamping.  Owns nothing else; never sleeps.
 */
#include <ctype.h>
#include <string.h>

#include <curl/curl.h>

#include "acme/acme_int.h"

#define RETRY_AFTER_DIGITS_MAX 10     /* delta-seconds longer than this is garbage */
#define RETRY_AFTER_TEXT_MAX 64       /* an HTTP-date is 29 characters */

long
acme_retry_after_parse(const char *value, time_t now)
{
	char buf[RETRY_AFTER_TEXT_MAX + 1];
	size_t len, i;
	time_t t;
	long v = 0;

	if (value == NULL)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len == 0 || len > RETRY_AFTER_TEXT_MAX)
		return -1;
	memcpy(buf, value, len);
	buf[len] = '\0';
	if (isdigit((unsigned char)buf[0])) {
		if (len > RETRY_AFTER_DIGITS_MAX)
			return -1;
		for (i = 0; i < len; i++) {
			if (!isdigit((unsigned char)buf[i]))
				return -1;
			v = v * 10 + (buf[i] - '0');
		}
		return v;
	}
	/* An HTTP-date starts with a day name; curl_getdate also takes RFC 850/asctime forms. */
	if (!isalpha((unsigned char)buf[0]))
		return -1;
	t = curl_getdate(buf, NULL);
	if (t == (time_t)-1)
		return -1;
	return t <= now ? 0 : (long)(t - now);
}

unsigned
acme_retry_after_clamp(long seconds, unsigned min, unsigned max, unsigned dflt)
{
	if (seconds < 0)
		return dflt;
	if ((unsigned long)seconds < min)
		return min;
	if ((unsigned long)seconds > max)
		return max;
	return (unsigned)seconds;
}
