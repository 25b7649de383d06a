/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the SQLite registries: the session journal and the cartridge registry survive reopening. */

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "ng-cartridges.h"
#include "ng-journal.h"

#define T0_MS  G_GINT64_CONSTANT(1795514400000) /* 2026-11-24T10:00:00Z */
#define DAY_MS G_GINT64_CONSTANT(86400000)

typedef struct {
	char *dir;
	char *path;
	sqlite3 *db;
} TempDb;

static void
temp_db_open(TempDb *t)
{
	g_assert_cmpint(sqlite3_open(t->path, &t->db), ==, SQLITE_OK);
}

static void
temp_db_close(TempDb *t)
{
	g_assert_cmpint(sqlite3_close(t->db), ==, SQLITE_OK);
	t->db = NULL;
}

static void
temp_db_init(TempDb *t)
{
	g_autoptr(GError) error = NULL;

	t->dir = g_dir_make_tmp("ng-journal-XXXXXX", &error);
	g_assert_no_error(error);
	t->path = g_build_filename(t->dir, "needlegate.db", NULL);
	temp_db_open(t);
}

static void
temp_db_clear(TempDb *t)
{
	if (t->db != NULL)
		temp_db_close(t);
	g_unlink(t->path);
	g_rmdir(t->dir);
	g_free(t->path);
	g_free(t->dir);
}

static void
add_session(NgJournal *journal, const char *pen, guint16 session, gint64 start_ms, const char *patient,
	    gboolean expect_added)
{
	NgJournalEntry e = {
	    .pen = (char *)pen,
	    .session_id = session,
	    .start_ms = start_ms,
	    .end_ms = start_ms + 40 * 60 * 1000,
	    .plan_id = patient != NULL ? (char *)"face-1" : NULL,
	    .patient_ref = (char *)patient,
	    .reason = (char *)"stopped",
	    .summary_json = (char *)"{\"duration_s\":2400.000}",
	    .alerts_json = (char *)"[]",
	};
	g_autoptr(GError) error = NULL;
	gboolean added = !expect_added;

	g_assert_true(ng_journal_add(journal, &e, &added, &error));
	g_assert_no_error(error);
	g_assert_cmpint(added, ==, expect_added);
}

static void
test_journal_survives_reopen(void)
{
	TempDb t = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) rows = NULL;
	NgJournalEntry *e;
	gint64 last = 0;

	temp_db_init(&t);
	{
		g_autoptr(NgJournal) journal = ng_journal_new(t.db, &error);

		g_assert_no_error(error);
		add_session(journal, "NP-0001", 1, T0_MS - 28 * DAY_MS, "P-1", TRUE);
		add_session(journal, "NP-0001", 2, T0_MS, "P-1", TRUE);
		add_session(journal, "NP-0002", 9, T0_MS + 1000, NULL, TRUE);
		/* the same session finished twice (a restart): journaled once */
		add_session(journal, "NP-0001", 2, T0_MS, "P-1", FALSE);
	}
	temp_db_close(&t);
	temp_db_open(&t);
	{
		g_autoptr(NgJournal) journal = ng_journal_new(t.db, &error);

		g_assert_no_error(error);
		rows = ng_journal_query(journal, NULL, 0, 0, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(rows->len, ==, 3);
		e = g_ptr_array_index(rows, 0); /* newest first */
		g_assert_cmpstr(e->pen, ==, "NP-0002");
		g_assert_cmpuint(e->session_id, ==, 9);
		g_assert_null(e->plan_id);
		g_assert_null(e->patient_ref);
		g_clear_pointer(&rows, g_ptr_array_unref);

		rows = ng_journal_query(journal, "NP-0001", 0, 0, &error);
		g_assert_cmpuint(rows->len, ==, 2);
		e = g_ptr_array_index(rows, 0);
		g_assert_cmpuint(e->session_id, ==, 2);
		g_assert_cmpint(e->start_ms, ==, T0_MS);
		g_assert_cmpint(e->end_ms, ==, T0_MS + 2400000);
		g_assert_cmpstr(e->plan_id, ==, "face-1");
		g_assert_cmpstr(e->patient_ref, ==, "P-1");
		g_assert_cmpstr(e->reason, ==, "stopped");
		g_assert_cmpstr(e->summary_json, ==, "{\"duration_s\":2400.000}");
		g_assert_cmpstr(e->alerts_json, ==, "[]");
		g_clear_pointer(&rows, g_ptr_array_unref);

		rows = ng_journal_query(journal, "NP-0001", T0_MS - DAY_MS, 0, &error);
		g_assert_cmpuint(rows->len, ==, 1);
		g_clear_pointer(&rows, g_ptr_array_unref);
		rows = ng_journal_query(journal, NULL, 0, 2, &error);
		g_assert_cmpuint(rows->len, ==, 2);
		g_clear_pointer(&rows, g_ptr_array_unref);
		rows = ng_journal_query(journal, "NP-9999", 0, 0, &error);
		g_assert_cmpuint(rows->len, ==, 0);

		g_assert_true(ng_journal_last_session_of_patient(journal, "P-1", &last, &error));
		g_assert_cmpint(last, ==, T0_MS);
		g_assert_false(ng_journal_last_session_of_patient(journal, "P-404", &last, &error));
		g_assert_no_error(error);
	}
	temp_db_clear(&t);
}

