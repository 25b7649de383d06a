/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session's summary: per-area figures and alert counts (mqtt/ng-summary-json.c writes it). */

#pragma once

#include <glib.h>

#include "ng-alert.h"
#include "ng-plan.h"
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
typedef struct _NgSummary NgSummary;
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

G_END_DECLS
