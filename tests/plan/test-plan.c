/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the plan parser: every broken plan refused with its exact message, the examples, round trips.
 */

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "ng-plan.h"

/* A valid plan; each broken case replaces the first occurrence of one piece of it. */
static const char base_plan[] =
    "{\"plan_id\":\"p1\",\"patient_ref\":\"P-1\","
    "\"course\":{\"session_number\":1,\"sessions_total\":3,\"min_interval_days\":28,"
    "\"previous_session\":\"2026-10-01T10:00:00Z\"},"
    "\"allowed_needles\":[12,36],"
    "\"areas\":{\"forehead\":{\"depth_mm\":{\"min\":0.25,\"max\":0.5},\"speed_hz\":{\"min\":80,\"max\":120},"
    "\"max_time_s\":300,\"passes\":3},"
    "\"cheeks\":{\"depth_mm\":{\"min\":0.5,\"max\":1.0},\"speed_hz\":{\"min\":80,\"max\":150},\"max_time_s\":"
    "600}},"
    "\"max_session_s\":3600,\"aftercare\":{\"no_shaving\":12}}";

static char *
plan_with(const char *find, const char *replace)
{
	const char *at;

	if (find == NULL)
		return g_strdup(replace);
	at = strstr(base_plan, find);
	g_assert_nonnull(at);
	return g_strdup_printf("%.*s%s%s", (int)(at - base_plan), base_plan, replace, at + strlen(find));
}

typedef struct {
	const char *find; /* NULL: replace is the whole document */
	const char *replace;
	const char *message; /* exact; ending in '*': a prefix */
} BrokenPlan;

