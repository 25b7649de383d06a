/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Micro-benchmark: nanoseconds per telemetry record through the rule engine and the session summary. */

#include <stdio.h>

#include "plan-fixture.h"

#define N_RECORDS 2000000u
#define ROUNDS	  5u

static guint alerts;

static void
count_alert(const NgAlert *alert, gpointer data)
{
	alerts++;
}

/* Realistic records: within the plan, with a short spike (under the debounce) every 1000 records. */
static NpTelemetryRecord *
make_records(void)
{
	NpTelemetryRecord *recs = g_new0(NpTelemetryRecord, N_RECORDS);

	for (guint i = 0; i < N_RECORDS; i++) {
		NpTelemetryRecord *r = &recs[i];

		r->size = 16;
		r->flags = NP_TELEMETRY_FLAG_MOTOR | NP_TELEMETRY_FLAG_CONTACT;
		r->seq = i;
		r->session_id = SESSION_ID;
		r->offset_ms = i; /* 1000 records/s: the rule thresholds see real time */
		r->depth_centi_mm = (guint16)(30 + i % 20);
		r->speed_deci_hz = (guint16)(900 + i % 200);
		if (i % 1000 < 5)
			r->depth_centi_mm = 70;
	}
	return recs;
}

int
main(int argc, char **argv)
{
	g_autoptr(NgPlan) plan = ng_plan_parse(fixture_plan, -1, NULL);
	g_autoptr(NgRules) rules = ng_rules_new(NULL, count_alert, NULL);
	g_autofree NpTelemetryRecord *recs = make_records();
	NgSessionStart start = {.session_id = SESSION_ID,
				.start_ms = T0_MS,
				.area = NP_AREA_FOREHEAD,
				.clock_set = TRUE,
				.cartridge = {1001, 12, 1}};
	double best = G_MAXDOUBLE;

	g_assert_nonnull(plan);
	for (guint round = 0; round < ROUNDS; round++) {
		gint64 t0;
		double ns;

		ng_rules_session_start(rules, &start, plan);
		t0 = g_get_monotonic_time();
		for (guint i = 0; i < N_RECORDS; i++)
			ng_rules_record(rules, &recs[i], T0_MS + recs[i].offset_ms);
		ns = (double)(g_get_monotonic_time() - t0) * 1000.0 / N_RECORDS;
		ng_rules_session_end(rules, 1, T0_MS + N_RECORDS, N_RECORDS);
		best = MIN(best, ns);
	}
	printf("rules+summary: %.1f ns/record (best of %u rounds of %u records; %u alerts in all)\n", best,
	       ROUNDS, N_RECORDS, alerts);
	return 0;
}
