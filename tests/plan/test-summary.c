/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the session summary: a scripted session checked number by number, aftercare, the course. */

#include <json-glib/json-glib.h>
#include <string.h>

#include "plan-fixture.h"

#define MOTOR (NP_TELEMETRY_FLAG_MOTOR | NP_TELEMETRY_FLAG_CONTACT)
#define AREA  NP_TELEMETRY_FLAG_AREA

static JsonObject *
parse_object(const char *json, JsonParser *parser)
{
	g_autoptr(GError) error = NULL;

	if (!json_parser_load_from_data(parser, json, -1, &error))
		g_error("not JSON (%s): %s", error->message, json);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)));
	return json_node_get_object(json_parser_get_root(parser));
}

/* The number as printed: 0.080 must be exactly "0.080", not a double near it. */
static void
assert_member_text(GString *json, const char *needle)
{
	if (strstr(json->str, needle) == NULL)
		g_error("%s not in %s", needle, json->str);
}

/* Forehead: 0.40, 0.50, 0.60 mm needling, then a pause; cheeks: 0.80, 0.90 mm and one replayed 0.70 mm. */
static void
run_scripted_session(Fixture *f, NgPlan *plan)
{
	fixture_start(f, plan);
	fixture_record(f, 0, 40, 1000);
	fixture_record(f, 40, 50, 1100);
	fixture_record(f, 80, 60, 1200);
	fixture_record_flags(f, 120, 30, 900, 0, 0);
	fixture_record_flags(f, 160, 80, 1000, MOTOR | AREA, NP_AREA_CHEEKS);
	fixture_record_flags(f, 200, 90, 1000, MOTOR | AREA, NP_AREA_CHEEKS);
	fixture_record_flags(f, 180, 70, 1000, MOTOR | NP_TELEMETRY_FLAG_REPLAYED, 0);
	ng_rules_session_end(f->rules, f->seq++, T0_MS + 240, 240);
}

static void
test_summary_scripted(void)
{
	Fixture f;
	g_autoptr(GString) out = g_string_new("{");
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *root;
	JsonObject *summary;
	JsonObject *areas;
	JsonObject *forehead;
	JsonObject *cheeks;
	JsonObject *alerts;
	JsonObject *course;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	run_scripted_session(&f, f.plan);
	g_assert_cmpuint(f.alerts->len, ==, 0); /* 0.60 mm for one record is under the debounce */
	ng_summary_json_append_ended_fields(ng_rules_get_summary(f.rules), out, T0_MS + 240, 240, "stopped");
	g_string_append_c(out, '}');
	root = parse_object(out->str, parser);

	g_assert_cmpfloat(json_object_get_double_member(root, "duration_s"), ==, 0.24);
	g_assert_cmpstr(json_object_get_string_member(root, "reason"), ==, "stopped");
	summary = json_object_get_object_member(root, "summary");
	g_assert_cmpint(json_object_get_int_member(summary, "records"), ==, 7);
	areas = json_object_get_object_member(summary, "areas");
	g_assert_cmpuint(json_object_get_size(areas), ==, 2);

	forehead = json_object_get_object_member(areas, "forehead");
	g_assert_cmpint(json_object_get_int_member(forehead, "records"), ==, 4);
	g_assert_cmpint(json_object_get_int_member(forehead, "active_records"), ==, 3);
	g_assert_cmpfloat(json_object_get_double_member(forehead, "time_s"), ==, 0.08);
	g_assert_cmpfloat(json_object_get_double_member(forehead, "max_depth_mm"), ==, 0.60);
	g_assert_cmpfloat(json_object_get_double_member(forehead, "mean_depth_mm"), ==, 0.50);
	g_assert_cmpfloat(json_object_get_double_member(forehead, "mean_speed_hz"), ==, 110.0);
	g_assert_cmpfloat(json_object_get_double_member(forehead, "within_plan"), ==, 0.667);

	cheeks = json_object_get_object_member(areas, "cheeks");
	g_assert_cmpint(json_object_get_int_member(cheeks, "records"), ==, 3);
	g_assert_cmpint(json_object_get_int_member(cheeks, "active_records"), ==, 3);
	/* needling time counts pairs of consecutive active records: 160 -> 200 only (120 is a pause,
	 * and the replayed 180 came after 200 in seq, its offset going back) */
	g_assert_cmpfloat(json_object_get_double_member(cheeks, "time_s"), ==, 0.04);
	g_assert_cmpfloat(json_object_get_double_member(cheeks, "max_depth_mm"), ==, 0.90);
	g_assert_cmpfloat(json_object_get_double_member(cheeks, "mean_depth_mm"), ==, 0.80);
	g_assert_cmpfloat(json_object_get_double_member(cheeks, "mean_speed_hz"), ==, 100.0);
	g_assert_cmpfloat(json_object_get_double_member(cheeks, "within_plan"), ==, 1.0);

	assert_member_text(
	    out,
	    "\"forehead\":{\"time_s\":0.080,\"records\":4,\"active_records\":3,"
	    "\"max_depth_mm\":0.60,\"mean_depth_mm\":0.50,\"mean_speed_hz\":110.0,\"within_plan\":0.667}");
	for (guint r = 0; r < NG_RULE_COUNT; r++) {
		JsonObject *c = json_object_get_object_member(
		    json_object_get_object_member(summary, "compliance"), ng_rule_to_string((NgRule)r));
		g_assert_true(json_object_get_boolean_member(c, "ok"));
		g_assert_cmpint(json_object_get_int_member(c, "alerts"), ==, 0);
	}
	alerts = json_object_get_object_member(root, "alerts");
	g_assert_cmpint(json_object_get_int_member(alerts, "critical"), ==, 0);
	g_assert_cmpint(json_object_get_int_member(alerts, "warning"), ==, 0);
	g_assert_cmpint(json_object_get_int_member(alerts, "info"), ==, 0);
	course = json_object_get_object_member(root, "course");
	g_assert_cmpint(json_object_get_int_member(course, "session_number"), ==, 1);
	g_assert_cmpint(json_object_get_int_member(course, "sessions_total"), ==, 3);
	g_assert_cmpint(json_object_get_int_member(course, "min_interval_days"), ==, 28);
	g_assert_cmpstr(json_object_get_string_member(root, "next_session_earliest"), ==,
			"2026-12-22T10:00:00.240Z");
	fixture_clear(&f);
}