static const BrokenPlan broken_plans[] = {
    {"\"max\":0.5", "\"max\":3.5",
     "$.areas.forehead.depth_mm.max: 3.5 is beyond the 3.0 mm any pen can reach"},
    {"\"max\":0.5", "\"max\":3.01",
     "$.areas.forehead.depth_mm.max: 3.01 is beyond the 3.0 mm any pen can reach"},
    {"\"min\":0.25", "\"min\":0.6", "$.areas.forehead.depth_mm: min 0.6 mm is above max 0.5 mm"},
    {"\"min\":0.25", "\"min\":0", "$.areas.forehead.depth_mm.min: 0 must be above 0 mm"},
    {"\"min\":0.25", "\"min\":-0.5", "$.areas.forehead.depth_mm.min: -0.5 must be above 0 mm"},
    {"\"max\":0.5", "\"max\":0.505",
     "$.areas.forehead.depth_mm.max: 0.505 is finer than the pen's resolution of 0.01 mm"},
    {"\"max\":0.5", "\"max\":\"0.5\"", "$.areas.forehead.depth_mm.max: expected a number, got a string"},
    {"\"max\":0.5", "\"max\":null", "$.areas.forehead.depth_mm.max: expected a number, got null"},
    {"{\"min\":0.25,\"max\":0.5}", "{\"min\":0.25}", "$.areas.forehead.depth_mm.max: missing (required)"},
    {"{\"min\":0.25,\"max\":0.5}", "[0.25,0.5]",
     "$.areas.forehead.depth_mm: expected an object, got an array"},
    {"\"max\":120", "\"max\":150.1",
     "$.areas.forehead.speed_hz.max: 150.1 is beyond the 150 Hz any pen runs at"},
    {"\"max\":120", "\"max\":120.05",
     "$.areas.forehead.speed_hz.max: 120.05 is finer than the pen's resolution of 0.1 Hz"},
    {"\"min\":80,\"max\":120", "\"min\":130,\"max\":120",
     "$.areas.forehead.speed_hz: min 130 Hz is above max 120 Hz"},
    {"\"min\":80,\"max\":120", "\"min\":-80,\"max\":120",
     "$.areas.forehead.speed_hz.min: -80 must be above 0 Hz"},
    {"\"forehead\":", "\"elbow\":",
     "$.areas.elbow: unknown area (use one of forehead, periorbital, nose, cheeks, perioral, chin_jawline, "
     "neck, "
     "decollete, arms, hands, abdomen, thighs, back, scalp, scar, unspecified)"},
    {"\"forehead\":", "\"forhead\":",
     "$.areas.forhead: unknown area (did you mean 'forehead'?) (use one of forehead, periorbital, nose, "
     "cheeks, perioral, chin_jawline, neck, decollete, arms, hands, abdomen, thighs, back, scalp, scar, "
     "unspecified)"},
    {"\"forehead\":", "\"unknown\":",
     "$.areas.unknown: unknown area (use one of forehead, periorbital, nose, cheeks, perioral, chin_jawline, "
     "neck, "
     "decollete, arms, hands, abdomen, thighs, back, scalp, scar, unspecified)"},
    {"\"max_time_s\":300", "\"max_time_s\":-5",
     "$.areas.forehead.max_time_s: -5 is below the minimum of 1 s"},
    {"\"max_time_s\":300", "\"max_time_s\":0", "$.areas.forehead.max_time_s: 0 is below the minimum of 1 s"},
    {"\"max_time_s\":300", "\"max_time_s\":1.5", "$.areas.forehead.max_time_s: 1.5 is not a whole number"},
    {"\"max_time_s\":300", "\"max_time_s\":14401",
     "$.areas.forehead.max_time_s: 14401 is above the maximum of 14400 s"},
    {"\"max_time_s\":300,", "", "$.areas.forehead.max_time_s: missing (required)"},
    {"\"passes\":3", "\"passes\":0", "$.areas.forehead.passes: 0 is below the minimum of 1"},
    {"\"passes\":3", "\"passes\":true", "$.areas.forehead.passes: expected a number, got a boolean"},
    {"\"passes\":3", "\"passes\":3,\"depth\":1", "$.areas.forehead.depth: unknown field"},
    {"\"patient_ref\":\"P-1\"",
     "\"patient_ref\":\"P-123456789012345678901234567890123456789012345678901234567890123\"",
     "$.patient_ref: longer than 64 characters"},
    {"\"patient_ref\":\"P-1\"", "\"patient_ref\":\"Jane Doe\"",
     "$.patient_ref: only letters A-Z a-z, digits and . _ : - are allowed (a pseudonymous reference, never a "
     "name)"},
    {"\"patient_ref\":\"P-1\"", "\"patient_ref\":\"\"", "$.patient_ref: empty"},
    {"\"patient_ref\":\"P-1\"", "\"patient_ref\":42", "$.patient_ref: expected a string, got a number"},
    {"\"patient_ref\":\"P-1\",", "", "$.patient_ref: missing (required)"},
    {"\"plan_id\":\"p1\",", "", "$.plan_id: missing (required)"},
    {"\"plan_id\":\"p1\"", "\"plan_id\":\"p 1\"",
     "$.plan_id: only letters A-Z a-z, digits and . _ : - are allowed (a pseudonymous reference, never a "
     "name)"},
    {"\"max_session_s\":3600", "\"max_session_s\":3600,\"colour\":\"red\"", "$.colour: unknown field"},
    {",\"max_session_s\":3600", "", "$.max_session_s: missing (required)"},
    {"\"max_session_s\":3600", "\"max_session_s\":-1", "$.max_session_s: -1 is below the minimum of 1 s"},
    {"\"session_number\":1", "\"session_number\":4", "$.course: session_number 4 is above sessions_total 3"},
    {"\"session_number\":1", "\"session_number\":0", "$.course.session_number: 0 is below the minimum of 1"},
    {"\"session_number\":1", "\"session_number\":false",
     "$.course.session_number: expected a number, got a boolean"},
    {"\"sessions_total\":3,", "", "$.course.sessions_total: missing (required)"},
    {"\"min_interval_days\":28", "\"min_interval_days\":-1",
     "$.course.min_interval_days: -1 is below the minimum of 0 days"},
    {"\"2026-10-01T10:00:00Z\"", "\"yesterday\"",
     "$.course.previous_session: not an ISO 8601 time with a time zone, like 2026-10-27T10:00:00Z"},
    {"\"2026-10-01T10:00:00Z\"", "\"2026-10-01T10:00:00\"",
     "$.course.previous_session: not an ISO 8601 time with a time zone, like 2026-10-27T10:00:00Z"},
    {"\"2026-10-01T10:00:00Z\"", "\"1999-10-01T10:00:00Z\"",
     "$.course.previous_session: before the year 2000"},
    {"\"min_interval_days\":28", "\"min_interval_days\":28,\"when\":1", "$.course.when: unknown field"},
    {"\"course\":{", "\"course\":null,\"x\":{", "$.x: unknown field; $.course: expected an object, got null"},
    {"[12,36]", "[]", "$.allowed_needles: empty: at least one needle count is needed"},
    {"[12,36]", "[12,12]", "$.allowed_needles[1]: 12 is listed twice"},
    {"[12,36]", "[12,\"36\"]", "$.allowed_needles[1]: expected a number, got a string"},
    {"[12,36]", "[12,256]", "$.allowed_needles[1]: 256 is above the maximum of 255 needles"},
    {"[12,36]", "[0]", "$.allowed_needles[0]: 0 is below the minimum of 1 needles"},
    {"[12,36]", "12", "$.allowed_needles: expected an array, got a number"},
    {"\"no_shaving\":12", "\"no_swimming\":12",
     "$.aftercare.no_swimming: unknown restriction (use one of sun_protection, no_harsh_cleansers, "
     "no_active_ingredients, no_perfumed_products, no_heavy_exercise, no_sauna, no_chlorinated_pools, "
     "no_solarium, no_spray_tanning, no_cosmetic_tattooing, no_shaving)"},
    {"\"no_shaving\":12", "\"no_shaving\":-1", "$.aftercare.no_shaving: -1 is below the minimum of 0 hours"},
    {"\"no_shaving\":12", "\"no_shaving\":\"12h\"",
     "$.aftercare.no_shaving: expected a number, got a string"},
    {"\"max\":0.5", "\"max\":0.5,\"max\":2.5", "$: field \"max\" is given twice in one object"},
    {NULL, "[1,2]", "$: expected an object, got an array"},
    {NULL, "\"plan\"", "$: expected an object, got a string"},
    {NULL, "{}",
     "$.plan_id: missing (required); $.patient_ref: missing (required); $.course: missing (required); "
     "$.allowed_needles: missing (required); $.areas: missing (required); $.max_session_s: missing "
     "(required)"},
    {NULL, "", "$: empty document"},
    {NULL, "   ", "$: empty document"},
    {NULL, "{", "$: not valid JSON: *"},
    {NULL, "{} x", "$: not valid JSON: *"},
    {NULL, "{\"plan_id\":\"\xff\"}", "$: not valid UTF-8 (byte 12)"},
    {NULL, "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", "$: nested deeper than 16 levels"},
    {"\"areas\":{\"forehead\"", "\"areas\":{},\"x\":{\"forehead\"",
     "$.x: unknown field; $.areas: empty: a plan includes at least one area"},
};

