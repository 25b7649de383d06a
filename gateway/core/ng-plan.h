/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Treatment plans: the JSON format, its strict parser and validator, and the limits a pen enforces. */

#pragma once

#include <glib.h>

#include "np.h"

G_BEGIN_DECLS

/*
 * A plan is the clinic's word on what a session may do: which areas, how
 * deep, how fast, for how long, with which cartridges. The format is in
 * deploy/plan.schema.json and docs/plans.md. The parser refuses anything it
 * does not understand, so a typo can never widen a limit silently: unknown
 * fields, wrong types, contradictions (min above max), values a pen cannot
 * reach, values finer than the pen's resolution (0.01 mm, 0.1 Hz), all fail
 * with "$.json.path: reason".
 *
 * Limits are stored in the codec's fixed-point units (proto/np.h) so that
 * the rule engine compares integers: depth in 0.01 mm, speed in 0.1 Hz.
 */

#define NG_PLAN_ERROR (ng_plan_error_quark())
GQuark ng_plan_error_quark(void);

typedef enum {
	NG_PLAN_ERROR_TOO_LARGE, /* more than NG_PLAN_MAX_SIZE bytes */
	NG_PLAN_ERROR_SYNTAX,	 /* not UTF-8, not JSON, nested too deep */
	NG_PLAN_ERROR_INVALID,	 /* JSON, but not a valid plan: the message names the path */
} NgPlanError;

#define NG_PLAN_MAX_SIZE	  65536u /* bytes of JSON */
#define NG_PLAN_MAX_DEPTH	  16u	 /* nesting of objects/arrays; a plan needs 4 */
#define NG_PLAN_REF_MAX_LEN	  64u	 /* plan_id and patient_ref, characters */
#define NG_PLAN_DEPTH_MAX_MM	  3.0	 /* no pen reaches deeper */
#define NG_PLAN_SPEED_MAX_HZ	  150.0	 /* pens run at 50 to 150 Hz */
#define NG_PLAN_SESSIONS_MAX	  52u	 /* sessions in one course */
#define NG_PLAN_INTERVAL_MAX_DAYS 365u
#define NG_PLAN_AREA_TIME_MAX_S	  14400u /* 4 h: longer is a typo, not a treatment */
#define NG_PLAN_SESSION_MAX_S	  14400u
#define NG_PLAN_PASSES_MAX	  100u
#define NG_PLAN_AFTERCARE_MAX_H	  8760u /* one year */

/* Aftercare restrictions after every session (BRIEF.md); the plan may change
 * each one's duration in hours, 0 dropping it from the patient's list. */
typedef enum {
	NG_AFTERCARE_SUN_PROTECTION,	    /* avoid sun, SPF 30+ every day: 7 days */
	NG_AFTERCARE_NO_HARSH_CLEANSERS,    /* 4 days */
	NG_AFTERCARE_NO_ACTIVE_INGREDIENTS, /* AHA, BHA, vitamin C, benzoyl peroxide, vitamin A, retinol: 4
					       days */
	NG_AFTERCARE_NO_PERFUMED_PRODUCTS,  /* 4 days */
	NG_AFTERCARE_NO_HEAVY_EXERCISE,	    /* 48 h */
	NG_AFTERCARE_NO_SAUNA,		    /* 48 h */
	NG_AFTERCARE_NO_CHLORINATED_POOLS,  /* 48 h */
	NG_AFTERCARE_NO_SOLARIUM,	    /* 48 h */
	NG_AFTERCARE_NO_SPRAY_TANNING,	    /* 48 h */
	NG_AFTERCARE_NO_COSMETIC_TATTOOING, /* 48 h */
	NG_AFTERCARE_NO_SHAVING,	    /* 24 h (BRIEF: 12 to 24 h; the safe end) */
} NgAftercare;
#define NG_AFTERCARE_COUNT 11u

/* "sun_protection", ...; NULL outside the enum. */
const char *ng_aftercare_to_string(NgAftercare rule);
/* -1 for a name that is not a restriction. */
int ng_aftercare_from_string(const char *name);
/* The default duration in hours (BRIEF.md's aftercare). */
guint ng_aftercare_default_hours(NgAftercare rule);
/* One sentence for the patient: "Avoid the sun and use SPF 30+ every day." */
const char *ng_aftercare_describe(NgAftercare rule);

/* One treated area of a plan. Units as in proto/np.h. */
typedef struct {
	gboolean present; /* the plan includes this area */
	guint16 depth_min_centi_mm;
	guint16 depth_max_centi_mm;
	guint16 speed_min_deci_hz;
	guint16 speed_max_deci_hz;
	guint32 max_time_s;
	guint passes; /* 0: not given */
} NgPlanArea;

/* A parsed, valid plan. Read-only once parsed; reference counted so that a
 * pen's assignment and a running session can share it. */
typedef struct {
	char *plan_id;	   /* 1-64 chars of [A-Za-z0-9._:-] */
	char *patient_ref; /* pseudonymous, 1-64 chars of [A-Za-z0-9._:-] */
	guint session_number;
	guint sessions_total;
	guint min_interval_days;
	gboolean has_previous_session;
	gint64 previous_session_ms; /* UTC ms, if has_previous_session */
	gboolean needles_allowed[256];
	NgPlanArea areas[NP_AREA_COUNT]; /* indexed by NpArea */
	guint32 max_session_s;
	gint aftercare_hours[NG_AFTERCARE_COUNT]; /* -1: the default */
	/*< private >*/
	gint ref_count;
} NgPlan;

/*
 * Parses and validates a plan. @len -1 means NUL-terminated. On failure,
 * NULL with an NG_PLAN_ERROR whose message is "$.path: reason", e.g.
 * "$.areas.forehead.depth_mm.max: 3.5 is beyond the 3.0 mm any pen can reach".
 * Never crashes, whatever the bytes (fuzzed).
 */
NgPlan *ng_plan_parse(const char *json, gssize len, GError **error);
/* Reads and parses a file; the error is prefixed with the file name. */
NgPlan *ng_plan_load_file(const char *path, GError **error);

NgPlan *ng_plan_ref(NgPlan *plan);
void ng_plan_unref(NgPlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgPlan, ng_plan_unref)

/* The plan as canonical JSON (fields in schema order, areas in code order,
 * needles ascending, defaults omitted): ng_plan_parse () of it gives an equal plan. */
char *ng_plan_to_json(const NgPlan *plan);
/* Appends the same, for payload builders. */
void ng_plan_append_json(GString *out, const NgPlan *plan);
/* Same limits, course, areas, aftercare and ids. */
gboolean ng_plan_equal(const NgPlan *a, const NgPlan *b);

/* The area's entry, or NULL when the plan does not include @area (any code). */
const NgPlanArea *ng_plan_get_area(const NgPlan *plan, guint8 area);
/* The pen's Set Limits for @area: max depth, speed range. FALSE if the plan
 * does not include the area (then the gateway sends Clear Limits, and the
 * rule engine raises area_not_in_plan). */
gboolean ng_plan_get_limits(const NgPlan *plan, guint8 area, NpLimits *out);
/* Whether a cartridge with @needles needles is allowed. */
gboolean ng_plan_needles_allowed(const NgPlan *plan, guint needles);
/* Hours of @rule after a session under this plan (0: not on the list). */
guint ng_plan_aftercare_hours(const NgPlan *plan, NgAftercare rule);
/* Comma-separated lists for messages: "forehead,cheeks", "12,36". */
char *ng_plan_areas_to_string(const NgPlan *plan);
char *ng_plan_needles_to_string(const NgPlan *plan);

G_END_DECLS
