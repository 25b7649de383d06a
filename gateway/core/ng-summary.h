/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session's summary: per-area figures, compliance, aftercare and the course, for the "ended" message. */

#pragma once

#include <glib.h>

#include "ng-plan.h"
#include "ng-rules.h"
#include "np.h"

G_BEGIN_DECLS

/* Figures for one area (codes 0x00-0x0F; index NP_AREA_COUNT gathers unknown codes). */
typedef struct {
	guint32 records;	/* every record in the area */
	guint32 active_records; /* with the motor running: the ones the depth/speed figures use */
	guint32 within_plan;	/* active records inside the plan's depth and speed ranges */
	guint64 time_ms;	/* needling time (motor running) */
	guint16 depth_max_centi_mm;
	guint64 depth_sum_centi_mm;
	guint64 speed_sum_deci_hz;
} NgSummaryArea;

/* Fed by the rule engine (ng_rules_get_summary ()); the fields are read-only for others. */
struct _NgSummary {
	NgPlan *plan; /* NULL: none */
	guint16 session_id;
	gint64 start_ms;
	NgSummaryArea areas[NP_AREA_COUNT + 1];
	guint alerts_by_severity[NG_SEVERITY_COUNT]; /* raised and single-event alerts */
	guint alerts_by_rule[NG_RULE_COUNT];
};

NgSummary *ng_summary_new(void);
void ng_summary_free(NgSummary *summary);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgSummary, ng_summary_free)

/* Forgets everything: a new session under @plan (NULL: none; a reference is taken). */
void ng_summary_reset(NgSummary *summary, NgPlan *plan, guint16 session_id, gint64 start_ms);

/* One record in area index @area (code, NP_AREA_COUNT for unknown); inline: runs per record. */
static inline void
ng_summary_add_record(NgSummary *summary, guint area, const NpTelemetryRecord *rec, gboolean active,
		      gboolean within_plan, guint32 step_ms)
{
	NgSummaryArea *a = &summary->areas[area];

	a->records++;
	if (!active)
		return;
	a->active_records++;
	a->within_plan += within_plan ? 1u : 0u;
	a->time_ms += step_ms;
	if (rec->depth_centi_mm > a->depth_max_centi_mm)
		a->depth_max_centi_mm = rec->depth_centi_mm;
	a->depth_sum_centi_mm += rec->depth_centi_mm;
	a->speed_sum_deci_hz += rec->speed_deci_hz;
}

/* Counts a raised or single-event alert (cleared ones are not counted again). */
void ng_summary_add_alert(NgSummary *summary, const NgAlert *alert);

/*
 * Appends the fields the session "ended" payload adds, comma-separated with
 * no braces around them, so that the caller can put them in its own object:
 *   "duration_s":2400.000,"reason":"stopped",
 *   "summary":{"records":…,"areas":{"forehead":{"time_s","records","active_records",
 *              "max_depth_mm","mean_depth_mm","mean_speed_hz","within_plan"}},
 *              "compliance":{"depth_above_max":{"ok":true,"alerts":0},…}},
 *   "alerts":{"critical":0,"warning":1,"info":0},
 *   "aftercare":[{"rule":"sun_protection","until":ISO,"hours":168,"advice":"…"},…],
 *   "course":{"session_number":2,"sessions_total":4,"min_interval_days":28}|null,
 *   "next_session_earliest":ISO|null
 * Aftercare runs from @end_ms: BRIEF.md's defaults, changed by the plan's
 * "aftercare". next_session_earliest is end + min_interval_days, null after
 * the course's last session or with no plan.
 */
void ng_summary_append_ended_fields(NgSummary *summary, GString *out, gint64 end_ms, guint32 duration_ms,
				    const char *reason);
/* The same fields inside braces: a JSON object, for the journal. */
char *ng_summary_to_json(NgSummary *summary, gint64 end_ms, guint32 duration_ms, const char *reason);

/* Just the aftercare list, for @plan (NULL: the defaults), from @end_ms. */
void ng_summary_append_aftercare(GString *out, const NgPlan *plan, gint64 end_ms);

G_END_DECLS