static void
test_journal_entry_json(void)
{
	NgJournalEntry e = {
	    .pen = (char *)"NP-0001",
	    .session_id = 2,
	    .start_ms = T0_MS,
	    .end_ms = T0_MS + 2400000,
	    .plan_id = (char *)"face-1",
	    .patient_ref = (char *)"P-1",
	    .reason = (char *)"stopped",
	    .summary_json = (char *)"{\"duration_s\":2400.000}",
	    .alerts_json = (char *)"[]",
	};
	g_autoptr(GString) out = g_string_new(NULL);

	ng_journal_entry_to_json(out, &e);
	g_assert_cmpstr(out->str, ==,
			"{\"pen\":\"NP-0001\",\"session\":2,\"start\":\"2026-11-24T10:00:00.000Z\","
			"\"end\":\"2026-11-24T10:40:00.000Z\",\"plan_id\":\"face-1\",\"patient_ref\":\"P-1\","
			"\"reason\":\"stopped\",\"summary\":{\"duration_s\":2400.000},\"alerts\":[]}");
}

static gboolean
note(NgCartridges *c, guint32 id, const char *pen, guint16 session, gint64 start_ms)
{
	g_autoptr(GError) error = NULL;
	gboolean seen = TRUE;

	g_assert_true(ng_cartridges_note(c, id, pen, session, start_ms, &seen, &error));
	g_assert_no_error(error);
	return seen;
}

static void
test_cartridges_survive_reopen(void)
{
	TempDb t = {0};
	g_autoptr(GError) error = NULL;
	g_autofree char *pen = NULL;
	guint16 session = 0;
	gint64 start = 0;

	temp_db_init(&t);
	{
		g_autoptr(NgCartridges) c = ng_cartridges_new(t.db, &error);

		g_assert_no_error(error);
		g_assert_false(note(c, 1001, "NP-0001", 1, T0_MS));
		/* the same session again (a reconnect): not a reuse */
		g_assert_false(note(c, 1001, "NP-0001", 1, T0_MS + 5000));
		g_assert_false(note(c, 1002, "NP-0002", 4, T0_MS));
		/* no cartridge: never recorded */
		g_assert_false(note(c, 0, "NP-0001", 1, T0_MS));
		g_assert_false(note(c, 0, "NP-0001", 2, T0_MS));
	}
	temp_db_close(&t);
	temp_db_open(&t);
	{
		g_autoptr(NgCartridges) c = ng_cartridges_new(t.db, &error);

		g_assert_no_error(error);
		g_assert_true(note(c, 1001, "NP-0001", 2, T0_MS + DAY_MS));
		g_assert_true(note(c, 1001, "NP-0002", 1, T0_MS)); /* another pen: the same cartridge */
		/* the session id came round again, days later: another session */
		g_assert_true(note(c, 1002, "NP-0002", 4, T0_MS + 2 * DAY_MS));
		g_assert_false(note(c, 1003, "NP-0001", 2, T0_MS + DAY_MS));
		g_assert_true(ng_cartridges_lookup(c, 1001, &pen, &session, &start, &error));
		g_assert_cmpstr(pen, ==, "NP-0001");
		g_assert_cmpuint(session, ==, 1);
		g_assert_cmpint(start, ==, T0_MS);
		g_assert_false(ng_cartridges_lookup(c, 4242, NULL, NULL, NULL, &error));
		g_assert_no_error(error);
	}
	temp_db_clear(&t);
}

/* A database that cannot be written gives an error that says what failed, not a crash. */
static void
test_journal_readonly_error(void)
{
	TempDb t = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(NgJournal) journal = NULL;
	sqlite3 *ro = NULL;

	temp_db_init(&t);
	journal = ng_journal_new(t.db, &error);
	g_assert_no_error(error);
	g_clear_pointer(&journal, ng_journal_free);
	g_assert_cmpint(sqlite3_open_v2(t.path, &ro, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
	journal = ng_journal_new(ro, &error);
	g_assert_no_error(error); /* the table exists: nothing to create */
	{
		NgJournalEntry e = {.pen = (char *)"NP-0001", .session_id = 1, .start_ms = T0_MS};

		g_assert_false(ng_journal_add(journal, &e, NULL, &error));
		g_assert_error(error, NG_JOURNAL_ERROR, NG_JOURNAL_ERROR_FAILED);
		g_assert_true(g_str_has_prefix(error->message, "session journal: insert: "));
	}
	g_clear_pointer(&journal, ng_journal_free);
	sqlite3_close(ro);
	temp_db_clear(&t);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/journal/survives-reopen", test_journal_survives_reopen);
	g_test_add_func("/journal/entry-json", test_journal_entry_json);
	g_test_add_func("/journal/readonly-error", test_journal_readonly_error);
	g_test_add_func("/cartridges/survive-reopen", test_cartridges_survive_reopen);
	return g_test_run();
}
