/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plans assigned to pens for their next session, kept across restarts. */

#pragma once

#include <glib.h>

#include "ng-plan.h"
#include "ng-store.h"

G_BEGIN_DECLS

/*
 * A plan is assigned to a pen (by serial number) for its next session. The
 * assignment is saved in the store (table ng_assignments) and survives a
 * restart. A session that starts takes the plan assigned at that moment;
 * when the session ends the assignment is consumed (cleared), unless a new
 * plan was assigned meanwhile: a plan is "for the next session", and a
 * second patient must never inherit the first one's limits.
 *
 * Everything runs on the main loop; writes go into the store's open
 * transaction followed by ng_store_touch () (never BEGIN/COMMIT).
 */
typedef struct _NgAssign NgAssign;

/* @store NULL: nothing is saved (tests). Loads the saved assignments; a saved plan that no longer
 * parses is dropped with a warning (a newer gateway wrote it). */
NgAssign *ng_assign_new(NgStore *store, GError **error);
void ng_assign_free(NgAssign *assign);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgAssign, ng_assign_free)

/*
 * Assigns the plan @plan_json (a JSON document, see deploy/plan.schema.json) to pen @serial,
 * replacing any earlier assignment. @who (may be NULL) says who assigned it, for the logs and the
 * state ("mqtt", "dbus:…", "file:…"). A refused plan leaves the previous assignment in place and
 * fails with an NG_PLAN_ERROR whose message names the JSON path ("$.areas.forehead.depth_mm.max:
 * 3.5 is beyond …"); a @serial that cannot be a pen id fails with G_IO_ERROR_INVALID_ARGUMENT.
 */
gboolean ng_assign_set(NgAssign *assign, const char *serial, const char *plan_json, const char *who,
		       GError **error);
/* The same with a parsed plan (a reference is taken). */
gboolean ng_assign_set_plan(NgAssign *assign, const char *serial, NgPlan *plan, const char *who,
			    GError **error);
/* The same from a file (tests, needlectl on the hub); the error names the file. */
gboolean ng_assign_set_file(NgAssign *assign, const char *serial, const char *path, const char *who,
			    GError **error);
/* Removes the assignment; *had (may be NULL) says whether there was one. FALSE only if the store failed. */
gboolean ng_assign_clear(NgAssign *assign, const char *serial, gboolean *had, GError **error);

/* The plan assigned to @serial for its next session, or NULL. Borrowed: valid until the assignment
 * changes; take a reference (ng_plan_ref ()) to keep it. */
NgPlan *ng_assign_get(NgAssign *assign, const char *serial);
/* Who assigned it and when (unix ms); FALSE with no assignment. Either out pointer may be NULL. */
gboolean ng_assign_get_info(NgAssign *assign, const char *serial, const char **who, gint64 *assigned_ms);

/*
 * Called after every change (set, clear, consumed by a session) with the pen's serial: the daemon
 * republishes pens/<serial>/state, the D-Bus API emits PropertiesChanged. Returns an id for
 * ng_assign_remove_watch ().
 */
typedef void (*NgAssignWatchFunc)(NgAssign *assign, const char *serial, gpointer user_data);
guint ng_assign_add_watch(NgAssign *assign, NgAssignWatchFunc func, gpointer user_data);
void ng_assign_remove_watch(NgAssign *assign, guint id);

/*
 * The session that started with @plan has ended: clears the assignment if it is still @plan
 * (a plan assigned during the session stays for the next one). TRUE if it was cleared.
 */
gboolean ng_assign_consume(NgAssign *assign, const char *serial, NgPlan *plan);

G_END_DECLS
