/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the JSON payloads: exact text for each value, times, numbers, escaping, always valid JSON. */

#include <json-glib/json-glib.h>
#include <string.h>

#include "ng-json.h"
#include "ng-payload.h"

#define T_MS G_GINT64_CONSTANT(1700000000123) /* 2023-11-14T22:13:20.123Z */

/* Parses text as JSON with json-glib: what a dashboard would do with it. */
static void
assert_valid_json(const char *text)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;

	if (!json_parser_load_from_data(parser, text, -1, &error))
		g_error("not JSON: %s: %s", error->message, text);
}

#define assert_payload(out, expect)                                                                          \
	G_STMT_START                                                                                         \
	{                                                                                                    \
		g_assert_cmpstr((out)->str, ==, (expect));                                                   \
		assert_valid_json((out)->str);                                                               \
		g_string_truncate((out), 0);                                                                 \
	}                                                                                                    \
	G_STMT_END

static void
test_time(void)
{
	g_autoptr(GString) out = g_string_new(NULL);

	ng_json_append_time(out, T_MS);
	assert_payload(out, "\"2023-11-14T22:13:20.123Z\"");
	ng_json_append_time(out, 0);
	assert_payload(out, "\"1970-01-01T00:00:00.000Z\"");
	ng_json_append_time(out, -1);
	assert_payload(out, "\"1969-12-31T23:59:59.999Z\"");
	ng_json_append_time(out, G_GINT64_CONSTANT(1879651510272));
	assert_payload(out, "\"2029-07-25T05:25:10.272Z\"");
	ng_json_append_time(out, G_GINT64_CONSTANT(253402300799999));
	assert_payload(out, "\"9999-12-31T23:59:59.999Z\"");
	ng_json_append_time(out, G_GINT64_CONSTANT(-62167219200000));
	assert_payload(out, "\"0000-01-01T00:00:00.000Z\"");
	/* Outside four-digit years: not a time a pen or gateway can mean. */
	ng_json_append_time(out, G_GINT64_CONSTANT(253402300800000));
	assert_payload(out, "null");
	ng_json_append_time(out, G_MAXINT64);
	assert_payload(out, "null");
	ng_json_append_time(out, G_MININT64);
	assert_payload(out, "null");
	/* A pen clock: unsigned, 0 when never set. */
	ng_json_append_pen_clock(out, 0);
	assert_payload(out, "null");
	ng_json_append_pen_clock(out, 1);
	assert_payload(out, "\"1970-01-01T00:00:00.001Z\"");
	ng_json_append_pen_clock(out, G_GUINT64_CONSTANT(1879651510272));
	assert_payload(out, "\"2029-07-25T05:25:10.272Z\"");
	ng_json_append_pen_clock(out, G_MAXUINT64);
	assert_payload(out, "null");
	ng_json_append_pen_clock(out, G_GUINT64_CONSTANT(0x8000000000000000));
	assert_payload(out, "null");
}

/* The hand-written calendar agrees with GLib's on random times from year 1 to 9999. */
static void
test_time_against_gdatetime(void)
{
	g_autoptr(GString) out = g_string_new(NULL);
	const gint64 first = G_GINT64_CONSTANT(-62135596800000); /* 0001-01-01 */
	const gint64 last = G_GINT64_CONSTANT(253402300799999);

	for (guint i = 0; i < 20000; i++) {
		static const gint64 edges[] = {G_GINT64_CONSTANT(-62135596800000),
					       G_GINT64_CONSTANT(253402300799999), 0, -1,
					       951782400000 /* 2000-02-29 */};
		gint64 ms = i < G_N_ELEMENTS(edges)
				? edges[i]
				: first + (gint64)(g_test_rand_double() * (double)(last - first));
		gint64 secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
		g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(secs);
		g_autofree char *date = NULL;
		g_autofree char *expect = NULL;

		g_assert_nonnull(dt);
		date = g_date_time_format(dt, "%m-%dT%H:%M:%S"); /* %Y does not pad years below 1000 */
		expect = g_strdup_printf("\"%04d-%s.%03dZ\"", g_date_time_get_year(dt), date,
					 (int)(ms - secs * 1000));
		g_string_truncate(out, 0);
		ng_json_append_time(out, ms);
		g_assert_cmpstr(out->str, ==, expect);
	}
}

