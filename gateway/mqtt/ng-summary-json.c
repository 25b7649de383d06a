/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session's summary, compliance, aftercare and course position as the "ended" payload fields. */

#include "ng-summary-json.h"

#include "ng-json.h"

#define HOUR_MS G_GINT64_CONSTANT(3600000)
#define DAY_MS	G_GINT64_CONSTANT(86400000)

/* n / d rounded to the nearest integer. */
static guint64
div_round(guint64 n, guint64 d)
{
	return (n + d / 2) / d;
}

static void
append_area(GString *out, const NgSummaryArea *a, gboolean with_plan)
{
	g_string_append(out, "{\"time_s\":");
	ng_json_append_fixed(out, a->time_ms, 3);
	g_string_append_printf(out, ",\"records\":%u,\"active_records\":%u", a->records, a->active_records);
	if (a->active_records == 0) {
		g_string_append(out, ",\"max_depth_mm\":null,\"mean_depth_mm\":null,\"mean_speed_hz\":null,"
				     "\"within_plan\":null}");
		return;
	}
	g_string_append(out, ",\"max_depth_mm\":");
	ng_json_append_fixed(out, a->depth_max_centi_mm, 2);
	g_string_append(out, ",\"mean_depth_mm\":");
	ng_json_append_fixed(out, div_round(a->depth_sum_centi_mm, a->active_records), 2);
	g_string_append(out, ",\"mean_speed_hz\":");
	ng_json_append_fixed(out, div_round(a->speed_sum_deci_hz, a->active_records), 1);
	g_string_append(out, ",\"within_plan\":");
	if (with_plan)
		ng_json_append_fixed(out, div_round((guint64)a->within_plan * 1000, a->active_records), 3);
	else
		g_string_append(out, "null");
	g_string_append_c(out, '}');
}

static void
append_summary(NgSummary *self, GString *out)
{
	guint64 records = 0;
	gboolean first = TRUE;

	for (guint i = 0; i < G_N_ELEMENTS(self->areas); i++)
		records += self->areas[i].records;
	g_string_append_printf(out, "{\"records\":%" G_GUINT64_FORMAT ",\"areas\":{", records);
	for (guint i = 0; i < G_N_ELEMENTS(self->areas); i++) {
		if (self->areas[i].records == 0)
			continue;
		g_string_append_printf(out, "%s\"%s\":", first ? "" : ",", np_area_to_string((guint8)i));
		append_area(out, &self->areas[i], self->plan != NULL);
		first = FALSE;
	}
	g_string_append(out, "},\"compliance\":{");
	for (guint r = 0; r < NG_RULE_COUNT; r++)
		g_string_append_printf(out, "%s\"%s\":{\"ok\":%s,\"alerts\":%u}", r == 0 ? "" : ",",
				       ng_rule_to_string((NgRule)r),
				       self->alerts_by_rule[r] == 0 ? "true" : "false",
				       self->alerts_by_rule[r]);
	g_string_append(out, "}}");
}

void
ng_summary_json_append_aftercare(GString *out, const NgPlan *plan, gint64 end_ms)
{
	gboolean first = TRUE;

	g_string_append_c(out, '[');
	for (guint i = 0; i < NG_AFTERCARE_COUNT; i++) {
		guint hours = ng_plan_aftercare_hours(plan, (NgAftercare)i);

		if (hours == 0)
			continue;
		g_string_append_printf(out, "%s{\"rule\":\"%s\",\"until\":", first ? "" : ",",
				       ng_aftercare_to_string((NgAftercare)i));
		ng_json_append_time(out, end_ms + (gint64)hours * HOUR_MS);
		g_string_append_printf(out, ",\"hours\":%u,\"advice\":", hours);
		ng_json_append_string(out, ng_aftercare_describe((NgAftercare)i));
		g_string_append_c(out, '}');
		first = FALSE;
	}
	g_string_append_c(out, ']');
}

static void
append_course(NgSummary *self, GString *out, gint64 end_ms)
{
	const NgPlan *plan = self->plan;

	if (plan == NULL) {
		g_string_append(out, ",\"course\":null,\"next_session_earliest\":null");
		return;
	}
	g_string_append_printf(
	    out, ",\"course\":{\"session_number\":%u,\"sessions_total\":%u,\"min_interval_days\":%u}",
	    plan->session_number, plan->sessions_total, plan->min_interval_days);
	g_string_append(out, ",\"next_session_earliest\":");
	if (plan->session_number >= plan->sessions_total)
		g_string_append(out, "null");
	else
		ng_json_append_time(out, end_ms + (gint64)plan->min_interval_days * DAY_MS);
}

void
ng_summary_json_append_ended_fields(NgSummary *self, GString *out, gint64 end_ms, guint32 duration_ms,
				    const char *reason)
{
	g_return_if_fail(self != NULL && out != NULL);
	g_string_append(out, "\"duration_s\":");
	ng_json_append_fixed(out, duration_ms, 3);
	g_string_append(out, ",\"reason\":");
	ng_json_append_string(out, reason);
	g_string_append(out, ",\"summary\":");
	append_summary(self, out);
	g_string_append_printf(out, ",\"alerts\":{\"critical\":%u,\"warning\":%u,\"info\":%u}",
			       self->alerts_by_severity[NG_SEVERITY_CRITICAL],
			       self->alerts_by_severity[NG_SEVERITY_WARNING],
			       self->alerts_by_severity[NG_SEVERITY_INFO]);
	g_string_append(out, ",\"aftercare\":");
	ng_summary_json_append_aftercare(out, self->plan, end_ms);
	append_course(self, out, end_ms);
}

char *
ng_summary_json_to_string(NgSummary *self, gint64 end_ms, guint32 duration_ms, const char *reason)
{
	GString *out = g_string_new("{");

	ng_summary_json_append_ended_fields(self, out, end_ms, duration_ms, reason);
	g_string_append_c(out, '}');
	return g_string_free(out, FALSE);
}
