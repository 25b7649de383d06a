/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of ng-session: time stamps, duplicates, gaps, replay, telemetry_gap, persistence. */

#include "config.h"

#include <glib/gstdio.h>

#include "ng-session-store.h"
#include "ng-store.h"

#define NOW 1790000000000 /* some UTC ms */

static NpTelemetryRecord
record(guint32 seq, guint16 session_id, guint32 offset_ms, gboolean replayed)
{
	NpTelemetryRecord rec = {
	    .size = 16,
	    .flags = NP_TELEMETRY_FLAG_MOTOR | (replayed ? NP_TELEMETRY_FLAG_REPLAYED : 0),
	    .seq = seq,
	    .session_id = session_id,
	    .offset_ms = offset_ms,
	    .depth_centi_mm = 150,
	    .speed_deci_hz = 1200,
	};
	return rec;
}

static NgSeqVerdict
feed(NgSession *s, guint32 seq, gboolean replayed)
{
	NpTelemetryRecord rec = record(seq, 7, seq * 10, replayed);
	gint64 t = 0;

	return ng_session_accept_record(s, &rec, NOW, &t);
}

static void
test_in_order_and_time(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	NpSessionEvent ev = {
	    .type = NP_EVENT_SESSION_STARTED, .seq = 99, .session_id = 7, .pen_clock_ms = NOW};
	NpTelemetryRecord rec;
	gint64 t = 0;

	g_assert_cmpint(ng_session_accept_event(s, &ev, NOW, &t), ==, NG_SEQ_NEW);
	g_assert_cmpint(t, ==, NOW);
	g_assert_true(ng_session_is_active(s));
	g_assert_cmpuint(ng_session_get_current_id(s), ==, 7);
	for (guint32 seq = 100; seq < 110; seq++) {
		rec = record(seq, 7, (seq - 100) * 40, FALSE);
		/* arrival time does not matter: the session start plus the record's offset does */
		g_assert_cmpint(ng_session_accept_record(s, &rec, NOW + 5000, &t), ==, NG_SEQ_NEW);
		g_assert_cmpint(t, ==, NOW + (seq - 100) * 40);
	}
	g_assert_cmpint(ng_session_get_high_seq(s), ==, 109);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 0);

	ev = (NpSessionEvent){.type = NP_EVENT_SESSION_ENDED, .seq = 110, .session_id = 7};
	g_assert_cmpint(ng_session_accept_event(s, &ev, NOW + 9000, &t), ==, NG_SEQ_NEW);
	g_assert_false(ng_session_is_active(s));
	/* the same indication again (a reconnect) is a duplicate */
	g_assert_cmpint(ng_session_accept_event(s, &ev, NOW + 9000, &t), ==, NG_SEQ_DUPLICATE);
}

static void
test_without_start_event(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	NpTelemetryRecord rec = record(500, 3, 60000, FALSE);
	gint64 t = 0;

	/* connected mid-session: the session is dated from the first record */
	g_assert_cmpint(ng_session_accept_record(s, &rec, NOW, &t), ==, NG_SEQ_NEW);
	g_assert_cmpint(t, ==, NOW);
	g_assert_cmpint(ng_session_get_current_start_ms(s), ==, NOW - 60000);
	rec = record(501, 3, 60040, FALSE);
	g_assert_cmpint(ng_session_accept_record(s, &rec, NOW + 999, &t), ==, NG_SEQ_NEW);
	g_assert_cmpint(t, ==, NOW + 40);
}

/* The start event (D-Bus) may come after the session's first records (socket): one clock. */
static void
test_start_event_late(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	NpSessionEvent ev = {
	    .type = NP_EVENT_SESSION_STARTED, .seq = 10, .session_id = 4, .pen_clock_ms = NOW};
	NpTelemetryRecord rec = record(9, 3, 5000, FALSE); /* the session before */
	gint64 t = 0;

	g_assert_cmpint(ng_session_accept_record(s, &rec, NOW, &t), ==, NG_SEQ_NEW);
	rec = record(11, 4, 0, FALSE);
	g_assert_cmpint(ng_session_accept_record(s, &rec, NOW + 3, &t), ==, NG_SEQ_NEW);
	g_assert_cmpint(t, ==, NOW + 3);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 1);
	g_assert_cmpint(ng_session_accept_event(s, &ev, NOW + 8, &t), ==, NG_SEQ_FILL);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 0);
	g_assert_cmpint(ng_session_get_current_start_ms(s), ==, NOW + 3);
	rec = record(12, 4, 40, FALSE);
	g_assert_cmpint(ng_session_accept_record(s, &rec, NOW + 50, &t), ==, NG_SEQ_NEW);
	g_assert_cmpint(t, ==, NOW + 43);
}

