/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parses and validates treatment plans: every fault is refused with its JSON path and the reason. */

#include "ng-plan.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "ng-json.h"

GQuark
ng_plan_error_quark(void)
{
	return g_quark_from_static_string("ng-plan-error-quark");
}

/* ---- aftercare ------------------------------------------------------------ */

typedef struct {
	const char *name;
	guint hours;
	const char *text;
} AftercareInfo;

static const AftercareInfo aftercare_info[NG_AFTERCARE_COUNT] = {
    [NG_AFTERCARE_SUN_PROTECTION] = {"sun_protection", 7 * 24, "Avoid the sun and use SPF 30+ every day."},
    [NG_AFTERCARE_NO_HARSH_CLEANSERS] = {"no_harsh_cleansers", 4 * 24, "Use no harsh cleansers."},
    [NG_AFTERCARE_NO_ACTIVE_INGREDIENTS] = {"no_active_ingredients", 4 * 24,
					    "Use no AHA, BHA, vitamin C, benzoyl peroxide, vitamin A "
					    "or retinol."},
    [NG_AFTERCARE_NO_PERFUMED_PRODUCTS] = {"no_perfumed_products", 4 * 24, "Use no perfumed products."},
    [NG_AFTERCARE_NO_HEAVY_EXERCISE] = {"no_heavy_exercise", 48, "No heavy exercise."},
    [NG_AFTERCARE_NO_SAUNA] = {"no_sauna", 48, "No sauna."},
    [NG_AFTERCARE_NO_CHLORINATED_POOLS] = {"no_chlorinated_pools", 48, "No swimming in chlorinated pools."},
    [NG_AFTERCARE_NO_SOLARIUM] = {"no_solarium", 48, "No solarium."},
    [NG_AFTERCARE_NO_SPRAY_TANNING] = {"no_spray_tanning", 48, "No spray tanning."},
    [NG_AFTERCARE_NO_COSMETIC_TATTOOING] = {"no_cosmetic_tattooing", 48, "No cosmetic tattooing."},
    [NG_AFTERCARE_NO_SHAVING] = {"no_shaving", 24, "Do not shave the treated area."},
};

const char *
ng_aftercare_to_string(NgAftercare rule)
{
	if ((guint)rule >= NG_AFTERCARE_COUNT)
		return NULL;
	return aftercare_info[rule].name;
}

int
ng_aftercare_from_string(const char *name)
{
	for (guint i = 0; name != NULL && i < NG_AFTERCARE_COUNT; i++) {
		if (strcmp(name, aftercare_info[i].name) == 0)
			return (int)i;
	}
	return -1;
}

guint
ng_aftercare_default_hours(NgAftercare rule)
{
	g_return_val_if_fail((guint)rule < NG_AFTERCARE_COUNT, 0);
	return aftercare_info[rule].hours;
}

const char *
ng_aftercare_describe(NgAftercare rule)
{
	g_return_val_if_fail((guint)rule < NG_AFTERCARE_COUNT, NULL);
	return aftercare_info[rule].text;
}

/* ---- errors with a JSON path ---------------------------------------------- */

/* The path being validated, "$.areas.forehead.depth_mm"; names from the
 * document are cleaned so that an error message is always printable. */
typedef struct {
	char buf[256];
	gsize len;
} Path;

static gsize
path_push(Path *p, const char *name)
{
	gsize mark = p->len;
	gsize n = 0;

	if (p->len + 2 >= sizeof p->buf)
		return mark;
	p->buf[p->len++] = '.';
	for (const char *c = name; *c != '\0' && p->len + 4 < sizeof p->buf && n < 40; c++, n++)
		p->buf[p->len++] = g_ascii_isgraph(*c) ? *c : '?';
	if (strlen(name) > n && p->len + 4 < sizeof p->buf) {
		memcpy(p->buf + p->len, "...", 3);
		p->len += 3;
	}
	p->buf[p->len] = '\0';
	return mark;
}

static gsize
path_push_index(Path *p, guint index)
{
	gsize mark = p->len;
	int n = g_snprintf(p->buf + p->len, sizeof p->buf - p->len, "[%u]", index);

	if (n > 0 && (gsize)n < sizeof p->buf - p->len)
		p->len += (gsize)n;
	p->buf[p->len] = '\0';
	return mark;
}

static void
path_pop(Path *p, gsize mark)
{
	p->len = mark;
	p->buf[mark] = '\0';
}