/* Alerts counted by severity and by rule; a cleared alert is not counted twice. */
static void
test_summary_alert_counts(void)
{
	Fixture f;
	g_autoptr(GString) out = g_string_new("{");
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *root;
	JsonObject *compliance;
	NgSessionStart s;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	s = fixture_default_start(&f);
	s.cartridge.use_count = 3;
	s.clock_set = FALSE;
	ng_rules_session_start(f.rules, &s, f.plan);
	fixture_records(&f, 0, 1000, 40, 70, 1000);    /* too deep: critical */
	fixture_records(&f, 1040, 2000, 40, 40, 1300); /* too fast: warning */
	fixture_records(&f, 2040, 3000, 40, 70, 1000); /* too deep again: a second critical */
	ng_rules_telemetry_gap(f.rules, 10, 12, T0_MS + 3000);
	ng_rules_session_end(f.rules, f.seq++, T0_MS + 4000, 4000);
	ng_summary_json_append_ended_fields(ng_rules_get_summary(f.rules), out, T0_MS + 4000, 4000,
					    "remote_stop");
	g_string_append_c(out, '}');
	root = parse_object(out->str, parser);
	assert_member_text(out, "\"alerts\":{\"critical\":3,\"warning\":2,\"info\":1}");
	compliance =
	    json_object_get_object_member(json_object_get_object_member(root, "summary"), "compliance");
	g_assert_cmpint(json_object_get_int_member(
			    json_object_get_object_member(compliance, "depth_above_max"), "alerts"),
			==, 2);
	g_assert_false(json_object_get_boolean_member(
	    json_object_get_object_member(compliance, "depth_above_max"), "ok"));
	g_assert_cmpint(json_object_get_int_member(
			    json_object_get_object_member(compliance, "cartridge_reused"), "alerts"),
			==, 1);
	g_assert_true(
	    json_object_get_boolean_member(json_object_get_object_member(compliance, "no_plan"), "ok"));
	fixture_clear(&f);
}

