/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* needlectl plan assign|show|clear and needlectl sessions: plans for a pen's next session, the journal. */

#include "config.h"

#include <stdio.h>
#include <string.h>

#include "ctl-client.h"

/* ---- plan ------------------------------------------------------------------------------------------- */

static char *
read_plan_file(const char *path, GError **error)
{
	g_autofree char *text = NULL;
	gsize len = 0;

	if (g_str_equal(path, "-")) {
		g_autoptr(GString) in = g_string_new(NULL);
		char buf[4096];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0 && in->len < 1024 * 1024)
			g_string_append_len(in, buf, (gssize)n);
		return g_string_free(g_steal_pointer(&in), FALSE);
	}
	if (!g_file_get_contents(path, &text, &len, error))
		return NULL;
	if (strlen(text) != len || !g_utf8_validate(text, (gssize)len, NULL)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "%s is not a plan (not UTF-8 text): give a JSON plan file", path);
		return NULL;
	}
	return g_steal_pointer(&text);
}

/* {"pen": SERIAL, "plan_id": ID|null}: what assign and clear print with --json. */
static void
print_pen_plan_json(NgDbusPen1 *pen, const char *name, const char *plan_id)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) node = NULL;
	const char *serial = ng_dbus_pen1_get_serial(pen);

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "pen");
	json_builder_add_string_value(b, serial != NULL && *serial != '\0' ? serial : name);
	json_builder_set_member_name(b, "plan_id");
	if (plan_id != NULL)
		json_builder_add_string_value(b, plan_id);
	else
		json_builder_add_null_value(b);
	json_builder_end_object(b);
	node = json_builder_get_root(b);
	ng_ctl_print_json(node);
}

static int
plan_assign(NgCtlClient *client, const char *name, const char *file, gboolean json)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *text = read_plan_file(file, &error);
	g_autoptr(NgDbusPen1) pen = NULL;

	if (text == NULL)
		return ng_ctl_fail("plan assign", error);
	pen = ng_ctl_client_find_pen(client, name, &error);
	if (pen == NULL)
		return ng_ctl_fail("plan assign", error);
	if (!ng_dbus_pen1_call_assign_plan_sync(pen, text, NULL, &error)) {
		g_autofree char *remote = g_dbus_error_get_remote_error(error);

		/* "face.json: $.areas.cheek: unknown area ...": which file, then where in it; one line
		 * for each error (the daemon names them all, "; " between) */
		if (remote != NULL && g_str_has_suffix(remote, ".InvalidPlan")) {
			const char *where = g_str_equal(file, "-") ? "(standard input)" : file;
			g_autofree char *sep = g_strdup_printf("\n%s: $", where);
			g_auto(GStrv) parts = NULL;
			char *joined;

			g_dbus_error_strip_remote_error(error);
			parts = g_strsplit(error->message, "; $", -1);
			joined = g_strjoinv(sep, parts);
			g_free(error->message);
			error->message = g_strdup_printf("%s: %s", where, joined);
			g_free(joined);
		}
		return ng_ctl_fail("plan assign", error);
	}
	if (json) {
		g_autoptr(JsonNode) doc = json_from_string(text, NULL);
		JsonObject *o = doc != NULL && JSON_NODE_HOLDS_OBJECT(doc) ? json_node_get_object(doc) : NULL;

		print_pen_plan_json(pen, name,
				    o != NULL ? json_object_get_string_member_with_default(o, "plan_id", NULL)
					      : NULL);
		return NG_CTL_EXIT_OK;
	}
	printf("Plan assigned to pen %s for its next session.\n", name);
	return NG_CTL_EXIT_OK;
}