static void
test_duplicates(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	NgSessionCounters c;

	for (guint32 seq = 1; seq <= 5; seq++)
		g_assert_cmpint(feed(s, seq, FALSE), ==, NG_SEQ_NEW);
	g_assert_cmpint(feed(s, 5, FALSE), ==, NG_SEQ_DUPLICATE);
	g_assert_cmpint(feed(s, 3, FALSE), ==, NG_SEQ_DUPLICATE);
	g_assert_cmpint(feed(s, 1, TRUE), ==, NG_SEQ_DUPLICATE);
	ng_session_get_counters(s, &c);
	g_assert_cmpuint(c.accepted, ==, 5);
	g_assert_cmpuint(c.duplicates, ==, 3);
}

static void
test_gap_filled_by_replay(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	const NgSeqRange *holes;
	guint n = 0;
	guint32 first = 0;

	ng_session_set_pen_features(s, TRUE, 1000);
	for (guint32 seq = 100; seq <= 102; seq++)
		feed(s, seq, FALSE);
	g_assert_cmpint(feed(s, 106, FALSE), ==, NG_SEQ_NEW);
	g_assert_cmpint(feed(s, 107, FALSE), ==, NG_SEQ_NEW);
	holes = ng_session_get_holes(s, &n);
	g_assert_cmpuint(n, ==, 1);
	g_assert_cmpuint(holes[0].first, ==, 103);
	g_assert_cmpuint(holes[0].last, ==, 105);
	g_assert_cmpuint(ng_session_get_missing(s), ==, 3);

	/* a late record fills the middle: two holes */
	g_assert_cmpint(feed(s, 104, FALSE), ==, NG_SEQ_FILL);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 2);

	g_assert_true(ng_session_replay_begin(s, &first));
	g_assert_false(ng_session_replay_begin(s, &first)); /* one at a time */
	g_assert_cmpuint(first, <=, 103);
	g_assert_cmpuint(first, >=, 99);
	for (guint32 seq = first; seq <= 107; seq++) {
		NgSeqVerdict v = feed(s, seq, TRUE);
		if (seq == 103 || seq == 105)
			g_assert_cmpint(v, ==, NG_SEQ_FILL);
		else
			g_assert_cmpint(v, ==, NG_SEQ_DUPLICATE);
	}
	ng_session_replay_end(s, TRUE, lost);
	g_assert_cmpuint(lost->len, ==, 0);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 0);
	g_assert_false(ng_session_replay_in_progress(s));
}

/* The pen's store covers the hole but does not fill it: those numbers were session events. */
static void
test_hole_of_events_closed_silently(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	guint32 first = 0;
	NgSessionCounters c;

	for (guint32 seq = 100; seq <= 110; seq++)
		feed(s, seq, FALSE);
	feed(s, 113, FALSE); /* 111, 112: events whose indications were lost */
	g_assert_true(ng_session_replay_begin(s, &first));
	for (guint32 seq = first; seq <= 113; seq++) {
		if (seq != 111 && seq != 112)
			feed(s, seq, TRUE);
	}
	ng_session_replay_end(s, TRUE, lost);
	g_assert_cmpuint(lost->len, ==, 0);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 0);
	ng_session_get_counters(s, &c);
	g_assert_cmpuint(c.lost, ==, 0);
}

/* The pen's answer to Report Stored Records overtook its last replayed records (found by
 * realbluez-systemd: bluetoothd sent the indication ahead of notifications it held to batch them):
 * the hole closed as session events, the records that come afterwards are published all the same. */
