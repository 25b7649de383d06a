/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The gateway's SQLite database: one connection in WAL mode, writes batched into one commit per ~10 ms.
 *
 * Why SQLite in WAL mode and not paho-c's own persistence, on a Pi's SD card with power cuts:
 *
 * - paho's default persistence writes one file per message and removes it on PUBACK, each with
 *   its own create/write/unlink (and no fsync discipline we control): at 1,000 records/s that is
 *   thousands of small metadata writes per second, the worst load for an SD card's flash
 *   translation layer (write amplification, wear) and no guarantee about what survives a power
 *   cut in the middle of a rename or a directory update.
 * - SQLite in WAL mode appends to one log file; with synchronous=NORMAL it syncs only at
 *   checkpoints, never per commit. A power cut can roll back the last few commits but never
 *   corrupts the database: it reopens consistent, at a transaction boundary.
 * - The daemon stores each pen's last sequence number in the same transaction as the outbox rows
 *   that carry those records. Whatever a power cut rolls back is therefore rolled back together:
 *   the gateway restarts believing it has not seen those records, asks the pen for them again
 *   with Report Stored Records, and nothing is lost (the broker may see QoS 1 duplicates, which
 *   the payloads' session id and seq let a consumer drop).
 * - Batching: every write of ~10 ms goes into one transaction (one WAL append of the touched pages
 *   instead of one per row), which spares the SD card and keeps the CPU cost per record in the
 *   microseconds. The outbox goes further: a message the broker acknowledged within the window
 *   is never written at all.
 * - One file also holds the rest of the gateway's state (pens, sequence numbers, plans), so one
 *   transaction covers all of it.
 */
#include "config.h"

#include "ng-store.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <unistd.h>

#define NG_STORE_COMMIT_DELAY_MS 10
#define NG_STORE_RETRY_DELAY_MS	 1000

typedef struct {
	guint id;
	NgStorePreCommitFunc pre_commit;
	NgStoreCommittedFunc committed;
	gpointer user_data;
} NgStoreHook;

struct _NgStore {
	sqlite3 *db;
	GMainContext *context;
	GSource *commit_source;	  /* pending commit (short delay) or retry after a failure */
	gint64 commit_due_us;	  /* when commit_source fires (monotonic) */
	sqlite3_stmt *stmt_begin; /* prepared once: parsing BEGIN/COMMIT cost more than running them */
	sqlite3_stmt *stmt_commit;
	GArray *hooks; /* of NgStoreHook */
	guint next_hook_id;
	gboolean dirty;		  /* touched since the last commit */
	gboolean in_hooks;	  /* guards against flush from within a hook */
	gboolean in_pre_commit;	  /* a write now is in the commit about to happen: no need to schedule */
	char *problem;		  /* why the last commit failed; NULL once one succeeds */
	char *damaged;		  /* SQLite found a damaged page while running: until the next start */
	guint failures;		  /* commits failed in a row */
	gint64 failure_logged_us; /* when the failures were last logged (monotonic) */
};

/* While commits keep failing (a full disk), one line this often says so, not one per retry. */
#define NG_STORE_FAILURE_LOG_US (60 * G_USEC_PER_SEC)

G_DEFINE_QUARK(ng_store_error_quark, ng_store_error)

void
ng_store_set_error(NgStore *store, GError **error, const char *what)
{
	int code = sqlite3_extended_errcode(store->db);

	/* A damaged page found while running (the check at start reads every page, but the file may
	 * be damaged later): said once, and reported until the next start replaces the file. */
	if (((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB) && store->damaged == NULL) {
		store->damaged = g_strdup_printf("the database is damaged (%s: %s); it is moved aside and "
						 "replaced at the next start of the daemon",
						 what, sqlite3_errmsg(store->db));
		g_warning("%s; meanwhile what cannot be written waits in memory", store->damaged);
	}
	g_set_error(error, NG_STORE_ERROR, NG_STORE_ERROR_FAILED, "%s: %s (SQLite error %d)", what,
		    sqlite3_errmsg(store->db), code);
}

static gboolean
ng_store_exec(NgStore *store, const char *sql, GError **error)
{
	if (sqlite3_exec(store->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		ng_store_set_error(store, error, sql);
		return FALSE;
	}
	return TRUE;
}

/* Runs a prepared statement that returns no rows (BEGIN, COMMIT). */
static gboolean
ng_store_step(NgStore *store, sqlite3_stmt *stmt, const char *what, GError **error)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE) {
		ng_store_set_error(store, error, what);
		return FALSE;
	}
	return TRUE;
}

/* The connection is always inside a deferred transaction: BEGIN takes no lock until a statement runs. */
static gboolean
ng_store_ensure_transaction(NgStore *store, GError **error)
{
	if (!sqlite3_get_autocommit(store->db))
		return TRUE;
	if (store->stmt_begin != NULL)
		return ng_store_step(store, store->stmt_begin, "BEGIN", error);
	return ng_store_exec(store, "BEGIN", error);
}

sqlite3_stmt *
ng_store_prepare(NgStore *store, const char *sql, GError **error)
{
	sqlite3_stmt *stmt = NULL;

	g_return_val_if_fail(store != NULL, NULL);
	if (sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
		ng_store_set_error(store, error, "prepare");
		return NULL;
	}
	return stmt;
}

static void
ng_store_run_committed_hooks(NgStore *store, gboolean committed)
{
	for (guint i = 0; i < store->hooks->len; i++) {
		NgStoreHook *hook = &g_array_index(store->hooks, NgStoreHook, i);
		if (hook->committed != NULL)
			hook->committed(store, committed, hook->user_data);
	}
}

static void
ng_store_run_pre_commit_hooks(NgStore *store)
{
	for (guint i = 0; i < store->hooks->len; i++) {
		NgStoreHook *hook = &g_array_index(store->hooks, NgStoreHook, i);
		if (hook->pre_commit != NULL)
			hook->pre_commit(store, hook->user_data);
	}
}

static gboolean ng_store_commit_cb(gpointer user_data);

/* A commit within @delay_ms: an earlier one already scheduled stands; a later one is brought forward
 * (one timer re-armed with g_source_set_ready_time, never a new source per write). */
static void
ng_store_schedule(NgStore *store, guint delay_ms)
{
	gint64 due = g_get_monotonic_time() + (gint64)delay_ms * 1000;

	if (store->commit_source != NULL) {
		if (due < store->commit_due_us) {
			store->commit_due_us = due;
			g_source_set_ready_time(store->commit_source, due);
		}
		return;
	}
	store->commit_due_us = due;
	store->commit_source = g_timeout_source_new(delay_ms);
	g_source_set_static_name(store->commit_source, "ng-store-commit");
	g_source_set_callback(store->commit_source, ng_store_commit_cb, store, NULL);
	g_source_attach(store->commit_source, store->context);
}

static void
ng_store_unschedule(NgStore *store)
{
	if (store->commit_source == NULL)
		return;
	g_source_destroy(store->commit_source);
	g_clear_pointer(&store->commit_source, g_source_unref);
}

/* A failed COMMIT (disk full, I/O error) leaves the transaction to roll back explicitly. */
static void
ng_store_rollback_after_failure(NgStore *store)
{
	sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
	store->in_hooks = TRUE;
	ng_store_run_committed_hooks(store, FALSE);
	store->in_hooks = FALSE;
	/* the hooks rewrite what they lost in the next transaction; retry later, not in a hot loop */
	store->dirty = TRUE;
	ng_store_unschedule(store);
	ng_store_schedule(store, NG_STORE_RETRY_DELAY_MS);
}

/* A commit failed (@error) or worked (NULL): logged once when it starts failing, then at most
 * once a minute with the count, and once when it works again. */
static void
ng_store_note_commit(NgStore *store, const GError *error)
{
	gint64 now = g_get_monotonic_time();

	if (error == NULL && store->problem == NULL)
		return;
	if (error == NULL) {
		if (store->failures > 0)
			g_message("the database can be written again, after %u failed commits; nothing "
				  "was lost (what waited is in this commit)",
				  store->failures);
		store->failures = 0;
		g_clear_pointer(&store->problem, g_free);
		return;
	}
	if (store->failures++ == 0 || g_strcmp0(store->problem, error->message) != 0) {
		g_warning("%s; retrying (the data waits in memory and in the pens)", error->message);
		store->failure_logged_us = now;
	} else if (now - store->failure_logged_us >= NG_STORE_FAILURE_LOG_US) {
		g_warning("%s: still failing, %u commits in a row", error->message, store->failures);
		store->failure_logged_us = now;
	}
	g_free(store->problem);
	store->problem = g_strdup(error->message);
}

gboolean
ng_store_flush(NgStore *store, GError **error)
{
	g_autoptr(GError) local = NULL;

	g_return_val_if_fail(store != NULL, FALSE);
	g_return_val_if_fail(!store->in_hooks, FALSE);

	ng_store_unschedule(store);
	if (!ng_store_ensure_transaction(store, error))
		return FALSE;
	store->in_hooks = TRUE;
	store->in_pre_commit = TRUE;
	ng_store_run_pre_commit_hooks(store);
	store->in_pre_commit = FALSE;
	store->in_hooks = FALSE;
	if (!ng_store_step(store, store->stmt_commit, "COMMIT", &local)) {
		g_prefix_error(&local, "database commit: ");
		/* before the hooks: they may look at ng_store_get_problem () */
		ng_store_note_commit(store, local);
		ng_store_rollback_after_failure(store);
		ng_store_ensure_transaction(store, NULL);
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	store->dirty = FALSE;
	ng_store_note_commit(store, NULL);
	store->in_hooks = TRUE;
	ng_store_run_committed_hooks(store, TRUE);
	store->in_hooks = FALSE;
	return ng_store_ensure_transaction(store, error);
}

static gboolean
ng_store_commit_cb(gpointer user_data)
{
	NgStore *store = user_data;
	g_autoptr(GError) error = NULL;

	g_clear_pointer(&store->commit_source, g_source_unref);
	ng_store_flush(store, &error); /* a failure is logged (and retried) there */
	return G_SOURCE_REMOVE;
}

const char *
ng_store_get_problem(NgStore *store)
{
	return store->problem != NULL ? store->problem : store->damaged;
}

void
ng_store_touch(NgStore *store)
{
	g_return_if_fail(store != NULL);
	store->dirty = TRUE;
	ng_store_schedule(store, NG_STORE_COMMIT_DELAY_MS);
}

void
ng_store_touch_within(NgStore *store, guint delay_ms)
{
	g_return_if_fail(store != NULL);
	store->dirty = TRUE;
	/* cheap path for the per-record caller: a commit that soon is already due */
	if (store->in_pre_commit ||
	    (store->commit_source != NULL &&
	     store->commit_due_us <= g_get_monotonic_time() + (gint64)delay_ms * 1000))
		return;
	ng_store_schedule(store, MAX(delay_ms, NG_STORE_COMMIT_DELAY_MS));
}

sqlite3 *
ng_store_get_db(NgStore *store)
{
	g_return_val_if_fail(store != NULL, NULL);
	return store->db;
}

guint
ng_store_add_hooks(NgStore *store, NgStorePreCommitFunc pre_commit, NgStoreCommittedFunc committed,
		   gpointer user_data)
{
	NgStoreHook hook = {++store->next_hook_id, pre_commit, committed, user_data};

	g_return_val_if_fail(store != NULL, 0);
	g_array_append_val(store->hooks, hook);
	return hook.id;
}

void
ng_store_remove_hooks(NgStore *store, guint id)
{
	g_return_if_fail(store != NULL);
	for (guint i = 0; i < store->hooks->len; i++) {
		if (g_array_index(store->hooks, NgStoreHook, i).id == id) {
			g_array_remove_index(store->hooks, i);
			return;
		}
	}
}

static int
ng_store_get_schema_version(NgStore *store, const char *module, GError **error)
{
	sqlite3_stmt *stmt =
	    ng_store_prepare(store, "SELECT version FROM schema_version WHERE module = ?", error);
	int version = 0;
	int rc;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, module, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		version = sqlite3_column_int(stmt, 0);
	else if (rc != SQLITE_DONE) {
		ng_store_set_error(store, error, "read schema_version");
		version = -1;
	}
	sqlite3_finalize(stmt);
	return version;
}

gboolean
ng_store_ensure_schema(NgStore *store, const char *module, int version, const char *sql, GError **error)
{
	sqlite3_stmt *stmt;
	int current;
	int rc;

	g_return_val_if_fail(store != NULL, FALSE);
	current = ng_store_get_schema_version(store, module, error);
	if (current < 0)
		return FALSE;
	if (current > version) {
		g_set_error(error, NG_STORE_ERROR, NG_STORE_ERROR_FAILED,
			    "database: tables of '%s' are version %d, newer than this gateway knows (%d)",
			    module, current, version);
		return FALSE;
	}
	if (current == version)
		return TRUE;
	if (!ng_store_exec(store, sql, error)) {
		g_prefix_error(error, "create tables of '%s': ", module);
		return FALSE;
	}
	stmt = ng_store_prepare(
	    store, "INSERT OR REPLACE INTO schema_version (module, version) VALUES (?, ?)", error);
	if (stmt == NULL)
		return FALSE;
	sqlite3_bind_text(stmt, 1, module, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, version);
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		ng_store_set_error(store, error, "write schema_version");
		return FALSE;
	}
	return ng_store_flush(store, error);
}

/* WAL + synchronous=NORMAL: consistent across power cuts, no fsync per commit (see the file comment). */
static gboolean
ng_store_configure(NgStore *store, GError **error)
{
	const char *const pragmas = "PRAGMA journal_mode = WAL;"
				    "PRAGMA synchronous = NORMAL;"
				    "PRAGMA temp_store = MEMORY;"
				    "PRAGMA journal_size_limit = 4194304;"
				    "PRAGMA busy_timeout = 5000;"
				    "CREATE TABLE IF NOT EXISTS schema_version ("
				    "  module TEXT PRIMARY KEY NOT NULL,"
				    "  version INTEGER NOT NULL);";

	sqlite3_stmt *check = NULL;
	const char *verdict;
	int rc;

	if (sqlite3_exec(store->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
		int code = sqlite3_errcode(store->db);

		g_set_error(error, NG_STORE_ERROR,
			    code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? NG_STORE_ERROR_DAMAGED
									    : NG_STORE_ERROR_FAILED,
			    "cannot set the database up: %s (SQLite error %d)", sqlite3_errmsg(store->db),
			    sqlite3_extended_errcode(store->db));
		return FALSE;
	}
	/* A damaged page is found here, at start, not later when a pen's row is read. */
	if (sqlite3_prepare_v2(store->db, "PRAGMA quick_check(1)", -1, &check, NULL) != SQLITE_OK) {
		g_set_error(error, NG_STORE_ERROR, NG_STORE_ERROR_DAMAGED, "cannot check the database: %s",
			    sqlite3_errmsg(store->db));
		return FALSE;
	}
	rc = sqlite3_step(check);
	verdict = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(check, 0) : NULL;
	if (g_strcmp0(verdict, "ok") != 0) {
		g_set_error(error, NG_STORE_ERROR, NG_STORE_ERROR_DAMAGED, "the database is damaged: %s",
			    verdict != NULL ? verdict : sqlite3_errmsg(store->db));
		sqlite3_finalize(check);
		return FALSE;
	}
	sqlite3_finalize(check);
	store->stmt_begin = ng_store_prepare(store, "BEGIN", error);
	if (store->stmt_begin == NULL)
		return FALSE;
	store->stmt_commit = ng_store_prepare(store, "COMMIT", error);
	if (store->stmt_commit == NULL)
		return FALSE;
	return ng_store_ensure_transaction(store, error);
}

static char *
user_name(uid_t uid)
{
	struct passwd *pw = getpwuid(uid);

	return pw != NULL ? g_strdup(pw->pw_name) : g_strdup_printf("uid %u", (guint)uid);
}

gboolean
ng_store_check_writable(const char *path, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *wal = g_strconcat(path, "-wal", NULL);
	g_autofree char *shm = g_strconcat(path, "-shm", NULL);
	const char *const files[] = {dir, path, wal, shm};

	for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
		GStatBuf st;
		g_autofree char *owner = NULL;
		g_autofree char *me = NULL;

		if (g_stat(files[i], &st) != 0 || access(files[i], W_OK) == 0)
			continue;
		owner = user_name(st.st_uid);
		me = user_name(geteuid());
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_ACCES,
			    "[gateway] state_dir: %s is owned by %s (mode %04o) and %s cannot write it: "
			    "was the daemon run by hand as another user? Fix: sudo chown -R %s %s",
			    files[i], owner, (guint)(st.st_mode & 07777), me, me, dir);
		return FALSE;
	}
	return TRUE;
}