G_GNUC_PRINTF(3, 4)
static gboolean
fail(GError **error, const Path *p, const char *fmt, ...)
{
	va_list args;
	g_autofree char *reason = NULL;

	va_start(args, fmt);
	reason = g_strdup_vprintf(fmt, args);
	va_end(args);
	g_set_error(error, NG_PLAN_ERROR, NG_PLAN_ERROR_INVALID, "%s: %s", p->buf, reason);
	return FALSE;
}

/* Moves the error of one member (@one) into @all, after those already there ("; " between), so
 * that one reading of a plan names every member that is wrong; returns FALSE. */
static gboolean
gather(GError **all, GError **one)
{
	if (all == NULL || *one == NULL) {
		g_clear_error(one);
		return FALSE;
	}
	if (*all == NULL) {
		*all = g_steal_pointer(one);
	} else {
		char *joined = g_strconcat((*all)->message, "; ", (*one)->message, NULL);

		g_free((*all)->message);
		(*all)->message = joined;
		g_clear_error(one);
	}
	return FALSE;
}

static const char *
node_type_name(JsonNode *node)
{
	switch (json_node_get_node_type(node)) {
	case JSON_NODE_OBJECT:
		return "an object";
	case JSON_NODE_ARRAY:
		return "an array";
	case JSON_NODE_NULL:
		return "null";
	case JSON_NODE_VALUE:
		break;
	}
	switch (json_node_get_value_type(node)) {
	case G_TYPE_STRING:
		return "a string";
	case G_TYPE_BOOLEAN:
		return "a boolean";
	default:
		return "a number";
	}
}

