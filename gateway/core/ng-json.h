/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one JSON writer: values written by hand into a GString, allocation-free on the telemetry path. */

#pragma once

#include <glib.h>
#include <string.h>

G_BEGIN_DECLS

/*
 * Every ng_json_append_* function appends one complete JSON value to out
 * and allocates nothing but what out grows by. It lives in core/ because
 * the plan (core/), the journal (store/) and every MQTT payload (mqtt/)
 * write JSON, and store/ sits below mqtt/.
 *
 * The hot path writes through a char pointer into room reserved once per
 * payload: ng_json_reserve () returns where to write, the ng_json_put_*
 * functions return where they stopped, ng_json_commit () sets the length.
 */

/* The first and last millisecond ISO 8601 can write with a four-digit year. */
#define NG_JSON_TIME_MIN_MS   G_GINT64_CONSTANT(-62167219200000) /* 0000-01-01T00:00:00.000Z */
#define NG_JSON_TIME_MAX_MS   G_GINT64_CONSTANT(253402300799999) /* 9999-12-31T23:59:59.999Z */
#define NG_JSON_TIME_MAX_TEXT 26				 /* "...Z" with its quotes */
#define NG_JSON_UINT_MAX_TEXT 20				 /* G_MAXUINT64 */

/* A string literal, its length known at compile time. */
#define NG_JSON_PUT_LIT(p, lit) (memcpy((p), "" lit, sizeof(lit) - 1), (p) + sizeof(lit) - 1)

char *ng_json_reserve(GString *out, gsize room);
void ng_json_commit(GString *out, const char *end);
char *ng_json_put_uint(char *p, guint64 value);
/* Exactly width digits, zero padded. */
char *ng_json_put_digits(char *p, guint value, guint width);
/* value / 10^decimals with exactly that many decimals; decimals <= 6. */
char *ng_json_put_fixed(char *p, guint64 value, guint decimals);
char *ng_json_put_bool(char *p, gboolean value);
/* s as is (no quotes, no escaping): only for names known to need none. */
char *ng_json_put_str(char *p, const char *s);
/* The quoted time, or null; at most NG_JSON_TIME_MAX_TEXT bytes. */
char *ng_json_put_time(char *p, gint64 unix_ms);

void ng_json_append_uint(GString *out, guint64 value);
void ng_json_append_bool(GString *out, gboolean value);
/* Appends value / 10^decimals with exactly that many decimals: (150, 2) -> 1.50. */
void ng_json_append_fixed(GString *out, guint64 value, guint decimals);
/* A speed or depth limit: NP_LIMIT_NONE (0xFFFF) means "no limit", null. */
void ng_json_append_limit(GString *out, guint16 value, guint decimals);
/* Appends s as a quoted JSON string. s comes from outside (a pen's serial,
 * a D-Bus caller): control characters, quotes and backslashes are escaped,
 * invalid UTF-8 bytes become U+FFFD, so the output is always valid JSON.
 * NULL appends null. */
void ng_json_append_string(GString *out, const char *s);
/* The same for len bytes that need not be NUL-terminated (NULs become \u0000). */
void ng_json_append_string_len(GString *out, const char *s, gsize len);
/* Appends unix_ms as a quoted ISO 8601 UTC time with milliseconds,
 * "2026-11-24T09:33:48.123Z". Times outside the years 0000 to 9999 cannot
 * be written that way and append null. */
void ng_json_append_time(GString *out, gint64 unix_ms);
/* Appends a pen's clock (u64 UTC ms) as ng_json_append_time does, or null when
 * it was never set (0) or lies beyond 9999. */
void ng_json_append_pen_clock(GString *out, guint64 pen_clock_ms);

/*
 * Members of an object being written: "key": value, with the comma put in
 * front unless the object or array was just opened. The key is ours (a
 * literal), never from outside: it is not escaped.
 */
void ng_json_key(GString *out, const char *key);
void ng_json_member_string(GString *out, const char *key, const char *value);
void ng_json_member_int(GString *out, const char *key, gint64 value);
void ng_json_member_uint(GString *out, const char *key, guint64 value);
void ng_json_member_bool(GString *out, const char *key, gboolean value);
void ng_json_member_time(GString *out, const char *key, gint64 unix_ms);
void ng_json_member_fixed(GString *out, const char *key, guint64 value, guint decimals);
void ng_json_member_null(GString *out, const char *key);

G_END_DECLS
