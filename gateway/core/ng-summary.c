/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session's figures per area and its alert counts, fed by the rule engine. */

#include "ng-summary.h"

#include <string.h>

NgSummary *
ng_summary_new(void)
{
	return g_new0(NgSummary, 1);
}

void
ng_summary_free(NgSummary *self)
{
	if (self == NULL)
		return;
	ng_plan_unref(self->plan);
	g_free(self);
}

void
ng_summary_reset(NgSummary *self, NgPlan *plan, guint16 session_id, gint64 start_ms)
{
	g_return_if_fail(self != NULL);
	ng_plan_unref(self->plan);
	memset(self, 0, sizeof *self);
	self->plan = plan != NULL ? ng_plan_ref(plan) : NULL;
	self->session_id = session_id;
	self->start_ms = start_ms;
}

void
ng_summary_add_alert(NgSummary *self, const NgAlert *alert)
{
	g_return_if_fail(self != NULL && alert != NULL);
	if (alert->state == NG_ALERT_CLEARED)
		return;
	self->alerts_by_severity[alert->severity]++;
	self->alerts_by_rule[alert->rule]++;
}