static void
test_summary_aftercare_defaults(void)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GDateTime) end = g_date_time_new_from_iso8601("2026-11-24T10:40:00Z", NULL);

	ng_summary_json_append_aftercare(out, NULL, g_date_time_to_unix(end) * 1000);
	g_assert_cmpstr(
	    out->str, ==,
	    "[{\"rule\":\"sun_protection\",\"until\":\"2026-12-01T10:40:00.000Z\",\"hours\":168,"
	    "\"advice\":\"Avoid the sun and use SPF 30+ every day.\"},"
	    "{\"rule\":\"no_harsh_cleansers\",\"until\":\"2026-11-28T10:40:00.000Z\",\"hours\":96,"
	    "\"advice\":\"Use no harsh cleansers.\"},"
	    "{\"rule\":\"no_active_ingredients\",\"until\":\"2026-11-28T10:40:00.000Z\",\"hours\":96,"
	    "\"advice\":\"Use no AHA, BHA, vitamin C, benzoyl peroxide, vitamin A or retinol.\"},"
	    "{\"rule\":\"no_perfumed_products\",\"until\":\"2026-11-28T10:40:00.000Z\",\"hours\":96,"
	    "\"advice\":\"Use no perfumed products.\"},"
	    "{\"rule\":\"no_heavy_exercise\",\"until\":\"2026-11-26T10:40:00.000Z\",\"hours\":48,"
	    "\"advice\":\"No heavy exercise.\"},"
	    "{\"rule\":\"no_sauna\",\"until\":\"2026-11-26T10:40:00.000Z\",\"hours\":48,\"advice\":\"No "
	    "sauna.\"},"
	    "{\"rule\":\"no_chlorinated_pools\",\"until\":\"2026-11-26T10:40:00.000Z\",\"hours\":48,"
	    "\"advice\":\"No swimming in chlorinated pools.\"},"
	    "{\"rule\":\"no_solarium\",\"until\":\"2026-11-26T10:40:00.000Z\",\"hours\":48,"
	    "\"advice\":\"No solarium.\"},"
	    "{\"rule\":\"no_spray_tanning\",\"until\":\"2026-11-26T10:40:00.000Z\",\"hours\":48,"
	    "\"advice\":\"No spray tanning.\"},"
	    "{\"rule\":\"no_cosmetic_tattooing\",\"until\":\"2026-11-26T10:40:00.000Z\",\"hours\":48,"
	    "\"advice\":\"No cosmetic tattooing.\"},"
	    "{\"rule\":\"no_shaving\",\"until\":\"2026-11-25T10:40:00.000Z\",\"hours\":24,"
	    "\"advice\":\"Do not shave the treated area.\"}]");
}

/* The plan's overrides: no_shaving 12 h; 0 drops a restriction from the list. */
static void
test_summary_aftercare_overrides(void)
{
	g_autofree char *doc = NULL;
	g_autoptr(NgPlan) plan = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	const char *at = strstr(fixture_plan, "\"no_shaving\":12");

	doc = g_strdup_printf("%.*s\"no_shaving\":12,\"no_sauna\":0,\"sun_protection\":336%s",
			      (int)(at - fixture_plan), fixture_plan, at + strlen("\"no_shaving\":12"));
	plan = ng_plan_parse(doc, -1, &error);
	g_assert_no_error(error);
	ng_summary_json_append_aftercare(out, plan, T0_MS);
	assert_member_text(out,
			   "{\"rule\":\"no_shaving\",\"until\":\"2026-11-24T22:00:00.000Z\",\"hours\":12,");
	assert_member_text(
	    out, "{\"rule\":\"sun_protection\",\"until\":\"2026-12-08T10:00:00.000Z\",\"hours\":336,");
	assert_member_text(out,
			   "{\"rule\":\"no_solarium\",\"until\":\"2026-11-26T10:00:00.000Z\",\"hours\":48,");
	g_assert_null(strstr(out->str, "no_sauna"));
}

/* The last session of a course has no next one; without a plan there is no course and no compliance share. */
static void
test_summary_course_end_and_no_plan(void)
{
	Fixture f;
	g_autofree char *doc = NULL;
	g_autoptr(NgPlan) last = NULL;
	g_autofree char *json = NULL;
	const char *at = strstr(fixture_plan, "\"session_number\":1");

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	doc = g_strdup_printf("%.*s\"session_number\":3%s", (int)(at - fixture_plan), fixture_plan,
			      at + strlen("\"session_number\":1"));
	last = ng_plan_parse(doc, -1, NULL);
	g_assert_nonnull(last);
	run_scripted_session(&f, last);
	json = ng_summary_json_to_string(ng_rules_get_summary(f.rules), T0_MS + 240, 240, "stopped");
	g_assert_true(g_str_has_suffix(json, ",\"course\":{\"session_number\":3,\"sessions_total\":3,"
					     "\"min_interval_days\":28},\"next_session_earliest\":null}"));
	g_clear_pointer(&json, g_free);

	run_scripted_session(&f, NULL);
	json = ng_summary_json_to_string(ng_rules_get_summary(f.rules), T0_MS + 240, 240, "battery");
	g_assert_true(g_str_has_suffix(json, ",\"course\":null,\"next_session_earliest\":null}"));
	g_assert_nonnull(strstr(json, "\"mean_speed_hz\":110.0,\"within_plan\":null}"));
	g_assert_nonnull(strstr(json, "\"alerts\":{\"critical\":0,\"warning\":1,\"info\":0}")); /* no_plan */
	fixture_clear(&f);
}

