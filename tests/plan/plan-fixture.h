/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the rule and summary tests: a plan, an engine that records every alert, records made to order. */

#pragma once

#include "ng-plan.h"
#include "ng-publisher.h"
#include "ng-rules.h"
#include "ng-summary-json.h"

/* forehead 0.25-0.50 mm, 80-120 Hz, 300 s; cheeks 0.50-1.00 mm, 80-150 Hz, 600 s; needles 12, 36;
 * session 1 of 3, 28 days after 2026-10-01T10:00:00Z; at most 3600 s; no_shaving 12 h. */
static const char fixture_plan[] =
    "{\"plan_id\":\"p1\",\"patient_ref\":\"P-1\","
    "\"course\":{\"session_number\":1,\"sessions_total\":3,\"min_interval_days\":28,"
    "\"previous_session\":\"2026-10-01T10:00:00Z\"},"
    "\"allowed_needles\":[12,36],"
    "\"areas\":{\"forehead\":{\"depth_mm\":{\"min\":0.25,\"max\":0.5},\"speed_hz\":{\"min\":80,\"max\":120},"
    "\"max_time_s\":300,\"passes\":3},"
    "\"cheeks\":{\"depth_mm\":{\"min\":0.5,\"max\":1.0},\"speed_hz\":{\"min\":80,\"max\":150},\"max_time_s\":"
    "600}},"
    "\"max_session_s\":3600,\"aftercare\":{\"no_shaving\":12}}";

#define T0_MS	   G_GINT64_CONSTANT(1795514400000) /* 2026-11-24T10:00:00Z */
#define DAY_MS	   G_GINT64_CONSTANT(86400000)
#define SESSION_ID 7u
#define PEN	   "NP-0001"

typedef struct {
	NgRules *rules;
	NgPlan *plan;
	GArray *alerts;	 /* NgAlert, copied */
	GPtrArray *json; /* the MQTT payload of each */
	guint32 seq;
} Fixture;

static inline void
fixture_on_alert(const NgAlert *alert, gpointer data)
{
	Fixture *f = data;
	GString *s = g_string_new(NULL);

	g_array_append_val(f->alerts, *alert);
	ng_publisher_append_alert(s, alert, PEN);
	g_ptr_array_add(f->json, g_string_free(s, FALSE));
}

static inline void
fixture_init(Fixture *f, guint debounce_ms)
{
	NgRulesConfig config = {debounce_ms};
	g_autoptr(GError) error = NULL;

	f->plan = ng_plan_parse(fixture_plan, -1, &error);
	g_assert_no_error(error);
	f->rules = ng_rules_new(&config, fixture_on_alert, f);
	f->alerts = g_array_new(FALSE, TRUE, sizeof(NgAlert));
	f->json = g_ptr_array_new_with_free_func(g_free);
	f->seq = 100;
}

static inline void
fixture_clear(Fixture *f)
{
	ng_rules_free(f->rules);
	ng_plan_unref(f->plan);
	g_array_unref(f->alerts);
	g_ptr_array_unref(f->json);
}

/* The start the tests edit: a fresh 12-needle cartridge, on the forehead, clock set. */
static inline NgSessionStart
fixture_default_start(Fixture *f)
{
	NgSessionStart s = {
	    .session_id = SESSION_ID,
	    .seq = f->seq++,
	    .start_ms = T0_MS,
	    .cartridge = {.cartridge_id = 1001, .needle_count = 12, .use_count = 1},
	    .area = NP_AREA_FOREHEAD,
	    .clock_set = TRUE,
	};
	return s;
}

static inline void
fixture_start(Fixture *f, NgPlan *plan)
{
	NgSessionStart s = fixture_default_start(f);

	ng_rules_session_start(f->rules, &s, plan);
}

static inline void
fixture_record_flags(Fixture *f, guint32 offset_ms, guint depth, guint speed, guint8 flags, guint8 area)
{
	NpTelemetryRecord r = {
	    .flags = flags,
	    .seq = f->seq++,
	    .session_id = SESSION_ID,
	    .offset_ms = offset_ms,
	    .depth_centi_mm = (guint16)depth,
	    .speed_deci_hz = (guint16)speed,
	    .area = area,
	};
	ng_rules_record(f->rules, &r, T0_MS + offset_ms);
}

/* A needling record (motor running, skin contact) in the current area. */
static inline void
fixture_record(Fixture *f, guint32 offset_ms, guint depth, guint speed)
{
	fixture_record_flags(f, offset_ms, depth, speed, NP_TELEMETRY_FLAG_MOTOR | NP_TELEMETRY_FLAG_CONTACT,
			     0);
}

/* Records every @step ms in [from, to]. */
static inline void
fixture_records(Fixture *f, guint32 from, guint32 to, guint32 step, guint depth, guint speed)
{
	for (guint32 t = from; t <= to; t += step)
		fixture_record(f, t, depth, speed);
}

static inline guint
fixture_count(Fixture *f, NgRule rule, NgAlertState state)
{
	guint n = 0;

	for (guint i = 0; i < f->alerts->len; i++) {
		const NgAlert *a = &g_array_index(f->alerts, NgAlert, i);

		if (a->rule == rule && a->state == state)
			n++;
	}
	return n;
}

static inline const NgAlert *
fixture_alert(Fixture *f, guint index)
{
	g_assert_cmpuint(index, <, f->alerts->len);
	return &g_array_index(f->alerts, NgAlert, index);
}
