/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plans assigned to pens for their next session, kept across restarts, and the plan/… bridge requests. */

#include "config.h"

#include "ng-assign.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "ng-json.h"
#include "ng-payload.h"

/* A request carries one plan and a few ids: anything much bigger is not one. */
#define REQUEST_MAX_SIZE (2 * NG_PLAN_MAX_SIZE)

static const char schema_sql[] = "CREATE TABLE IF NOT EXISTS ng_assignments ("
				 " pen TEXT PRIMARY KEY NOT NULL,"
				 " plan_json TEXT NOT NULL,"
				 " who TEXT,"
				 " assigned_ms INTEGER NOT NULL)";

typedef struct {
	NgPlan *plan;
	char *who;
	gint64 assigned_ms;
} Entry;

typedef struct {
	guint id;
	NgAssignWatchFunc func;
	gpointer data;
} Watch;

struct _NgAssign {
	NgStore *store;
	GHashTable *entries; /* serial -> Entry */
	GArray *watches;     /* Watch */
	guint next_watch;
};

static void
entry_free(Entry *entry)
{
	g_clear_pointer(&entry->plan, ng_plan_unref);
	g_free(entry->who);
	g_free(entry);
}

/* The same rule as a pen's serial number (ng-pen.c): it names MQTT topics. */
static gboolean
check_serial(const char *serial, GError **error)
{
	gboolean ok =
	    serial != NULL && *serial != '\0' && strlen(serial) <= 64 && g_utf8_validate(serial, -1, NULL);

	for (const char *p = serial; ok && *p != '\0'; p++)
		ok = (guchar)*p >= 0x20 && *p != '/' && *p != '+' && *p != '#' && *p != 0x7f;
	if (!ok)
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "pen: not a pen serial number (1 to 64 characters, no '/', '+', '#' or "
				    "control characters)");
	return ok;
}

static void
notify(NgAssign *assign, const char *serial)
{
	for (guint i = 0; i < assign->watches->len; i++) {
		Watch *w = &g_array_index(assign->watches, Watch, i);
		w->func(assign, serial, w->data);
	}
}

/* ---- persistence ------------------------------------------------------------------------------ */

static gboolean
run_sql(NgAssign *assign, const char *sql, const char *serial, const NgPlan *plan, const char *who,
	gint64 t_ms, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	g_autofree char *json = plan != NULL ? ng_plan_to_json(plan) : NULL;
	int rc;

	if (assign->store == NULL)
		return TRUE;
	stmt = ng_store_prepare(assign->store, sql, error);
	if (stmt == NULL)
		return FALSE;
	sqlite3_bind_text(stmt, 1, serial, -1, SQLITE_STATIC);
	if (plan != NULL) {
		sqlite3_bind_text(stmt, 2, json, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, who, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 4, t_ms);
	}
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		ng_store_set_error(assign->store, error, "save the plan assignment");
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return FALSE;
	ng_store_touch(assign->store);
	return TRUE;
}

static gboolean
load(NgAssign *assign, GError **error)
{
	sqlite3_stmt *stmt = ng_store_prepare(
	    assign->store, "SELECT pen, plan_json, who, assigned_ms FROM ng_assignments", error);
	int rc;

	if (stmt == NULL)
		return FALSE;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *serial = (const char *)sqlite3_column_text(stmt, 0);
		const char *json = (const char *)sqlite3_column_text(stmt, 1);
		const char *who = (const char *)sqlite3_column_text(stmt, 2);
		g_autoptr(GError) local = NULL;
		NgPlan *plan = json != NULL ? ng_plan_parse(json, -1, &local) : NULL;
		Entry *entry;

		if (serial == NULL || plan == NULL) {
			g_warning("ignoring the saved plan of pen %s: %s", serial != NULL ? serial : "(none)",
				  local != NULL ? local->message : "empty");
			continue;
		}
		entry = g_new0(Entry, 1);
		entry->plan = plan;
		entry->who = g_strdup(who);
		entry->assigned_ms = sqlite3_column_int64(stmt, 3);
		g_hash_table_replace(assign->entries, g_strdup(serial), entry);
	}
	if (rc != SQLITE_DONE)
		ng_store_set_error(assign->store, error, "read the plan assignments");
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE;
}

NgAssign *
ng_assign_new(NgStore *store, GError **error)
{
	g_autoptr(NgAssign) assign = g_new0(NgAssign, 1);

	assign->store = store;
	assign->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)entry_free);
	assign->watches = g_array_new(FALSE, FALSE, sizeof(Watch));
	if (store != NULL && (!ng_store_ensure_schema(store, "ng_assignments", 1, schema_sql, error) ||
			      !load(assign, error))) {
		g_prefix_error(error, "plan assignments: ");
		return NULL;
	}
	if (g_hash_table_size(assign->entries) > 0)
		g_message("%u pen(s) have a plan assigned for their next session",
			  g_hash_table_size(assign->entries));
	return g_steal_pointer(&assign);
}