/* @o's member @name if it is an object, else NULL (json-glib complains about absent ones). */
static JsonObject *
member_object(JsonObject *o, const char *name)
{
	JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

	return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static JsonArray *
member_array(JsonObject *o, const char *name)
{
	JsonNode *n = o != NULL ? json_object_get_member(o, name) : NULL;

	return n != NULL && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* "0.25-0.50": a range member of an area ({"min","max"}), with @decimals. */
static char *
range_text(JsonObject *area, const char *member, int decimals)
{
	JsonObject *r = member_object(area, member);

	if (r == NULL)
		return g_strdup("-");
	return g_strdup_printf("%.*f-%.*f", decimals, json_object_get_double_member_with_default(r, "min", 0),
			       decimals, json_object_get_double_member_with_default(r, "max", 0));
}

static char *
uint_text(JsonObject *o, const char *member)
{
	if (o == NULL || !json_object_has_member(o, member))
		return g_strdup("-");
	return g_strdup_printf("%" G_GINT64_FORMAT, json_object_get_int_member(o, member));
}

/* The plan as a technician reads it: who and which session, then one line per area. */
static void
print_plan(const char *name, JsonObject *plan)
{
	JsonObject *course = member_object(plan, "course");
	JsonObject *areas = member_object(plan, "areas");
	JsonArray *needles = member_array(plan, "allowed_needles");
	JsonObject *aftercare = member_object(plan, "aftercare");
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	g_autoptr(GString) line = g_string_new(NULL);
	g_autoptr(GList) names = areas != NULL ? json_object_get_members(areas) : NULL;

	printf("Plan %s for patient %s, pen %s (next session)\n",
	       json_object_get_string_member_with_default(plan, "plan_id", "?"),
	       json_object_get_string_member_with_default(plan, "patient_ref", "?"), name);
	if (course != NULL)
		printf("Course: session %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
		       ", at least %" G_GINT64_FORMAT " days apart%s%s%s\n",
		       json_object_get_int_member_with_default(course, "session_number", 0),
		       json_object_get_int_member_with_default(course, "sessions_total", 0),
		       json_object_get_int_member_with_default(course, "min_interval_days", 0),
		       json_object_has_member(course, "previous_session") ? " (previous: " : "",
		       json_object_get_string_member_with_default(course, "previous_session", ""),
		       json_object_has_member(course, "previous_session") ? ")" : "");
	for (guint i = 0; needles != NULL && i < json_array_get_length(needles); i++)
		g_string_append_printf(line, "%s%" G_GINT64_FORMAT, i > 0 ? ", " : "",
				       json_array_get_int_element(needles, i));
	printf("Needles: %s; longest session: %" G_GINT64_FORMAT " s\n", line->len > 0 ? line->str : "any",
	       json_object_get_int_member_with_default(plan, "max_session_s", 0));
	g_ptr_array_add(rows, ng_ctl_row("AREA", "DEPTH (mm)", "SPEED (Hz)", "MAX TIME (s)", "PASSES", NULL));
	for (GList *l = names; l != NULL; l = l->next) {
		JsonObject *a = member_object(areas, l->data);
		g_autofree char *depth = range_text(a, "depth_mm", 2);
		g_autofree char *speed = range_text(a, "speed_hz", 1);
		g_autofree char *time = uint_text(a, "max_time_s");
		g_autofree char *passes = uint_text(a, "passes");

		g_ptr_array_add(rows, ng_ctl_row(l->data, depth, speed, time, passes, NULL));
	}
	ng_ctl_print_table(rows);
	if (aftercare != NULL && json_object_get_size(aftercare) > 0) {
		g_autoptr(GList) rules = json_object_get_members(aftercare);

		g_string_truncate(line, 0);
		for (GList *l = rules; l != NULL; l = l->next)
			g_string_append_printf(line, "%s%s %" G_GINT64_FORMAT " h", l == rules ? "" : ", ",
					       (const char *)l->data,
					       json_object_get_int_member(aftercare, l->data));
		printf("Aftercare changed: %s\n", line->str);
	}
}

static int
plan_show(NgCtlClient *client, const char *name, gboolean json)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NgDbusPen1) pen = ng_ctl_client_find_pen(client, name, &error);
	g_autofree char *plan = NULL;
	g_autoptr(JsonNode) node = NULL;

	if (pen == NULL || !ng_dbus_pen1_call_get_plan_sync(pen, &plan, NULL, &error))
		return ng_ctl_fail("plan show", error);
	node = json_from_string(plan, &error);
	if (node == NULL || json || !JSON_NODE_HOLDS_OBJECT(node)) {
		printf("%s\n", plan);
		return NG_CTL_EXIT_OK;
	}
	print_plan(name, json_node_get_object(node));
	return NG_CTL_EXIT_OK;
}

static int
plan_clear(NgCtlClient *client, const char *name, gboolean json)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NgDbusPen1) pen = ng_ctl_client_find_pen(client, name, &error);

	if (pen == NULL || !ng_dbus_pen1_call_clear_plan_sync(pen, NULL, &error))
		return ng_ctl_fail("plan clear", error);
	if (json) {
		print_pen_plan_json(pen, name, NULL);
		return NG_CTL_EXIT_OK;
	}
	printf("Plan of pen %s cleared.\n", name);
	return NG_CTL_EXIT_OK;
}

