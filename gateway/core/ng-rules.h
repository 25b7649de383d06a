/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The live rule engine: checks one pen's session against its plan and raises and clears alerts. */

#pragma once

#include <glib.h>

#include "ng-alert.h"
#include "ng-plan.h"
#include "ng-summary.h"
#include "np.h"

G_BEGIN_DECLS

typedef struct {
	guint debounce_ms; /* a limit must be broken (and kept) this long, on the records' offset_ms */
} NgRulesConfig;
#define NG_RULES_DEFAULT_DEBOUNCE_MS 200u
/* Time in an area grows by the step between records, capped: a long silence is not treatment. */
#define NG_RULES_MAX_STEP_MS 1000u

/* What the daemon knows when a session starts. */
typedef struct {
	guint16 session_id;
	guint32 seq;	 /* the session started event's */
	gint64 start_ms; /* gateway time of the start, unix ms */
	NpCartridge cartridge;
	gboolean cartridge_seen_before; /* NgCartridges: the id was used in an earlier session */
	guint8 area;
	gboolean clock_set;	    /* FALSE when the pen's clock was 0 in the event */
	gint64 previous_session_ms; /* the journal's previous session of this patient; 0: none known */
} NgSessionStart;

typedef struct _NgRules NgRules;

/* One engine per pen, reused from session to session. @config NULL: defaults. */
NgRules *ng_rules_new(const NgRulesConfig *config, NgAlertFunc func, gpointer user_data);
void ng_rules_free(NgRules *rules);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgRules, ng_rules_free)

/*
 * Starts checking a session under @plan (NULL: no plan, which raises
 * no_plan and leaves only the plan-free rules). Takes a reference on the
 * plan. Raises, in this order: clock_not_set, no_plan, cartridge_reused,
 * cartridge_not_allowed, session_too_soon. A session still open is ended first.
 */
void ng_rules_session_start(NgRules *rules, const NgSessionStart *start, NgPlan *plan);

/*
 * One decoded record, in arrival order (replayed ones included, once each).
 * Records of another session id, or with no session open, are ignored.
 * Only active records (motor running and skin contact) count as needling:
 * depth, speed and area rules and the needling time look at those; a pause
 * ends an excursion. A record above every sequence number seen is live: an
 * area field different from the current area changes the area (as
 * ng_rules_area_changed ()). A record below (it fills a hole: the pen sent
 * it again) is checked in a replay context that starts where the pen was
 * then and ends at ng_rules_replay_done (), the next replay, or the end of
 * the session; its alerts have replayed set and are raised and cleared with
 * the records' own seq, time and area. Costs a few ns; no allocation unless
 * an alert is emitted or a hole opens. The callback must not call back into
 * the engine.
 */
void ng_rules_record(NgRules *rules, const NpTelemetryRecord *rec, gint64 t_ms);

/* A replay (Report Stored Records) is over: what its records raised and did not clear is cleared
 * at its last record. */
void ng_rules_replay_done(NgRules *rules);
/* The pen's area changed (event, or Set Area answered): clears the old area's alerts. */
void ng_rules_area_changed(NgRules *rules, guint8 area, guint32 seq, gint64 t_ms);
/* A cartridge was inserted / removed mid-session: the cartridge alerts follow it. */
void ng_rules_cartridge_inserted(NgRules *rules, const NpCartridge *cartridge, gboolean seen_before,
				 guint32 seq, gint64 t_ms);
void ng_rules_cartridge_removed(NgRules *rules, guint32 seq, gint64 t_ms);
void ng_rules_error_raised(NgRules *rules, guint16 code, guint32 seq, gint64 t_ms);
void ng_rules_error_cleared(NgRules *rules, guint16 code, guint32 seq, gint64 t_ms);
/* Records first..last (sequence numbers, inclusive) are lost for good. */
guint ng_rules_telemetry_gap(NgRules *rules, guint32 first, guint32 last, gint64 t_ms);
/* The session ended with reason device_error: raises device_error unless one was raised in it. */
void ng_rules_session_failed(NgRules *rules, guint32 seq, gint64 t_ms);
/* The session ended: checks its length, then clears every open alert. The
 * summary stays readable until the next session starts. */
void ng_rules_session_end(NgRules *rules, guint32 seq, gint64 t_ms, guint32 duration_ms);

gboolean ng_rules_in_session(NgRules *rules);
/* The summary of the current (or last ended) session. */
NgSummary *ng_rules_get_summary(NgRules *rules);
/* The alerts of the current (or last) session, raised, cleared and events, in order (the first
 * 500): for the journal. Valid until the next alert. */
const NgAlert *ng_rules_get_alerts(NgRules *rules, guint *n_alerts);

G_END_DECLS