void
ng_assign_free(NgAssign *assign)
{
	if (assign == NULL)
		return;
	g_hash_table_destroy(assign->entries);
	g_array_unref(assign->watches);
	g_free(assign);
}

/* ---- the API ------------------------------------------------------------------------------------ */

gboolean
ng_assign_set_plan(NgAssign *assign, const char *serial, NgPlan *plan, const char *who, GError **error)
{
	Entry *entry;
	gint64 t_ms = g_get_real_time() / 1000;

	g_return_val_if_fail(assign != NULL && plan != NULL, FALSE);
	if (!check_serial(serial, error))
		return FALSE;
	if (!run_sql(assign,
		     "INSERT OR REPLACE INTO ng_assignments (pen, plan_json, who, assigned_ms) VALUES (?, ?, "
		     "?, ?)",
		     serial, plan, who, t_ms, error))
		return FALSE;
	entry = g_new0(Entry, 1);
	entry->plan = ng_plan_ref(plan);
	entry->who = g_strdup(who);
	entry->assigned_ms = t_ms;
	g_hash_table_replace(assign->entries, g_strdup(serial), entry);
	g_message("pen %s: plan %s (patient %s) assigned for the next session%s%s", serial, plan->plan_id,
		  plan->patient_ref, who != NULL ? " by " : "", who != NULL ? who : "");
	notify(assign, serial);
	return TRUE;
}

gboolean
ng_assign_set(NgAssign *assign, const char *serial, const char *plan_json, const char *who, GError **error)
{
	g_autoptr(NgPlan) plan = NULL;

	if (!check_serial(serial, error))
		return FALSE;
	plan = ng_plan_parse(plan_json, -1, error);
	return plan != NULL && ng_assign_set_plan(assign, serial, plan, who, error);
}

gboolean
ng_assign_set_file(NgAssign *assign, const char *serial, const char *path, const char *who, GError **error)
{
	g_autoptr(NgPlan) plan = NULL;

	if (!check_serial(serial, error))
		return FALSE;
	plan = ng_plan_load_file(path, error);
	return plan != NULL && ng_assign_set_plan(assign, serial, plan, who, error);
}

gboolean
ng_assign_clear(NgAssign *assign, const char *serial, gboolean *had, GError **error)
{
	gboolean present;

	g_return_val_if_fail(assign != NULL, FALSE);
	if (had != NULL)
		*had = FALSE;
	if (!check_serial(serial, error))
		return FALSE;
	present = g_hash_table_contains(assign->entries, serial);
	if (!present)
		return TRUE;
	if (!run_sql(assign, "DELETE FROM ng_assignments WHERE pen = ?", serial, NULL, NULL, 0, error))
		return FALSE;
	g_hash_table_remove(assign->entries, serial);
	if (had != NULL)
		*had = TRUE;
	g_message("pen %s: plan assignment cleared", serial);
	notify(assign, serial);
	return TRUE;
}

NgPlan *
ng_assign_get(NgAssign *assign, const char *serial)
{
	Entry *entry = serial != NULL ? g_hash_table_lookup(assign->entries, serial) : NULL;

	return entry != NULL ? entry->plan : NULL;
}

gboolean
ng_assign_get_info(NgAssign *assign, const char *serial, const char **who, gint64 *assigned_ms)
{
	Entry *entry = serial != NULL ? g_hash_table_lookup(assign->entries, serial) : NULL;

	if (entry == NULL)
		return FALSE;
	if (who != NULL)
		*who = entry->who;
	if (assigned_ms != NULL)
		*assigned_ms = entry->assigned_ms;
	return TRUE;
}

gboolean
ng_assign_consume(NgAssign *assign, const char *serial, NgPlan *plan)
{
	g_autoptr(GError) error = NULL;

	if (plan == NULL || ng_assign_get(assign, serial) != plan)
		return FALSE;
	if (!ng_assign_clear(assign, serial, NULL, &error)) {
		g_warning("pen %s: %s", serial, error->message);
		return FALSE;
	}
	return TRUE;
}

guint
ng_assign_add_watch(NgAssign *assign, NgAssignWatchFunc func, gpointer user_data)
{
	Watch w = {++assign->next_watch, func, user_data};

	g_array_append_val(assign->watches, w);
	return w.id;
}

void
ng_assign_remove_watch(NgAssign *assign, guint id)
{
	for (guint i = 0; i < assign->watches->len; i++) {
		if (g_array_index(assign->watches, Watch, i).id == id) {
			g_array_remove_index(assign->watches, i);
			return;
		}
	}
}

/* ---- MQTT requests --------------------------------------------------------------------------------- */

typedef struct {
	const char *code;
	char *message;
	char *pen;
	char *plan_id;
} Outcome;

static void
fail(Outcome *out, const char *code, const char *message)
{
	out->code = code;
	out->message = g_strdup(message);
}

