/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One pen's sessions and sequence numbers: time stamps, duplicates, gaps, replay. No I/O: what is
 * saved and restored goes through store/ng-session-store.c. */

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
#define MAX_GONE	    32u /* lost ranges remembered, should their records still come */
/* A record this far below everything seen, not replayed, means the pen's counter started over. */
#define RESET_WINDOW 65536
/* A start event this close to the start its first records gave the session is that session's. */
#define IMPLICIT_START_WINDOW_MS 10000

struct _NgSession {
	char *pen_id;

	gint64 high;   /* -1: nothing seen yet */
	GArray *holes; /* NgSeqRange, ascending, disjoint, all below high */
	GArray *
	    gone; /* NgSeqRange reported lost (the newest MAX_GONE): should one still come, it is published */
	GArray *unfilled; /* NgSeqRange a replay covered but did not fill, taken for session events (the
			     newest MAX_GONE): should a replayed record still come, it is published */
	NgSessionSlot cur;
	NgSessionSlot prev; /* the session before: its records may still be replayed */
	gboolean active;

	gboolean stored_records;
	guint capacity;
	gboolean just_connected;

	gboolean replay_active;
	gint64 replay_high;
	gint64 replay_min_seen;
	guint replay_failures;

	gboolean dirty;
	NgSessionDirtyFunc dirty_func;
	gpointer dirty_data;
	NgSessionCounters counters;
};

/*
 * The state changed: urgent for a new session's start or end, not for a mere new sequence
 * number (store/ng-session-store.c decides when each is written).
 */