static void
check_message(const char *message, const char *expected, const char *doc)
{
	gsize n = strlen(expected);

	if (n > 0 && expected[n - 1] == '*') {
		if (strncmp(message, expected, n - 1) != 0)
			g_error("plan %s\n  got %s\n  expected %s", doc, message, expected);
		return;
	}
	if (g_strcmp0(message, expected) != 0)
		g_error("plan %s\n  got      %s\n  expected %s", doc, message, expected);
}

static void
test_plan_broken_table(void)
{
	for (guint i = 0; i < G_N_ELEMENTS(broken_plans); i++) {
		const BrokenPlan *c = &broken_plans[i];
		g_autofree char *doc = plan_with(c->find, c->replace);
		g_autoptr(GError) error = NULL;
		g_autoptr(NgPlan) plan = ng_plan_parse(doc, -1, &error);

		g_assert_null(plan);
		g_assert_nonnull(error);
		g_assert_true(error->domain == NG_PLAN_ERROR);
		check_message(error->message, c->message, doc);
	}
}

static void
test_plan_empty_area_map(void)
{
	const char *doc =
	    "{\"plan_id\":\"p1\",\"patient_ref\":\"P-1\",\"course\":{\"session_number\":1,"
	    "\"sessions_total\":1,\"min_interval_days\":0},\"allowed_needles\":[12],\"areas\":{},"
	    "\"max_session_s\":60}";
	g_autoptr(GError) error = NULL;
	g_autoptr(NgPlan) plan = ng_plan_parse(doc, -1, &error);

	g_assert_null(plan);
	g_assert_cmpstr(error->message, ==, "$.areas: empty: a plan includes at least one area");
}

