/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON text for decoded NeedlePen values, written by hand into one GString: this runs per record. */

#include "ng-payload.h"

#include <string.h>

#include "ng-json.h"

/* Opens an object with "pen" when there is one; returns the separator for the next key. */
static const char *
open_object_with_pen(GString *out, const char *pen)
{
	g_string_append_c(out, '{');
	if (pen == NULL)
		return "";
	g_string_append(out, "\"pen\":");
	ng_json_append_string(out, pen);
	return ",";
}

/* The longest telemetry payload after "pen": every field at its widest. */
#define NG_TELEMETRY_MAX_TEXT 320

/* "seq":…,"t":…,… "replayed":…} of one record: the fields after "pen" and "session". */
static char *
put_record_fields(char *p, const NpTelemetryRecord *rec, gint64 t_ms)
{
	p = NG_JSON_PUT_LIT(p, "\"seq\":");
	p = ng_json_put_uint(p, rec->seq);
	if (t_ms >= 0) {
		p = NG_JSON_PUT_LIT(p, ",\"t\":");
		p = ng_json_put_time(p, t_ms);
	}
	p = NG_JSON_PUT_LIT(p, ",\"offset_ms\":");
	p = ng_json_put_uint(p, rec->offset_ms);
	p = NG_JSON_PUT_LIT(p, ",\"depth_mm\":");
	p = ng_json_put_fixed(p, rec->depth_centi_mm, 2);
	p = NG_JSON_PUT_LIT(p, ",\"speed_hz\":");
	p = ng_json_put_fixed(p, rec->speed_deci_hz, 1);
	if (rec->flags & NP_TELEMETRY_FLAG_AREA) {
		p = NG_JSON_PUT_LIT(p, ",\"area\":\"");
		p = ng_json_put_str(p, np_area_to_string(rec->area));
		*p++ = '"';
	}
	if (rec->flags & NP_TELEMETRY_FLAG_PRESSURE) {
		p = NG_JSON_PUT_LIT(p, ",\"pressure_gf\":");
		p = ng_json_put_uint(p, rec->pressure_gf);
	}
	p = NG_JSON_PUT_LIT(p, ",\"motor\":");
	p = ng_json_put_bool(p, (rec->flags & NP_TELEMETRY_FLAG_MOTOR) != 0);
	p = NG_JSON_PUT_LIT(p, ",\"contact\":");
	p = ng_json_put_bool(p, (rec->flags & NP_TELEMETRY_FLAG_CONTACT) != 0);
	p = NG_JSON_PUT_LIT(p, ",\"replayed\":");
	p = ng_json_put_bool(p, (rec->flags & NP_TELEMETRY_FLAG_REPLAYED) != 0);
	*p++ = '}';
	return p;
}

void
ng_payload_telemetry(GString *out, const char *pen, const NpTelemetryRecord *rec, gint64 t_ms)
{
	const char *sep;
	char *p;

	g_return_if_fail(out != NULL && rec != NULL);

	sep = open_object_with_pen(out, pen);
	p = ng_json_reserve(out, NG_TELEMETRY_MAX_TEXT);
	p = ng_json_put_str(p, sep);
	p = NG_JSON_PUT_LIT(p, "\"session\":");
	p = ng_json_put_uint(p, rec->session_id);
	*p++ = ',';
	p = put_record_fields(p, rec, t_ms);
	ng_json_commit(out, p);
}

void
ng_payload_telemetry_record(GString *out, const NpTelemetryRecord *rec, gint64 t_ms)
{
	char *p;

	g_return_if_fail(out != NULL && rec != NULL);

	p = ng_json_reserve(out, NG_TELEMETRY_MAX_TEXT);
	*p++ = '{';
	p = put_record_fields(p, rec, t_ms);
	ng_json_commit(out, p);
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
	ng_json_append_uint(out, c->cartridge_id);
	g_string_append(out, ",\"needles\":");
	ng_json_append_uint(out, c->needle_count);
	g_string_append(out, ",\"use_count\":");
	ng_json_append_uint(out, c->use_count);
	g_string_append_c(out, '}');
}

static void
append_error(GString *out, guint16 code)
{
	g_string_append(out, "\"error\":{\"code\":");
	ng_json_append_uint(out, code);
	g_string_append(out, ",\"name\":\"");
	g_string_append(out, np_pen_error_to_string(code));
	g_string_append(out, "\"}");
}

