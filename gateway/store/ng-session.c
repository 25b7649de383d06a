/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One pen's sessions and sequence numbers: time stamps, duplicates, gaps, replay, persistence. */

#include "config.h"

#include "ng-session.h"

#include <stdlib.h>
#include <string.h>

/* More holes than this means something is badly wrong: the oldest two merge. */
#define MAX_HOLES 256
/* Replay asks a few sequence numbers below the first hole: a replayed record at or below the
 * hole proves that the pen's store reached back that far, so what it did not send was no
 * telemetry record (a session event) rather than a record lost for good. */
#define REPLAY_MARGIN	    4u
#define REPLAY_MAX_FAILURES 3u
/* A record this far below everything seen, not replayed, means the pen's counter started over. */
#define RESET_WINDOW 65536
/* Longest a new sequence number waits to be saved on its own (see mark_dirty_full ()). */
#define SAVE_INTERVAL_MS 250
/* A start event this close to the start its first records gave the session is that session's. */
#define IMPLICIT_START_WINDOW_MS 10000

typedef struct {
	gboolean known;
	guint16 id;
	gint64 start_ms;      /* gateway clock */
	guint64 pen_clock_ms; /* the pen's clock at its start (0: not set or not seen) */
	gboolean implicit;    /* dated from its first record: no start event seen (yet) */
} SessionSlot;

struct _NgSession {
	NgStore *store;
	guint hook_id;
	sqlite3_stmt *save_stmt;
	char *pen_id;

	gint64 high;   /* -1: nothing seen yet */
	GArray *holes; /* NgSeqRange, ascending, disjoint, all below high */
	SessionSlot cur;
	SessionSlot prev; /* the session before: its records may still be replayed */
	gboolean active;

	gboolean stored_records;
	guint capacity;
	gboolean just_connected;

	gboolean replay_active;
	gint64 replay_high;
	gint64 replay_min_seen;
	guint replay_failures;

	gboolean dirty;
	gboolean urgent;
	guint save_timer;
	NgSessionCounters counters;
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
	NgSession *session = user_data;

	session->save_timer = 0;
	session->urgent = TRUE;
	ng_store_touch(session->store);
	return G_SOURCE_REMOVE;
}

/*
 * The state changed. Saving it is always safe (it is written in the pre-commit hook, when
 * every message pushed so far is either acknowledged or in the same transaction), so the
 * only question is how often: a row rewritten at every commit would cost a WAL write per
 * notification at low rates, where the outbox itself writes nothing (the broker acknowledges
 * within the commit window). So: a new session's start or end is saved at the next commit;
 * a mere new sequence number rides along with any commit that writes anyway, and is saved
 * on its own at most every SAVE_INTERVAL_MS. A crash may then repeat that much (as replayed
 * records), never miss anything.
 */
static void
mark_dirty_full(NgSession *session, gboolean urgent)
{
	session->dirty = TRUE;
	if (session->store == NULL)
		return;
	if (urgent) {
		session->urgent = TRUE;
		ng_store_touch(session->store);
	} else if (G_UNLIKELY(session->save_timer == 0)) {
		session->save_timer = g_timeout_add(SAVE_INTERVAL_MS, save_timer_cb, session);
	}
}

static void
mark_dirty(NgSession *session)
{
	mark_dirty_full(session, FALSE);
}

/* ---- holes ------------------------------------------------------------------------------- */

static void
add_hole(NgSession *session, guint32 first, guint32 last)
{
	NgSeqRange r = {first, last};

	if (session->holes->len >= MAX_HOLES) {
		NgSeqRange *h = (NgSeqRange *)session->holes->data;
		g_warning("pen %s: more than %u gaps in the sequence; merging the oldest two",
			  session->pen_id, MAX_HOLES);
		h[1].first = h[0].first;
		g_array_remove_index(session->holes, 0);
	}
	g_array_append_val(session->holes, r);
}

/* Removes seq from the holes; FALSE if it was in none. */
static gboolean
take_from_holes(NgSession *session, guint32 seq)
{
	NgSeqRange *h = (NgSeqRange *)session->holes->data;
	guint lo = 0, hi = session->holes->len;

	while (lo < hi) {
		guint mid = (lo + hi) / 2;
		if (seq < h[mid].first) {
			hi = mid;
		} else if (seq > h[mid].last) {
			lo = mid + 1;
		} else if (h[mid].first == h[mid].last) {
			g_array_remove_index(session->holes, mid);
			return TRUE;
		} else if (seq == h[mid].first) {
			h[mid].first++;
			return TRUE;
		} else if (seq == h[mid].last) {
			h[mid].last--;
			return TRUE;
		} else {
			NgSeqRange upper = {seq + 1, h[mid].last};
			h[mid].last = seq - 1;
			g_array_insert_val(session->holes, mid + 1, upper);
			return TRUE;
		}
	}
	return FALSE;
}

