/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON text for decoded NeedlePen values, written by hand into one GString: this runs per record. */

#include "ng-payload.h"

#include <string.h>

/* The first and last millisecond ISO 8601 can write with a four-digit year. */
#define NG_TIME_MIN_MS	 G_GINT64_CONSTANT(-62167219200000) /* 0000-01-01T00:00:00.000Z */
#define NG_TIME_MAX_MS	 G_GINT64_CONSTANT(253402300799999) /* 9999-12-31T23:59:59.999Z */
#define NG_TIME_MAX_TEXT 26				    /* "...Z" with its quotes */
#define NG_UINT_MAX_TEXT 20				    /* G_MAXUINT64 */

/*
 * The hot path writes through a char pointer into room reserved in the
 * GString once per payload: one length check instead of one per field.
 * reserve() returns where to write; commit() sets the length to what was written.
 */
static char *
reserve(GString *out, gsize room)
{
	gsize used = out->len;

	g_string_set_size(out, used + room);
	return out->str + used;
}

static void
commit(GString *out, const char *end)
{
	g_string_truncate(out, (gsize)(end - out->str));
}

/* A string literal, its length known at compile time. */
#define put_lit(p, lit) (memcpy((p), "" lit, sizeof(lit) - 1), (p) + sizeof(lit) - 1)

static char *
put_uint(char *p, guint64 value)
{
	char buf[NG_UINT_MAX_TEXT];
	gsize i = sizeof buf;

	do {
		buf[--i] = (char)('0' + value % 10);
		value /= 10;
	} while (value != 0);
	memcpy(p, buf + i, sizeof buf - i);
	return p + (sizeof buf - i);
}

/* Exactly width digits, zero padded: the fields of a time stamp, decimals. */
static char *
put_digits(char *p, guint value, guint width)
{
	for (guint i = width; i > 0; i--) {
		p[i - 1] = (char)('0' + value % 10);
		value /= 10;
	}
	return p + width;
}

