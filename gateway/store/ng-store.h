/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The gateway's SQLite database (state_dir/needlegate.db): one connection, WAL, batched commits. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

#define NG_STORE_ERROR (ng_store_error_quark())
GQuark ng_store_error_quark(void);

typedef enum {
	NG_STORE_ERROR_FAILED,	/* any SQLite failure; the message carries sqlite3_errmsg () */
	NG_STORE_ERROR_DAMAGED, /* the file is not a sound database (PRAGMA quick_check, corrupt, not a
				   database) */
} NgStoreError;

typedef struct _NgStore NgStore;

/*
 * Opens the database at @path (creating the file, not its directory, if needed), switches it to
 * WAL with synchronous=NORMAL, creates the store's own tables (schema_version) and opens the
 * first write transaction.
 *
 * Transactions: the connection is ALWAYS inside a deferred transaction (BEGIN is issued at open
 * and right after every commit; a deferred BEGIN takes no lock and writes nothing until the first
 * statement). Callers therefore just run their statements on ng_store_get_db () and then call
 * ng_store_touch (): every write since the last commit lands in one transaction, committed on
 * the main loop within ~10 ms. Never run BEGIN/COMMIT/ROLLBACK yourself.
 *
 * Must be called on the thread that runs the GMainContext the store should commit on (the
 * thread-default context at the time of the call); the store is not thread-safe.
 */
NgStore *ng_store_open(const char *path, GError **error);
/*
 * ng_store_open (), and when the file at @path is damaged: it is moved aside (with its -wal and
 * -shm) to @path.damaged-YYYYmmddTHHMMSSZ, named in *@moved_to, and a fresh database is opened.
 * What the damaged file held (messages waiting for the broker, the pens' saved sequence numbers,
 * assignments, the journal) stays in that file; the pens still hold their records.
 */
NgStore *ng_store_open_or_replace(const char *path, char **moved_to, GError **error);
/* FALSE, with the file, its owner and the fix, when this process could not write the database at
 * @path or its journal files (a copy left by a run as another user, root say). */
gboolean ng_store_check_writable(const char *path, GError **error);
void ng_store_free(NgStore *store);
/* Why the database cannot be written now (the last commit failed: a full disk, say), or NULL. */
const char *ng_store_get_problem(NgStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgStore, ng_store_free)

/* The connection, for modules that create and use their own tables (within the open transaction). */
sqlite3 *ng_store_get_db(NgStore *store);

/*
 * Creates or migrates a module's tables: if the version recorded for @module is below @version,
 * runs @sql (one or more statements) and records @version, inside the open transaction, then
 * commits. Example: ng_store_ensure_schema (store, "pens", 1, "CREATE TABLE IF NOT EXISTS ...", &error).
 */
gboolean ng_store_ensure_schema(NgStore *store, const char *module, int version, const char *sql,
				GError **error);

/* Something was written: commit within ~10 ms (coalesces every write until then). Cheap: call it per write.
 */
void ng_store_touch(NgStore *store);
/* Something was written that may wait up to @delay_ms for its commit (at least the ~10 ms of
 * ng_store_touch ()): for writes a crash may lose because they can be fetched again, such as
 * telemetry the pen keeps. An earlier commit already scheduled stands. Cheap: call it per write. */
void ng_store_touch_within(NgStore *store, guint delay_ms);

/* Commits now (runs the pre-commit hooks, COMMIT, the committed hooks, BEGIN). On failure the
 * transaction is rolled back, the hooks are told (committed=FALSE) and a retry is scheduled. */
gboolean ng_store_flush(NgStore *store, GError **error);

/*
 * Hooks around each commit, called on the main loop in registration order:
 * @pre_commit runs inside the transaction just before COMMIT (the outbox writes its batched
 * inserts and deletes there); @committed runs after it with @committed = TRUE if the data is now
 * durable, FALSE if the transaction was rolled back. Either may be NULL. Returns an id for
 * ng_store_remove_hooks ().
 */
typedef void (*NgStorePreCommitFunc)(NgStore *store, gpointer user_data);
typedef void (*NgStoreCommittedFunc)(NgStore *store, gboolean committed, gpointer user_data);
guint ng_store_add_hooks(NgStore *store, NgStorePreCommitFunc pre_commit, NgStoreCommittedFunc committed,
			 gpointer user_data);
void ng_store_remove_hooks(NgStore *store, guint id);

/* Helper for callers: prepares @sql once (sqlite3_prepare_v3 with SQLITE_PREPARE_PERSISTENT). */
sqlite3_stmt *ng_store_prepare(NgStore *store, const char *sql, GError **error);

/* Helper: sets @error from the connection's last error, prefixed by @what ("insert outbox row"). */
void ng_store_set_error(NgStore *store, GError **error, const char *what);

G_END_DECLS