/* "pen": a string that is a serial number. */
static const char *
request_pen(JsonObject *obj, Outcome *out)
{
	JsonNode *node = json_object_get_member(obj, "pen");
	g_autoptr(GError) error = NULL;
	const char *pen;

	if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
		fail(out, "invalid_args", "pen: missing (required)");
		return NULL;
	}
	if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
		fail(out, "invalid_args", "pen: expected a string");
		return NULL;
	}
	pen = json_node_get_string(node);
	if (!check_serial(pen, &error)) {
		fail(out, "invalid_args", error->message);
		return NULL;
	}
	return pen;
}

/* "plan": the plan as an object, or as a string holding its JSON. */
static void
handle_assign(NgAssign *assign, JsonObject *obj, Outcome *out)
{
	const char *pen = request_pen(obj, out);
	JsonNode *node = json_object_get_member(obj, "plan");
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	g_autoptr(NgPlan) plan = NULL;

	if (pen == NULL)
		return;
	if (node == NULL || JSON_NODE_HOLDS_NULL(node)) {
		fail(out, "invalid_args", "plan: missing (required)");
		return;
	}
	if (JSON_NODE_HOLDS_OBJECT(node))
		text = json_to_string(node, FALSE);
	else if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING)
		text = g_strdup(json_node_get_string(node));
	if (text == NULL) {
		fail(out, "invalid_args", "plan: expected an object (the plan) or a string holding it");
		return;
	}
	plan = ng_plan_parse(text, -1, &error);
	if (plan == NULL) {
		fail(out, "invalid_plan", error->message);
		return;
	}
	if (!ng_assign_set_plan(assign, pen, plan, "mqtt", &error)) {
		fail(out, "failed", error->message);
		return;
	}
	out->pen = g_strdup(pen);
	out->plan_id = g_strdup(plan->plan_id);
}

static void
handle_clear(NgAssign *assign, JsonObject *obj, Outcome *out)
{
	const char *pen = request_pen(obj, out);
	g_autoptr(GError) error = NULL;
	NgPlan *plan;

	if (pen == NULL)
		return;
	plan = ng_assign_get(assign, pen);
	if (plan != NULL)
		out->plan_id = g_strdup(plan->plan_id); /* the plan that was cleared */
	if (!ng_assign_clear(assign, pen, NULL, &error)) {
		fail(out, "failed", error->message);
		return;
	}
	out->pen = g_strdup(pen);
}

static char *
response_json(const Outcome *out, const char *transaction)
{
	GString *s = g_string_new("{\"status\":");

	if (out->code == NULL) {
		g_string_append(s, "\"ok\",\"data\":{\"pen\":");
		ng_json_append_string(s, out->pen);
		g_string_append(s, ",\"plan_id\":");
		ng_json_append_string(s, out->plan_id);
		g_string_append(s, "},\"error\":null");
	} else {
		g_string_append(s, "\"error\",\"data\":null,\"error\":{\"code\":");
		ng_json_append_string(s, out->code);
		g_string_append(s, ",\"message\":");
		ng_json_append_string(s, out->message);
		g_string_append(s, "}");
	}
	g_string_append(s, ",\"transaction\":");
	g_string_append(s, transaction != NULL ? transaction : "null");
	g_string_append_c(s, '}');
	return g_string_free(s, FALSE);
}

char *
ng_assign_handle_request(NgAssign *assign, const char *command, const char *payload, gsize len)
{
	gboolean is_assign = g_strcmp0(command, "plan/assign") == 0;
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) error = NULL;
	g_autofree char *transaction = NULL;
	Outcome out = {0};
	JsonNode *root;
	char *response;

	if (!is_assign && g_strcmp0(command, "plan/clear") != 0)
		return NULL;
	if (len > REQUEST_MAX_SIZE) {
		g_autofree char *msg =
		    g_strdup_printf("the request is %" G_GSIZE_FORMAT " bytes, more than the %u allowed", len,
				    REQUEST_MAX_SIZE);
		fail(&out, "invalid_args", msg);
	} else if (!g_utf8_validate(payload, (gssize)len, NULL) ||
		   !json_parser_load_from_data(parser, payload, (gssize)len, &error)) {
		g_autofree char *msg = g_strdup_printf("the request is not JSON: %s",
						       error != NULL ? error->message : "not UTF-8");
		fail(&out, "invalid_args", msg);
	} else if ((root = json_parser_get_root(parser)) == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		fail(&out, "invalid_args", "the request must be a JSON object");
	} else {
		JsonObject *obj = json_node_get_object(root);
		JsonNode *t = json_object_get_member(obj, "transaction");

		if (t != NULL)
			transaction = json_to_string(t, FALSE);
		if (is_assign)
			handle_assign(assign, obj, &out);
		else
			handle_clear(assign, obj, &out);
	}
	if (out.code != NULL)
		g_message("bridge request %s refused: %s", command, out.message);
	response = response_json(&out, transaction);
	g_free(out.message);
	g_free(out.pen);
	g_free(out.plan_id);
	return response;
}

char *
ng_assign_request_func(const char *command, const char *payload, gsize len, gpointer user_data)
{
	return ng_assign_handle_request(user_data, command, payload, len);
}