static void
test_plan_oversized(void)
{
	g_autoptr(GString) doc = g_string_new(base_plan);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgPlan) plan = NULL;

	/* whitespace is valid JSON: only the size is wrong */
	while (doc->len < 70000)
		g_string_append_c(doc, ' ');
	g_string_truncate(doc, 70000);
	plan = ng_plan_parse(doc->str, (gssize)doc->len, &error);
	g_assert_null(plan);
	g_assert_error(error, NG_PLAN_ERROR, NG_PLAN_ERROR_TOO_LARGE);
	g_assert_cmpstr(error->message, ==, "$: the plan is 70000 bytes, more than the 65536 allowed");

	g_clear_error(&error);
	g_string_truncate(doc, NG_PLAN_MAX_SIZE);
	plan = ng_plan_parse(doc->str, (gssize)doc->len, &error);
	g_assert_no_error(error);
	g_assert_nonnull(plan);
}

static void
test_plan_embedded_nul(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NgPlan) plan = ng_plan_parse(base_plan, (gssize)sizeof base_plan, &error);

	/* the terminating NUL passed as content: not a plan */
	g_assert_null(plan);
	g_assert_cmpstr(error->message, ==, "$: not valid UTF-8 (byte 437)");
	g_assert_cmpuint(sizeof base_plan - 1, ==, 437);
}

static void
test_plan_base_values(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NgPlan) plan = ng_plan_parse(base_plan, -1, &error);
	const NgPlanArea *forehead;
	NpLimits limits;

	g_assert_no_error(error);
	g_assert_cmpstr(plan->plan_id, ==, "p1");
	g_assert_cmpstr(plan->patient_ref, ==, "P-1");
	g_assert_cmpuint(plan->session_number, ==, 1);
	g_assert_cmpuint(plan->sessions_total, ==, 3);
	g_assert_cmpuint(plan->min_interval_days, ==, 28);
	g_assert_true(plan->has_previous_session);
	g_assert_cmpint(plan->previous_session_ms, ==, G_GINT64_CONSTANT(1790848800000));
	g_assert_true(ng_plan_needles_allowed(plan, 12));
	g_assert_true(ng_plan_needles_allowed(plan, 36));
	g_assert_false(ng_plan_needles_allowed(plan, 16));
	g_assert_false(ng_plan_needles_allowed(plan, 1000));
	forehead = ng_plan_get_area(plan, NP_AREA_FOREHEAD);
	g_assert_nonnull(forehead);
	g_assert_cmpuint(forehead->depth_min_centi_mm, ==, 25);
	g_assert_cmpuint(forehead->depth_max_centi_mm, ==, 50);
	g_assert_cmpuint(forehead->speed_min_deci_hz, ==, 800);
	g_assert_cmpuint(forehead->speed_max_deci_hz, ==, 1200);
	g_assert_cmpuint(forehead->max_time_s, ==, 300);
	g_assert_cmpuint(forehead->passes, ==, 3);
	g_assert_cmpuint(ng_plan_get_area(plan, NP_AREA_CHEEKS)->passes, ==, 0);
	g_assert_null(ng_plan_get_area(plan, NP_AREA_NOSE));
	g_assert_null(ng_plan_get_area(plan, 0x42));
	g_assert_true(ng_plan_get_limits(plan, NP_AREA_FOREHEAD, &limits));
	g_assert_cmpuint(limits.max_depth_centi_mm, ==, 50);
	g_assert_cmpuint(limits.min_speed_deci_hz, ==, 800);
	g_assert_cmpuint(limits.max_speed_deci_hz, ==, 1200);
	g_assert_false(ng_plan_get_limits(plan, NP_AREA_NOSE, &limits));
	g_assert_cmpuint(plan->max_session_s, ==, 3600);
	g_assert_cmpuint(ng_plan_aftercare_hours(plan, NG_AFTERCARE_NO_SHAVING), ==, 12);
	g_assert_cmpuint(ng_plan_aftercare_hours(plan, NG_AFTERCARE_SUN_PROTECTION), ==, 168);
	g_assert_cmpuint(ng_plan_aftercare_hours(NULL, NG_AFTERCARE_NO_SHAVING), ==, 24);
}

