/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stores finished sessions in the gateway's SQLite database and reads them back, newest first. */

#include "ng-journal.h"

#include "ng-json.h"

GQuark
ng_journal_error_quark(void)
{
	return g_quark_from_static_string("ng-journal-error-quark");
}

struct _NgJournal {
	sqlite3 *db;
	sqlite3_stmt *insert;
	sqlite3_stmt *last_of_patient;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS ng_journal ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " pen TEXT NOT NULL,"
    " session INTEGER NOT NULL,"
    " start_ms INTEGER NOT NULL,"
    " end_ms INTEGER NOT NULL,"
    " plan_id TEXT,"
    " patient_ref TEXT,"
    " reason TEXT NOT NULL,"
    " summary TEXT NOT NULL,"
    " alerts TEXT NOT NULL,"
    " UNIQUE (pen, session, start_ms));"
    "CREATE INDEX IF NOT EXISTS ng_journal_start ON ng_journal (start_ms);"
    "CREATE INDEX IF NOT EXISTS ng_journal_patient ON ng_journal (patient_ref, start_ms)";

#define COLUMNS "id, pen, session, start_ms, end_ms, plan_id, patient_ref, reason, summary, alerts"

static gboolean
set_sqlite_error(sqlite3 *db, GError **error, const char *what)
{
	g_set_error(error, NG_JOURNAL_ERROR, NG_JOURNAL_ERROR_FAILED, "session journal: %s: %s", what,
		    sqlite3_errmsg(db));
	return FALSE;
}

void
ng_journal_entry_free(NgJournalEntry *entry)
{
	if (entry == NULL)
		return;
	g_free(entry->pen);
	g_free(entry->plan_id);
	g_free(entry->patient_ref);
	g_free(entry->reason);
	g_free(entry->summary_json);
	g_free(entry->alerts_json);
	g_free(entry);
}

NgJournal *
ng_journal_new(sqlite3 *db, GError **error)
{
	g_autoptr(NgJournal) self = g_new0(NgJournal, 1);

	g_return_val_if_fail(db != NULL, NULL);
	self->db = db;
	if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		set_sqlite_error(db, error, "create table");
		return NULL;
	}
	if (sqlite3_prepare_v2(
		db,
		"INSERT OR IGNORE INTO ng_journal (pen, session, start_ms, end_ms, plan_id,"
		" patient_ref, reason, summary, alerts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
		-1, &self->insert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		db, "SELECT start_ms FROM ng_journal WHERE patient_ref = ?1 ORDER BY start_ms DESC LIMIT 1",
		-1, &self->last_of_patient, NULL) != SQLITE_OK) {
		set_sqlite_error(db, error, "prepare");
		return NULL;
	}
	return g_steal_pointer(&self);
}

void
ng_journal_free(NgJournal *self)
{
	if (self == NULL)
		return;
	sqlite3_finalize(self->insert);
	sqlite3_finalize(self->last_of_patient);
	g_free(self);
}

gboolean
ng_journal_add(NgJournal *self, const NgJournalEntry *e, gboolean *added, GError **error)
{
	sqlite3_stmt *st;

	g_return_val_if_fail(self != NULL && e != NULL && e->pen != NULL, FALSE);
	st = self->insert;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, e->pen, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, e->session_id);
	sqlite3_bind_int64(st, 3, e->start_ms);
	sqlite3_bind_int64(st, 4, e->end_ms);
	sqlite3_bind_text(st, 5, e->plan_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, e->patient_ref, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, e->reason != NULL ? e->reason : "unknown", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 8, e->summary_json != NULL ? e->summary_json : "null", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 9, e->alerts_json != NULL ? e->alerts_json : "[]", -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		set_sqlite_error(self->db, error, "insert");
		sqlite3_reset(st);
		return FALSE;
	}
	if (added != NULL)
		*added = sqlite3_changes(self->db) > 0;
	sqlite3_reset(st);
	return TRUE;
}

static char *
column_strdup(sqlite3_stmt *st, int col)
{
	return g_strdup((const char *)sqlite3_column_text(st, col));
}

static NgJournalEntry *
entry_from_row(sqlite3_stmt *st)
{
	NgJournalEntry *e = g_new0(NgJournalEntry, 1);

	e->id = sqlite3_column_int64(st, 0);
	e->pen = column_strdup(st, 1);
	e->session_id = (guint16)sqlite3_column_int(st, 2);
	e->start_ms = sqlite3_column_int64(st, 3);
	e->end_ms = sqlite3_column_int64(st, 4);
	e->plan_id = column_strdup(st, 5);
	e->patient_ref = column_strdup(st, 6);
	e->reason = column_strdup(st, 7);
	e->summary_json = column_strdup(st, 8);
	e->alerts_json = column_strdup(st, 9);
	return e;
}

GPtrArray *
ng_journal_query(NgJournal *self, const char *pen, gint64 since_ms, guint limit, GError **error)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)ng_journal_entry_free);
	sqlite3_stmt *st = NULL;
	int rc;

	g_return_val_if_fail(self != NULL, NULL);
	/* prepared per query: needlectl asks rarely, and the filter differs */
	if (sqlite3_prepare_v2(self->db,
			       "SELECT " COLUMNS
			       " FROM ng_journal WHERE start_ms >= ?1 AND (?2 IS NULL OR pen = ?2)"
			       " ORDER BY start_ms DESC, id DESC LIMIT ?3",
			       -1, &st, NULL) != SQLITE_OK) {
		set_sqlite_error(self->db, error, "prepare query");
		return NULL;
	}
	sqlite3_bind_int64(st, 1, since_ms);
	sqlite3_bind_text(st, 2, pen, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, limit == 0 ? -1 : (sqlite3_int64)limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		g_ptr_array_add(rows, entry_from_row(st));
	if (rc != SQLITE_DONE) {
		set_sqlite_error(self->db, error, "query");
		sqlite3_finalize(st);
		return NULL;
	}
	sqlite3_finalize(st);
	return g_steal_pointer(&rows);
}

gboolean
ng_journal_last_session_of_patient(NgJournal *self, const char *patient_ref, gint64 *start_ms, GError **error)
{
	sqlite3_stmt *st;
	int rc;

	g_return_val_if_fail(self != NULL && patient_ref != NULL, FALSE);
	st = self->last_of_patient;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, patient_ref, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && start_ms != NULL)
		*start_ms = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return TRUE;
	if (rc != SQLITE_DONE)
		return set_sqlite_error(self->db, error, "look up patient");
	return FALSE;
}

void
ng_journal_entry_to_json(GString *out, const NgJournalEntry *e)
{
	g_return_if_fail(out != NULL && e != NULL);
	g_string_append(out, "{\"pen\":");
	ng_json_append_string(out, e->pen);
	g_string_append_printf(out, ",\"session\":%u,\"start\":", e->session_id);
	ng_json_append_time(out, e->start_ms);
	g_string_append(out, ",\"end\":");
	ng_json_append_time(out, e->end_ms);
	g_string_append(out, ",\"plan_id\":");
	ng_json_append_string(out, e->plan_id);
	g_string_append(out, ",\"patient_ref\":");
	ng_json_append_string(out, e->patient_ref);
	g_string_append(out, ",\"reason\":");
	ng_json_append_string(out, e->reason);
	/* our own JSON, written by ng_summary_json_to_string () and the rule engine */
	g_string_append_printf(out, ",\"summary\":%s,\"alerts\":%s}",
			       e->summary_json != NULL ? e->summary_json : "null",
			       e->alerts_json != NULL ? e->alerts_json : "[]");
}