static void
append_limits(GString *out, const NpLimits *l)
{
	g_string_append(out, "\"limits\":{\"max_depth_mm\":");
	ng_json_append_limit(out, l->max_depth_centi_mm, 2);
	g_string_append(out, ",\"min_speed_hz\":");
	ng_json_append_limit(out, l->min_speed_deci_hz, 1);
	g_string_append(out, ",\"max_speed_hz\":");
	ng_json_append_limit(out, l->max_speed_deci_hz, 1);
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
		ng_json_append_uint(out, ev->u.ended.duration_ms);
		g_string_append(out, ",\"duration_s\":");
		ng_json_append_fixed(out, ev->u.ended.duration_ms, 3);
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
	ng_json_append_uint(out, ev->seq);
	g_string_append(out, ",\"session\":");
	ng_json_append_uint(out, ev->session_id);
	if (t_ms >= 0) {
		g_string_append(out, ",\"t\":");
		ng_json_append_time(out, t_ms);
	}
	g_string_append(out, ",\"pen_clock\":");
	ng_json_append_pen_clock(out, ev->pen_clock_ms);
	g_string_append(out, ",\"pen_clock_ms\":");
	ng_json_append_uint(out, ev->pen_clock_ms);
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
		ng_json_append_uint(out, st->cartridge_id);
		g_string_append(out, ",\"needles\":");
		ng_json_append_uint(out, st->needle_count);
		g_string_append_c(out, '}');
	}
	g_string_append(out, ",\"session\":");
	if (st->session_id == 0)
		g_string_append(out, "null");
	else
		ng_json_append_uint(out, st->session_id);
	g_string_append(out, ",\"limits_active\":");
	ng_json_append_bool(out, (st->flags & NP_STATUS_FLAG_LIMITS_ACTIVE) != 0);
	g_string_append(out, ",\"clock_set\":");
	ng_json_append_bool(out, (st->flags & NP_STATUS_FLAG_CLOCK_SET) != 0);
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
	ng_json_append_uint(out, f->protocol_version);
	g_string_append(out, ",\"feature_bits\":");
	ng_json_append_uint(out, f->feature_bits);
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
	ng_json_append_uint(out, f->telemetry_rate_hz);
	g_string_append(out, ",\"stored_records_capacity\":");
	ng_json_append_uint(out, f->stored_records_capacity);
	g_string_append(out, ",\"max_depth_mm\":");
	ng_json_append_fixed(out, f->max_depth_centi_mm, 2);
	g_string_append_c(out, '}');
}

static void
append_request_parameters(GString *out, const NpControlRequest *req)
{
	switch ((NpOpCode)req->op) {
	case NP_OP_SET_TIME:
		g_string_append(out, ",\"time\":");
		if (req->u.time_ms > (guint64)NG_JSON_TIME_MAX_MS)
			g_string_append(out, "null");
		else
			ng_json_append_time(out, (gint64)req->u.time_ms);
		g_string_append(out, ",\"time_ms\":");
		ng_json_append_uint(out, req->u.time_ms);
		break;
	case NP_OP_SET_LIMITS:
		g_string_append_c(out, ',');
		append_limits(out, &req->u.limits);
		break;
	case NP_OP_REPORT_STORED_RECORDS:
		g_string_append(out, ",\"first_seq\":");
		ng_json_append_uint(out, req->u.first_seq);
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
	ng_json_append_uint(out, req->op);
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
	ng_json_append_uint(out, resp->request_op);
	append_name(out, "result", np_result_code_to_string(resp->result));
	g_string_append(out, ",\"result_code\":");
	ng_json_append_uint(out, resp->result);
	if (resp->request_op == NP_OP_REPORT_STORED_RECORDS && resp->result == NP_RESULT_SUCCESS) {
		g_string_append(out, ",\"records_sent\":");
		ng_json_append_uint(out, resp->records_sent);
	}
	g_string_append_c(out, '}');
}

void
ng_payload_battery_level(GString *out, guint8 percent)
{
	g_return_if_fail(out != NULL);

	g_string_append(out, "{\"battery_percent\":");
	ng_json_append_uint(out, percent);
	g_string_append_c(out, '}');
}

void
ng_payload_adv_mfr_data(GString *out, const NpAdvMfrData *adv)
{
	g_return_if_fail(out != NULL && adv != NULL);

	g_string_append(out, "{\"model_code\":");
	ng_json_append_uint(out, adv->model_code);
	append_name(out, "state", np_pen_state_to_string(adv->state));
	g_string_append(out, ",\"battery_percent\":");
	ng_json_append_uint(out, adv->battery_percent);
	g_string_append_c(out, '}');
}
