/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A pen's sequence tracker saved in the store (one row of pen_sessions) and restored at start. */

#include "config.h"

#include "ng-session-store.h"

#include <sqlite3.h>

/* Longest a new sequence number waits to be saved on its own. */
#define SAVE_INTERVAL_MS 250

struct _NgSessionStore {
	NgStore *store;
	NgSession *session;
	guint hook_id;
	sqlite3_stmt *save_stmt;
	gboolean urgent;
	guint save_timer;
};

static const char schema_sql[] = "CREATE TABLE IF NOT EXISTS pen_sessions ("
				 " pen TEXT PRIMARY KEY NOT NULL,"
				 " high_seq INTEGER NOT NULL,"
				 " holes TEXT NOT NULL,"
				 " session_id INTEGER, session_start_ms INTEGER, pen_clock_ms INTEGER,"
				 " active INTEGER NOT NULL,"
				 " prev_session_id INTEGER, prev_start_ms INTEGER)";

static gboolean
save_timer_cb(gpointer user_data)
{
	NgSessionStore *ss = user_data;

	ss->save_timer = 0;
	ss->urgent = TRUE;
	ng_store_touch(ss->store);
	return G_SOURCE_REMOVE;
}

static void
dirty_cb(NgSession *session, gboolean urgent, gpointer user_data)
{
	NgSessionStore *ss = user_data;

	if (urgent) {
		ss->urgent = TRUE;
		ng_store_touch(ss->store);
	} else if (G_UNLIKELY(ss->save_timer == 0)) {
		ss->save_timer = g_timeout_add(SAVE_INTERVAL_MS, save_timer_cb, ss);
	}
}

static char *
holes_to_string(const NgSessionSaved *saved)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < saved->n_holes; i++)
		g_string_append_printf(s, "%s%u-%u", i > 0 ? "," : "", saved->holes[i].first,
				       saved->holes[i].last);
	return g_string_free(s, FALSE);
}

/* "first-last,first-last": FALSE if any part is not a range (ng_session_restore () checks the rest). */
static gboolean
holes_from_string(const char *text, GArray *holes)
{
	g_auto(GStrv) parts = g_strsplit(text != NULL ? text : "", ",", -1);

	for (guint i = 0; parts[i] != NULL && *parts[i] != '\0'; i++) {
		g_auto(GStrv) ends = g_strsplit(parts[i], "-", 2);
		guint64 first = 0, last = 0;
		NgSeqRange h;

		if (g_strv_length(ends) != 2 ||
		    !g_ascii_string_to_unsigned(ends[0], 10, 0, G_MAXUINT32, &first, NULL) ||
		    !g_ascii_string_to_unsigned(ends[1], 10, 0, G_MAXUINT32, &last, NULL))
			return FALSE;
		h.first = (guint32)first;
		h.last = (guint32)last;
		g_array_append_val(holes, h);
	}
	return TRUE;
}

static void
bind_slot(sqlite3_stmt *stmt, int col_id, int col_start, const NgSessionSlot *slot)
{
	if (slot->known) {
		sqlite3_bind_int(stmt, col_id, slot->id);
		sqlite3_bind_int64(stmt, col_start, slot->start_ms);
	} else {
		sqlite3_bind_null(stmt, col_id);
		sqlite3_bind_null(stmt, col_start);
	}
}

gboolean
ng_session_store_save(NgSessionStore *ss, GError **error)
{
	sqlite3_stmt *stmt = ss->save_stmt;
	const char *pen_id = ng_session_get_pen_id(ss->session);
	g_autofree char *holes = NULL;
	NgSessionSaved saved;
	int rc;

	if (!ng_session_is_dirty(ss->session))
		return TRUE;
	ng_session_get_saved(ss->session, &saved);
	holes = holes_to_string(&saved);
	sqlite3_reset(stmt);
	sqlite3_bind_text(stmt, 1, pen_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, saved.high);
	sqlite3_bind_text(stmt, 3, holes, -1, SQLITE_STATIC);
	bind_slot(stmt, 4, 5, &saved.cur);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)saved.cur.pen_clock_ms);
	sqlite3_bind_int(stmt, 7, saved.active);
	bind_slot(stmt, 8, 9, &saved.prev);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc != SQLITE_DONE) {
		ng_store_set_error(ss->store, error, "save the pen's sequence number");
		g_prefix_error(error, "pen %s: ", pen_id);
		return FALSE;
	}
	ng_session_mark_saved(ss->session);
	ss->urgent = FALSE;
	g_clear_handle_id(&ss->save_timer, g_source_remove);
	return TRUE;
}