static void
report_lost(NgSession *session, guint32 first, guint32 last, GArray *lost)
{
	NgSeqRange r = {first, last};

	session->counters.lost += (guint64)last - first + 1;
	if (lost != NULL)
		g_array_append_val(lost, r);
}

/* ---- sequence numbers ---------------------------------------------------------------------- */

static gboolean
moved_elsewhere(NgSession *session, gboolean first_after_connect, guint32 seq, guint16 session_id)
{
	/* A pen may move to another room and be served by another hub: records it made there are
	 * not ours to miss. A jump right after a connection, into another session, and further
	 * than the pen could ever replay, is taken for that. */
	guint64 jump = (guint64)seq - (guint64)session->high - 1;
	guint64 reach = session->stored_records ? MAX(session->capacity, 1u) : 0;

	return first_after_connect && session->cur.known && session_id != session->cur.id && jump > reach;
}

static NgSeqVerdict
accept_seq(NgSession *session, guint32 seq, gboolean replayed, guint16 session_id)
{
	gboolean first_after_connect = session->just_connected;

	session->just_connected = FALSE;
	if (replayed && session->replay_active && (gint64)seq < session->replay_min_seen)
		session->replay_min_seen = seq;

	if (G_LIKELY((gint64)seq == session->high + 1) || session->high < 0) {
		mark_dirty_full(session, session->high < 0);
		session->high = seq;
		return NG_SEQ_NEW;
	}
	if ((gint64)seq > session->high) {
		if (moved_elsewhere(session, first_after_connect, seq, session_id))
			g_message("pen %s: sequence jumped from %" G_GINT64_FORMAT " to %u in a new session: "
				  "the pen was away, not a loss",
				  session->pen_id, session->high, seq);
		else
			add_hole(session, (guint32)(session->high + 1), seq - 1);
		session->high = seq;
		mark_dirty(session);
		return NG_SEQ_NEW;
	}
	if (session->holes->len > 0 && take_from_holes(session, seq)) {
		mark_dirty(session);
		return NG_SEQ_FILL;
	}
	if (!replayed && session->high - (gint64)seq > RESET_WINDOW) {
		g_message("pen %s: sequence number went back from %" G_GINT64_FORMAT " to %u: "
			  "the pen's counter started over",
			  session->pen_id, session->high, seq);
		g_array_set_size(session->holes, 0);
		session->high = seq;
		session->counters.counter_resets++;
		mark_dirty(session);
		return NG_SEQ_NEW;
	}
	return NG_SEQ_DUPLICATE;
}

static void
count_verdict(NgSession *session, NgSeqVerdict verdict)
{
	switch (verdict) {
	case NG_SEQ_NEW:
		session->counters.accepted++;
		break;
	case NG_SEQ_FILL:
		session->counters.filled++;
		break;
	case NG_SEQ_DUPLICATE:
		session->counters.duplicates++;
		break;
	default:
		break;
	}
}

/* ---- sessions -------------------------------------------------------------------------------- */

static SessionSlot *
open_slot(NgSession *session, guint16 id, gint64 start_ms, guint64 pen_clock_ms)
{
	if (session->cur.known && session->cur.id != id)
		session->prev = session->cur;
	session->cur.known = TRUE;
	session->cur.id = id;
	session->cur.start_ms = start_ms;
	session->cur.pen_clock_ms = pen_clock_ms;
	session->cur.implicit = FALSE;
	mark_dirty_full(session, TRUE);
	return &session->cur;
}

static const SessionSlot *
slot_for_record(NgSession *session, const NpTelemetryRecord *rec, gint64 now_ms)
{
	SessionSlot *slot;

	if (G_LIKELY(session->cur.known && session->cur.id == rec->session_id))
		return &session->cur;
	if (session->prev.known && session->prev.id == rec->session_id)
		return &session->prev;
	/* No start event seen (yet: connected mid-session, lost, or a little behind on D-Bus):
	 * date the session from this record, the best the gateway's clock can do. */
	g_info("pen %s: session %u: records before any start event; dated from its records", session->pen_id,
	       rec->session_id);
	session->active = TRUE;
	slot = open_slot(session, rec->session_id, now_ms - (gint64)rec->offset_ms, 0);
	slot->implicit = TRUE;
	return slot;
}

