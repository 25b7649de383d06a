/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Live validation of a pen's sessions: its rule engine, the session's plan, the limits sent, the journal. */

#pragma once

#include <glib.h>

#include "ng-assign.h"
#include "ng-cartridges.h"
#include "ng-journal.h"
#include "ng-rules.h"
#include "ng-snapshot.h"
#include "ng-store.h"
#include "np.h"

G_BEGIN_DECLS

typedef struct _NgCheck NgCheck;

/* Every alert of every pen's rule engine, as it is found: the hub publishes it. */
typedef void (*NgCheckAlertFunc)(const char *serial, const NgAlert *alert, gpointer user_data);

/*
 * What every pen's check shares (main.c makes one): the assignments, the
 * durable journal and cartridge registry on the daemon's store, and one
 * NgCheck per pen serial. A check outlives the pen's NgPen (bluetoothd
 * restarts make new ones), like the pen's NgSession.
 */
typedef struct _NgChecks {
	NgStore *store; /* may be NULL: no journal, no cartridge registry */
	NgCheckAlertFunc alert_func;
	gpointer alert_data;
	NgAssign *assign;
	NgJournal *journal;	  /* NULL without a store */
	NgCartridges *cartridges; /* NULL without a store */
	GHashTable *checks;	  /* serial -> NgCheck */
	guint64 limits_mismatches;
} NgChecks;

/* Opens the journal and the cartridge registry on @store (may be NULL). @assign must outlive it. */
NgChecks *ng_checks_new(NgStore *store, NgAssign *assign, NgCheckAlertFunc alert_func, gpointer alert_data,
			GError **error);
void ng_checks_free(NgChecks *checks);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgChecks, ng_checks_free)
/* The pen's check, made on first use. */
NgCheck *ng_checks_get(NgChecks *checks, const char *serial);

/*
 * One record, after the sequence tracker accepted it: the hot path (ng_rules_record ()). A record
 * of a session the rules have not seen start waits for its start event (D-Bus may be behind the
 * telemetry socket); TRUE when such records span a second and more: the start event is lost, call
 * ng_check_start_unseen () if the pen's session is still running.
 */
gboolean ng_check_record(NgCheck *check, const NpTelemetryRecord *rec, gint64 t_ms);
/* Starts checking a session whose start event was never seen (the gateway restarted, or the pen
 * came back, in the middle of it), under the plan assigned now; the waiting records are checked. */
void ng_check_start_unseen(NgCheck *check, guint16 session_id, gint64 session_start_ms,
			   const NpCartridge *cartridge, guint8 area, gboolean clock_set);

/*
 * A session started: takes the plan assigned now for this session and returns its id (NULL: no
 * plan), for the "started" message. Call before publishing it, then ng_check_event ().
 */
const char *ng_check_begin_session(NgCheck *check);

/*
 * One session event, after the sequence tracker accepted it. @session_start_ms is the session's
 * start on the gateway's clock (ng_session_get_current_start_ms ()). Started: the rules start
 * (clock_not_set, no_plan, cartridge_reused, cartridge_not_allowed, session_too_soon). Ended:
 * the rules end, the summary is made (ng_check_get_ended_fields ()), the session goes into the
 * journal and the assignment is consumed. Call it for an ended event BEFORE publishing the event
 * (the message carries the summary) and for every other event after.
 */
void ng_check_event(NgCheck *check, const NpSessionEvent *ev, gint64 t_ms, gint64 session_start_ms);

/* The session ended with no end event: while the link was down (reason "unknown"), or the pen was removed. */
void ng_check_session_lost(NgCheck *check, gint64 t_ms, gint64 session_start_ms, const char *reason);

/* A Report Stored Records request is answered: the replayed records' alerts are closed. */
void ng_check_replay_done(NgCheck *check);
/* Records first..last are lost for good: the telemetry_gap alert if a session is being checked,
 * returning its id; 0: no session, the caller reports the gap itself. */
guint ng_check_gap(NgCheck *check, guint32 first, guint32 last, gint64 t_ms);

/* The fields the last "ended" message adds (ng_summary_json_append_ended_fields ()), and its plan id;
 * NULL before any session ended. Valid until the next session ends. */
const char *ng_check_get_ended_fields(NgCheck *check);
const char *ng_check_get_session_plan_id(NgCheck *check);

/*
 * Set Limits for the pen now: FALSE when there is nothing to limit (no session, no plan, or an area
 * the plan leaves out): then send Clear Limits. The plan's depth is capped at @pen_max_depth (the
 * pen refuses limits it cannot reach; 0: no cap).
 */
gboolean ng_check_wanted_limits(NgCheck *check, guint8 area, guint16 pen_max_depth, NpLimits *limits);
/* Set Limits (or Clear Limits: all NP_LIMIT_NONE) was sent with @limits. */
void ng_check_limits_sent(NgCheck *check, const NpLimits *limits);
/* The pen refused Set/Clear Limits or did not answer: no "limits applied" event is awaited. */
void ng_check_limits_failed(NgCheck *check);
/* The pen's "limits applied" event: compared with what was asked (a mismatch is logged and counted). */
void ng_check_limits_applied(NgCheck *check, const NpLimits *applied);
guint64 ng_check_get_limits_mismatches(NgCheck *check);

/* The pen's plan (the session's, else the one assigned), the plan assigned, the limits applied. */
void ng_check_fill_snapshot(NgCheck *check, NgPenSnapshot *snap);
/* Whether the rules check a session now. */
gboolean ng_check_in_session(NgCheck *check);
/* Records of session @session_id wait for its start event (the gateway came in mid-session). */
gboolean ng_check_has_pending(NgCheck *check, guint16 session_id);

G_END_DECLS
