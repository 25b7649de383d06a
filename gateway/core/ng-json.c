/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one JSON writer: values written by hand into a GString, allocation-free on the telemetry path. */

#include "ng-json.h"

#include <string.h>

/*
 * The hot path writes through a char pointer into room reserved in the
 * GString once per payload: one length check instead of one per field.
 * ng_json_reserve() returns where to write; ng_json_commit() sets the length to what was written.
 */
char *
ng_json_reserve(GString *out, gsize room)
{
	gsize used = out->len;

	g_string_set_size(out, used + room);
	return out->str + used;
}

void
ng_json_commit(GString *out, const char *end)
{
	g_string_truncate(out, (gsize)(end - out->str));
}

char *
ng_json_put_uint(char *p, guint64 value)
{
	char buf[NG_JSON_UINT_MAX_TEXT];
	gsize i = sizeof buf;

	do {
		buf[--i] = (char)('0' + value % 10);
		value /= 10;
	} while (value != 0);
	memcpy(p, buf + i, sizeof buf - i);
	return p + (sizeof buf - i);
}

/* Exactly width digits, zero padded: the fields of a time stamp, decimals. */
char *
ng_json_put_digits(char *p, guint value, guint width)
{
	for (guint i = width; i > 0; i--) {
		p[i - 1] = (char)('0' + value % 10);
		value /= 10;
	}
	return p + width;
}