/* One record with its own sequence number. */
static void
record_seq(Fixture *f, guint32 seq, guint32 offset_ms, guint depth, guint8 flags, guint8 area)
{
	NpTelemetryRecord r = {
	    .flags = flags,
	    .seq = seq,
	    .session_id = SESSION_ID,
	    .offset_ms = offset_ms,
	    .depth_centi_mm = (guint16)depth,
	    .speed_deci_hz = 1000,
	    .area = area,
	};
	ng_rules_record(f->rules, &r, T0_MS + offset_ms);
}

/* A replayed record from an earlier area counts there, without moving the pen or closing its
 * alerts; the time between its neighbours is counted once. */
static void
test_summary_replay_elsewhere(void)
{
	Fixture f;
	NgSummary *summary;
	guint32 seq;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	seq = f.seq;
	for (guint32 i = 0; i <= 10; i++) /* forehead, 0..400 ms; seq + 3 (120 ms) comes later */
		if (i != 3)
			record_seq(&f, seq + i, i * 40, 40, MOTOR, 0);
	record_seq(&f, seq + 11, 440, 80, MOTOR | AREA, NP_AREA_CHEEKS);
	record_seq(&f, seq + 12, 480, 200, MOTOR | AREA, NP_AREA_CHEEKS);
	record_seq(&f, seq + 13, 520, 200, MOTOR | AREA, NP_AREA_CHEEKS);
	record_seq(&f, seq + 14, 720, 200, MOTOR | AREA, NP_AREA_CHEEKS);
	g_assert_cmpuint(f.alerts->len, ==, 1); /* 2.00 mm on the cheeks for 240 ms */
	summary = ng_rules_get_summary(f.rules);
	g_assert_cmpuint(summary->areas[NP_AREA_FOREHEAD].time_ms, ==, 400);
	record_seq(&f, seq + 3, 120, 45, MOTOR | AREA | NP_TELEMETRY_FLAG_REPLAYED, NP_AREA_FOREHEAD);
	ng_rules_replay_done(f.rules);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	record_seq(&f, seq + 15, 760, 200, MOTOR | AREA, NP_AREA_CHEEKS);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpuint(summary->areas[NP_AREA_FOREHEAD].records, ==, 11);
	g_assert_cmpuint(summary->areas[NP_AREA_FOREHEAD].within_plan, ==, 11);
	g_assert_cmpuint(summary->areas[NP_AREA_FOREHEAD].depth_sum_centi_mm, ==, 10 * 40 + 45);
	g_assert_cmpuint(summary->areas[NP_AREA_FOREHEAD].time_ms, ==, 400);
	g_assert_cmpuint(summary->areas[NP_AREA_CHEEKS].records, ==, 5);
	g_assert_cmpuint(summary->areas[NP_AREA_CHEEKS].within_plan, ==, 1);
	/* 400 -> 440 and on: 40 + 40 + 40 + 200 (capped at 1 s, not reached) + 40 */
	g_assert_cmpuint(summary->areas[NP_AREA_CHEEKS].time_ms, ==, 360);
	fixture_clear(&f);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/summary/scripted", test_summary_scripted);
	g_test_add_func("/summary/alert-counts", test_summary_alert_counts);
	g_test_add_func("/summary/aftercare-defaults", test_summary_aftercare_defaults);
	g_test_add_func("/summary/aftercare-overrides", test_summary_aftercare_overrides);
	g_test_add_func("/summary/course-end-and-no-plan", test_summary_course_end_and_no_plan);
	g_test_add_func("/summary/replay-elsewhere", test_summary_replay_elsewhere);
	return g_test_run();
}