/* value / 10^decimals with exactly that many decimals; decimals <= 6. */
static char *
put_fixed(char *p, guint64 value, guint decimals)
{
	static const guint64 scales[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
	guint64 scale = scales[decimals];

	p = put_uint(p, value / scale);
	if (decimals == 0)
		return p;
	*p++ = '.';
	return put_digits(p, (guint)(value % scale), decimals);
}

static char *
put_bool(char *p, gboolean value)
{
	return value ? put_lit(p, "true") : put_lit(p, "false");
}

static char *
put_str(char *p, const char *s)
{
	gsize len = strlen(s);

	memcpy(p, s, len);
	return p + len;
}

static void
append_uint(GString *out, guint64 value)
{
	commit(out, put_uint(reserve(out, NG_UINT_MAX_TEXT), value));
}

void
ng_payload_append_fixed(GString *out, guint64 value, guint decimals)
{
	g_return_if_fail(decimals <= 6);
	commit(out, put_fixed(reserve(out, NG_UINT_MAX_TEXT + 1), value, decimals));
}

static void
append_bool(GString *out, gboolean value)
{
	g_string_append(out, value ? "true" : "false");
}

/* A speed or depth limit: NP_LIMIT_NONE means "no limit", null in JSON. */
static void
append_limit(GString *out, guint16 value, guint decimals)
{
	if (value == NP_LIMIT_NONE)
		g_string_append(out, "null");
	else
		ng_payload_append_fixed(out, value, decimals);
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
ng_payload_append_string_len(GString *out, const char *s, gsize len)
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
ng_payload_append_string(GString *out, const char *s)
{
	if (s == NULL) {
		g_string_append(out, "null");
		return;
	}
	ng_payload_append_string_len(out, s, strlen(s));
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

	p = put_digits(p, (guint)year, 4);
	*p++ = '-';
	p = put_digits(p, (guint)month, 2);
	*p++ = '-';
	return put_digits(p, (guint)day, 2);
}

/* Writes the quoted time, or null; at most NG_TIME_MAX_TEXT bytes. */
static char *
put_time(char *p, gint64 unix_ms)
{
	gint64 days;
	gint64 ms_of_day;

	if (unix_ms < NG_TIME_MIN_MS || unix_ms > NG_TIME_MAX_MS)
		return put_lit(p, "null");
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
	p = put_digits(p, (guint)(ms_of_day / 3600000), 2);
	*p++ = ':';
	p = put_digits(p, (guint)(ms_of_day / 60000 % 60), 2);
	*p++ = ':';
	p = put_digits(p, (guint)(ms_of_day / 1000 % 60), 2);
	*p++ = '.';
	p = put_digits(p, (guint)(ms_of_day % 1000), 3);
	return put_lit(p, "Z\"");
}

void
ng_payload_append_time(GString *out, gint64 unix_ms)
{
	char *start = reserve(out, NG_TIME_MAX_TEXT);

	commit(out, put_time(start, unix_ms));
}

void
ng_payload_append_pen_clock(GString *out, guint64 pen_clock_ms)
{
	if (pen_clock_ms == 0 || pen_clock_ms > (guint64)NG_TIME_MAX_MS)
		g_string_append(out, "null");
	else
		ng_payload_append_time(out, (gint64)pen_clock_ms);
}

/* Opens an object with "pen" when there is one; returns the separator for the next key. */
static const char *
open_object_with_pen(GString *out, const char *pen)
{
	g_string_append_c(out, '{');
	if (pen == NULL)
		return "";
	g_string_append(out, "\"pen\":");
	ng_payload_append_string(out, pen);
	return ",";
}

/* The longest telemetry payload after "pen": every field at its widest. */
#define NG_TELEMETRY_MAX_TEXT 320

void
ng_payload_telemetry(GString *out, const char *pen, const NpTelemetryRecord *rec, gint64 t_ms)
{
	const char *sep;
	char *p;

	g_return_if_fail(out != NULL && rec != NULL);

	sep = open_object_with_pen(out, pen);
	p = reserve(out, NG_TELEMETRY_MAX_TEXT);
	p = put_str(p, sep);
	p = put_lit(p, "\"session\":");
	p = put_uint(p, rec->session_id);
	p = put_lit(p, ",\"seq\":");
	p = put_uint(p, rec->seq);
	if (t_ms >= 0) {
		p = put_lit(p, ",\"t\":");
		p = put_time(p, t_ms);
	}
	p = put_lit(p, ",\"offset_ms\":");
	p = put_uint(p, rec->offset_ms);
	p = put_lit(p, ",\"depth_mm\":");
	p = put_fixed(p, rec->depth_centi_mm, 2);
	p = put_lit(p, ",\"speed_hz\":");
	p = put_fixed(p, rec->speed_deci_hz, 1);
	if (rec->flags & NP_TELEMETRY_FLAG_AREA) {
		p = put_lit(p, ",\"area\":\"");
		p = put_str(p, np_area_to_string(rec->area));
		*p++ = '"';
	}
	if (rec->flags & NP_TELEMETRY_FLAG_PRESSURE) {
		p = put_lit(p, ",\"pressure_gf\":");
		p = put_uint(p, rec->pressure_gf);
	}
	p = put_lit(p, ",\"motor\":");
	p = put_bool(p, (rec->flags & NP_TELEMETRY_FLAG_MOTOR) != 0);
	p = put_lit(p, ",\"contact\":");
	p = put_bool(p, (rec->flags & NP_TELEMETRY_FLAG_CONTACT) != 0);
	p = put_lit(p, ",\"replayed\":");
	p = put_bool(p, (rec->flags & NP_TELEMETRY_FLAG_REPLAYED) != 0);
	*p++ = '}';
	commit(out, p);
}

/* Appends ,"key":"name" for a name from the codec's tables (never needs escaping). */
static void
append_name(GString *out, const char *key, const char *name)
{
	g_string_append(out, ",\"");
	g_string_append(out, key);
	g_string_append(out, "\":\"");
	g_string_append(out, name);
	g_string_append_c(out, '"');
}

static void
append_cartridge(GString *out, const NpCartridge *c)
{
	g_string_append(out, ",\"cartridge\":{\"id\":");
	append_uint(out, c->cartridge_id);
	g_string_append(out, ",\"needles\":");
	append_uint(out, c->needle_count);
	g_string_append(out, ",\"use_count\":");
	append_uint(out, c->use_count);
	g_string_append_c(out, '}');
}

static void
append_error(GString *out, guint16 code)
{
	g_string_append(out, "\"error\":{\"code\":");
	append_uint(out, code);
	g_string_append(out, ",\"name\":\"");
	g_string_append(out, np_pen_error_to_string(code));
	g_string_append(out, "\"}");
}

static void
append_limits(GString *out, const NpLimits *l)
{
	g_string_append(out, "\"limits\":{\"max_depth_mm\":");
	append_limit(out, l->max_depth_centi_mm, 2);
	g_string_append(out, ",\"min_speed_hz\":");
	append_limit(out, l->min_speed_deci_hz, 1);
	g_string_append(out, ",\"max_speed_hz\":");
	append_limit(out, l->max_speed_deci_hz, 1);
	g_string_append_c(out, '}');
}

static void
append_event_parameters(GString *out, const NpSessionEvent *ev)
{
	switch ((NpEventType)ev->type) {
	case NP_EVENT_SESSION_STARTED:
		append_cartridge(out, &ev->u.started.cartridge);
		append_name(out, "area", np_area_to_string(ev->u.started.area));
		break;
	case NP_EVENT_SESSION_ENDED:
		g_string_append(out, ",\"duration_ms\":");
		append_uint(out, ev->u.ended.duration_ms);
		g_string_append(out, ",\"duration_s\":");
		ng_payload_append_fixed(out, ev->u.ended.duration_ms, 3);
		append_name(out, "reason", np_end_reason_to_string(ev->u.ended.reason));
		break;
	case NP_EVENT_AREA_CHANGED:
		append_name(out, "area", np_area_to_string(ev->u.area_changed.area));
		break;
	case NP_EVENT_CARTRIDGE_INSERTED:
		append_cartridge(out, &ev->u.cartridge_inserted);
		break;
	case NP_EVENT_CARTRIDGE_REMOVED:
		break;
	case NP_EVENT_ERROR_RAISED:
	case NP_EVENT_ERROR_CLEARED:
		g_string_append_c(out, ',');
		append_error(out, ev->u.error.code);
		break;
	case NP_EVENT_LIMITS_APPLIED:
		g_string_append_c(out, ',');
		append_limits(out, &ev->u.limits_applied);
		break;
	default:
		/* Not decodable (np_session_event_decode refuses it): only the header is known. */
		break;
	}
}

void
ng_payload_session_event(GString *out, const char *pen, const NpSessionEvent *ev, gint64 t_ms)
{
	const char *sep;

	g_return_if_fail(out != NULL && ev != NULL);

	sep = open_object_with_pen(out, pen);
	g_string_append(out, sep);
	g_string_append(out, "\"event\":\"");
	g_string_append(out, np_event_type_to_string(ev->type));
	g_string_append(out, "\",\"seq\":");
	append_uint(out, ev->seq);
	g_string_append(out, ",\"session\":");
	append_uint(out, ev->session_id);
	if (t_ms >= 0) {
		g_string_append(out, ",\"t\":");
		ng_payload_append_time(out, t_ms);
	}
	g_string_append(out, ",\"pen_clock\":");
	ng_payload_append_pen_clock(out, ev->pen_clock_ms);
	g_string_append(out, ",\"pen_clock_ms\":");
	append_uint(out, ev->pen_clock_ms);
	append_event_parameters(out, ev);
	g_string_append_c(out, '}');
}

void
ng_payload_pen_status(GString *out, const NpPenStatus *st)
{
	g_return_if_fail(out != NULL && st != NULL);

	g_string_append(out, "{\"state\":\"");
	g_string_append(out, np_pen_state_to_string(st->state));
	g_string_append(out, "\",");
	if (st->error_code == 0)
		g_string_append(out, "\"error\":null");
	else
		append_error(out, st->error_code);
	if (st->cartridge_id == 0 && st->needle_count == 0) {
		g_string_append(out, ",\"cartridge\":null");
	} else {
		g_string_append(out, ",\"cartridge\":{\"id\":");
		append_uint(out, st->cartridge_id);
		g_string_append(out, ",\"needles\":");
		append_uint(out, st->needle_count);
		g_string_append_c(out, '}');
	}
	g_string_append(out, ",\"session\":");
	if (st->session_id == 0)
		g_string_append(out, "null");
	else
		append_uint(out, st->session_id);
	g_string_append(out, ",\"limits_active\":");
	append_bool(out, (st->flags & NP_STATUS_FLAG_LIMITS_ACTIVE) != 0);
	g_string_append(out, ",\"clock_set\":");
	append_bool(out, (st->flags & NP_STATUS_FLAG_CLOCK_SET) != 0);
	g_string_append_c(out, '}');
}

void
ng_payload_pen_features(GString *out, const NpPenFeatures *f)
{
	static const struct {
		guint16 bit;
		const char *name;
	} names[] = {
	    {NP_FEATURE_E2E_CRC, "e2e_crc"},
	    {NP_FEATURE_PRESSURE, "pressure"},
	    {NP_FEATURE_AREA_SELECTOR, "area_selector"},
	    {NP_FEATURE_STORED_RECORDS, "stored_records"},
	    {NP_FEATURE_LIMIT_ENFORCEMENT, "limit_enforcement"},
	};
	const char *sep = "";

	g_return_if_fail(out != NULL && f != NULL);

	g_string_append(out, "{\"protocol_version\":");
	append_uint(out, f->protocol_version);
	g_string_append(out, ",\"feature_bits\":");
	append_uint(out, f->feature_bits);
	g_string_append(out, ",\"features\":[");
	for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
		if ((f->feature_bits & names[i].bit) == 0)
			continue;
		g_string_append(out, sep);
		g_string_append_c(out, '"');
		g_string_append(out, names[i].name);
		g_string_append_c(out, '"');
		sep = ",";
	}
	g_string_append(out, "],\"telemetry_rate_hz\":");
	append_uint(out, f->telemetry_rate_hz);
	g_string_append(out, ",\"stored_records_capacity\":");
	append_uint(out, f->stored_records_capacity);
	g_string_append(out, ",\"max_depth_mm\":");
	ng_payload_append_fixed(out, f->max_depth_centi_mm, 2);
	g_string_append_c(out, '}');
}

static void
append_request_parameters(GString *out, const NpControlRequest *req)
{
	switch ((NpOpCode)req->op) {
	case NP_OP_SET_TIME:
		g_string_append(out, ",\"time\":");
		if (req->u.time_ms > (guint64)NG_TIME_MAX_MS)
			g_string_append(out, "null");
		else
			ng_payload_append_time(out, (gint64)req->u.time_ms);
		g_string_append(out, ",\"time_ms\":");
		append_uint(out, req->u.time_ms);
		break;
	case NP_OP_SET_LIMITS:
		g_string_append_c(out, ',');
		append_limits(out, &req->u.limits);
		break;
	case NP_OP_REPORT_STORED_RECORDS:
		g_string_append(out, ",\"first_seq\":");
		append_uint(out, req->u.first_seq);
		break;
	case NP_OP_SET_AREA:
		append_name(out, "area", np_area_to_string(req->u.area));
		break;
	case NP_OP_CLEAR_LIMITS:
	case NP_OP_STOP_SESSION:
	case NP_OP_IDENTIFY:
		break;
	default:
		/* An op code outside the profile: its parameters are unknown. */
		break;
	}
}

void
ng_payload_control_request(GString *out, const NpControlRequest *req)
{
	g_return_if_fail(out != NULL && req != NULL);

	g_string_append(out, "{\"op\":\"");
	g_string_append(out, np_op_code_to_string(req->op));
	g_string_append(out, "\",\"op_code\":");
	append_uint(out, req->op);
	append_request_parameters(out, req);
	g_string_append_c(out, '}');
}

void
ng_payload_control_response(GString *out, const NpControlResponse *resp)
{
	g_return_if_fail(out != NULL && resp != NULL);

	g_string_append(out, "{\"response_to\":\"");
	g_string_append(out, np_op_code_to_string(resp->request_op));
	g_string_append(out, "\",\"op_code\":");
	append_uint(out, resp->request_op);
	append_name(out, "result", np_result_code_to_string(resp->result));
	g_string_append(out, ",\"result_code\":");
	append_uint(out, resp->result);
	if (resp->request_op == NP_OP_REPORT_STORED_RECORDS && resp->result == NP_RESULT_SUCCESS) {
		g_string_append(out, ",\"records_sent\":");
		append_uint(out, resp->records_sent);
	}
	g_string_append_c(out, '}');
}

void
ng_payload_battery_level(GString *out, guint8 percent)
{
	g_return_if_fail(out != NULL);

	g_string_append(out, "{\"battery_percent\":");
	append_uint(out, percent);
	g_string_append_c(out, '}');
}

void
ng_payload_adv_mfr_data(GString *out, const NpAdvMfrData *adv)
{
	g_return_if_fail(out != NULL && adv != NULL);

	g_string_append(out, "{\"model_code\":");
	append_uint(out, adv->model_code);
	append_name(out, "state", np_pen_state_to_string(adv->state));
	g_string_append(out, ",\"battery_percent\":");
	append_uint(out, adv->battery_percent);
	g_string_append_c(out, '}');
}
