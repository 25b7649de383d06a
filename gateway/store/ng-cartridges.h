/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The durable registry of cartridge ids this hub has seen, so that reuse is caught across restarts. */

#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

#define NG_CARTRIDGES_ERROR (ng_cartridges_error_quark())
GQuark ng_cartridges_error_quark(void);

typedef enum {
	NG_CARTRIDGES_ERROR_FAILED, /* SQLite failed; the message carries sqlite3_errmsg () */
} NgCartridgesError;

/*
 * One row per cartridge id: the first session (pen serial, session id,
 * gateway time) that used it. Rows are never deleted, not even when a pen
 * is removed: a cartridge is single use for the clinic, whichever pen.
 *
 * The registry uses the connection it is given and never issues
 * BEGIN/COMMIT: with the daemon's NgStore, call ng_store_touch () after
 * ng_cartridges_note () so that the write is committed.
 */
typedef struct _NgCartridges NgCartridges;

/* Creates the table ng_cartridges if needed. @db stays owned by the caller and must outlive the registry. */
NgCartridges *ng_cartridges_new(sqlite3 *db, GError **error);
void ng_cartridges_free(NgCartridges *cartridges);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgCartridges, ng_cartridges_free)

/*
 * Notes that @pen's session @session_id, which started at @start_ms, uses
 * cartridge @cartridge_id, and says in @seen_before whether an earlier
 * session already did. The same session noted again (a reconnect in the
 * middle of a session) is not an earlier session. Id 0 (no cartridge) is
 * never recorded and never "seen before".
 */
gboolean ng_cartridges_note(NgCartridges *cartridges, guint32 cartridge_id, const char *pen,
			    guint16 session_id, gint64 start_ms, gboolean *seen_before, GError **error);

/* The first session that used @cartridge_id: FALSE with no error when none did. */
gboolean ng_cartridges_lookup(NgCartridges *cartridges, guint32 cartridge_id, char **pen, guint16 *session_id,
			      gint64 *start_ms, GError **error);

G_END_DECLS