/* value / 10^decimals with exactly that many decimals; decimals <= 6. */
char *
ng_json_put_fixed(char *p, guint64 value, guint decimals)
{
	static const guint64 scales[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
	guint64 scale = scales[decimals];

	p = ng_json_put_uint(p, value / scale);
	if (decimals == 0)
		return p;
	*p++ = '.';
	return ng_json_put_digits(p, (guint)(value % scale), decimals);
}

char *
ng_json_put_bool(char *p, gboolean value)
{
	return value ? NG_JSON_PUT_LIT(p, "true") : NG_JSON_PUT_LIT(p, "false");
}

char *
ng_json_put_str(char *p, const char *s)
{
	gsize len = strlen(s);

	memcpy(p, s, len);
	return p + len;
}

void
ng_json_append_uint(GString *out, guint64 value)
{
	ng_json_commit(out, ng_json_put_uint(ng_json_reserve(out, NG_JSON_UINT_MAX_TEXT), value));
}

void
ng_json_append_fixed(GString *out, guint64 value, guint decimals)
{
	g_return_if_fail(decimals <= 6);
	ng_json_commit(out,
		       ng_json_put_fixed(ng_json_reserve(out, NG_JSON_UINT_MAX_TEXT + 1), value, decimals));
}

void
ng_json_append_bool(GString *out, gboolean value)
{
	g_string_append(out, value ? "true" : "false");
}

/* A speed or depth limit: NP_LIMIT_NONE means "no limit", null in JSON. */
void
ng_json_append_limit(GString *out, guint16 value, guint decimals)
{
	if (value == 0xFFFF) /* NP_LIMIT_NONE */
		g_string_append(out, "null");
	else
		ng_json_append_fixed(out, value, decimals);
}

static void
append_escaped_byte(GString *out, guchar c)
{
	static const char hex[] = "0123456789abcdef";

	switch (c) {
	case '"':
		g_string_append(out, "\\\"");
		break;
	case '\\':
		g_string_append(out, "\\\\");
		break;
	case '\n':
		g_string_append(out, "\\n");
		break;
	case '\r':
		g_string_append(out, "\\r");
		break;
	case '\t':
		g_string_append(out, "\\t");
		break;
	default:
		g_string_append(out, "\\u00");
		g_string_append_c(out, hex[c >> 4]);
		g_string_append_c(out, hex[c & 0xf]);
		break;
	}
}

static gboolean
byte_needs_escape(guchar c)
{
	return c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
}

void
ng_json_append_string_len(GString *out, const char *s, gsize len)
{
	const guchar *p = (const guchar *)s;
	gsize i = 0;

	g_string_append_c(out, '"');
	while (i < len) {
		gsize run = i;

		/* Plain ASCII goes out in one piece: the common case for serials and names. */
		while (run < len && !byte_needs_escape(p[run]))
			run++;
		g_string_append_len(out, (const char *)p + i, (gssize)(run - i));
		i = run;
		if (i >= len)
			break;
		if (p[i] < 0x80) {
			append_escaped_byte(out, p[i]);
			i++;
			continue;
		}
		gunichar ch = g_utf8_get_char_validated((const char *)p + i, (gssize)(len - i));
		if (ch == (gunichar)-1 || ch == (gunichar)-2) {
			g_string_append(out, "\xef\xbf\xbd"); /* U+FFFD: the byte is not UTF-8 */
			i++;
			continue;
		}
		gsize n = (gsize)g_unichar_to_utf8(ch, NULL);
		g_string_append_len(out, (const char *)p + i, (gssize)n);
		i += n;
	}
	g_string_append_c(out, '"');
}

void
ng_json_append_string(GString *out, const char *s)
{
	if (s == NULL) {
		g_string_append(out, "null");
		return;
	}
	ng_json_append_string_len(out, s, strlen(s));
}

/* Writes the date of a day count since 1970-01-01 (proleptic Gregorian): H. Hinnant's
 * civil_from_days. Plain arithmetic, no gmtime_r: no locale or time zone lock per record. */
static char *
put_date(char *p, gint64 days)
{
	gint64 z = days + 719468;
	gint64 era = (z >= 0 ? z : z - 146096) / 146097;
	gint64 doe = z - era * 146097;
	gint64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	gint64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	gint64 mp = (5 * doy + 2) / 153;
	gint64 day = doy - (153 * mp + 2) / 5 + 1;
	gint64 month = mp < 10 ? mp + 3 : mp - 9;
	gint64 year = yoe + era * 400 + (month <= 2);

	p = ng_json_put_digits(p, (guint)year, 4);
	*p++ = '-';
	p = ng_json_put_digits(p, (guint)month, 2);
	*p++ = '-';
	return ng_json_put_digits(p, (guint)day, 2);
}

/* Writes the quoted time, or null; at most NG_JSON_TIME_MAX_TEXT bytes. */
char *
ng_json_put_time(char *p, gint64 unix_ms)
{
	gint64 days;
	gint64 ms_of_day;

	if (unix_ms < NG_JSON_TIME_MIN_MS || unix_ms > NG_JSON_TIME_MAX_MS)
		return NG_JSON_PUT_LIT(p, "null");
	/* Floor division, so that times before 1970 still count forward within their day. */
	days = unix_ms / 86400000;
	ms_of_day = unix_ms % 86400000;
	if (ms_of_day < 0) {
		ms_of_day += 86400000;
		days--;
	}
	*p++ = '"';
	p = put_date(p, days);
	*p++ = 'T';
	p = ng_json_put_digits(p, (guint)(ms_of_day / 3600000), 2);
	*p++ = ':';
	p = ng_json_put_digits(p, (guint)(ms_of_day / 60000 % 60), 2);
	*p++ = ':';
	p = ng_json_put_digits(p, (guint)(ms_of_day / 1000 % 60), 2);
	*p++ = '.';
	p = ng_json_put_digits(p, (guint)(ms_of_day % 1000), 3);
	return NG_JSON_PUT_LIT(p, "Z\"");
}

void
ng_json_append_time(GString *out, gint64 unix_ms)
{
	char *start = ng_json_reserve(out, NG_JSON_TIME_MAX_TEXT);

	ng_json_commit(out, ng_json_put_time(start, unix_ms));
}

void
ng_json_append_pen_clock(GString *out, guint64 pen_clock_ms)
{
	if (pen_clock_ms == 0 || pen_clock_ms > (guint64)NG_JSON_TIME_MAX_MS)
		g_string_append(out, "null");
	else
		ng_json_append_time(out, (gint64)pen_clock_ms);
}

/* ---- members of an object ------------------------------------------------------------------------ */

void
ng_json_key(GString *out, const char *key)
{
	if (out->len > 0 && out->str[out->len - 1] != '{' && out->str[out->len - 1] != '[')
		g_string_append_c(out, ',');
	g_string_append_c(out, '"');
	g_string_append(out, key);
	g_string_append(out, "\":");
}

void
ng_json_member_string(GString *out, const char *key, const char *value)
{
	ng_json_key(out, key);
	ng_json_append_string(out, value);
}

void
ng_json_member_int(GString *out, const char *key, gint64 value)
{
	ng_json_key(out, key);
	g_string_append_printf(out, "%" G_GINT64_FORMAT, value);
}

void
ng_json_member_uint(GString *out, const char *key, guint64 value)
{
	ng_json_key(out, key);
	ng_json_append_uint(out, value);
}

void
ng_json_member_bool(GString *out, const char *key, gboolean value)
{
	ng_json_key(out, key);
	ng_json_append_bool(out, value);
}

void
ng_json_member_time(GString *out, const char *key, gint64 unix_ms)
{
	ng_json_key(out, key);
	ng_json_append_time(out, unix_ms);
}

void
ng_json_member_fixed(GString *out, const char *key, guint64 value, guint decimals)
{
	ng_json_key(out, key);
	ng_json_append_fixed(out, value, decimals);
}

void
ng_json_member_null(GString *out, const char *key)
{
	ng_json_key(out, key);
	g_string_append(out, "null");
}