static void
test_replayed_after_the_answer(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	guint32 first = 0;
	NgSessionCounters c;

	for (guint32 seq = 100; seq <= 110; seq++)
		feed(s, seq, FALSE);
	feed(s, 120, FALSE);
	g_assert_true(ng_session_replay_begin(s, &first));
	for (guint32 seq = first; seq <= 113; seq++)
		feed(s, seq, TRUE);
	ng_session_replay_end(s, TRUE, lost); /* 114..119 not there yet */
	g_assert_cmpuint(lost->len, ==, 0);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 0);
	for (guint32 seq = 114; seq <= 119; seq++)
		g_assert_cmpint(feed(s, seq, TRUE), ==, NG_SEQ_FILL);
	g_assert_cmpint(feed(s, 116, TRUE), ==, NG_SEQ_DUPLICATE);
	g_assert_cmpint(feed(s, 117, FALSE), ==, NG_SEQ_DUPLICATE);
	ng_session_get_counters(s, &c);
	g_assert_cmpuint(c.lost, ==, 0);
}

/* The pen's ring buffer no longer reaches back: what it cannot send is lost for good. */
static void
test_gap_lost(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	guint32 first = 0;
	NgSessionCounters c;

	for (guint32 seq = 100; seq <= 110; seq++)
		feed(s, seq, FALSE);
	feed(s, 200, FALSE); /* 111..199 missing */
	g_assert_true(ng_session_replay_begin(s, &first));
	for (guint32 seq = 150; seq <= 200; seq++) /* the pen still has 150.. */
		feed(s, seq, TRUE);
	ng_session_replay_end(s, TRUE, lost);
	g_assert_cmpuint(lost->len, ==, 1);
	g_assert_cmpuint(g_array_index(lost, NgSeqRange, 0).first, ==, 111);
	g_assert_cmpuint(g_array_index(lost, NgSeqRange, 0).last, ==, 149);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 0);
	ng_session_get_counters(s, &c);
	g_assert_cmpuint(c.lost, ==, 39);
	g_assert_cmpuint(c.filled, ==, 50);

	/* nothing replayed at all: the whole hole is lost */
	g_array_set_size(lost, 0);
	feed(s, 210, FALSE);
	g_assert_true(ng_session_replay_begin(s, &first));
	ng_session_replay_end(s, TRUE, lost);
	g_assert_cmpuint(lost->len, ==, 1);
	g_assert_cmpuint(g_array_index(lost, NgSeqRange, 0).first, ==, 201);
	g_assert_cmpuint(g_array_index(lost, NgSeqRange, 0).last, ==, 209);
}

static void
test_replay_failures(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	guint32 first = 0;

	feed(s, 10, FALSE);
	feed(s, 20, FALSE);
	for (guint i = 0; i < 2; i++) {
		g_assert_true(ng_session_replay_begin(s, &first));
		ng_session_replay_end(s, FALSE, lost);
		g_assert_cmpuint(lost->len, ==, 0);
		g_assert_cmpuint(ng_session_get_n_holes(s), ==, 1);
	}
	/* the third failure gives up */
	g_assert_true(ng_session_replay_begin(s, &first));
	ng_session_replay_end(s, FALSE, lost);
	g_assert_cmpuint(lost->len, ==, 1);
	g_assert_cmpuint(g_array_index(lost, NgSeqRange, 0).first, ==, 11);
	g_assert_cmpuint(g_array_index(lost, NgSeqRange, 0).last, ==, 19);

	/* a pen without stored records: holes are lost at once */
	g_array_set_size(lost, 0);
	feed(s, 25, FALSE);
	ng_session_give_up_holes(s, lost);
	g_assert_cmpuint(lost->len, ==, 1);
	g_assert_cmpuint(g_array_index(lost, NgSeqRange, 0).first, ==, 21);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 0);
}

/* A pen whose store keeps 10 records does not answer: its holes stay open, asked again, for as
 * long as its store may hold them; what falls out of the store is lost; a lost record that still
 * comes (the pen answered late) is taken, and counted as recovered. */
