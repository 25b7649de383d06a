/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The live rule engine: checks one pen's session against its plan and raises and clears alerts. */

#pragma once

#include <glib.h>

#include "ng-plan.h"
#include "np.h"

G_BEGIN_DECLS

typedef enum {
	NG_SEVERITY_INFO,
	NG_SEVERITY_WARNING,
	NG_SEVERITY_CRITICAL,
} NgSeverity;
#define NG_SEVERITY_COUNT 3u

/* "info", "warning", "critical". */
const char *ng_severity_to_string(NgSeverity severity);

/* The rules of BRIEF.md; names and severities are part of the MQTT contract. */
typedef enum {
	NG_RULE_DEPTH_ABOVE_MAX,       /* critical: depth above the area's max, debounced */
	NG_RULE_DEPTH_BELOW_MIN,       /* info: depth below the area's min, debounced */
	NG_RULE_SPEED_OUT_OF_RANGE,    /* warning: speed outside the area's range, debounced */
	NG_RULE_AREA_NOT_IN_PLAN,      /* critical: needling in an area the plan leaves out, debounced */
	NG_RULE_AREA_TIME_EXCEEDED,    /* warning: needling time in an area above its max_time_s */
	NG_RULE_SESSION_TOO_LONG,      /* warning: session past max_session_s */
	NG_RULE_CARTRIDGE_REUSED,      /* critical: use count above 1, or the id seen in an earlier session */
	NG_RULE_CARTRIDGE_NOT_ALLOWED, /* warning: needle count not in allowed_needles */
	NG_RULE_SESSION_TOO_SOON,      /* warning: less than min_interval_days since the previous session */
	NG_RULE_DEVICE_ERROR,	       /* critical: the pen raised an error */
	NG_RULE_TELEMETRY_GAP,	       /* warning: records lost for good */
	NG_RULE_NO_PLAN,	       /* warning: a session started with no plan assigned */
	NG_RULE_CLOCK_NOT_SET,	       /* info: the pen's clock was never set */
} NgRule;
#define NG_RULE_COUNT 13u

/* "depth_above_max", ... */
const char *ng_rule_to_string(NgRule rule);
NgSeverity ng_rule_severity(NgRule rule);

/*
 * Every condition that lasts is reported twice: "raised" when it starts and
 * "cleared" when it ends (at the latest at the session's end), with the same
 * id. A telemetry gap is a single "event".
 */
typedef enum {
	NG_ALERT_RAISED,
	NG_ALERT_CLEARED,
	NG_ALERT_EVENT,
} NgAlertState;
/* "raised", "cleared", "event". */
const char *ng_alert_state_to_string(NgAlertState state);

typedef enum {
	NG_VALUE_NONE,	/* null */
	NG_VALUE_FIXED, /* num / 10^decimals */
	NG_VALUE_STRING,
} NgValueKind;

typedef struct {
	NgValueKind kind;
	guint64 num;
	guint decimals;
	const char *str; /* valid during the callback */
} NgAlertValue;

typedef struct {
	guint id; /* per session, from 1; a cleared alert has its raised one's id */
	NgRule rule;
	NgSeverity severity;
	NgAlertState state;
	guint8 area;	       /* NpArea code (any value: "unknown" above 0x0F): where the pen is */
	NgAlertValue measured; /* the worst value of the excursion so far */
	NgAlertValue limit;    /* the limit that value broke */
	const char *unit;      /* "mm", "Hz", "s", "days", "uses", "needles", "records"; NULL for none */
	guint16 session_id;
	guint32 seq;	    /* the record or event that raised (or cleared) it */
	gint64 t_ms;	    /* gateway time, unix ms */
	gint64 duration_ms; /* cleared: how long the condition lasted; -1 otherwise */
	char message[256];  /* one sentence for a person */
} NgAlert;

/* Called synchronously from the ng_rules_* call that found the alert. */
typedef void (*NgAlertFunc)(const NgAlert *alert, gpointer user_data);

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

typedef struct _NgSummary NgSummary;
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
 * Only records with the motor running count as needling: depth, speed and
 * area rules look at those; a pause ends an excursion. A record with an
 * area field different from the current area changes the area (as
 * ng_rules_area_changed ()), unless it is replayed: a replayed record from
 * another area only counts in that area's summary figures. Costs a few ns;
 * no allocation unless an alert is emitted. The callback must not call
 * back into the engine.
 */
void ng_rules_record(NgRules *rules, const NpTelemetryRecord *rec, gint64 t_ms);

/* The pen's area changed (event, or Set Area answered): clears the old area's alerts. */
void ng_rules_area_changed(NgRules *rules, guint8 area, guint32 seq, gint64 t_ms);
/* A cartridge was inserted / removed mid-session: the cartridge alerts follow it. */
void ng_rules_cartridge_inserted(NgRules *rules, const NpCartridge *cartridge, gboolean seen_before,
				 guint32 seq, gint64 t_ms);
void ng_rules_cartridge_removed(NgRules *rules, guint32 seq, gint64 t_ms);
void ng_rules_error_raised(NgRules *rules, guint16 code, guint32 seq, gint64 t_ms);
void ng_rules_error_cleared(NgRules *rules, guint16 code, guint32 seq, gint64 t_ms);
/* Records first..last (sequence numbers, inclusive) are lost for good. */
void ng_rules_telemetry_gap(NgRules *rules, guint32 first, guint32 last, gint64 t_ms);
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
