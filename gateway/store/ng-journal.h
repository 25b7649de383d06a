/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The durable journal of finished sessions (summary and alerts), read back by `needlectl sessions`. */

#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

#define NG_JOURNAL_ERROR (ng_journal_error_quark())
GQuark ng_journal_error_quark(void);

typedef enum {
	NG_JOURNAL_ERROR_FAILED, /* SQLite failed; the message carries sqlite3_errmsg () */
} NgJournalError;

/* One finished session. Strings are owned by the entry. */
typedef struct {
	gint64 id; /* row id, ascending in the order sessions were added; 0 before adding */
	char *pen; /* the pen's serial */
	guint16 session_id;
	gint64 start_ms; /* gateway time, unix ms */
	gint64 end_ms;
	char *plan_id;	    /* NULL: no plan */
	char *patient_ref;  /* NULL: no plan */
	char *reason;	    /* "stopped", ... */
	char *summary_json; /* ng_summary_to_json () */
	char *alerts_json;  /* ng_rules_get_alerts_json () */
} NgJournalEntry;

void ng_journal_entry_free(NgJournalEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgJournalEntry, ng_journal_entry_free)

/*
 * Rows are never deleted (a removed pen keeps its history). Adding the same
 * session again (same pen, session id and start) keeps the first row, so a
 * restart that finishes a session twice journals it once.
 *
 * The journal never issues BEGIN/COMMIT: with the daemon's NgStore, call
 * ng_store_touch () after ng_journal_add ().
 */
typedef struct _NgJournal NgJournal;

/* Creates the table ng_journal if needed; @db stays the caller's and must outlive the journal. */
NgJournal *ng_journal_new(sqlite3 *db, GError **error);
void ng_journal_free(NgJournal *journal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgJournal, ng_journal_free)

/* Adds @entry (its id is ignored); *added (may be NULL) is FALSE when the session was already there. */
gboolean ng_journal_add(NgJournal *journal, const NgJournalEntry *entry, gboolean *added, GError **error);

/*
 * Sessions that started at or after @since_ms, of @pen (NULL: every pen),
 * newest first, at most @limit (0: no limit). A GPtrArray of NgJournalEntry.
 */
GPtrArray *ng_journal_query(NgJournal *journal, const char *pen, gint64 since_ms, guint limit,
			    GError **error);

/* Start of the latest session of @patient_ref (for session_too_soon); FALSE with no error when none. */
gboolean ng_journal_last_session_of_patient(NgJournal *journal, const char *patient_ref, gint64 *start_ms,
					    GError **error);

/* Appends {"pen","session","start","end","plan_id","patient_ref","reason","summary":{…},"alerts":[…]}. */
void ng_journal_entry_to_json(GString *out, const NgJournalEntry *entry);

G_END_DECLS