static void
test_replay_failures_ring(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	NgSessionCounters c;
	guint32 first = 0;

	ng_session_set_pen_features(s, TRUE, 10);
	feed(s, 10, FALSE);
	feed(s, 14, FALSE); /* 11..13 missing */
	for (guint i = 1; i <= 5; i++) {
		g_assert_true(ng_session_replay_begin(s, &first));
		ng_session_replay_end(s, FALSE, lost);
		g_assert_cmpuint(ng_session_get_replay_failures(s), ==, i);
		g_assert_cmpuint(lost->len, ==, 0);
		g_assert_cmpuint(ng_session_get_missing(s), ==, 3);
	}
	/* the pen records on: its store now reaches back to 13 only */
	for (guint32 seq = 15; seq <= 22; seq++)
		feed(s, seq, FALSE);
	g_assert_true(ng_session_replay_begin(s, &first));
	ng_session_replay_end(s, FALSE, lost);
	g_assert_cmpuint(lost->len, ==, 1);
	g_assert_cmpuint(g_array_index(lost, NgSeqRange, 0).first, ==, 11);
	g_assert_cmpuint(g_array_index(lost, NgSeqRange, 0).last, ==, 12);
	g_assert_cmpuint(ng_session_get_missing(s), ==, 1);
	/* it answers at last, with 12 too */
	g_assert_true(ng_session_replay_begin(s, &first));
	g_assert_cmpuint(first, ==, 13 - 4);
	g_assert_cmpint(feed(s, 12, TRUE), ==, NG_SEQ_FILL);
	g_assert_cmpint(feed(s, 13, TRUE), ==, NG_SEQ_FILL);
	g_assert_cmpint(feed(s, 13, TRUE), ==, NG_SEQ_DUPLICATE);
	ng_session_replay_end(s, TRUE, lost);
	g_assert_cmpuint(ng_session_get_replay_failures(s), ==, 0);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 0);
	ng_session_get_counters(s, &c);
	g_assert_cmpuint(c.lost, ==, 1);
	g_assert_cmpuint(c.recovered, ==, 1);
	/* a live (not replayed) record never passes for a lost one */
	g_assert_cmpint(feed(s, 11, FALSE), ==, NG_SEQ_DUPLICATE);
}

/* A hole that opens while a replay runs is not judged by that replay. */
static void
test_new_hole_during_replay(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	g_autoptr(GArray) lost = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	guint32 first = 0;

	feed(s, 1, FALSE);
	feed(s, 5, FALSE);
	g_assert_true(ng_session_replay_begin(s, &first));
	feed(s, 9, FALSE); /* 6..8 missing, after the request */
	for (guint32 seq = 1; seq <= 5; seq++)
		feed(s, seq, TRUE);
	ng_session_replay_end(s, TRUE, lost);
	g_assert_cmpuint(lost->len, ==, 0);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 1);
	g_assert_cmpuint(ng_session_get_holes(s, &(guint){0})[0].first, ==, 6);
}

static void
test_counter_reset_and_moved(void)
{
	g_autoptr(NgSession) s = ng_session_new("P1");
	NpTelemetryRecord rec = record(1000000, 1, 0, FALSE);
	gint64 t = 0;

	ng_session_set_pen_features(s, TRUE, 100);
	g_assert_cmpint(ng_session_accept_record(s, &rec, NOW, &t), ==, NG_SEQ_NEW);
	/* far below and not replayed: the pen's counter started over */
	rec = record(5, 1, 40, FALSE);
	g_assert_cmpint(ng_session_accept_record(s, &rec, NOW, &t), ==, NG_SEQ_NEW);
	g_assert_cmpint(ng_session_get_high_seq(s), ==, 5);

	/* after a reconnection, a jump beyond what the pen could replay, into another session:
	 * the pen served another hub meanwhile, nothing is missing here */
	ng_session_connected(s);
	rec = record(5000, 2, 0, FALSE);
	g_assert_cmpint(ng_session_accept_record(s, &rec, NOW, &t), ==, NG_SEQ_NEW);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 0);
	/* the same jump within a session is a gap */
	rec = record(5100, 2, 4000, FALSE);
	g_assert_cmpint(ng_session_accept_record(s, &rec, NOW, &t), ==, NG_SEQ_NEW);
	g_assert_cmpuint(ng_session_get_n_holes(s), ==, 1);
}