/* The edges that must still be accepted: exactly at each bound. */
static void
test_plan_accepts_bounds(void)
{
	static const char *const edits[][2] = {
	    {"\"max\":0.5", "\"max\":3.0"},
	    {"\"min\":0.25", "\"min\":0.01"},
	    {"\"max\":120", "\"max\":150"},
	    {"\"min\":80,\"max\":120", "\"min\":120,\"max\":120"},
	    {"\"min\":0.25,\"max\":0.5", "\"min\":0.5,\"max\":0.5"},
	    {"\"patient_ref\":\"P-1\"",
	     "\"patient_ref\":\"P-12345678901234567890123456789012345678901234567890123456789012\""},
	    {"\"session_number\":1", "\"session_number\":3"},
	    {"\"min_interval_days\":28", "\"min_interval_days\":0"},
	    {"\"max_time_s\":300", "\"max_time_s\":300.0"},
	    {"\"no_shaving\":12", "\"no_shaving\":0"},
	    {"\"forehead\":", "\"unspecified\":"},
	    {"\"2026-10-01T10:00:00Z\"", "\"2026-10-01T12:00:00+02:00\""},
	};

	for (guint i = 0; i < G_N_ELEMENTS(edits); i++) {
		g_autofree char *doc = plan_with(edits[i][0], edits[i][1]);
		g_autoptr(GError) error = NULL;
		g_autoptr(NgPlan) plan = ng_plan_parse(doc, -1, &error);

		if (plan == NULL)
			g_error("plan %s refused: %s", doc, error->message);
	}
}

static NgPlan *
load_example(const char *name)
{
	g_autofree char *path = g_build_filename(NG_PLANS_DIR, name, NULL);
	g_autoptr(GError) error = NULL;
	NgPlan *plan = ng_plan_load_file(path, &error);

	g_assert_no_error(error);
	g_assert_nonnull(plan);
	return plan;
}

static void
check_round_trip(const NgPlan *plan)
{
	g_autofree char *json = ng_plan_to_json(plan);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgPlan) again = ng_plan_parse(json, -1, &error);
	g_autofree char *json_again = NULL;

	g_assert_no_error(error);
	g_assert_true(ng_plan_equal(plan, again));
	json_again = ng_plan_to_json(again);
	g_assert_cmpstr(json, ==, json_again);
}

static void
test_plan_examples(void)
{
	g_autoptr(NgPlan) face = load_example("face-course.json");
	g_autoptr(NgPlan) neck = load_example("neck-course.json");
	g_autoptr(NgPlan) scar = load_example("acne-scar-course.json");
	g_autofree char *face_areas = ng_plan_areas_to_string(face);
	g_autofree char *scar_needles = ng_plan_needles_to_string(scar);

	g_assert_cmpstr(face->plan_id, ==, "face-rejuvenation-2");
	g_assert_cmpstr(face_areas, ==, "forehead,periorbital,nose,cheeks,perioral,chin_jawline");
	g_assert_cmpuint(ng_plan_get_area(face, NP_AREA_PERIORBITAL)->depth_max_centi_mm, ==, 30);
	g_assert_cmpuint(neck->session_number, ==, 1);
	g_assert_false(neck->has_previous_session);
	g_assert_cmpuint(ng_plan_aftercare_hours(neck, NG_AFTERCARE_NO_SHAVING), ==, 12);
	g_assert_cmpuint(ng_plan_get_area(neck, NP_AREA_DECOLLETE)->depth_max_centi_mm, ==, 50);
	g_assert_cmpuint(ng_plan_get_area(scar, NP_AREA_SCAR)->depth_max_centi_mm, ==, 200);
	g_assert_cmpstr(scar_needles, ==, "36");
	g_assert_cmpuint(ng_plan_aftercare_hours(scar, NG_AFTERCARE_SUN_PROTECTION), ==, 336);
	check_round_trip(face);
	check_round_trip(neck);
	check_round_trip(scar);
}

