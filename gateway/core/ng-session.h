/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One pen's sessions and sequence numbers: time stamps, duplicates, gaps, replay. */

#pragma once

#include <glib.h>

#include "np.h"

G_BEGIN_DECLS

/*
 * The pen counts every record and every session event with one sequence number for its whole
 * life. The tracker keeps the highest number seen ("high") and the holes below it: numbers not
 * seen yet that may still come (a session event whose indication is late, a record the pen
 * still stores). A record is new, fills a hole, or is a duplicate and dropped.
 *
 * Holes are filled by Report Stored Records (the pen's runtime, hub/ng-runtime.c, asks for the
 * first hole and reports the outcome here). What the pen could not send any more is lost for good and
 * becomes a telemetry_gap alert; a hole the pen's store covered but did not fill was no
 * telemetry record (a session event missed while the link was down) and is closed silently.
 *
 * The tracker does no I/O. "high", the holes and the sessions' start times are saved by
 * store/ng-session-store.c in the same transaction as the outbox rows of the records they
 * describe, so that a restarted gateway neither publishes a record twice nor misses one.
 */

typedef enum {
	NG_SEQ_NEW,	  /* above everything seen: publish */
	NG_SEQ_FILL,	  /* fills a hole (a replayed or late record): publish */
	NG_SEQ_DUPLICATE, /* seen already: drop */
} NgSeqVerdict;

typedef struct {
	guint32 first;
	guint32 last;
} NgSeqRange;

typedef struct _NgSession NgSession;

NgSession *ng_session_new(const char *pen_id);
void ng_session_free(NgSession *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgSession, ng_session_free)

/* The pen's Pen Features: stored_records decides whether holes can be filled at all. */
void ng_session_set_pen_features(NgSession *session, gboolean stored_records, guint capacity);

/* A new connection: the next sequence number may jump over what happened while away. */
void ng_session_connected(NgSession *session);

/*
 * The hot path: the verdict on one telemetry record, and its time on the gateway's clock in
 * *t_ms (the start of its session plus its offset). now_ms is the gateway's clock (UTC ms).
 * Records of a session whose start event was not seen date it from the first record seen.
 */
NgSeqVerdict ng_session_accept_record(NgSession *session, const NpTelemetryRecord *rec, gint64 now_ms,
				      gint64 *t_ms);
/* The same for a session event; a started event opens the session at now_ms. */
NgSeqVerdict ng_session_accept_event(NgSession *session, const NpSessionEvent *ev, gint64 now_ms,
				     gint64 *t_ms);

/* The session a record or event belongs to, as the payloads name it. */
guint16 ng_session_get_current_id(NgSession *session);
gboolean ng_session_is_active(NgSession *session);
/* The pen says its session is over but its end event never came (it ended while the link was
 * down: the pen does not keep events). FALSE if no session was active. */
gboolean ng_session_end_unseen(NgSession *session);
/* When the current session started on the gateway's clock, -1 if unknown. */
gint64 ng_session_get_current_start_ms(NgSession *session);
gint64 ng_session_get_high_seq(NgSession *session); /* -1: nothing seen yet */

/* Holes waiting to be filled, and the number of missing sequence numbers in them. */
guint ng_session_get_n_holes(NgSession *session);
guint64 ng_session_get_missing(NgSession *session);
const NgSeqRange *ng_session_get_holes(NgSession *session, guint *n_holes);

/*
 * Replay. ng_session_replay_begin () returns FALSE if nothing is to be asked for, else the
 * first sequence number for Report Stored Records. ng_session_replay_end () closes the holes
 * that request covered: success is the pen's answer (records_sent need not be exact, the
 * records themselves count). The ranges lost for good are appended to lost (may be NULL).
 * A failed request leaves the holes; after three failures they are declared lost.
 */
gboolean ng_session_replay_begin(NgSession *session, guint32 *first_seq);
gboolean ng_session_replay_in_progress(NgSession *session);
/* success FALSE (no answer): a pen whose store capacity is known is asked again (see
 * ng_session_get_replay_failures () for the backoff) for as long as its store may hold the
 * records; only what it can no longer hold goes into @lost. Without a capacity, three tries. */
void ng_session_replay_end(NgSession *session, gboolean success, GArray *lost);
/* Failed replays in a row, 0 after a success. */
guint ng_session_get_replay_failures(NgSession *session);
/* The pen cannot replay (no stored records feature): every hole is lost now. */
void ng_session_give_up_holes(NgSession *session, GArray *lost);

/* Counters for bridge/info and the logs. */
typedef struct {
	guint64 accepted;
	guint64 filled;
	guint64 duplicates;
	guint64 lost;
	guint64 recovered; /* reported lost, and came after all */
	guint64 counter_resets;
} NgSessionCounters;
void ng_session_get_counters(NgSession *session, NgSessionCounters *counters);

const char *ng_session_get_pen_id(NgSession *session);

/* ---- what is saved and restored (store/ng-session-store.c) ---- */

typedef struct {
	gboolean known;
	guint16 id;
	gint64 start_ms;      /* gateway clock */
	guint64 pen_clock_ms; /* the pen's clock at its start (0: not set or not seen) */
	gboolean implicit;    /* dated from its first record: no start event seen (yet) */
} NgSessionSlot;

typedef struct {
	gint64 high; /* -1: nothing seen */
	const NgSeqRange *holes;
	guint n_holes;
	NgSessionSlot cur;
	NgSessionSlot prev; /* the session before: its records may still be replayed */
	gboolean active;
} NgSessionSaved;

/* The state changed; @urgent: a session started or ended (save at the next commit), else only
 * a sequence number moved (may wait). */
typedef void (*NgSessionDirtyFunc)(NgSession *session, gboolean urgent, gpointer user_data);
void ng_session_set_dirty_func(NgSession *session, NgSessionDirtyFunc func, gpointer user_data);
gboolean ng_session_is_dirty(NgSession *session);
/* The state to save (valid until the next call on @session); once written, mark it saved. */
void ng_session_get_saved(NgSession *session, NgSessionSaved *saved);
void ng_session_mark_saved(NgSession *session);
/* The state saved before; FALSE if its holes were not valid (they are dropped: never trusted). */
gboolean ng_session_restore(NgSession *session, const NgSessionSaved *saved);

G_END_DECLS