static void
test_persistence(void)
{
	g_autofree char *dir = g_dir_make_tmp("ng-session-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "needlegate.db", NULL);
	g_autoptr(GError) error = NULL;
	gint64 start;

	{
		g_autoptr(NgStore) store = ng_store_open(path, &error);
		g_autoptr(NgSession) s = ng_session_new("PEN-A");
		g_autoptr(NgSessionStore) ss = NULL;
		NpSessionEvent ev = {.type = NP_EVENT_SESSION_STARTED, .seq = 9, .session_id = 7};
		gint64 t = 0;

		g_assert_no_error(error);
		ss = ng_session_store_new(store, s, &error);
		g_assert_no_error(error);
		g_assert_cmpint(ng_session_get_high_seq(s), ==, -1);
		ng_session_accept_event(s, &ev, NOW, &t);
		for (guint32 seq = 10; seq <= 20; seq++)
			feed(s, seq, FALSE);
		feed(s, 25, FALSE);
		start = ng_session_get_current_start_ms(s);
		g_assert_true(ng_store_flush(store, &error));
		g_assert_no_error(error);
		/* written at the commit, not later: a new record after it is not saved until the next */
		feed(s, 26, FALSE);
	}
	{
		g_autoptr(NgStore) store = ng_store_open(path, &error);
		g_autoptr(NgSession) s = ng_session_new("PEN-A");
		g_autoptr(NgSession) other = ng_session_new("PEN-B");
		g_autoptr(NgSessionStore) ss = NULL;
		g_autoptr(NgSessionStore) other_ss = NULL;
		const NgSeqRange *holes;
		guint n = 0;

		g_assert_no_error(error);
		ss = ng_session_store_new(store, s, &error);
		g_assert_no_error(error);
		/* freeing the session saved 26 too */
		g_assert_cmpint(ng_session_get_high_seq(s), ==, 26);
		holes = ng_session_get_holes(s, &n);
		g_assert_cmpuint(n, ==, 1);
		g_assert_cmpuint(holes[0].first, ==, 21);
		g_assert_cmpuint(holes[0].last, ==, 24);
		g_assert_cmpuint(ng_session_get_current_id(s), ==, 7);
		g_assert_cmpint(ng_session_get_current_start_ms(s), ==, start);
		g_assert_true(ng_session_is_active(s));
		/* neither repeats ... */
		g_assert_cmpint(feed(s, 20, FALSE), ==, NG_SEQ_DUPLICATE);
		g_assert_cmpint(feed(s, 26, FALSE), ==, NG_SEQ_DUPLICATE);
		/* ... nor misses */
		g_assert_cmpint(feed(s, 22, TRUE), ==, NG_SEQ_FILL);
		g_assert_cmpint(feed(s, 27, FALSE), ==, NG_SEQ_NEW);
		/* pens do not share state */
		other_ss = ng_session_store_new(store, other, &error);
		g_assert_no_error(error);
		g_assert_cmpint(ng_session_get_high_seq(other), ==, -1);
	}
	{
		g_autoptr(NgStore) store = ng_store_open(path, &error);
		g_autoptr(NgSession) s = ng_session_new("PEN-A");
		g_autoptr(NgSessionStore) ss = ng_session_store_new(store, s, &error);

		g_assert_no_error(error);
		g_assert_cmpint(ng_session_get_high_seq(s), ==, 27);
		g_assert_cmpuint(ng_session_get_missing(s), ==, 3); /* 21, 23, 24 */
	}
	{
		g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
		const char *name;
		while ((name = g_dir_read_name(d)) != NULL) {
			g_autofree char *p = g_build_filename(dir, name, NULL);
			g_unlink(p);
		}
		g_rmdir(dir);
	}
}

/* The saved high sequence number, read as a second process would (WAL allows it). */
static gint64
saved_high(const char *path, const char *pen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	gint64 high = -2;

	g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
	g_assert_cmpint(
	    sqlite3_prepare_v2(db, "SELECT high_seq FROM pen_sessions WHERE pen = ?", -1, &stmt, NULL), ==,
	    SQLITE_OK);
	sqlite3_bind_text(stmt, 1, pen, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		high = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return high;
}

static gboolean
quit_cb(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

/* A new sequence number alone is saved within 250 ms, not at every commit; a session start at
 * the next commit. */
static void
test_save_policy(void)
{
	g_autofree char *dir = g_dir_make_tmp("ng-session-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "needlegate.db", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgStore) store = ng_store_open(path, &error);
	g_autoptr(NgSession) s = ng_session_new("PEN-P");
	g_autoptr(NgSessionStore) ss = NULL;
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	NpSessionEvent ev = {.type = NP_EVENT_SESSION_STARTED, .seq = 1, .session_id = 7};
	gint64 t = 0;

	g_assert_no_error(error);
	ss = ng_session_store_new(store, s, &error);
	g_assert_no_error(error);
	ng_session_accept_event(s, &ev, NOW, &t);
	g_assert_true(ng_store_flush(store, &error));
	g_assert_cmpint(saved_high(path, "PEN-P"), ==, 1);

	feed(s, 2, FALSE);
	feed(s, 3, FALSE);
	g_assert_true(ng_store_flush(store, &error));
	g_assert_cmpint(saved_high(path, "PEN-P"), ==, 1); /* not yet: nothing else was written */
	g_timeout_add(400, quit_cb, loop);
	g_main_loop_run(loop);
	g_assert_cmpint(saved_high(path, "PEN-P"), ==, 3);

	g_clear_pointer(&ss, ng_session_store_free);
	g_clear_pointer(&s, ng_session_free);
	g_clear_pointer(&store, ng_store_free);
	{
		g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
		const char *name;
		while ((name = g_dir_read_name(d)) != NULL) {
			g_autofree char *p = g_build_filename(dir, name, NULL);
			g_unlink(p);
		}
		g_rmdir(dir);
	}
}

/* Saved gaps that make no sense (edited, damaged) are dropped with a warning, never trusted;
 * the rest of the row is kept. */
static void
test_saved_gaps_not_valid(void)
{
	g_autofree char *dir = g_dir_make_tmp("ng-session-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "needlegate.db", NULL);
	const char *bad[] = {"5-3", "x-y", "1-2,2-3", "30-40", "7"};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(NgStore) store = ng_store_open(path, &error);
		g_autoptr(NgSession) s = ng_session_new("PEN-G");
		g_autoptr(NgSessionStore) ss = NULL;
		g_autofree char *sql = g_strdup_printf(
		    "CREATE TABLE IF NOT EXISTS pen_sessions (pen TEXT PRIMARY KEY NOT NULL,"
		    " high_seq INTEGER NOT NULL, holes TEXT NOT NULL, session_id INTEGER,"
		    " session_start_ms INTEGER, pen_clock_ms INTEGER, active INTEGER NOT NULL,"
		    " prev_session_id INTEGER, prev_start_ms INTEGER);"
		    "INSERT OR REPLACE INTO pen_sessions VALUES ('PEN-G', 20, '%s', 3, 1000, 0, 1, NULL, "
		    "NULL)",
		    bad[i]);
		guint n = 99;

		g_assert_no_error(error);
		g_assert_cmpint(sqlite3_exec(ng_store_get_db(store), sql, NULL, NULL, NULL), ==, SQLITE_OK);
		g_test_expect_message("needlegate-store", G_LOG_LEVEL_WARNING,
				      "*ignoring saved gaps*not valid*");
		ss = ng_session_store_new(store, s, &error);
		g_test_assert_expected_messages();
		g_assert_no_error(error);
		g_assert_cmpint(ng_session_get_high_seq(s), ==, 20);
		ng_session_get_holes(s, &n);
		g_assert_cmpuint(n, ==, 0);
		g_assert_true(ng_session_is_active(s));
		g_assert_cmpuint(ng_session_get_current_id(s), ==, 3);
	}
	{
		g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
		const char *name;
		while ((name = g_dir_read_name(d)) != NULL) {
			g_autofree char *p = g_build_filename(dir, name, NULL);
			g_unlink(p);
		}
		g_rmdir(dir);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/session/in-order-and-time", test_in_order_and_time);
	g_test_add_func("/session/without-start-event", test_without_start_event);
	g_test_add_func("/session/start-event-late", test_start_event_late);
	g_test_add_func("/session/duplicates", test_duplicates);
	g_test_add_func("/session/gap-filled-by-replay", test_gap_filled_by_replay);
	g_test_add_func("/session/hole-of-events-closed-silently", test_hole_of_events_closed_silently);
	g_test_add_func("/session/replayed-after-the-answer", test_replayed_after_the_answer);
	g_test_add_func("/session/gap-lost", test_gap_lost);
	g_test_add_func("/session/replay-failures", test_replay_failures);
	g_test_add_func("/session/replay-failures-ring", test_replay_failures_ring);
	g_test_add_func("/session/new-hole-during-replay", test_new_hole_during_replay);
	g_test_add_func("/session/counter-reset-and-moved", test_counter_reset_and_moved);
	g_test_add_func("/session/persistence", test_persistence);
	g_test_add_func("/session/save-policy", test_save_policy);
	g_test_add_func("/session/saved-gaps-not-valid", test_saved_gaps_not_valid);
	return g_test_run();
}