static void
test_plan_canonical_json(void)
{
	g_autoptr(NgPlan) plan = ng_plan_parse(base_plan, -1, NULL);
	g_autofree char *json = ng_plan_to_json(plan);

	g_assert_cmpstr(
	    json, ==,
	    "{\"plan_id\":\"p1\",\"patient_ref\":\"P-1\",\"course\":{\"session_number\":1,"
	    "\"sessions_total\":3,\"min_interval_days\":28,\"previous_session\":\"2026-10-01T10:00:00.000Z\"}"
	    ","
	    "\"allowed_needles\":[12,36],\"areas\":{\"forehead\":{\"depth_mm\":{\"min\":0.25,\"max\":0.50},"
	    "\"speed_hz\":{\"min\":80.0,\"max\":120.0},\"max_time_s\":300,\"passes\":3},"
	    "\"cheeks\":{\"depth_mm\":{\"min\":0.50,\"max\":1.00},\"speed_hz\":{\"min\":80.0,\"max\":150.0},"
	    "\"max_time_s\":600}},\"max_session_s\":3600,\"aftercare\":{\"no_shaving\":12}}");
	check_round_trip(plan);
}

static void
test_plan_load_file_error(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("ng-plan-XXXXXX", &error);
	g_autofree char *path = g_build_filename(dir, "bad.json", NULL);
	g_autofree char *doc = plan_with("\"max\":0.5", "\"max\":3.5");
	g_autoptr(NgPlan) plan = NULL;
	g_autofree char *expected = NULL;

	g_assert_no_error(error);
	g_assert_true(g_file_set_contents(path, doc, -1, &error));
	plan = ng_plan_load_file(path, &error);
	g_assert_null(plan);
	expected = g_strdup_printf(
	    "%s: $.areas.forehead.depth_mm.max: 3.5 is beyond the 3.0 mm any pen can reach", path);
	g_assert_cmpstr(error->message, ==, expected);
	g_unlink(path);
	g_rmdir(dir);
}

/* The schema shipped in deploy/ names the same areas, restrictions and fields as the parser. */
static JsonArray *
schema_enum(JsonObject *obj, const char *member)
{
	JsonObject *names =
	    json_object_get_object_member(json_object_get_object_member(obj, member), "propertyNames");

	return json_object_get_array_member(names, "enum");
}

