/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the rule engine finds: rules, severities and alerts, as the MQTT contract names them. */

#pragma once

#include <glib.h>

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
 * id. A telemetry gap is a single "event" (and a "cleared" should records it
 * reported lost come after all).
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
	gboolean replayed;  /* raised or cleared by a record the pen sent again (Report Stored Records) */
	char message[256];  /* one sentence for a person */
} NgAlert;

/* Called synchronously from the ng_rules_* call that found the alert. */
typedef void (*NgAlertFunc)(const NgAlert *alert, gpointer user_data);

G_END_DECLS