NgSeqVerdict
ng_session_accept_record(NgSession *session, const NpTelemetryRecord *rec, gint64 now_ms, gint64 *t_ms)
{
	NgSeqVerdict verdict;

	verdict =
	    accept_seq(session, rec->seq, (rec->flags & NP_TELEMETRY_FLAG_REPLAYED) != 0, rec->session_id);
	count_verdict(session, verdict);
	if (verdict == NG_SEQ_DUPLICATE)
		return verdict;
	*t_ms = slot_for_record(session, rec, now_ms)->start_ms + (gint64)rec->offset_ms;
	return verdict;
}

NgSeqVerdict
ng_session_accept_event(NgSession *session, const NpSessionEvent *ev, gint64 now_ms, gint64 *t_ms)
{
	NgSeqVerdict verdict = accept_seq(session, ev->seq, FALSE, ev->session_id);

	count_verdict(session, verdict);
	if (verdict == NG_SEQ_DUPLICATE)
		return verdict;
	*t_ms = now_ms;
	switch (ev->type) {
	case NP_EVENT_SESSION_STARTED:
		/* Its first records may have come first (socket and D-Bus race): keep the start
		 * they were stamped with, so that one session has one clock. */
		if (session->cur.known && session->cur.id == ev->session_id && session->cur.implicit &&
		    ABS(now_ms - session->cur.start_ms) < IMPLICIT_START_WINDOW_MS) {
			session->cur.implicit = FALSE;
			session->cur.pen_clock_ms = ev->pen_clock_ms;
			mark_dirty_full(session, TRUE);
		} else {
			open_slot(session, ev->session_id, now_ms, ev->pen_clock_ms);
		}
		session->active = TRUE;
		break;
	case NP_EVENT_SESSION_ENDED:
		if (session->cur.known && session->cur.id == ev->session_id) {
			session->active = FALSE;
			mark_dirty_full(session, TRUE);
		}
		break;
	default:
		break;
	}
	return verdict;
}

guint16
ng_session_get_current_id(NgSession *session)
{
	return session->cur.known ? session->cur.id : 0;
}

gboolean
ng_session_is_active(NgSession *session)
{
	return session->active;
}

gboolean
ng_session_end_unseen(NgSession *session)
{
	if (!session->active)
		return FALSE;
	session->active = FALSE;
	mark_dirty_full(session, TRUE);
	return TRUE;
}

gint64
ng_session_get_current_start_ms(NgSession *session)
{
	return session->cur.known ? session->cur.start_ms : -1;
}

gint64
ng_session_get_high_seq(NgSession *session)
{
	return session->high;
}

guint
ng_session_get_n_holes(NgSession *session)
{
	return session->holes->len;
}

guint64
ng_session_get_missing(NgSession *session)
{
	guint64 n = 0;

	for (guint i = 0; i < session->holes->len; i++) {
		NgSeqRange *h = &g_array_index(session->holes, NgSeqRange, i);
		n += (guint64)h->last - h->first + 1;
	}
	return n;
}

const NgSeqRange *
ng_session_get_holes(NgSession *session, guint *n_holes)
{
	*n_holes = session->holes->len;
	return (const NgSeqRange *)session->holes->data;
}

void
ng_session_set_pen_features(NgSession *session, gboolean stored_records, guint capacity)
{
	session->stored_records = stored_records;
	session->capacity = capacity;
}

void
ng_session_connected(NgSession *session)
{
	session->just_connected = TRUE;
	session->replay_active = FALSE;
}

/* ---- replay --------------------------------------------------------------------------------- */

gboolean
ng_session_replay_begin(NgSession *session, guint32 *first_seq)
{
	guint32 first;

	if (session->replay_active || session->holes->len == 0)
		return FALSE;
	first = g_array_index(session->holes, NgSeqRange, 0).first;
	session->replay_active = TRUE;
	session->replay_high = session->high;
	session->replay_min_seen = G_MAXINT64;
	*first_seq = first > REPLAY_MARGIN ? first - REPLAY_MARGIN : 0;
	return TRUE;
}