static int
run_plan(int argc, char **argv)
{
	gboolean json = FALSE;
	int status = 0;
	int n = ng_ctl_parse(&ng_ctl_command_plan, NULL, &json, &argc, &argv, &status);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgCtlClient) client = NULL;
	const char *sub = n >= 1 ? argv[1] : NULL;
	int want = g_strcmp0(sub, "assign") == 0 ? 3 : 2;

	if (n < 0)
		return status;
	if (sub == NULL ||
	    (!g_str_equal(sub, "assign") && !g_str_equal(sub, "show") && !g_str_equal(sub, "clear"))) {
		ng_ctl_usage_error("plan",
				   sub == NULL ? "no subcommand: use assign, show or clear"
					       : "unknown subcommand '%s': use assign, show or clear",
				   sub);
		return NG_CTL_EXIT_USAGE;
	}
	if (n != want) {
		ng_ctl_usage_error("plan", "%s needs %s", sub, want == 3 ? "PEN FILE" : "PEN");
		return NG_CTL_EXIT_USAGE;
	}
	client = ng_ctl_client_new(&error);
	if (client == NULL)
		return ng_ctl_fail("plan", error);
	if (g_str_equal(sub, "assign"))
		return plan_assign(client, argv[2], argv[3], json);
	if (g_str_equal(sub, "show"))
		return plan_show(client, argv[2], json);
	return plan_clear(client, argv[2], json);
}

const NgCtlCommand ng_ctl_command_plan = {
    .name = "plan",
    .synopsis = "assign [--json] PEN FILE | show [--json] PEN | clear [--json] PEN",
    .summary = "Assign, show or clear the treatment plan of a pen",
    .help = "A plan (a JSON file: plan id, pseudonymous patient reference, course, areas\n"
	    "with depth and speed ranges, cartridges; see needlectl(1)) applies to the\n"
	    "pen's next session. PEN is a serial number or an address; the pen must\n"
	    "have connected once (its serial is known).\n"
	    "\n"
	    "  assign PEN FILE  Assign the plan in FILE ('-': standard input). A plan\n"
	    "                   with a mistake is refused with the field named\n"
	    "                   ($.areas.forehead.depth_mm.max: ...); the previous\n"
	    "                   plan stays.\n"
	    "  show PEN         Print the pen's plan: patient, course, needles and a line\n"
	    "                   per area (--json: the plan as JSON, on one line)\n"
	    "  clear PEN        Remove the pen's plan\n"
	    "\n"
	    "Options:\n"
	    "  --json      show: the plan as JSON, on one line; assign and clear:\n"
	    "              {\"pen\": serial, \"plan_id\": the plan assigned, or null}\n"
	    "  -h, --help  Show this help\n"
	    "\n" NG_CTL_EXIT_STATUS_HELP "\n"
	    "Examples:\n"
	    "  needlectl plan assign NP5EED0001 /usr/share/needlegate/plans/face-course.json\n"
	    "  needlectl plan show NP5EED0001\n"
	    "  needlectl plan clear NP5EED0001\n",
    .run = run_plan,
};

/* ---- sessions ----------------------------------------------------------------------------------------- */

static char *sessions_since;

static const GOptionEntry sessions_entries[] = {
    {"since", 's', 0, G_OPTION_ARG_STRING, &sessions_since, NULL, NULL},
    {NULL},
};

/* "2026-11-24", an ISO 8601 time, or "7d" / "12h" / "30m" ago; -1 if none of those. */
static gint64
parse_since(const char *text)
{
	g_autoptr(GTimeZone) local = g_time_zone_new_local();
	g_autoptr(GDateTime) t = NULL;
	g_autofree char *midnight = NULL;
	guint64 n = 0;
	char *end = NULL;

	n = g_ascii_strtoull(text, &end, 10);
	if (end != text && end != NULL && end[0] != '\0' && end[1] == '\0' && strchr("dhm", end[0]) != NULL) {
		guint64 unit = end[0] == 'd' ? 86400000 : end[0] == 'h' ? 3600000 : 60000;
		return n > 36500 * 86400000ull / unit ? -1 : g_get_real_time() / 1000 - (gint64)(n * unit);
	}
	if (strlen(text) == 10) {
		midnight = g_strconcat(text, "T00:00:00", NULL);
		t = g_date_time_new_from_iso8601(midnight, local);
	} else {
		t = g_date_time_new_from_iso8601(text, local);
	}
	return t != NULL ? g_date_time_to_unix(t) * 1000 : -1;
}

static const char *
member_string(JsonObject *o, const char *name)
{
	JsonNode *node = json_object_get_member(o, name);

	return node != NULL && JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING
		   ? json_node_get_string(node)
		   : "-";
}