static void
test_plan_schema_agrees(void)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(NG_PLANS_DIR, "..", "plan.schema.json", NULL);
	JsonObject *schema;
	JsonObject *props;
	JsonArray *areas;
	JsonArray *aftercare;
	JsonArray *required;

	g_assert_true(json_parser_load_from_file(parser, path, &error));
	g_assert_no_error(error);
	schema = json_node_get_object(json_parser_get_root(parser));
	g_assert_cmpstr(json_object_get_string_member(schema, "$schema"), ==,
			"https://json-schema.org/draft/2020-12/schema");
	props = json_object_get_object_member(schema, "properties");
	areas = schema_enum(props, "areas");
	g_assert_cmpuint(json_array_get_length(areas), ==, NP_AREA_COUNT);
	for (guint i = 0; i < NP_AREA_COUNT; i++)
		g_assert_cmpstr(json_array_get_string_element(areas, i), ==, np_area_to_string((uint8_t)i));
	aftercare = schema_enum(props, "aftercare");
	g_assert_cmpuint(json_array_get_length(aftercare), ==, NG_AFTERCARE_COUNT);
	for (guint i = 0; i < NG_AFTERCARE_COUNT; i++)
		g_assert_cmpstr(json_array_get_string_element(aftercare, i), ==,
				ng_aftercare_to_string((NgAftercare)i));
	required = json_object_get_array_member(schema, "required");
	g_assert_cmpuint(json_array_get_length(required), ==, 6);
	for (guint i = 0; i < json_array_get_length(required); i++) {
		const char *field = json_array_get_string_element(required, i);
		g_autoptr(JsonParser) doc_parser = json_parser_new();
		g_autoptr(JsonGenerator) gen = json_generator_new();
		g_autofree char *doc = NULL;
		g_autofree char *expected = g_strdup_printf("$.%s: missing (required)", field);
		g_autoptr(NgPlan) plan = NULL;
		g_autoptr(GError) local = NULL;

		/* the base plan without that one field */
		g_assert_true(json_parser_load_from_data(doc_parser, base_plan, -1, NULL));
		json_object_remove_member(json_node_get_object(json_parser_get_root(doc_parser)), field);
		json_generator_set_root(gen, json_parser_get_root(doc_parser));
		doc = json_generator_to_data(gen, NULL);
		plan = ng_plan_parse(doc, -1, &local);
		g_assert_null(plan);
		g_assert_cmpstr(local->message, ==, expected);
	}
	g_assert_cmpuint(json_object_get_size(props), ==, 7);
}

/* Every wrong member is named in one reading, in document order, "; " between them. */
static void
test_plan_all_errors(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NgPlan) plan = NULL;
	const char *json =
	    "{\"plan_id\":\"p1\",\"patient_ref\":\"P-1\",\"colour\":\"red\","
	    "\"course\":{\"session_number\":1,\"sessions_total\":3,\"min_interval_days\":28},"
	    "\"allowed_needles\":[12],"
	    "\"areas\":{\"cheek\":{\"depth_mm\":{\"min\":0.5,\"max\":1.0},\"speed_hz\":{\"min\":80,\"max\":"
	    "150},"
	    "\"max_time_s\":600},"
	    "\"forehead\":{\"depth_mm\":{\"min\":0.25,\"max\":3.5},\"speed_hz\":{\"min\":80,\"max\":120},"
	    "\"max_time_s\":0}},"
	    "\"max_session_s\":3600,\"aftercare\":{\"no_shaving\":12,\"no_saunna\":24}}";

	plan = ng_plan_parse(json, -1, &error);
	g_assert_null(plan);
	g_assert_error(error, NG_PLAN_ERROR, NG_PLAN_ERROR_INVALID);
	g_test_message("%s", error->message);
	g_assert_true(g_str_has_prefix(
	    error->message,
	    "$.colour: unknown field; "
	    "$.areas.cheek: unknown area (did you mean 'cheeks'?) (use one of forehead, periorbital, "
	    "nose, cheeks, perioral, chin_jawline, neck, decollete, arms, hands, abdomen, thighs, back, "
	    "scalp, scar, unspecified); "
	    "$.areas.forehead.depth_mm.max: 3.5 is beyond the 3.0 mm any pen can reach; "
	    "$.areas.forehead.max_time_s: 0 is below the minimum of 1 s; "
	    "$.aftercare.no_saunna: unknown restriction (did you mean 'no_sauna'?) (use one of "));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/plan/broken-table", test_plan_broken_table);
	g_test_add_func("/plan/all-errors", test_plan_all_errors);
	g_test_add_func("/plan/empty-area-map", test_plan_empty_area_map);
	g_test_add_func("/plan/oversized", test_plan_oversized);
	g_test_add_func("/plan/embedded-nul", test_plan_embedded_nul);
	g_test_add_func("/plan/base-values", test_plan_base_values);
	g_test_add_func("/plan/accepts-bounds", test_plan_accepts_bounds);
	g_test_add_func("/plan/examples", test_plan_examples);
	g_test_add_func("/plan/canonical-json", test_plan_canonical_json);
	g_test_add_func("/plan/load-file-error", test_plan_load_file_error);
	g_test_add_func("/plan/schema-agrees", test_plan_schema_agrees);
	return g_test_run();
}