gboolean
ng_session_replay_in_progress(NgSession *session)
{
	return session->replay_active;
}

/* Closes the holes at or below limit: below min_seen they are lost, from it on they were no
 * telemetry record. */
static void
close_holes(NgSession *session, gint64 limit, gint64 min_seen, GArray *lost)
{
	while (session->holes->len > 0) {
		NgSeqRange h = g_array_index(session->holes, NgSeqRange, 0);

		if ((gint64)h.first > limit)
			break;
		if ((gint64)h.first < min_seen)
			report_lost(session, h.first,
				    (gint64)h.last < min_seen ? h.last : (guint32)(min_seen - 1), lost);
		else
			g_debug("pen %s: sequence %u..%u were no telemetry records", session->pen_id, h.first,
				h.last);
		g_array_remove_index(session->holes, 0);
	}
	mark_dirty(session);
}

void
ng_session_replay_end(NgSession *session, gboolean success, GArray *lost)
{
	if (!session->replay_active)
		return;
	session->replay_active = FALSE;
	if (!success) {
		if (++session->replay_failures < REPLAY_MAX_FAILURES)
			return;
		session->replay_min_seen = G_MAXINT64;
	}
	session->replay_failures = 0;
	close_holes(session, session->replay_high, session->replay_min_seen, lost);
}

void
ng_session_give_up_holes(NgSession *session, GArray *lost)
{
	session->replay_active = FALSE;
	close_holes(session, G_MAXINT64, G_MAXINT64, lost);
}

void
ng_session_get_counters(NgSession *session, NgSessionCounters *counters)
{
	*counters = session->counters;
}

/* ---- persistence ------------------------------------------------------------------------------ */

static char *
holes_to_string(NgSession *session)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < session->holes->len; i++) {
		NgSeqRange *h = &g_array_index(session->holes, NgSeqRange, i);
		g_string_append_printf(s, "%s%u-%u", i > 0 ? "," : "", h->first, h->last);
	}
	return g_string_free(s, FALSE);
}

/* The saved holes; anything odd in them is dropped (logged), never trusted. */
static void
holes_from_string(NgSession *session, const char *text)
{
	g_auto(GStrv) parts = g_strsplit(text, ",", -1);
	gint64 prev = -1;

	for (guint i = 0; parts[i] != NULL && *parts[i] != '\0'; i++) {
		guint64 first = 0, last = 0;
		g_auto(GStrv) ends = g_strsplit(parts[i], "-", 2);

		if (g_strv_length(ends) != 2 ||
		    !g_ascii_string_to_unsigned(ends[0], 10, 0, G_MAXUINT32, &first, NULL) ||
		    !g_ascii_string_to_unsigned(ends[1], 10, 0, G_MAXUINT32, &last, NULL) || first > last ||
		    (gint64)first <= prev || (gint64)last >= session->high) {
			g_warning("pen %s: ignoring saved gaps '%s': not valid", session->pen_id, text);
			g_array_set_size(session->holes, 0);
			return;
		}
		add_hole(session, (guint32)first, (guint32)last);
		prev = (gint64)last;
	}
}

static void
bind_slot(sqlite3_stmt *stmt, int col_id, int col_start, const SessionSlot *slot)
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
ng_session_save(NgSession *session, GError **error)
{
	sqlite3_stmt *stmt = session->save_stmt;
	g_autofree char *holes = NULL;
	int rc;

	if (!session->dirty || stmt == NULL)
		return TRUE;
	holes = holes_to_string(session);
	sqlite3_reset(stmt);
	sqlite3_bind_text(stmt, 1, session->pen_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, session->high);
	sqlite3_bind_text(stmt, 3, holes, -1, SQLITE_STATIC);
	bind_slot(stmt, 4, 5, &session->cur);
	sqlite3_bind_int64(stmt, 6, (sqlite3_int64)session->cur.pen_clock_ms);
	sqlite3_bind_int(stmt, 7, session->active);
	bind_slot(stmt, 8, 9, &session->prev);
	rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	if (rc != SQLITE_DONE) {
		ng_store_set_error(session->store, error, "save the pen's sequence number");
		g_prefix_error(error, "pen %s: ", session->pen_id);
		return FALSE;
	}
	session->dirty = FALSE;
	session->urgent = FALSE;
	if (session->save_timer != 0) {
		g_source_remove(session->save_timer);
		session->save_timer = 0;
	}
	return TRUE;
}

