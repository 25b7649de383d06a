/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plans assigned to pens for their next session, kept across restarts, and the plan/… bridge requests. */

#include "config.h"

#include "ng-assign.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "ng-json.h"

/* A request carries one plan and a few ids: anything much bigger is not one. */

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