/* Alerts of a journal entry: raised ones and single events; a "cleared" is the end of one already
 * counted. */
static guint
count_alerts(JsonNode *alerts)
{
	JsonArray *array;
	guint n = 0;

	if (alerts == NULL || !JSON_NODE_HOLDS_ARRAY(alerts))
		return 0;
	array = json_node_get_array(alerts);
	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonObject *a = json_array_get_object_element(array, i);

		if (a != NULL &&
		    g_strcmp0(json_object_get_string_member_with_default(a, "state", ""), "cleared") != 0)
			n++;
	}
	return n;
}

static void
print_sessions_table(JsonArray *sessions)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);

	g_ptr_array_add(rows, ng_ctl_row("PEN", "SESSION", "START", "END", "PLAN", "REASON", "ALERTS", NULL));
	for (guint i = 0; i < json_array_get_length(sessions); i++) {
		JsonObject *o = json_array_get_object_element(sessions, i);
		JsonNode *alerts = o != NULL ? json_object_get_member(o, "alerts") : NULL;
		g_autofree char *id = NULL;
		g_autofree char *n_alerts = NULL;

		if (o == NULL)
			continue;
		id = g_strdup_printf("%" G_GINT64_FORMAT,
				     json_object_get_int_member_with_default(o, "session", 0));
		n_alerts = g_strdup_printf("%u", count_alerts(alerts));
		g_ptr_array_add(rows, ng_ctl_row(member_string(o, "pen"), id, member_string(o, "start"),
						 member_string(o, "end"), member_string(o, "plan_id"),
						 member_string(o, "reason"), n_alerts, NULL));
	}
	ng_ctl_print_table(rows);
}

static int
run_sessions(int argc, char **argv)
{
	gboolean json = FALSE;
	int status = 0;
	int n = ng_ctl_parse(&ng_ctl_command_sessions, sessions_entries, &json, &argc, &argv, &status);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgCtlClient) client = NULL;
	g_autofree char *text = NULL;
	g_autoptr(JsonNode) node = NULL;
	gint64 since = 0;

	if (n < 0)
		return status;
	if (n > 1) {
		ng_ctl_usage_error("sessions", "expected at most one PEN, got %d arguments", n);
		return NG_CTL_EXIT_USAGE;
	}
	if (sessions_since != NULL && (since = parse_since(sessions_since)) < 0) {
		ng_ctl_usage_error("sessions",
				   "--since: '%s' is not a date (2026-11-24), a time (ISO 8601) or an "
				   "age (7d, 12h, 30m)",
				   sessions_since);
		return NG_CTL_EXIT_USAGE;
	}
	client = ng_ctl_client_new(&error);
	if (client == NULL)
		return ng_ctl_fail("sessions", error);
	if (!ng_dbus_gateway1_call_list_sessions_sync(client->gateway, n == 1 ? argv[1] : "", since, &text,
						      NULL, &error))
		return ng_ctl_fail("sessions", error);
	node = json_from_string(text, &error);
	if (json || node == NULL || !JSON_NODE_HOLDS_ARRAY(node))
		printf("%s\n", text);
	else if (json_array_get_length(json_node_get_array(node)) == 0)
		printf("No finished session in the journal%s.\n",
		       sessions_since != NULL ? " since then" : "");
	else
		print_sessions_table(json_node_get_array(node));
	return NG_CTL_EXIT_OK;
}

const NgCtlCommand ng_ctl_command_sessions = {
    .name = "sessions",
    .synopsis = "[--since WHEN] [--json] [PEN]",
    .summary = "List finished sessions from the hub's journal",
    .help = "Lists finished sessions, newest first: pen, session id, start and end,\n"
	    "plan, why it ended, the number of alerts. PEN (a serial number or an\n"
	    "address) limits the list to one pen; removed pens keep their sessions.\n"
	    "\n"
	    "Options:\n"
	    "  -s, --since WHEN  Only sessions that started since WHEN: a date\n"
	    "                    (2026-11-24), a local time (2026-11-24T09:00:00) or\n"
	    "                    an age (7d, 12h, 30m)\n"
	    "  --json            The journal's JSON array, with each session's summary\n"
	    "                    and alerts\n"
	    "  -h, --help        Show this help\n"
	    "\n" NG_CTL_EXIT_STATUS_HELP "\n"
	    "Examples:\n"
	    "  needlectl sessions\n"
	    "  needlectl sessions --since 7d NP5EED0001\n",
    .run = run_sessions,
};
