/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session's summary as the fields of the "ended" payload and the journal's JSON. */

#pragma once

#include <glib.h>

#include "ng-summary.h"

G_BEGIN_DECLS

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
void ng_summary_json_append_ended_fields(NgSummary *summary, GString *out, gint64 end_ms, guint32 duration_ms,
					 const char *reason);
/* The same fields inside braces: a JSON object, for the journal. */
char *ng_summary_json_to_string(NgSummary *summary, gint64 end_ms, guint32 duration_ms, const char *reason);

/* Just the aftercare list, for @plan (NULL: the defaults), from @end_ms. */
void ng_summary_json_append_aftercare(GString *out, const NgPlan *plan, gint64 end_ms);

G_END_DECLS
