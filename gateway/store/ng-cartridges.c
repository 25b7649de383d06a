/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Keeps every cartridge id with the first session that used it, in the gateway's SQLite database. */

#include "ng-cartridges.h"

GQuark
ng_cartridges_error_quark(void)
{
	return g_quark_from_static_string("ng-cartridges-error-quark");
}

/* A reconnect (or a restart) in the middle of a session may stamp its start a little differently. */
#define SAME_SESSION_WINDOW_MS G_GINT64_CONSTANT(86400000)

struct _NgCartridges {
	sqlite3 *db;
	sqlite3_stmt *insert;
	sqlite3_stmt *select;
};

static gboolean
set_sqlite_error(sqlite3 *db, GError **error, const char *what)
{
	g_set_error(error, NG_CARTRIDGES_ERROR, NG_CARTRIDGES_ERROR_FAILED, "cartridge registry: %s: %s",
		    what, sqlite3_errmsg(db));
	return FALSE;
}

static const char schema[] = "CREATE TABLE IF NOT EXISTS ng_cartridges ("
			     " cartridge_id INTEGER PRIMARY KEY,"
			     " pen TEXT NOT NULL,"
			     " session INTEGER NOT NULL,"
			     " start_ms INTEGER NOT NULL)";

NgCartridges *
ng_cartridges_new(sqlite3 *db, GError **error)
{
	g_autoptr(NgCartridges) self = g_new0(NgCartridges, 1);

	g_return_val_if_fail(db != NULL, NULL);
	self->db = db;
	if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		set_sqlite_error(db, error, "create table");
		return NULL;
	}
	if (sqlite3_prepare_v2(db,
			       "INSERT OR IGNORE INTO ng_cartridges (cartridge_id, pen, session, start_ms)"
			       " VALUES (?1, ?2, ?3, ?4)",
			       -1, &self->insert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT pen, session, start_ms FROM ng_cartridges WHERE cartridge_id = ?1",
			       -1, &self->select, NULL) != SQLITE_OK) {
		set_sqlite_error(db, error, "prepare");
		return NULL;
	}
	return g_steal_pointer(&self);
}

void
ng_cartridges_free(NgCartridges *self)
{
	if (self == NULL)
		return;
	sqlite3_finalize(self->insert);
	sqlite3_finalize(self->select);
	g_free(self);
}

gboolean
ng_cartridges_lookup(NgCartridges *self, guint32 cartridge_id, char **pen, guint16 *session_id,
		     gint64 *start_ms, GError **error)
{
	int rc;

	g_return_val_if_fail(self != NULL, FALSE);
	sqlite3_reset(self->select);
	sqlite3_bind_int64(self->select, 1, cartridge_id);
	rc = sqlite3_step(self->select);
	if (rc == SQLITE_DONE)
		return FALSE;
	if (rc != SQLITE_ROW)
		return set_sqlite_error(self->db, error, "look up");
	if (pen != NULL)
		*pen = g_strdup((const char *)sqlite3_column_text(self->select, 0));
	if (session_id != NULL)
		*session_id = (guint16)sqlite3_column_int(self->select, 1);
	if (start_ms != NULL)
		*start_ms = sqlite3_column_int64(self->select, 2);
	sqlite3_reset(self->select);
	return TRUE;
}

gboolean
ng_cartridges_note(NgCartridges *self, guint32 cartridge_id, const char *pen, guint16 session_id,
		   gint64 start_ms, gboolean *seen_before, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autofree char *first_pen = NULL;
	guint16 first_session = 0;
	gint64 first_start = 0;

	g_return_val_if_fail(self != NULL && pen != NULL && seen_before != NULL, FALSE);
	*seen_before = FALSE;
	if (cartridge_id == 0)
		return TRUE;
	if (ng_cartridges_lookup(self, cartridge_id, &first_pen, &first_session, &first_start, &local)) {
		gboolean same = g_strcmp0(first_pen, pen) == 0 && first_session == session_id &&
				ABS(first_start - start_ms) < SAME_SESSION_WINDOW_MS;
		*seen_before = !same;
		return TRUE;
	}
	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	sqlite3_reset(self->insert);
	sqlite3_bind_int64(self->insert, 1, cartridge_id);
	sqlite3_bind_text(self->insert, 2, pen, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(self->insert, 3, session_id);
	sqlite3_bind_int64(self->insert, 4, start_ms);
	if (sqlite3_step(self->insert) != SQLITE_DONE) {
		set_sqlite_error(self->db, error, "insert");
		sqlite3_reset(self->insert);
		return FALSE;
	}
	sqlite3_reset(self->insert);
	return TRUE;
}