static void
pre_commit_cb(NgStore *store, gpointer user_data)
{
	NgSessionStore *ss = user_data;
	g_autoptr(GError) error = NULL;

	if (!ng_session_is_dirty(ss->session))
		return;
	/* The outbox's hook ran first: if it wrote, this commit touches the disk anyway. */
	if (!ss->urgent && sqlite3_txn_state(ng_store_get_db(store), "main") != SQLITE_TXN_WRITE)
		return;
	if (!ng_session_store_save(ss, &error))
		g_warning("%s", error->message);
}

static void
committed_cb(NgStore *store, gboolean committed, gpointer user_data)
{
	NgSessionStore *ss = user_data;

	/* Rolled back: the row written in this transaction is gone, write it again next time. */
	if (!committed)
		dirty_cb(ss->session, TRUE, ss);
}

static void
load_slot(sqlite3_stmt *stmt, int col_id, int col_start, NgSessionSlot *slot)
{
	slot->known = sqlite3_column_type(stmt, col_id) != SQLITE_NULL;
	slot->id = (guint16)sqlite3_column_int(stmt, col_id);
	slot->start_ms = sqlite3_column_int64(stmt, col_start);
}

static gboolean
load_state(NgSessionStore *ss, GError **error)
{
	const char *pen_id = ng_session_get_pen_id(ss->session);
	g_autoptr(GArray) holes = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	sqlite3_stmt *stmt = NULL;
	NgSessionSaved saved = {0};
	int rc;

	rc = sqlite3_prepare_v2(ng_store_get_db(ss->store),
				"SELECT high_seq, holes, session_id, session_start_ms, pen_clock_ms, active,"
				" prev_session_id, prev_start_ms FROM pen_sessions WHERE pen = ?",
				-1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		ng_store_set_error(ss->store, error, "read the saved sequence numbers");
		return FALSE;
	}
	sqlite3_bind_text(stmt, 1, pen_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(stmt, 1);
		gboolean holes_ok = holes_from_string(text, holes);

		saved.high = sqlite3_column_int64(stmt, 0);
		saved.holes = (const NgSeqRange *)(gpointer)holes->data;
		saved.n_holes = holes_ok ? holes->len : 0;
		load_slot(stmt, 2, 3, &saved.cur);
		saved.cur.pen_clock_ms = (guint64)sqlite3_column_int64(stmt, 4);
		saved.active = sqlite3_column_int(stmt, 5) != 0;
		load_slot(stmt, 6, 7, &saved.prev);
		if (!ng_session_restore(ss->session, &saved) || !holes_ok)
			g_warning("pen %s: ignoring saved gaps '%s': not valid", pen_id, text);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ng_store_set_error(ss->store, error, "read the saved sequence numbers");
		return FALSE;
	}
	return TRUE;
}

NgSessionStore *
ng_session_store_new(NgStore *store, NgSession *session, GError **error)
{
	g_autoptr(NgSessionStore) ss = g_new0(NgSessionStore, 1);

	ss->store = store;
	ss->session = session;
	if (!ng_store_ensure_schema(store, "pen_sessions", 1, schema_sql, error) || !load_state(ss, error) ||
	    sqlite3_prepare_v3(ng_store_get_db(store),
			       "INSERT OR REPLACE INTO pen_sessions (pen, high_seq, holes, session_id,"
			       " session_start_ms, pen_clock_ms, active, prev_session_id, prev_start_ms)"
			       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, SQLITE_PREPARE_PERSISTENT, &ss->save_stmt, NULL) != SQLITE_OK) {
		if (error != NULL && *error == NULL)
			ng_store_set_error(store, error, "prepare saving sequence numbers");
		g_prefix_error(error, "pen %s: ", ng_session_get_pen_id(session));
		return NULL;
	}
	ng_session_set_dirty_func(session, dirty_cb, ss);
	ss->hook_id = ng_store_add_hooks(store, pre_commit_cb, committed_cb, ss);
	return g_steal_pointer(&ss);
}

void
ng_session_store_free(NgSessionStore *ss)
{
	if (ss == NULL)
		return;
	if (ss->hook_id != 0) {
		g_autoptr(GError) error = NULL;
		gboolean was_dirty = ng_session_is_dirty(ss->session);

		if (!ng_session_store_save(ss, &error))
			g_warning("%s", error->message);
		else if (was_dirty)
			ng_store_touch(ss->store);
		ng_store_remove_hooks(ss->store, ss->hook_id);
		ng_session_set_dirty_func(ss->session, NULL, NULL);
	}
	g_clear_handle_id(&ss->save_timer, g_source_remove);
	if (ss->save_stmt != NULL)
		sqlite3_finalize(ss->save_stmt);
	g_free(ss);
}