static void
pre_commit_cb(NgStore *store, gpointer user_data)
{
	NgSession *session = user_data;
	g_autoptr(GError) error = NULL;

	if (!session->dirty)
		return;
	/* The outbox's hook ran first: if it wrote, this commit touches the disk anyway. */
	if (!session->urgent && sqlite3_txn_state(ng_store_get_db(store), "main") != SQLITE_TXN_WRITE)
		return;
	if (!ng_session_save(session, &error))
		g_warning("%s", error->message);
}

static void
committed_cb(NgStore *store, gboolean committed, gpointer user_data)
{
	NgSession *session = user_data;

	/* Rolled back: the row written in this transaction is gone, write it again next time. */
	if (!committed)
		mark_dirty_full(session, TRUE);
}

static void
load_slot(sqlite3_stmt *stmt, int col_id, int col_start, SessionSlot *slot)
{
	slot->known = sqlite3_column_type(stmt, col_id) != SQLITE_NULL;
	slot->id = (guint16)sqlite3_column_int(stmt, col_id);
	slot->start_ms = sqlite3_column_int64(stmt, col_start);
}

static gboolean
load_state(NgSession *session, GError **error)
{
	sqlite3 *db = ng_store_get_db(session->store);
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = sqlite3_prepare_v2(db,
				"SELECT high_seq, holes, session_id, session_start_ms, pen_clock_ms, active,"
				" prev_session_id, prev_start_ms FROM pen_sessions WHERE pen = ?",
				-1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		ng_store_set_error(session->store, error, "read the saved sequence numbers");
		return FALSE;
	}
	sqlite3_bind_text(stmt, 1, session->pen_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		gint64 high = sqlite3_column_int64(stmt, 0);
		session->high = high >= 0 && high <= G_MAXUINT32 ? high : -1;
		holes_from_string(session, (const char *)sqlite3_column_text(stmt, 1));
		load_slot(stmt, 2, 3, &session->cur);
		session->cur.pen_clock_ms = (guint64)sqlite3_column_int64(stmt, 4);
		session->active = sqlite3_column_int(stmt, 5) != 0;
		load_slot(stmt, 6, 7, &session->prev);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ng_store_set_error(session->store, error, "read the saved sequence numbers");
		return FALSE;
	}
	return TRUE;
}

static gboolean
open_persistence(NgSession *session, GError **error)
{
	sqlite3 *db = ng_store_get_db(session->store);

	if (!ng_store_ensure_schema(session->store, "pen_sessions", 1, schema_sql, error) ||
	    !load_state(session, error))
		return FALSE;
	if (sqlite3_prepare_v3(db,
			       "INSERT OR REPLACE INTO pen_sessions (pen, high_seq, holes, session_id,"
			       " session_start_ms, pen_clock_ms, active, prev_session_id, prev_start_ms)"
			       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, SQLITE_PREPARE_PERSISTENT, &session->save_stmt, NULL) != SQLITE_OK) {
		ng_store_set_error(session->store, error, "prepare saving sequence numbers");
		return FALSE;
	}
	session->hook_id = ng_store_add_hooks(session->store, pre_commit_cb, committed_cb, session);
	return TRUE;
}

NgSession *
ng_session_new(NgStore *store, const char *pen_id, GError **error)
{
	g_autoptr(NgSession) session = g_new0(NgSession, 1);

	g_return_val_if_fail(pen_id != NULL, NULL);
	session->store = store;
	session->pen_id = g_strdup(pen_id);
	session->high = -1;
	session->holes = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	session->stored_records = TRUE;
	session->capacity = 0;
	if (store != NULL && !open_persistence(session, error)) {
		g_prefix_error(error, "pen %s: ", pen_id);
		return NULL;
	}
	return g_steal_pointer(&session);
}

void
ng_session_free(NgSession *session)
{
	if (session == NULL)
		return;
	if (session->store != NULL && session->hook_id != 0) {
		g_autoptr(GError) error = NULL;
		gboolean was_dirty = session->dirty;
		if (!ng_session_save(session, &error))
			g_warning("%s", error->message);
		else if (was_dirty)
			ng_store_touch(session->store);
		ng_store_remove_hooks(session->store, session->hook_id);
	}
	if (session->save_timer != 0)
		g_source_remove(session->save_timer);
	if (session->save_stmt != NULL)
		sqlite3_finalize(session->save_stmt);
	g_array_unref(session->holes);
	g_free(session->pen_id);
	g_free(session);
}