NgStore *
ng_store_open(const char *path, GError **error)
{
	g_autoptr(NgStore) store = g_new0(NgStore, 1);
	int rc;

	g_return_val_if_fail(path != NULL, NULL);
	store->context = g_main_context_ref_thread_default();
	store->hooks = g_array_new(FALSE, FALSE, sizeof(NgStoreHook));
	rc = sqlite3_open_v2(path, &store->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		g_set_error(error, NG_STORE_ERROR, NG_STORE_ERROR_FAILED, "database %s: %s", path,
			    store->db != NULL ? sqlite3_errmsg(store->db) : sqlite3_errstr(rc));
		return NULL;
	}
	sqlite3_extended_result_codes(store->db, 1);
	if (!ng_store_configure(store, error)) {
		g_prefix_error(error, "database %s: ", path);
		return NULL;
	}
	return g_steal_pointer(&store);
}

NgStore *
ng_store_open_or_replace(const char *path, char **moved_to, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *stamp = g_date_time_format(now, "%Y%m%dT%H%M%SZ");
	g_autofree char *aside = g_strdup_printf("%s.damaged-%s", path, stamp);
	NgStore *store = ng_store_open(path, &local);
	const char *const suffixes[] = {"", "-wal", "-shm"};

	*moved_to = NULL;
	if (store != NULL)
		return store;
	if (!g_error_matches(local, NG_STORE_ERROR, NG_STORE_ERROR_DAMAGED)) {
		g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *from = g_strconcat(path, suffixes[i], NULL);
		g_autofree char *to = g_strconcat(aside, suffixes[i], NULL);

		if (g_rename(from, to) != 0 && errno != ENOENT) {
			g_set_error(error, NG_STORE_ERROR, NG_STORE_ERROR_FAILED,
				    "%s; moving it aside to %s failed: %s", local->message, to,
				    g_strerror(errno));
			return NULL;
		}
	}
	g_warning("%s: the database was damaged (%s). It was moved aside to %s and a new one was made: "
		  "what it held (messages waiting for the broker, the pens' saved sequence numbers, plan "
		  "assignments, the session journal) is only in that file now; the pens still hold their "
		  "records.",
		  path, local->message, aside);
	*moved_to = g_steal_pointer(&aside);
	return ng_store_open(path, error);
}

void
ng_store_free(NgStore *store)
{
	g_autoptr(GError) error = NULL;

	if (store == NULL)
		return;
	if (store->db != NULL && store->dirty && !ng_store_flush(store, &error))
		g_warning("%s", error->message);
	ng_store_unschedule(store);
	if (store->db != NULL) {
		/* end the always-open (empty) transaction so the WAL is checkpointed on close */
		if (!sqlite3_get_autocommit(store->db))
			sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL);
		sqlite3_finalize(store->stmt_begin);
		sqlite3_finalize(store->stmt_commit);
		sqlite3_close_v2(store->db);
	}
	g_array_unref(store->hooks);
	g_main_context_unref(store->context);
	g_free(store->problem);
	g_free(store->damaged);
	g_free(store);
}