static void
mark_dirty_full(NgSession *session, gboolean urgent)
{
	session->dirty = TRUE;
	if (session->dirty_func != NULL)
		session->dirty_func(session, urgent, session->dirty_data);
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

/* Removes seq from @ranges (ascending, disjoint); FALSE if it was in none. */
static gboolean
take_from(GArray *ranges, guint32 seq)
{
	NgSeqRange *h = (NgSeqRange *)ranges->data;
	guint lo = 0, hi = ranges->len;

	while (lo < hi) {
		guint mid = (lo + hi) / 2;
		if (seq < h[mid].first) {
			hi = mid;
		} else if (seq > h[mid].last) {
			lo = mid + 1;
		} else if (h[mid].first == h[mid].last) {
			g_array_remove_index(ranges, mid);
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
			g_array_insert_val(ranges, mid + 1, upper);
			return TRUE;
		}
	}
	return FALSE;
}

static gint
compare_ranges(gconstpointer a, gconstpointer b)
{
	const NgSeqRange *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

static void
report_lost(NgSession *session, guint32 first, guint32 last, GArray *lost)
{
	NgSeqRange r = {first, last};

	session->counters.lost += (guint64)last - first + 1;
	if (lost != NULL)
		g_array_append_val(lost, r);
	if (session->gone->len >= MAX_GONE)
		g_array_remove_index(session->gone, 0);
	g_array_append_val(session->gone, r);
	g_array_sort(session->gone, compare_ranges);
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
	if (session->holes->len > 0 && take_from(session->holes, seq)) {
		mark_dirty(session);
		return NG_SEQ_FILL;
	}
	/* Reported lost, yet the pen had it after all (it answered late): published, and counted. */
	if (replayed && session->gone->len > 0 && take_from(session->gone, seq)) {
		session->counters.lost--;
		session->counters.recovered++;
		return NG_SEQ_FILL;
	}
	/* Taken for a session event when the replay ended, yet a record: it came after the answer. */
	if (replayed && session->unfilled->len > 0 && take_from(session->unfilled, seq))
		return NG_SEQ_FILL;
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

static NgSessionSlot *
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

static const NgSessionSlot *
slot_for_record(NgSession *session, const NpTelemetryRecord *rec, gint64 now_ms)
{
	NgSessionSlot *slot;

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

/* A hole the replay covered but did not fill: those numbers were taken for session events. They
 * may yet be records: the pen's answer to Report Stored Records comes as an indication over D-Bus,
 * the replayed records as notifications on the AcquireNotify socket, and either may be read first
 * (bluetoothd also sends the answer ahead of notifications it still holds to batch them). */
static void
note_unfilled(NgSession *session, NgSeqRange h)
{
	g_debug("pen %s: sequence %u..%u were no telemetry records, unless they still come", session->pen_id,
		h.first, h.last);
	if (session->unfilled->len >= MAX_GONE)
		g_array_remove_index(session->unfilled, 0);
	g_array_append_val(session->unfilled, h);
	g_array_sort(session->unfilled, compare_ranges);
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
			note_unfilled(session, h);
		g_array_remove_index(session->holes, 0);
	}
	mark_dirty(session);
}

/* What the holes hold at or below @limit, the pen's store no longer has: lost. */
static void
close_beyond_ring(NgSession *session, gint64 limit, GArray *lost)
{
	while (session->holes->len > 0) {
		NgSeqRange *h = &g_array_index(session->holes, NgSeqRange, 0);

		if ((gint64)h->first > limit)
			break;
		if ((gint64)h->last > limit) {
			report_lost(session, h->first, (guint32)limit, lost);
			h->first = (guint32)limit + 1;
			break;
		}
		report_lost(session, h->first, h->last, lost);
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
		session->replay_failures++;
		/* The pen did not answer (busy, or slow after a reconnection): what it may still hold
		 * is asked for again, for as long as it may hold it; what its store can no longer hold
		 * (it keeps the newest capacity records) is lost. A pen that never said how much it
		 * keeps has three tries. */
		if (session->stored_records && session->capacity > 0) {
			close_beyond_ring(session, session->high - (gint64)session->capacity, lost);
			return;
		}
		if (session->replay_failures < REPLAY_MAX_FAILURES)
			return;
		session->replay_min_seen = G_MAXINT64;
	}
	session->replay_failures = 0;
	close_holes(session, session->replay_high, session->replay_min_seen, lost);
}

guint
ng_session_get_replay_failures(NgSession *session)
{
	return session->replay_failures;
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

/* ---- what is saved --------------------------------------------------------------------------- */

void
ng_session_set_dirty_func(NgSession *session, NgSessionDirtyFunc func, gpointer user_data)
{
	session->dirty_func = func;
	session->dirty_data = user_data;
}

gboolean
ng_session_is_dirty(NgSession *session)
{
	return session->dirty;
}

void
ng_session_get_saved(NgSession *session, NgSessionSaved *saved)
{
	saved->high = session->high;
	saved->holes = (const NgSeqRange *)(gpointer)session->holes->data;
	saved->n_holes = session->holes->len;
	saved->cur = session->cur;
	saved->prev = session->prev;
	saved->active = session->active;
}

void
ng_session_mark_saved(NgSession *session)
{
	session->dirty = FALSE;
}

gboolean
ng_session_restore(NgSession *session, const NgSessionSaved *saved)
{
	gint64 prev = -1;

	session->high = saved->high >= 0 && saved->high <= G_MAXUINT32 ? saved->high : -1;
	session->cur = saved->cur;
	session->prev = saved->prev;
	session->active = saved->active;
	g_array_set_size(session->holes, 0);
	for (guint i = 0; i < saved->n_holes; i++) {
		const NgSeqRange *h = &saved->holes[i];

		if (h->first > h->last || (gint64)h->first <= prev || (gint64)h->last >= session->high) {
			g_array_set_size(session->holes, 0);
			return FALSE;
		}
		add_hole(session, h->first, h->last);
		prev = h->last;
	}
	return TRUE;
}

const char *
ng_session_get_pen_id(NgSession *session)
{
	return session->pen_id;
}

NgSession *
ng_session_new(const char *pen_id)
{
	NgSession *session = g_new0(NgSession, 1);

	g_return_val_if_fail(pen_id != NULL, NULL);
	session->pen_id = g_strdup(pen_id);
	session->high = -1;
	session->holes = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	session->gone = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	session->unfilled = g_array_new(FALSE, FALSE, sizeof(NgSeqRange));
	session->stored_records = TRUE;
	return session;
}

void
ng_session_free(NgSession *session)
{
	if (session == NULL)
		return;
	g_array_unref(session->holes);
	g_array_unref(session->gone);
	g_array_unref(session->unfilled);
	g_free(session->pen_id);
	g_free(session);
}