static void
test_fixed(void)
{
	g_autoptr(GString) out = g_string_new(NULL);

	ng_json_append_fixed(out, 150, 2);
	assert_payload(out, "1.50");
	ng_json_append_fixed(out, 5, 2);
	assert_payload(out, "0.05");
	ng_json_append_fixed(out, 0, 1);
	assert_payload(out, "0.0");
	ng_json_append_fixed(out, 1200, 1);
	assert_payload(out, "120.0");
	ng_json_append_fixed(out, 65535, 2);
	assert_payload(out, "655.35");
	ng_json_append_fixed(out, 1800000, 3);
	assert_payload(out, "1800.000");
	ng_json_append_fixed(out, 42, 0);
	assert_payload(out, "42");
	ng_json_append_fixed(out, G_MAXUINT64, 0);
	assert_payload(out, "18446744073709551615");
}

static void
test_string_escaping(void)
{
	g_autoptr(GString) out = g_string_new(NULL);

	ng_json_append_string(out, "NP-0042");
	assert_payload(out, "\"NP-0042\"");
	ng_json_append_string(out, "");
	assert_payload(out, "\"\"");
	ng_json_append_string(out, NULL);
	assert_payload(out, "null");
	ng_json_append_string(out, "a\"b\\c\nd\re\tf\x01g\x1f");
	assert_payload(out, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001f\"");
	/* Valid UTF-8 passes as it is. */
	ng_json_append_string(out, "d\xc3\xa9"
				   "collet\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\x89");
	assert_payload(out, "\"d\xc3\xa9"
			    "collet\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\x89\"");
	/* Invalid bytes become U+FFFD, one each; a cut sequence at the end too. */
	ng_json_append_string(out, "a\xff"
				   "b\xc3");
	assert_payload(out, "\"a\xef\xbf\xbd"
			    "b\xef\xbf\xbd\"");
	ng_json_append_string(out, "\xed\xa0\x80"); /* a UTF-16 surrogate */
	assert_payload(out, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	ng_json_append_string_len(out, "a\0b", 3);
	assert_payload(out, "\"a\\u0000b\"");
}

/* Any bytes at all give valid JSON that reads back as the same text when the bytes were UTF-8. */
static void
test_string_any_bytes(void)
{
	g_autoptr(GString) out = g_string_new(NULL);

	for (guint n = 0; n < 2000; n++) {
		guint8 bytes[16];
		gsize len = (gsize)g_test_rand_int_range(0, sizeof bytes);
		g_autoptr(JsonParser) parser = json_parser_new();
		g_autoptr(GError) error = NULL;

		for (gsize i = 0; i < len; i++)
			bytes[i] = (guint8)g_test_rand_int_range(0, 256);
		g_string_truncate(out, 0);
		ng_json_append_string_len(out, (const char *)bytes, len);
		g_assert_true(g_utf8_validate(out->str, (gssize)out->len, NULL));
		g_assert_true(json_parser_load_from_data(parser, out->str, (gssize)out->len, &error));
		g_assert_no_error(error);
		if (memchr(bytes, 0, len) == NULL &&
		    g_utf8_validate((const char *)bytes, (gssize)len, NULL)) {
			const char *back = json_node_get_string(json_parser_get_root(parser));
			g_assert_cmpmem(back, strlen(back), bytes, len);
		}
	}
}

static void
test_telemetry(void)
{
	g_autoptr(GString) out = g_string_new(NULL);
	NpTelemetryRecord v1 = {.size = 16,
				.flags = 0x18,
				.seq = 42,
				.session_id = 7,
				.offset_ms = 1000,
				.depth_centi_mm = 150,
				.speed_deci_hz = 1200};
	NpTelemetryRecord v2 = {.size = 21,
				.flags = 0x3b,
				.seq = 43,
				.session_id = 7,
				.offset_ms = 1028,
				.depth_centi_mm = 150,
				.speed_deci_hz = 1200,
				.area = 4,
				.pressure_gf = 250,
				.crc = 0x2b35};
	NpTelemetryRecord other = {.size = 17,
				   .flags = NP_TELEMETRY_FLAG_AREA | NP_TELEMETRY_FLAG_REPLAYED,
				   .seq = 4294967295u,
				   .session_id = 65535,
				   .offset_ms = 4294967295u,
				   .depth_centi_mm = 5,
				   .speed_deci_hz = 7,
				   .area = 0x20};

	ng_payload_telemetry(out, NULL, &v1, -1);
	assert_payload(out,
		       "{\"session\":7,\"seq\":42,\"offset_ms\":1000,\"depth_mm\":1.50,\"speed_hz\":120.0,"
		       "\"motor\":true,\"contact\":true,\"replayed\":false}");
	ng_payload_telemetry(out, "NP-0042", &v2, T_MS);
	assert_payload(out,
		       "{\"pen\":\"NP-0042\",\"session\":7,\"seq\":43,\"t\":\"2023-11-14T22:13:20.123Z\","
		       "\"offset_ms\":1028,\"depth_mm\":1.50,\"speed_hz\":120.0,\"area\":\"cheeks\","
		       "\"pressure_gf\":250,\"motor\":true,\"contact\":true,\"replayed\":false}");
	ng_payload_telemetry(out, "x\"y", &other, 0);
	assert_payload(out, "{\"pen\":\"x\\\"y\",\"session\":65535,\"seq\":4294967295,"
			    "\"t\":\"1970-01-01T00:00:00.000Z\",\"offset_ms\":4294967295,\"depth_mm\":0.05,"
			    "\"speed_hz\":0.7,\"area\":\"unknown\",\"motor\":false,\"contact\":false,"
			    "\"replayed\":true}");
	/* Appends: a batch is records side by side in one string. */
	g_string_append_c(out, '[');
	ng_payload_telemetry(out, NULL, &v1, -1);
	g_string_append_c(out, ',');
	ng_payload_telemetry(out, NULL, &v2, -1);
	g_string_append_c(out, ']');
	assert_valid_json(out->str);
}

static void
test_session_events(void)
{
	g_autoptr(GString) out = g_string_new(NULL);
	NpSessionEvent ev = {.type = NP_EVENT_SESSION_STARTED,
			     .seq = 44,
			     .session_id = 7,
			     .pen_clock_ms = G_GUINT64_CONSTANT(1879651510272)};

	ev.u.started.cartridge = (NpCartridge){.cartridge_id = 305419896, .needle_count = 12, .use_count = 1};
	ev.u.started.area = NP_AREA_CHEEKS;
	ng_payload_session_event(out, "NP-0042", &ev, T_MS);
	assert_payload(
	    out, "{\"pen\":\"NP-0042\",\"event\":\"session_started\",\"seq\":44,\"session\":7,"
		 "\"t\":\"2023-11-14T22:13:20.123Z\",\"pen_clock\":\"2029-07-25T05:25:10.272Z\","
		 "\"pen_clock_ms\":1879651510272,"
		 "\"cartridge\":{\"id\":305419896,\"needles\":12,\"use_count\":1},\"area\":\"cheeks\"}");

	ev = (NpSessionEvent){.type = NP_EVENT_SESSION_ENDED, .seq = 45, .session_id = 7};
	ev.u.ended.duration_ms = 1800123;
	ev.u.ended.reason = NP_END_REASON_BATTERY;
	ng_payload_session_event(out, NULL, &ev, -1);
	assert_payload(out, "{\"event\":\"session_ended\",\"seq\":45,\"session\":7,\"pen_clock\":null,"
			    "\"pen_clock_ms\":0,\"duration_ms\":1800123,\"duration_s\":1800.123,"
			    "\"reason\":\"battery\"}");

	ev = (NpSessionEvent){.type = NP_EVENT_AREA_CHANGED, .seq = 46, .session_id = 7, .pen_clock_ms = 1};
	ev.u.area_changed.area = NP_AREA_CHIN_JAWLINE;
	ng_payload_session_event(out, NULL, &ev, -1);
	assert_payload(
	    out, "{\"event\":\"area_changed\",\"seq\":46,\"session\":7,"
		 "\"pen_clock\":\"1970-01-01T00:00:00.001Z\",\"pen_clock_ms\":1,\"area\":\"chin_jawline\"}");

	ev = (NpSessionEvent){.type = NP_EVENT_CARTRIDGE_INSERTED, .seq = 47};
	ev.u.cartridge_inserted = (NpCartridge){.cartridge_id = 1, .needle_count = 36, .use_count = 2};
	ng_payload_session_event(out, NULL, &ev, -1);
	assert_payload(out, "{\"event\":\"cartridge_inserted\",\"seq\":47,\"session\":0,\"pen_clock\":null,"
			    "\"pen_clock_ms\":0,\"cartridge\":{\"id\":1,\"needles\":36,\"use_count\":2}}");

	ev = (NpSessionEvent){.type = NP_EVENT_CARTRIDGE_REMOVED, .seq = 48};
	ng_payload_session_event(out, NULL, &ev, -1);
	assert_payload(out, "{\"event\":\"cartridge_removed\",\"seq\":48,\"session\":0,\"pen_clock\":null,"
			    "\"pen_clock_ms\":0}");

	ev = (NpSessionEvent){.type = NP_EVENT_ERROR_RAISED, .seq = 49};
	ev.u.error.code = NP_PEN_ERROR_MOTOR_STALL;
	ng_payload_session_event(out, NULL, &ev, -1);
	assert_payload(out, "{\"event\":\"error_raised\",\"seq\":49,\"session\":0,\"pen_clock\":null,"
			    "\"pen_clock_ms\":0,\"error\":{\"code\":1,\"name\":\"motor_stall\"}}");
	ev.type = NP_EVENT_ERROR_CLEARED;
	ev.u.error.code = 0x77;
	ng_payload_session_event(out, NULL, &ev, -1);
	assert_payload(out, "{\"event\":\"error_cleared\",\"seq\":49,\"session\":0,\"pen_clock\":null,"
			    "\"pen_clock_ms\":0,\"error\":{\"code\":119,\"name\":\"unknown\"}}");

	ev = (NpSessionEvent){.type = NP_EVENT_LIMITS_APPLIED, .seq = 50, .session_id = 8};
	ev.u.limits_applied = (NpLimits){
	    .max_depth_centi_mm = 150, .min_speed_deci_hz = NP_LIMIT_NONE, .max_speed_deci_hz = 1000};
	ng_payload_session_event(out, NULL, &ev, -1);
	assert_payload(out, "{\"event\":\"limits_applied\",\"seq\":50,\"session\":8,\"pen_clock\":null,"
			    "\"pen_clock_ms\":0,\"limits\":{\"max_depth_mm\":1.50,\"min_speed_hz\":null,"
			    "\"max_speed_hz\":100.0}}");

	/* A pen clock no ISO time can hold. */
	ev = (NpSessionEvent){.type = NP_EVENT_CARTRIDGE_REMOVED, .seq = 51, .pen_clock_ms = G_MAXUINT64};
	ng_payload_session_event(out, NULL, &ev, -1);
	assert_payload(out, "{\"event\":\"cartridge_removed\",\"seq\":51,\"session\":0,\"pen_clock\":null,"
			    "\"pen_clock_ms\":18446744073709551615}");
}

static void
test_pen_status(void)
{
	g_autoptr(GString) out = g_string_new(NULL);
	NpPenStatus st = {.state = NP_PEN_STATE_SESSION_ACTIVE,
			  .error_code = 0,
			  .cartridge_id = 305419896,
			  .needle_count = 12,
			  .session_id = 7,
			  .flags = NP_STATUS_FLAG_LIMITS_ACTIVE | NP_STATUS_FLAG_CLOCK_SET};

	ng_payload_pen_status(out, &st);
	assert_payload(out, "{\"state\":\"session_active\",\"error\":null,"
			    "\"cartridge\":{\"id\":305419896,\"needles\":12},\"session\":7,"
			    "\"limits_active\":true,\"clock_set\":true}");
	st = (NpPenStatus){.state = 9, .error_code = NP_PEN_ERROR_CARTRIDGE_NOT_SEATED};
	ng_payload_pen_status(out, &st);
	assert_payload(out,
		       "{\"state\":\"unknown\",\"error\":{\"code\":4,\"name\":\"cartridge_not_seated\"},"
		       "\"cartridge\":null,\"session\":null,\"limits_active\":false,\"clock_set\":false}");
}

static void
test_pen_features(void)
{
	g_autoptr(GString) out = g_string_new(NULL);
	NpPenFeatures f = {.protocol_version = 1,
			   .feature_bits = 0x1f,
			   .telemetry_rate_hz = 25,
			   .stored_records_capacity = 4096,
			   .max_depth_centi_mm = 300};

	ng_payload_pen_features(out, &f);
	assert_payload(out,
		       "{\"protocol_version\":1,\"feature_bits\":31,\"features\":[\"e2e_crc\",\"pressure\","
		       "\"area_selector\",\"stored_records\",\"limit_enforcement\"],\"telemetry_rate_hz\":25,"
		       "\"stored_records_capacity\":4096,\"max_depth_mm\":3.00}");
	f.feature_bits = 0x8008;
	f.max_depth_centi_mm = 250;
	ng_payload_pen_features(out, &f);
	assert_payload(out,
		       "{\"protocol_version\":1,\"feature_bits\":32776,\"features\":[\"stored_records\"],"
		       "\"telemetry_rate_hz\":25,\"stored_records_capacity\":4096,\"max_depth_mm\":2.50}");
	f.feature_bits = 0;
	ng_payload_pen_features(out, &f);
	assert_valid_json(out->str);
	g_assert_nonnull(strstr(out->str, "\"features\":[]"));
}

static void
test_control(void)
{
	g_autoptr(GString) out = g_string_new(NULL);
	NpControlRequest req = {.op = NP_OP_SET_TIME, .u.time_ms = 1700000000123u};
	NpControlResponse resp = {
	    .request_op = NP_OP_REPORT_STORED_RECORDS, .result = NP_RESULT_SUCCESS, .records_sent = 12};

	ng_payload_control_request(out, &req);
	assert_payload(out, "{\"op\":\"set_time\",\"op_code\":1,\"time\":\"2023-11-14T22:13:20.123Z\","
			    "\"time_ms\":1700000000123}");
	req = (NpControlRequest){.op = NP_OP_SET_LIMITS};
	req.u.limits = (NpLimits){
	    .max_depth_centi_mm = NP_LIMIT_NONE, .min_speed_deci_hz = 500, .max_speed_deci_hz = 1505};
	ng_payload_control_request(out, &req);
	assert_payload(out, "{\"op\":\"set_limits\",\"op_code\":2,\"limits\":{\"max_depth_mm\":null,"
			    "\"min_speed_hz\":50.0,\"max_speed_hz\":150.5}}");
	req = (NpControlRequest){.op = NP_OP_REPORT_STORED_RECORDS, .u.first_seq = 42};
	ng_payload_control_request(out, &req);
	assert_payload(out, "{\"op\":\"report_stored_records\",\"op_code\":4,\"first_seq\":42}");
	req = (NpControlRequest){.op = NP_OP_SET_AREA, .u.area = NP_AREA_DECOLLETE};
	ng_payload_control_request(out, &req);
	assert_payload(out, "{\"op\":\"set_area\",\"op_code\":6,\"area\":\"decollete\"}");
	req = (NpControlRequest){.op = NP_OP_IDENTIFY};
	ng_payload_control_request(out, &req);
	assert_payload(out, "{\"op\":\"identify\",\"op_code\":7}");
	req = (NpControlRequest){.op = NP_OP_SET_TIME, .u.time_ms = G_MAXUINT64};
	ng_payload_control_request(out, &req);
	assert_payload(out,
		       "{\"op\":\"set_time\",\"op_code\":1,\"time\":null,\"time_ms\":18446744073709551615}");

	ng_payload_control_response(out, &resp);
	assert_payload(out, "{\"response_to\":\"report_stored_records\",\"op_code\":4,\"result\":\"success\","
			    "\"result_code\":1,\"records_sent\":12}");
	resp = (NpControlResponse){.request_op = 0x42, .result = NP_RESULT_NOT_SUPPORTED};
	ng_payload_control_response(out, &resp);
	assert_payload(out, "{\"response_to\":\"unknown\",\"op_code\":66,\"result\":\"not_supported\","
			    "\"result_code\":2}");
}

static void
test_battery_adv(void)
{
	g_autoptr(GString) out = g_string_new(NULL);
	NpAdvMfrData adv = {.model_code = 7, .state = NP_PEN_STATE_CHARGING, .battery_percent = 85};

	ng_payload_battery_level(out, 100);
	assert_payload(out, "{\"battery_percent\":100}");
	ng_payload_adv_mfr_data(out, &adv);
	assert_payload(out, "{\"model_code\":7,\"state\":\"charging\",\"battery_percent\":85}");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/payload/time", test_time);
	g_test_add_func("/payload/time-against-gdatetime", test_time_against_gdatetime);
	g_test_add_func("/payload/fixed", test_fixed);
	g_test_add_func("/payload/string-escaping", test_string_escaping);
	g_test_add_func("/payload/string-any-bytes", test_string_any_bytes);
	g_test_add_func("/payload/telemetry", test_telemetry);
	g_test_add_func("/payload/session-events", test_session_events);
	g_test_add_func("/payload/pen-status", test_pen_status);
	g_test_add_func("/payload/pen-features", test_pen_features);
	g_test_add_func("/payload/control", test_control);
	g_test_add_func("/payload/battery-adv", test_battery_adv);
	return g_test_run();
}