static gboolean
node_is_number(JsonNode *node)
{
	GType t;

	if (!JSON_NODE_HOLDS_VALUE(node))
		return FALSE;
	t = json_node_get_value_type(node);
	return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

/* A number as the document wrote it, near enough: 3.5, 0.25, 12. */
static void
format_number(char *buf, gsize size, double v)
{
	g_snprintf(buf, size, "%.15g", v);
}

/* ---- typed getters -------------------------------------------------------- */

/* Refuses members not in @allowed (NULL-terminated), in document order. */
static gboolean
check_members(JsonObject *obj, const char *const *allowed, Path *p, GError **error)
{
	g_autoptr(GList) names = json_object_get_members(obj);
	gboolean ok = TRUE;

	for (GList *l = names; l != NULL; l = l->next) {
		if (!g_strv_contains(allowed, l->data)) {
			GError *one = NULL;
			gsize mark = path_push(p, l->data);

			fail(&one, p, "unknown field");
			ok = gather(error, &one);
			path_pop(p, mark);
		}
	}
	return ok;
}

/* The member @name, pushed onto the path; NULL (and an error unless @optional) when absent. */
static JsonNode *
get_member(JsonObject *obj, const char *name, gboolean optional, Path *p, GError **error)
{
	JsonNode *node = json_object_get_member(obj, name);

	path_push(p, name);
	if (node == NULL && !optional)
		fail(error, p, "missing (required)");
	return node;
}

static JsonObject *
expect_object(JsonNode *node, Path *p, GError **error)
{
	if (!JSON_NODE_HOLDS_OBJECT(node)) {
		fail(error, p, "expected an object, got %s", node_type_name(node));
		return NULL;
	}
	return json_node_get_object(node);
}

static gboolean
expect_number(JsonNode *node, double *out, Path *p, GError **error)
{
	if (!node_is_number(node))
		return fail(error, p, "expected a number, got %s", node_type_name(node));
	*out = json_node_get_double(node);
	if (!isfinite(*out))
		return fail(error, p, "not a finite number");
	return TRUE;
}

static gboolean
expect_uint(JsonNode *node, guint min, guint max, const char *unit, guint *out, Path *p, GError **error)
{
	double v;
	char num[48];

	if (!expect_number(node, &v, p, error))
		return FALSE;
	format_number(num, sizeof num, v);
	if (v != floor(v))
		return fail(error, p, "%s is not a whole number", num);
	if (v < min)
		return fail(error, p, "%s is below the minimum of %u%s", num, min, unit);
	if (v > max)
		return fail(error, p, "%s is above the maximum of %u%s", num, max, unit);
	*out = (guint)v;
	return TRUE;
}

typedef struct {
	guint scale; /* fixed-point units per unit */
	double max;
	const char *beyond;
	const char *unit;
	guint16 *min_out;
	guint16 *max_out;
} RangeSpec;

/* A value in fixed point, above 0 and at most spec->max, no finer than the pen measures. */
static gboolean
expect_fixed(JsonNode *node, const RangeSpec *spec, guint16 *out, Path *p, GError **error)
{
	double v;
	double scaled;
	char num[48];

	if (!expect_number(node, &v, p, error))
		return FALSE;
	format_number(num, sizeof num, v);
	if (v <= 0)
		return fail(error, p, "%s must be above 0 %s", num, spec->unit);
	if (v > spec->max)
		return fail(error, p, "%s is beyond %s", num, spec->beyond);
	scaled = v * spec->scale;
	if (fabs(scaled - round(scaled)) > 1e-6)
		return fail(error, p, "%s is finer than the pen's resolution of %g %s", num,
			    1.0 / spec->scale, spec->unit);
	*out = (guint16)round(scaled);
	return TRUE;
}

/* plan_id, patient_ref: short, plain ASCII, so that no name or free text fits. */
static gboolean
expect_ref(JsonNode *node, char **out, Path *p, GError **error)
{
	const char *s;

	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
		return fail(error, p, "expected a string, got %s", node_type_name(node));
	s = json_node_get_string(node);
	if (*s == '\0')
		return fail(error, p, "empty");
	if (g_utf8_strlen(s, -1) > (glong)NG_PLAN_REF_MAX_LEN)
		return fail(error, p, "longer than %u characters", NG_PLAN_REF_MAX_LEN);
	for (const char *c = s; *c != '\0'; c++) {
		if (!g_ascii_isalnum(*c) && strchr("._:-", *c) == NULL)
			return fail(error, p,
				    "only letters A-Z a-z, digits and . _ : - are allowed "
				    "(a pseudonymous reference, never a name)");
	}
	*out = g_strdup(s);
	return TRUE;
}

/* ---- plan sections -------------------------------------------------------- */

static gboolean
parse_previous_session(JsonNode *node, NgPlan *plan, Path *p, GError **error)
{
	g_autoptr(GDateTime) dt = NULL;
	const char *s;

	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
		return fail(error, p, "expected a string, got %s", node_type_name(node));
	s = json_node_get_string(node);
	dt = g_date_time_new_from_iso8601(s, NULL);
	if (dt == NULL)
		return fail(error, p, "not an ISO 8601 time with a time zone, like 2026-10-27T10:00:00Z");
	if (g_date_time_get_year(dt) < 2000)
		return fail(error, p, "before the year 2000");
	plan->has_previous_session = TRUE;
	plan->previous_session_ms = g_date_time_to_unix(dt) * 1000 + g_date_time_get_microsecond(dt) / 1000;
	return TRUE;
}

/* Parses the member @name of @obj with @parse, keeping the path right. */
typedef gboolean (*MemberFunc)(JsonNode *node, NgPlan *plan, gpointer data, Path *p, GError **error);

static gboolean
parse_member(JsonObject *obj, const char *name, gboolean optional, MemberFunc parse, NgPlan *plan,
	     gpointer data, Path *p, GError **error)
{
	gsize mark = p->len;
	JsonNode *node = get_member(obj, name, optional, p, error);
	gboolean ok = node == NULL ? optional : parse(node, plan, data, p, error);

	path_pop(p, mark);
	return ok;
}

static gboolean
uint_member(JsonObject *obj, const char *name, guint min, guint max, const char *unit, guint *out, Path *p,
	    GError **error)
{
	gsize mark = p->len;
	JsonNode *node = get_member(obj, name, FALSE, p, error);
	gboolean ok = node != NULL && expect_uint(node, min, max, unit, out, p, error);

	path_pop(p, mark);
	return ok;
}

static gboolean
parse_course(JsonNode *node, NgPlan *plan, gpointer data, Path *p, GError **error)
{
	static const char *const allowed[] = {"session_number", "sessions_total", "min_interval_days",
					      "previous_session", NULL};
	JsonObject *obj = expect_object(node, p, error);
	JsonNode *prev;
	gsize mark;

	if (obj == NULL || !check_members(obj, allowed, p, error))
		return FALSE;
	if (!uint_member(obj, "session_number", 1, NG_PLAN_SESSIONS_MAX, "", &plan->session_number, p,
			 error) ||
	    !uint_member(obj, "sessions_total", 1, NG_PLAN_SESSIONS_MAX, "", &plan->sessions_total, p,
			 error) ||
	    !uint_member(obj, "min_interval_days", 0, NG_PLAN_INTERVAL_MAX_DAYS, " days",
			 &plan->min_interval_days, p, error))
		return FALSE;
	if (plan->session_number > plan->sessions_total)
		return fail(error, p, "session_number %u is above sessions_total %u", plan->session_number,
			    plan->sessions_total);
	mark = p->len;
	prev = get_member(obj, "previous_session", TRUE, p, error);
	if (prev != NULL && !parse_previous_session(prev, plan, p, error))
		return FALSE;
	path_pop(p, mark);
	return TRUE;
}

static gboolean
parse_needles(JsonNode *node, NgPlan *plan, gpointer data, Path *p, GError **error)
{
	JsonArray *arr;
	guint n;

	if (!JSON_NODE_HOLDS_ARRAY(node))
		return fail(error, p, "expected an array, got %s", node_type_name(node));
	arr = json_node_get_array(node);
	n = json_array_get_length(arr);
	if (n == 0)
		return fail(error, p, "empty: at least one needle count is needed");
	for (guint i = 0; i < n; i++) {
		gsize mark = path_push_index(p, i);
		guint needles;

		if (!expect_uint(json_array_get_element(arr, i), 1, 255, " needles", &needles, p, error))
			return FALSE;
		if (plan->needles_allowed[needles])
			return fail(error, p, "%u is listed twice", needles);
		plan->needles_allowed[needles] = TRUE;
		path_pop(p, mark);
	}
	return TRUE;
}

static gboolean
parse_range(JsonNode *node, NgPlan *plan, gpointer data, Path *p, GError **error)
{
	static const char *const allowed[] = {"min", "max", NULL};
	const RangeSpec *spec = data;
	JsonObject *obj = expect_object(node, p, error);
	const char *names[] = {"min", "max"};
	guint16 *outs[] = {spec->min_out, spec->max_out};

	if (obj == NULL || !check_members(obj, allowed, p, error))
		return FALSE;
	for (guint i = 0; i < 2; i++) {
		gsize mark = p->len;
		JsonNode *v = get_member(obj, names[i], FALSE, p, error);

		if (v == NULL || !expect_fixed(v, spec, outs[i], p, error))
			return FALSE;
		path_pop(p, mark);
	}
	if (*spec->min_out > *spec->max_out)
		return fail(error, p, "min %g %s is above max %g %s", (double)*spec->min_out / spec->scale,
			    spec->unit, (double)*spec->max_out / spec->scale, spec->unit);
	return TRUE;
}

static gboolean
parse_area(JsonNode *node, NgPlan *plan, gpointer data, Path *p, GError **error)
{
	static const char *const allowed[] = {"depth_mm", "speed_hz", "max_time_s", "passes", NULL};
	NgPlanArea *area = data;
	JsonObject *obj = expect_object(node, p, error);
	RangeSpec depth = {100,	 NG_PLAN_DEPTH_MAX_MM,	    "the 3.0 mm any pen can reach",
			   "mm", &area->depth_min_centi_mm, &area->depth_max_centi_mm};
	RangeSpec speed = {10,	 NG_PLAN_SPEED_MAX_HZ,	   "the 150 Hz any pen runs at",
			   "Hz", &area->speed_min_deci_hz, &area->speed_max_deci_hz};
	guint max_time = 0;
	gsize mark;

	GError *one = NULL;
	gboolean ok = TRUE;

	if (obj == NULL)
		return FALSE;
	if (!check_members(obj, allowed, p, &one))
		ok = gather(error, &one);
	if (!parse_member(obj, "depth_mm", FALSE, parse_range, plan, &depth, p, &one))
		ok = gather(error, &one);
	if (!parse_member(obj, "speed_hz", FALSE, parse_range, plan, &speed, p, &one))
		ok = gather(error, &one);
	if (!uint_member(obj, "max_time_s", 1, NG_PLAN_AREA_TIME_MAX_S, " s", &max_time, p, &one))
		ok = gather(error, &one);
	area->max_time_s = max_time;
	mark = p->len;
	if (json_object_has_member(obj, "passes") &&
	    !uint_member(obj, "passes", 1, NG_PLAN_PASSES_MAX, "", &area->passes, p, &one))
		ok = gather(error, &one);
	path_pop(p, mark);
	area->present = ok;
	return ok;
}

static char *
known_names(const char *(*to_string)(guint), guint first, guint count)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (guint i = 0; i < count; i++) {
		if (i > 0)
			g_string_append(s, ", ");
		g_string_append(s, to_string((first + i) % count));
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* Edits (insert, delete, replace) from @a to @b, up to 3 (more is "far"). */
static guint
edit_distance(const char *a, const char *b)
{
	gsize la = strlen(a);
	gsize lb = strlen(b);
	guint row[33];

	if (la > 32 || lb > 32)
		return 3;
	for (gsize j = 0; j <= lb; j++)
		row[j] = (guint)j;
	for (gsize i = 1; i <= la; i++) {
		guint diag = row[0];

		row[0] = (guint)i;
		for (gsize j = 1; j <= lb; j++) {
			guint up = row[j];

			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + (a[i - 1] != b[j - 1]));
			diag = up;
		}
	}
	return MIN(row[lb], 3u);
}

/* " (did you mean 'cheeks'?)" for a name one or two edits from @word, else "". */
static char *
did_you_mean(const char *word, const char *(*to_string)(guint), guint first, guint count)
{
	const char *best = NULL;
	guint best_d = 3;

	for (guint i = 0; i < count; i++) {
		const char *name = to_string((first + i) % count);
		guint d = edit_distance(word, name);

		if (d < best_d) {
			best = name;
			best_d = d;
		}
	}
	return best != NULL ? g_strdup_printf(" (did you mean '%s'?)", best) : g_strdup("");
}

static const char *
area_name(guint code)
{
	return np_area_to_string((uint8_t)code);
}

static const char *
aftercare_name(guint rule)
{
	return ng_aftercare_to_string((NgAftercare)rule);
}

static gboolean
parse_areas(JsonNode *node, NgPlan *plan, gpointer data, Path *p, GError **error)
{
	JsonObject *obj = expect_object(node, p, error);
	g_autoptr(GList) names = NULL;
	gboolean ok = TRUE;

	if (obj == NULL)
		return FALSE;
	names = json_object_get_members(obj);
	if (names == NULL)
		return fail(error, p, "empty: a plan includes at least one area");
	for (GList *l = names; l != NULL; l = l->next) {
		int code = np_area_from_string(l->data);
		GError *one = NULL;

		if (code < 0) {
			g_autofree char *known = known_names(area_name, 1, NP_AREA_COUNT);
			g_autofree char *hint = did_you_mean(l->data, area_name, 1, NP_AREA_COUNT);
			gsize mark = path_push(p, l->data);

			fail(&one, p, "unknown area%s (use one of %s)", hint, known);
			path_pop(p, mark);
		} else {
			parse_member(obj, l->data, FALSE, parse_area, plan, &plan->areas[code], p, &one);
		}
		if (one != NULL)
			ok = gather(error, &one);
	}
	return ok;
}

static gboolean
parse_aftercare(JsonNode *node, NgPlan *plan, gpointer data, Path *p, GError **error)
{
	JsonObject *obj = expect_object(node, p, error);
	g_autoptr(GList) names = NULL;
	gboolean ok = TRUE;

	if (obj == NULL)
		return FALSE;
	names = json_object_get_members(obj);
	for (GList *l = names; l != NULL; l = l->next) {
		int rule = ng_aftercare_from_string(l->data);
		GError *one = NULL;
		guint hours;

		if (rule < 0) {
			g_autofree char *known = known_names(aftercare_name, 0, NG_AFTERCARE_COUNT);
			g_autofree char *hint = did_you_mean(l->data, aftercare_name, 0, NG_AFTERCARE_COUNT);
			gsize mark = path_push(p, l->data);

			fail(&one, p, "unknown restriction%s (use one of %s)", hint, known);
			path_pop(p, mark);
		} else if (uint_member(obj, l->data, 0, NG_PLAN_AFTERCARE_MAX_H, " hours", &hours, p, &one)) {
			plan->aftercare_hours[rule] = (gint)hours;
		}
		if (one != NULL)
			ok = gather(error, &one);
	}
	return ok;
}

static gboolean
parse_ref_member(JsonNode *node, NgPlan *plan, gpointer data, Path *p, GError **error)
{
	return expect_ref(node, data, p, error);
}

static gboolean
parse_root(JsonNode *root, NgPlan *plan, Path *p, GError **error)
{
	static const char *const allowed[] = {"plan_id", "patient_ref",	  "course",    "allowed_needles",
					      "areas",	 "max_session_s", "aftercare", NULL};
	JsonObject *obj = expect_object(root, p, error);
	guint max_session = 0;

	GError *one = NULL;
	gboolean ok = TRUE;

	if (obj == NULL)
		return FALSE;
	/* every member is read even after one is wrong: the error names all of them */
	if (!check_members(obj, allowed, p, &one))
		ok = gather(error, &one);
	if (!parse_member(obj, "plan_id", FALSE, parse_ref_member, plan, &plan->plan_id, p, &one))
		ok = gather(error, &one);
	if (!parse_member(obj, "patient_ref", FALSE, parse_ref_member, plan, &plan->patient_ref, p, &one))
		ok = gather(error, &one);
	if (!parse_member(obj, "course", FALSE, parse_course, plan, NULL, p, &one))
		ok = gather(error, &one);
	if (!parse_member(obj, "allowed_needles", FALSE, parse_needles, plan, NULL, p, &one))
		ok = gather(error, &one);
	if (!parse_member(obj, "areas", FALSE, parse_areas, plan, NULL, p, &one))
		ok = gather(error, &one);
	if (!uint_member(obj, "max_session_s", 1, NG_PLAN_SESSION_MAX_S, " s", &max_session, p, &one))
		ok = gather(error, &one);
	if (!parse_member(obj, "aftercare", TRUE, parse_aftercare, plan, NULL, p, &one))
		ok = gather(error, &one);
	plan->max_session_s = max_session;
	return ok;
}

/* ---- the document --------------------------------------------------------- */

/* json-glib parses recursively: refuse deep nesting before it sees the bytes. */
static gboolean
check_nesting(const char *json, gsize len, GError **error)
{
	guint depth = 0;
	gboolean in_string = FALSE;

	for (gsize i = 0; i < len; i++) {
		char c = json[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = FALSE;
		} else if (c == '"') {
			in_string = TRUE;
		} else if (c == '{' || c == '[') {
			if (++depth > NG_PLAN_MAX_DEPTH) {
				g_set_error(error, NG_PLAN_ERROR, NG_PLAN_ERROR_SYNTAX,
					    "$: nested deeper than %u levels", NG_PLAN_MAX_DEPTH);
				return FALSE;
			}
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
	return TRUE;
}

/* json-glib keeps the last of two members with one name: a second "max" could
 * hide the first from a reviewer, so the parser's signals track the names. */
typedef struct {
	GPtrArray *open; /* GHashTable of names per object being parsed */
	char *duplicate;
} DuplicateCheck;

static void
on_object_start(JsonParser *parser, gpointer data)
{
	DuplicateCheck *check = data;

	g_ptr_array_add(check->open, g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL));
}

static void
on_object_member(JsonParser *parser, JsonObject *object, const char *name, gpointer data)
{
	DuplicateCheck *check = data;
	GHashTable *names;

	if (check->open->len == 0)
		return;
	names = g_ptr_array_index(check->open, check->open->len - 1);
	if (!g_hash_table_add(names, g_strdup(name)) && check->duplicate == NULL)
		check->duplicate = g_strdup(name);
}

static void
on_object_end(JsonParser *parser, JsonObject *object, gpointer data)
{
	DuplicateCheck *check = data;

	if (check->open->len > 0)
		g_ptr_array_remove_index(check->open, check->open->len - 1);
}

static JsonNode *
parse_json(const char *json, gsize len, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GPtrArray) open = g_ptr_array_new_with_free_func((GDestroyNotify)g_hash_table_unref);
	g_autofree char *duplicate = NULL;
	DuplicateCheck check = {open, NULL};
	g_autoptr(GError) local = NULL;
	gboolean ok;

	g_signal_connect(parser, "object-start", G_CALLBACK(on_object_start), &check);
	g_signal_connect(parser, "object-member", G_CALLBACK(on_object_member), &check);
	g_signal_connect(parser, "object-end", G_CALLBACK(on_object_end), &check);
	ok = json_parser_load_from_data(parser, json, (gssize)len, &local);
	duplicate = check.duplicate;
	if (!ok) {
		g_set_error(error, NG_PLAN_ERROR, NG_PLAN_ERROR_SYNTAX, "$: not valid JSON: %s",
			    local->message);
		return NULL;
	}
	if (duplicate != NULL) {
		g_autofree char *clean =
		    g_strcanon(g_strndup(duplicate, 40), G_CSET_a_2_z G_CSET_A_2_Z G_CSET_DIGITS "_-.", '?');
		g_set_error(error, NG_PLAN_ERROR, NG_PLAN_ERROR_SYNTAX,
			    "$: field \"%s\" is given twice in one object", clean);
		return NULL;
	}
	if (json_parser_get_root(parser) == NULL) {
		g_set_error_literal(error, NG_PLAN_ERROR, NG_PLAN_ERROR_SYNTAX, "$: empty document");
		return NULL;
	}
	return json_node_copy(json_parser_get_root(parser));
}

static JsonNode *
load_document(const char *json, gsize len, GError **error)
{
	const char *end = NULL;

	if (!g_utf8_validate_len(json, len, &end)) {
		g_set_error(error, NG_PLAN_ERROR, NG_PLAN_ERROR_SYNTAX,
			    "$: not valid UTF-8 (byte %" G_GSIZE_FORMAT ")", (gsize)(end - json));
		return NULL;
	}
	if (!check_nesting(json, len, error))
		return NULL;
	return parse_json(json, len, error);
}

static NgPlan *
plan_new(void)
{
	NgPlan *plan = g_new0(NgPlan, 1);

	plan->ref_count = 1;
	for (guint i = 0; i < NG_AFTERCARE_COUNT; i++)
		plan->aftercare_hours[i] = -1;
	return plan;
}

NgPlan *
ng_plan_parse(const char *json, gssize len, GError **error)
{
	g_autoptr(NgPlan) plan = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GError) local = NULL;
	gsize size;
	Path p = {"$", 1};

	g_return_val_if_fail(json != NULL || len == 0, NULL);
	size = len < 0 ? strlen(json) : (gsize)len;
	if (size > NG_PLAN_MAX_SIZE) {
		g_set_error(error, NG_PLAN_ERROR, NG_PLAN_ERROR_TOO_LARGE,
			    "$: the plan is %" G_GSIZE_FORMAT " bytes, more than the %u allowed", size,
			    NG_PLAN_MAX_SIZE);
		return NULL;
	}
	root = load_document(size > 0 ? json : "", size, error);
	if (root == NULL)
		return NULL;
	plan = plan_new();
	if (!parse_root(root, plan, &p, &local)) {
		if (local == NULL) /* every failure names itself; should one not, the caller still learns */
			local =
			    g_error_new_literal(NG_PLAN_ERROR, NG_PLAN_ERROR_INVALID, "$: not a valid plan");
		g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	return g_steal_pointer(&plan);
}

NgPlan *
ng_plan_load_file(const char *path, GError **error)
{
	g_autofree char *data = NULL;
	gsize len = 0;
	NgPlan *plan;

	if (!g_file_get_contents(path, &data, &len, error))
		return NULL;
	plan = ng_plan_parse(data, (gssize)len, error);
	if (plan == NULL)
		g_prefix_error(error, "%s: ", path);
	return plan;
}

NgPlan *
ng_plan_ref(NgPlan *plan)
{
	g_return_val_if_fail(plan != NULL, NULL);
	g_atomic_int_inc(&plan->ref_count);
	return plan;
}

void
ng_plan_unref(NgPlan *plan)
{
	if (plan == NULL || !g_atomic_int_dec_and_test(&plan->ref_count))
		return;
	g_free(plan->plan_id);
	g_free(plan->patient_ref);
	g_free(plan);
}

/* ---- queries --------------------------------------------------------------- */

const NgPlanArea *
ng_plan_get_area(const NgPlan *plan, guint8 area)
{
	g_return_val_if_fail(plan != NULL, NULL);
	if (area >= NP_AREA_COUNT || !plan->areas[area].present)
		return NULL;
	return &plan->areas[area];
}

gboolean
ng_plan_get_limits(const NgPlan *plan, guint8 area, NpLimits *out)
{
	const NgPlanArea *a = ng_plan_get_area(plan, area);

	g_return_val_if_fail(out != NULL, FALSE);
	if (a == NULL)
		return FALSE;
	out->max_depth_centi_mm = a->depth_max_centi_mm;
	out->min_speed_deci_hz = a->speed_min_deci_hz;
	out->max_speed_deci_hz = a->speed_max_deci_hz;
	return TRUE;
}

gboolean
ng_plan_needles_allowed(const NgPlan *plan, guint needles)
{
	g_return_val_if_fail(plan != NULL, FALSE);
	return needles < G_N_ELEMENTS(plan->needles_allowed) && plan->needles_allowed[needles];
}

guint
ng_plan_aftercare_hours(const NgPlan *plan, NgAftercare rule)
{
	g_return_val_if_fail((guint)rule < NG_AFTERCARE_COUNT, 0);
	if (plan != NULL && plan->aftercare_hours[rule] >= 0)
		return (guint)plan->aftercare_hours[rule];
	return ng_aftercare_default_hours(rule);
}

char *
ng_plan_areas_to_string(const NgPlan *plan)
{
	g_autoptr(GString) s = g_string_new(NULL);

	g_return_val_if_fail(plan != NULL, NULL);
	for (guint i = 0; i < NP_AREA_COUNT; i++) {
		if (!plan->areas[i].present)
			continue;
		if (s->len > 0)
			g_string_append_c(s, ',');
		g_string_append(s, np_area_to_string((uint8_t)i));
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

char *
ng_plan_needles_to_string(const NgPlan *plan)
{
	g_autoptr(GString) s = g_string_new(NULL);

	g_return_val_if_fail(plan != NULL, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(plan->needles_allowed); i++) {
		if (!plan->needles_allowed[i])
			continue;
		if (s->len > 0)
			g_string_append_c(s, ',');
		g_string_append_printf(s, "%u", i);
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* ng_plan_equal () compares areas with memcmp: no padding may hide in them. */
G_STATIC_ASSERT(sizeof(NgPlanArea) ==
		sizeof(gboolean) + 4 * sizeof(guint16) + sizeof(guint32) + sizeof(guint));

gboolean
ng_plan_equal(const NgPlan *a, const NgPlan *b)
{
	g_return_val_if_fail(a != NULL && b != NULL, FALSE);
	return g_strcmp0(a->plan_id, b->plan_id) == 0 && g_strcmp0(a->patient_ref, b->patient_ref) == 0 &&
	       a->session_number == b->session_number && a->sessions_total == b->sessions_total &&
	       a->min_interval_days == b->min_interval_days &&
	       a->has_previous_session == b->has_previous_session &&
	       (!a->has_previous_session || a->previous_session_ms == b->previous_session_ms) &&
	       memcmp(a->needles_allowed, b->needles_allowed, sizeof a->needles_allowed) == 0 &&
	       memcmp(a->areas, b->areas, sizeof a->areas) == 0 && a->max_session_s == b->max_session_s &&
	       memcmp(a->aftercare_hours, b->aftercare_hours, sizeof a->aftercare_hours) == 0;
}

/* ---- canonical JSON --------------------------------------------------------- */

static void
append_range(GString *out, const char *name, guint16 min, guint16 max, guint decimals)
{
	g_string_append_printf(out, "\"%s\":{\"min\":", name);
	ng_json_append_fixed(out, min, decimals);
	g_string_append(out, ",\"max\":");
	ng_json_append_fixed(out, max, decimals);
	g_string_append_c(out, '}');
}

static void
append_areas(GString *out, const NgPlan *plan)
{
	gboolean first = TRUE;

	g_string_append(out, "\"areas\":{");
	for (guint i = 0; i < NP_AREA_COUNT; i++) {
		const NgPlanArea *a = &plan->areas[i];

		if (!a->present)
			continue;
		g_string_append_printf(out, "%s\"%s\":{", first ? "" : ",", np_area_to_string((uint8_t)i));
		append_range(out, "depth_mm", a->depth_min_centi_mm, a->depth_max_centi_mm, 2);
		g_string_append_c(out, ',');
		append_range(out, "speed_hz", a->speed_min_deci_hz, a->speed_max_deci_hz, 1);
		g_string_append_printf(out, ",\"max_time_s\":%u", a->max_time_s);
		if (a->passes > 0)
			g_string_append_printf(out, ",\"passes\":%u", a->passes);
		g_string_append_c(out, '}');
		first = FALSE;
	}
	g_string_append_c(out, '}');
}

static void
append_course(GString *out, const NgPlan *plan)
{
	g_string_append_printf(
	    out, "\"course\":{\"session_number\":%u,\"sessions_total\":%u,\"min_interval_days\":%u",
	    plan->session_number, plan->sessions_total, plan->min_interval_days);
	if (plan->has_previous_session) {
		g_string_append(out, ",\"previous_session\":");
		ng_json_append_time(out, plan->previous_session_ms);
	}
	g_string_append_c(out, '}');
}

static void
append_aftercare(GString *out, const NgPlan *plan)
{
	gboolean first = TRUE;

	for (guint i = 0; i < NG_AFTERCARE_COUNT; i++) {
		if (plan->aftercare_hours[i] < 0)
			continue;
		g_string_append_printf(out, "%s\"%s\":%d", first ? ",\"aftercare\":{" : ",",
				       aftercare_info[i].name, plan->aftercare_hours[i]);
		first = FALSE;
	}
	if (!first)
		g_string_append_c(out, '}');
}

void
ng_plan_append_json(GString *out, const NgPlan *plan)
{
	g_autofree char *needles = NULL;

	g_return_if_fail(out != NULL && plan != NULL);
	needles = ng_plan_needles_to_string(plan);
	g_string_append(out, "{\"plan_id\":");
	ng_json_append_string(out, plan->plan_id);
	g_string_append(out, ",\"patient_ref\":");
	ng_json_append_string(out, plan->patient_ref);
	g_string_append_c(out, ',');
	append_course(out, plan);
	g_string_append_printf(out, ",\"allowed_needles\":[%s],", needles);
	append_areas(out, plan);
	g_string_append_printf(out, ",\"max_session_s\":%u", plan->max_session_s);
	append_aftercare(out, plan);
	g_string_append_c(out, '}');
}

char *
ng_plan_to_json(const NgPlan *plan)
{
	GString *out = g_string_new(NULL);

	ng_plan_append_json(out, plan);
	return g_string_free(out, FALSE);
}
