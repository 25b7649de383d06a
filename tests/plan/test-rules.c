/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the rule engine: every rule at its boundary, the debounce, one alert per excursion, its end.
 */

#include <string.h>

#include "plan-fixture.h"

#define MOTOR (NP_TELEMETRY_FLAG_MOTOR | NP_TELEMETRY_FLAG_CONTACT)

/* Ends the session and checks that every raised alert got one cleared twin (same id and rule) after it. */
static void
end_and_check_pairs(Fixture *f, guint32 duration_ms)
{
	ng_rules_session_end(f->rules, f->seq++, T0_MS + duration_ms, duration_ms);
	g_assert_false(ng_rules_in_session(f->rules));
	for (guint r = 0; r < NG_RULE_COUNT; r++)
		g_assert_cmpuint(fixture_count(f, (NgRule)r, NG_ALERT_RAISED), ==,
				 fixture_count(f, (NgRule)r, NG_ALERT_CLEARED));
	for (guint i = 0; i < f->alerts->len; i++) {
		const NgAlert *a = fixture_alert(f, i);
		gboolean found = FALSE;

		if (a->state != NG_ALERT_RAISED)
			continue;
		for (guint j = i + 1; j < f->alerts->len && !found; j++) {
			const NgAlert *b = fixture_alert(f, j);

			found = b->state == NG_ALERT_CLEARED && b->id == a->id && b->rule == a->rule;
		}
		g_assert_true(found);
	}
}

static void
test_rules_names(void)
{
	static const char *const names[NG_RULE_COUNT] = {
	    "depth_above_max",	  "depth_below_min",  "speed_out_of_range", "area_not_in_plan",
	    "area_time_exceeded", "session_too_long", "cartridge_reused",   "cartridge_not_allowed",
	    "session_too_soon",	  "device_error",     "telemetry_gap",	    "no_plan",
	    "clock_not_set",
	};
	static const NgSeverity severities[NG_RULE_COUNT] = {
	    NG_SEVERITY_CRITICAL, NG_SEVERITY_INFO,	NG_SEVERITY_WARNING,  NG_SEVERITY_CRITICAL,
	    NG_SEVERITY_WARNING,  NG_SEVERITY_WARNING,	NG_SEVERITY_CRITICAL, NG_SEVERITY_WARNING,
	    NG_SEVERITY_WARNING,  NG_SEVERITY_CRITICAL, NG_SEVERITY_WARNING,  NG_SEVERITY_WARNING,
	    NG_SEVERITY_INFO,
	};

	for (guint r = 0; r < NG_RULE_COUNT; r++) {
		g_assert_cmpstr(ng_rule_to_string((NgRule)r), ==, names[r]);
		g_assert_cmpint(ng_rule_severity((NgRule)r), ==, severities[r]);
	}
}

/* A clean session raises nothing at all. */
static void
test_rules_clean_session(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	fixture_records(&f, 0, 2000, 40, 50, 1200);   /* exactly at the max depth and max speed */
	fixture_records(&f, 2040, 4000, 40, 25, 800); /* exactly at the minimums */
	end_and_check_pairs(&f, 4000);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_clear(&f);
}

static void
test_rules_depth_above_max(void)
{
	Fixture f;
	const NgAlert *a;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	fixture_records(&f, 0, 1000, 40, 51, 1000); /* one unit (0.01 mm) over */
	g_assert_cmpuint(f.alerts->len, ==, 1);
	a = fixture_alert(&f, 0);
	g_assert_cmpint(a->rule, ==, NG_RULE_DEPTH_ABOVE_MAX);
	g_assert_cmpint(a->severity, ==, NG_SEVERITY_CRITICAL);
	g_assert_cmpint(a->state, ==, NG_ALERT_RAISED);
	g_assert_cmpuint(a->area, ==, NP_AREA_FOREHEAD);
	g_assert_cmpuint(a->seq, ==, 101 + 5); /* the record at 200 ms: the sixth */
	g_assert_cmpint(a->t_ms, ==, T0_MS + 200);
	g_assert_cmpuint(a->measured.num, ==, 51);
	g_assert_cmpuint(a->limit.num, ==, 50);
	g_assert_cmpstr(a->unit, ==, "mm");
	g_assert_cmpstr(a->message, ==,
			"Needle depth 0.51 mm on the forehead is above the plan's maximum of 0.50 mm.");
	g_assert_cmpstr(
	    g_ptr_array_index(f.json, 0), ==,
	    "{\"pen\":\"NP-0001\",\"session\":7,\"seq\":106,\"t\":\"2026-11-24T10:00:00.200Z\","
	    "\"severity\":\"critical\",\"rule\":\"depth_above_max\",\"area\":\"forehead\",\"measured\":0.51,"
	    "\"limit\":0.50,\"unit\":\"mm\",\"message\":\"Needle depth 0.51 mm on the forehead is above the "
	    "plan's maximum of 0.50 mm.\",\"state\":\"raised\",\"id\":1,\"replayed\":false}");
	end_and_check_pairs(&f, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 2);
	fixture_clear(&f);
}

/* 199 ms over: nothing; 200 ms over: raised. */
static void
test_rules_debounce(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	fixture_record(&f, 1000, 80, 1000);
	fixture_record(&f, 1199, 80, 1000);
	fixture_record(&f, 1240, 50, 1000);
	fixture_record(&f, 1300, 50, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_record(&f, 2000, 80, 1000);
	fixture_record(&f, 2100, 90, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_record(&f, 2200, 85, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	/* the worst value of the excursion so far, not the last */
	g_assert_cmpuint(fixture_alert(&f, 0)->measured.num, ==, 90);
	g_assert_cmpint(fixture_alert(&f, 0)->t_ms, ==, T0_MS + 2200);
	end_and_check_pairs(&f, 3000);
	fixture_clear(&f);
}

static void
test_rules_debounce_configurable(void)
{
	Fixture f;

	fixture_init(&f, 0);
	fixture_start(&f, f.plan);
	fixture_record(&f, 0, 51, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	fixture_clear(&f);

	fixture_init(&f, 500);
	fixture_start(&f, f.plan);
	fixture_records(&f, 0, 499, 1, 51, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_record(&f, 500, 51, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	fixture_clear(&f);
}

/* One raised per excursion, however long and however noisy; one cleared when it is over. */
static void
test_rules_excursion_once_and_clear(void)
{
	Fixture f;
	const NgAlert *cleared;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	for (guint32 t = 0; t <= 3000; t += 40)
		fixture_record(&f, t, t == 1520 ? 50 : 51 + (t / 40) % 10, 1000); /* one good record inside */
	g_assert_cmpuint(f.alerts->len, ==, 1);
	/* back within: cleared once the value has stayed back for the debounce time */
	fixture_records(&f, 3040, 3200, 40, 50, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	fixture_record(&f, 3240, 50, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 2);
	cleared = fixture_alert(&f, 1);
	g_assert_cmpint(cleared->state, ==, NG_ALERT_CLEARED);
	g_assert_cmpint(cleared->rule, ==, NG_RULE_DEPTH_ABOVE_MAX);
	g_assert_cmpuint(cleared->id, ==, fixture_alert(&f, 0)->id);
	g_assert_cmpuint(cleared->measured.num, ==, 60); /* the worst of the excursion */
	g_assert_cmpint(cleared->duration_ms, ==, 3040);
	g_assert_cmpint(cleared->t_ms, ==, T0_MS + 3240);
	g_assert_cmpstr(
	    cleared->message, ==,
	    "Cleared after 3.0 s: needle depth 0.60 mm on the forehead is above the plan's maximum of "
	    "0.50 mm.");
	g_assert_nonnull(strstr(g_ptr_array_index(f.json, 1),
				"\"state\":\"cleared\",\"id\":1,\"replayed\":false,\"duration_ms\":3040}"));
	/* a second excursion is a second alert */
	fixture_records(&f, 4000, 4400, 40, 55, 1000);
	g_assert_cmpuint(fixture_count(&f, NG_RULE_DEPTH_ABOVE_MAX, NG_ALERT_RAISED), ==, 2);
	g_assert_cmpuint(fixture_alert(&f, 2)->id, ==, 2);
	end_and_check_pairs(&f, 5000);
	fixture_clear(&f);
}

/* Noise around the limit (never 200 ms in a row over) raises nothing. */
static void
test_rules_noise(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	for (guint32 t = 0; t <= 10000; t += 40)
		fixture_record(&f, t, (t / 40) % 4 == 3 ? 50 : 52, (t / 40) % 5 == 4 ? 1200 : 1210);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_clear(&f);
}

static void
test_rules_depth_below_min(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	fixture_records(&f, 0, 1000, 40, 25, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_records(&f, 1040, 2000, 40, 24, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_DEPTH_BELOW_MIN);
	g_assert_cmpint(fixture_alert(&f, 0)->severity, ==, NG_SEVERITY_INFO);
	g_assert_cmpuint(fixture_alert(&f, 0)->measured.num, ==, 24);
	g_assert_cmpuint(fixture_alert(&f, 0)->limit.num, ==, 25);
	g_assert_cmpstr(fixture_alert(&f, 0)->message, ==,
			"Needle depth 0.24 mm on the forehead is below the plan's minimum of 0.25 mm.");
	end_and_check_pairs(&f, 2000);
	fixture_clear(&f);
}

static void
test_rules_speed(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	fixture_records(&f, 0, 1000, 40, 40, 1200);
	fixture_records(&f, 1040, 2000, 40, 40, 800);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_records(&f, 2040, 3000, 40, 40, 1201); /* 0.1 Hz over */
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_SPEED_OUT_OF_RANGE);
	g_assert_cmpint(fixture_alert(&f, 0)->severity, ==, NG_SEVERITY_WARNING);
	g_assert_cmpuint(fixture_alert(&f, 0)->limit.num, ==, 1200);
	g_assert_cmpstr(fixture_alert(&f, 0)->message, ==,
			"Needle speed 120.1 Hz on the forehead is above the plan's maximum of 120.0 Hz.");
	fixture_records(&f, 3040, 4000, 40, 40, 1000);
	g_assert_cmpuint(fixture_count(&f, NG_RULE_SPEED_OUT_OF_RANGE, NG_ALERT_CLEARED), ==, 1);
	fixture_records(&f, 4040, 5000, 40, 40, 799); /* 0.1 Hz under */
	g_assert_cmpuint(fixture_count(&f, NG_RULE_SPEED_OUT_OF_RANGE, NG_ALERT_RAISED), ==, 2);
	g_assert_cmpuint(fixture_alert(&f, 2)->measured.num, ==, 799);
	g_assert_cmpuint(fixture_alert(&f, 2)->limit.num, ==, 800);
	end_and_check_pairs(&f, 5000);
	fixture_clear(&f);
}

/* The motor stopped: a depth setting is not a needle in the skin. */
static void
test_rules_motor_off_is_not_needling(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	for (guint32 t = 0; t <= 2000; t += 40)
		fixture_record_flags(&f, t, 300, 0, 0, 0);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_clear(&f);
}

static void
test_rules_area_not_in_plan(void)
{
	Fixture f;
	const NgAlert *a;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	/* cheeks are in the plan */
	for (guint32 t = 0; t <= 1000; t += 40)
		fixture_record_flags(&f, t, 60, 1000, MOTOR | NP_TELEMETRY_FLAG_AREA, NP_AREA_CHEEKS);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	/* the nose is not; 199 ms there is not an excursion yet */
	fixture_record_flags(&f, 1040, 30, 1000, MOTOR | NP_TELEMETRY_FLAG_AREA, NP_AREA_NOSE);
	fixture_record_flags(&f, 1239, 30, 1000, MOTOR | NP_TELEMETRY_FLAG_AREA, NP_AREA_NOSE);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_record_flags(&f, 1240, 30, 1000, MOTOR | NP_TELEMETRY_FLAG_AREA, NP_AREA_NOSE);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	a = fixture_alert(&f, 0);
	g_assert_cmpint(a->rule, ==, NG_RULE_AREA_NOT_IN_PLAN);
	g_assert_cmpint(a->severity, ==, NG_SEVERITY_CRITICAL);
	g_assert_cmpuint(a->area, ==, NP_AREA_NOSE);
	g_assert_cmpstr(a->message, ==,
			"Needling on the nose, which the plan does not include (forehead,cheeks).");
	g_assert_nonnull(
	    strstr(g_ptr_array_index(f.json, 0),
		   "\"area\":\"nose\",\"measured\":\"nose\",\"limit\":\"forehead,cheeks\",\"unit\":null"));
	/* leaving the area ends it at once */
	ng_rules_area_changed(f.rules, NP_AREA_FOREHEAD, f.seq++, T0_MS + 1300);
	g_assert_cmpuint(f.alerts->len, ==, 2);
	g_assert_cmpint(fixture_alert(&f, 1)->state, ==, NG_ALERT_CLEARED);
	g_assert_cmpuint(fixture_alert(&f, 1)->area, ==, NP_AREA_NOSE);
	end_and_check_pairs(&f, 2000);
	fixture_clear(&f);
}

/* An area code outside the profile counts as an area the plan leaves out. */
static void
test_rules_unknown_area(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	for (guint32 t = 0; t <= 400; t += 40)
		fixture_record_flags(&f, t, 30, 1000, MOTOR | NP_TELEMETRY_FLAG_AREA, 0x42);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_AREA_NOT_IN_PLAN);
	g_assert_nonnull(strstr(g_ptr_array_index(f.json, 0), "\"area\":\"unknown\""));
	fixture_clear(&f);
}

static void
test_rules_area_time(void)
{
	Fixture f;
	const NgAlert *a;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	fixture_records(&f, 0, 300000, 1000, 40, 1000); /* exactly 300 s of needling on the forehead */
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_record(&f, 300001, 40, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	a = fixture_alert(&f, 0);
	g_assert_cmpint(a->rule, ==, NG_RULE_AREA_TIME_EXCEEDED);
	g_assert_cmpint(a->severity, ==, NG_SEVERITY_WARNING);
	g_assert_cmpuint(a->measured.num, ==, 300001);
	g_assert_cmpuint(a->limit.num, ==, 300000);
	g_assert_cmpstr(a->message, ==,
			"Needling time on the forehead has reached 300.001 s, more than the plan's 300 s.");
	fixture_records(&f, 301001, 310001, 1000, 40, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	end_and_check_pairs(&f, 320000);
	fixture_clear(&f);
}

static void
test_rules_session_too_long(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	fixture_record_flags(&f, 3600000, 0, 0, 0, 0);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_record_flags(&f, 3600001, 0, 0, 0, 0);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_SESSION_TOO_LONG);
	g_assert_cmpint(fixture_alert(&f, 0)->severity, ==, NG_SEVERITY_WARNING);
	g_assert_cmpuint(fixture_alert(&f, 0)->measured.num, ==, 3600001);
	fixture_record_flags(&f, 3700000, 0, 0, 0, 0);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	end_and_check_pairs(&f, 3700000);
	fixture_clear(&f);

	/* a session with no records: its end decides */
	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	end_and_check_pairs(&f, 3600000);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_start(&f, f.plan);
	end_and_check_pairs(&f, 3600001);
	g_assert_cmpuint(fixture_count(&f, NG_RULE_SESSION_TOO_LONG, NG_ALERT_RAISED), ==, 1);
	fixture_clear(&f);
}

static void
start_with(Fixture *f, guint16 use_count, gboolean seen, guint8 needles)
{
	NgSessionStart s = fixture_default_start(f);

	s.cartridge.use_count = use_count;
	s.cartridge_seen_before = seen;
	s.cartridge.needle_count = needles;
	ng_rules_session_start(f->rules, &s, f->plan);
}

static void
test_rules_cartridge(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	start_with(&f, 1, FALSE, 12);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	start_with(&f, 2, FALSE, 36);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_CARTRIDGE_REUSED);
	g_assert_cmpint(fixture_alert(&f, 0)->severity, ==, NG_SEVERITY_CRITICAL);
	g_assert_cmpuint(fixture_alert(&f, 0)->measured.num, ==, 2);
	g_assert_cmpuint(fixture_alert(&f, 0)->limit.num, ==, 1);
	g_assert_cmpstr(fixture_alert(&f, 0)->message, ==,
			"Cartridge 1001 is in its use number 2: cartridges are single use.");
	/* starting the next session ends this one: the reuse alert is cleared with it */
	start_with(&f, 1, TRUE, 12);
	g_assert_cmpuint(f.alerts->len, ==, 3);
	g_assert_cmpint(fixture_alert(&f, 1)->state, ==, NG_ALERT_CLEARED);
	g_assert_cmpint(fixture_alert(&f, 2)->rule, ==, NG_RULE_CARTRIDGE_REUSED);
	g_assert_cmpstr(fixture_alert(&f, 2)->message, ==,
			"Cartridge 1001 was already used in an earlier session: cartridges are single use.");
	end_and_check_pairs(&f, 1000);
	g_array_set_size(f.alerts, 0);

	start_with(&f, 1, FALSE, 16);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_CARTRIDGE_NOT_ALLOWED);
	g_assert_cmpint(fixture_alert(&f, 0)->severity, ==, NG_SEVERITY_WARNING);
	g_assert_cmpstr(fixture_alert(&f, 0)->message, ==,
			"The cartridge has 16 needles; the plan allows 12,36.");
	/* a new, allowed cartridge mid-session: the alert follows the cartridge out */
	ng_rules_cartridge_inserted(f.rules, &(NpCartridge){2002, 36, 1}, FALSE, f.seq++, T0_MS + 500);
	g_assert_cmpuint(f.alerts->len, ==, 2);
	g_assert_cmpint(fixture_alert(&f, 1)->state, ==, NG_ALERT_CLEARED);
	end_and_check_pairs(&f, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 2);
	fixture_clear(&f);
}

static void
start_after(Fixture *f, gint64 previous_ms)
{
	NgSessionStart s = fixture_default_start(f);

	s.previous_session_ms = previous_ms;
	ng_rules_session_start(f->rules, &s, f->plan);
}

static void
test_rules_session_too_soon(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	start_after(&f, T0_MS - 28 * DAY_MS); /* exactly the minimum interval */
	g_assert_cmpuint(f.alerts->len, ==, 0);
	start_after(&f, T0_MS - 28 * DAY_MS + 1);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_SESSION_TOO_SOON);
	g_assert_cmpint(fixture_alert(&f, 0)->severity, ==, NG_SEVERITY_WARNING);
	g_assert_cmpuint(fixture_alert(&f, 0)->measured.num, ==, 279);
	g_assert_cmpuint(fixture_alert(&f, 0)->measured.decimals, ==, 1);
	g_assert_cmpuint(fixture_alert(&f, 0)->limit.num, ==, 28);
	g_assert_cmpstr(
	    fixture_alert(&f, 0)->message, ==,
	    "Only 27.9 days since the previous session of this course; the plan asks for at least 28.");
	end_and_check_pairs(&f, 1000);
	fixture_clear(&f);
}

/* The plan's own previous_session counts too (2026-10-01 + 28 days is before T0: fine). */
static void
test_rules_session_too_soon_from_plan(void)
{
	Fixture f;
	g_autofree char *doc = NULL;
	g_autoptr(NgPlan) plan = NULL;
	const char *at = strstr(fixture_plan, "2026-10-01T10:00:00Z");
	NgSessionStart s;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	doc = g_strdup_printf("%.*s2026-11-10T10:00:00Z%s", (int)(at - fixture_plan), fixture_plan, at + 20);
	plan = ng_plan_parse(doc, -1, NULL);
	g_assert_nonnull(plan);
	s = fixture_default_start(&f);
	ng_rules_session_start(f.rules, &s, plan);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_SESSION_TOO_SOON);
	g_assert_cmpuint(fixture_alert(&f, 0)->measured.num, ==, 140);
	ng_rules_session_end(f.rules, f.seq++, T0_MS + 1, 1);
	g_array_set_size(f.alerts, 0);
	fixture_start(&f, f.plan);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_clear(&f);
}

static void
test_rules_device_error(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	ng_rules_error_cleared(f.rules, NP_PEN_ERROR_MOTOR_STALL, f.seq++, T0_MS + 10);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	ng_rules_error_raised(f.rules, NP_PEN_ERROR_MOTOR_STALL, f.seq++, T0_MS + 100);
	ng_rules_error_raised(f.rules, NP_PEN_ERROR_MOTOR_STALL, f.seq++, T0_MS + 150);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_DEVICE_ERROR);
	g_assert_cmpint(fixture_alert(&f, 0)->severity, ==, NG_SEVERITY_CRITICAL);
	g_assert_cmpstr(fixture_alert(&f, 0)->message, ==,
			"The pen reports an error: motor stall (code 0x0001).");
	g_assert_nonnull(strstr(g_ptr_array_index(f.json, 0), "\"measured\":\"motor_stall\",\"limit\":null"));
	ng_rules_error_raised(f.rules, 0x0077, f.seq++, T0_MS + 200);
	g_assert_cmpuint(f.alerts->len, ==, 2);
	ng_rules_error_cleared(f.rules, NP_PEN_ERROR_MOTOR_STALL, f.seq++, T0_MS + 1100);
	g_assert_cmpuint(f.alerts->len, ==, 3);
	g_assert_cmpint(fixture_alert(&f, 2)->state, ==, NG_ALERT_CLEARED);
	g_assert_cmpint(fixture_alert(&f, 2)->duration_ms, ==, 1000);
	g_assert_cmpuint(fixture_alert(&f, 2)->id, ==, fixture_alert(&f, 0)->id);
	end_and_check_pairs(&f, 2000);
	fixture_clear(&f);
}

static void
test_rules_telemetry_gap(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	ng_rules_telemetry_gap(f.rules, 500, 504, T0_MS + 3000);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_TELEMETRY_GAP);
	g_assert_cmpint(fixture_alert(&f, 0)->severity, ==, NG_SEVERITY_WARNING);
	g_assert_cmpint(fixture_alert(&f, 0)->state, ==, NG_ALERT_EVENT);
	g_assert_cmpuint(fixture_alert(&f, 0)->seq, ==, 500);
	g_assert_cmpuint(fixture_alert(&f, 0)->measured.num, ==, 5);
	g_assert_cmpstr(fixture_alert(&f, 0)->message, ==,
			"5 records (500 to 504) could not be recovered from the pen.");
	end_and_check_pairs(&f, 4000);
	g_assert_cmpuint(f.alerts->len, ==, 1); /* an event has no end */
	fixture_clear(&f);
}

static void
test_rules_no_plan(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, NULL);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_NO_PLAN);
	g_assert_cmpint(fixture_alert(&f, 0)->severity, ==, NG_SEVERITY_WARNING);
	g_assert_nonnull(
	    strstr(g_ptr_array_index(f.json, 0), "\"measured\":null,\"limit\":null,\"unit\":null"));
	/* nothing to check depth against */
	fixture_records(&f, 0, 1000, 40, 300, 1500);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	end_and_check_pairs(&f, 1000);
	g_array_set_size(f.alerts, 0);
	fixture_start(&f, f.plan);
	g_assert_cmpuint(fixture_count(&f, NG_RULE_NO_PLAN, NG_ALERT_RAISED), ==, 0);
	fixture_clear(&f);
}

static void
test_rules_clock_not_set(void)
{
	Fixture f;
	NgSessionStart s;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	s = fixture_default_start(&f);
	s.clock_set = FALSE;
	ng_rules_session_start(f.rules, &s, f.plan);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->rule, ==, NG_RULE_CLOCK_NOT_SET);
	g_assert_cmpint(fixture_alert(&f, 0)->severity, ==, NG_SEVERITY_INFO);
	end_and_check_pairs(&f, 1000);
	g_array_set_size(f.alerts, 0);
	fixture_start(&f, f.plan);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_clear(&f);
}

/* Leaving an area closes its excursions at once; the same depth is fine on the cheeks. */
static void
test_rules_area_change_clears(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	fixture_records(&f, 0, 400, 40, 60, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 1);
	ng_rules_area_changed(f.rules, NP_AREA_CHEEKS, f.seq++, T0_MS + 420);
	g_assert_cmpuint(f.alerts->len, ==, 2);
	g_assert_cmpint(fixture_alert(&f, 1)->state, ==, NG_ALERT_CLEARED);
	g_assert_cmpuint(fixture_alert(&f, 1)->area, ==, NP_AREA_FOREHEAD);
	fixture_records(&f, 440, 2000, 40, 60, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 2);
	end_and_check_pairs(&f, 2000);
	fixture_clear(&f);
}

/* Records of another session, or after the end, change nothing. */
static void
test_rules_other_session_ignored(void)
{
	Fixture f;
	NpTelemetryRecord r = {.flags = MOTOR, .seq = 1, .session_id = SESSION_ID + 1, .depth_centi_mm = 300};

	fixture_init(&f, 0);
	fixture_start(&f, f.plan);
	ng_rules_record(f.rules, &r, T0_MS);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	ng_rules_session_end(f.rules, f.seq++, T0_MS + 10, 10);
	fixture_record(&f, 20, 300, 1000);
	g_assert_cmpuint(f.alerts->len, ==, 0);
	fixture_clear(&f);
}

/* Every alert of the session, as the journal keeps them: the same alerts, in order. */
static void
test_rules_alerts_json(void)
{
	Fixture f;
	g_autoptr(GString) expected = g_string_new("[");
	g_autofree char *kept = NULL;
	const NgAlert *alerts;
	guint n = 0;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, NULL);
	ng_rules_telemetry_gap(f.rules, 5, 6, T0_MS + 1);
	ng_rules_session_end(f.rules, f.seq++, T0_MS + 10, 10);
	g_assert_cmpuint(f.alerts->len, ==, 3);
	alerts = ng_rules_get_alerts(f.rules, &n);
	g_assert_cmpuint(n, ==, 3);
	for (guint i = 0; i < f.alerts->len; i++) {
		if (i > 0)
			g_string_append_c(expected, ',');
		ng_publisher_append_alert(expected, fixture_alert(&f, i), NULL);
		g_assert_cmpuint(alerts[i].id, ==, fixture_alert(&f, i)->id);
		g_assert_cmpuint(alerts[i].rule, ==, fixture_alert(&f, i)->rule);
		g_assert_cmpuint(alerts[i].state, ==, fixture_alert(&f, i)->state);
	}
	g_string_append_c(expected, ']');
	kept = ng_publisher_alerts_to_json(alerts, n);
	g_assert_cmpstr(kept, ==, expected->str);
	g_assert_true(g_str_has_prefix(expected->str, "[{\"session\":7,"));
	fixture_clear(&f);
}

/* ---- arrival order ---------------------------------------------------------------- */

#define ORDER_N 175u /* records, 40 ms apart */

/* The session of the issue: forehead within the plan (2 s), forehead at 0.70 mm (1 s), the nose
 * (1 s), the cheeks (3 s, over their 2 s); a pause of 120 ms on the cheeks. */
static NpTelemetryRecord
order_record(guint32 first_seq, guint i)
{
	guint32 offset = i * 40;
	NpTelemetryRecord r = {
	    .flags = NP_TELEMETRY_FLAG_AREA | MOTOR,
	    .seq = first_seq + i,
	    .session_id = SESSION_ID,
	    .offset_ms = offset,
	    .speed_deci_hz = 1000,
	};

	if (offset < 2000) {
		r.area = NP_AREA_FOREHEAD;
		r.depth_centi_mm = 40;
	} else if (offset < 3000) {
		r.area = NP_AREA_FOREHEAD;
		r.depth_centi_mm = 70;
	} else if (offset < 4000) {
		r.area = NP_AREA_NOSE;
		r.depth_centi_mm = 40;
	} else {
		r.area = NP_AREA_CHEEKS;
		r.depth_centi_mm = 70;
		if (offset >= 5000 && offset < 5120)
			r.flags &= (guint8)~NP_TELEMETRY_FLAG_CONTACT;
	}
	return r;
}

/* Feeds the records in @order (indexes): one below an earlier one is flagged replayed, and a
 * replayed one below the previous replayed one starts a new replay (the last one is done).
 * Returns the alerts as "rule/area/state"; the summary's areas go to @summary_out. */
static GPtrArray *
order_run(const guint *order, NgSummary *summary_out)
{
	Fixture f;
	NgSessionStart start;
	g_autoptr(NgPlan) plan = NULL;
	g_autoptr(GError) error = NULL;
	GPtrArray *seen = g_ptr_array_new_with_free_func(g_free);
	guint32 first_seq;
	gint high = -1;
	gint last_replayed = -1;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	{
		/* the fixture's plan with the cheeks' time down to 2 s; the nose is not in it */
		g_autoptr(GString) text = g_string_new(fixture_plan);

		g_assert_cmpuint(g_string_replace(text, "\"max_time_s\":600", "\"max_time_s\":2", 1), ==, 1);
		plan = ng_plan_parse(text->str, -1, &error);
	}
	g_assert_no_error(error);
	start = fixture_default_start(&f);
	ng_rules_session_start(f.rules, &start, plan);
	first_seq = f.seq;
	for (guint k = 0; k < ORDER_N; k++) {
		NpTelemetryRecord r = order_record(first_seq, order[k]);

		if ((gint)order[k] < high) {
			r.flags |= NP_TELEMETRY_FLAG_REPLAYED;
			if ((gint)order[k] < last_replayed)
				ng_rules_replay_done(f.rules);
			last_replayed = (gint)order[k];
		}
		high = MAX(high, (gint)order[k]);
		ng_rules_record(f.rules, &r, T0_MS + r.offset_ms);
	}
	ng_rules_replay_done(f.rules);
	ng_rules_session_end(f.rules, first_seq + ORDER_N, T0_MS + ORDER_N * 40, ORDER_N * 40);
	for (guint i = 0; i < f.alerts->len; i++) {
		const NgAlert *a = fixture_alert(&f, i);

		g_ptr_array_add(seen, g_strdup_printf("%s/%s/%s", ng_rule_to_string(a->rule),
						      np_area_to_string(a->area),
						      ng_alert_state_to_string(a->state)));
	}
	memcpy(summary_out->areas, ng_rules_get_summary(f.rules)->areas, sizeof summary_out->areas);
	fixture_clear(&f);
	return seen;
}

static gint
cmp_strp(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* The same session in several arrival orders: the same alerts (the late ones replayed) and the
 * same summary, needling time included. */
static void
test_rules_arrival_order(void)
{
	guint in_order[ORDER_N];
	guint one_hole[ORDER_N];
	guint two_holes[ORDER_N];
	guint interleaved[ORDER_N];
	NgSummary want = {0};
	g_autoptr(GPtrArray) expected = NULL;
	guint n = 0;

	for (guint i = 0; i < ORDER_N; i++)
		in_order[i] = i;
	expected = order_run(in_order, &want);
	g_ptr_array_sort(expected, cmp_strp);
	/* the case: the link drops on the forehead (record 45) and comes back on the cheeks
	 * (record 110); what the pen stored comes after */
	for (guint i = 0; i < ORDER_N; i++)
		if (i < 45 || i >= 110)
			one_hole[n++] = i;
	for (guint i = 45; i < 110; i++)
		one_hole[n++] = i;
	/* two outages whose edges fall inside excursions, the later one replayed first */
	n = 0;
	for (guint i = 0; i < ORDER_N; i++)
		if (i < 40 || (i >= 60 && i < 90) || i >= 120)
			two_holes[n++] = i;
	for (guint i = 90; i < 120; i++)
		two_holes[n++] = i;
	for (guint i = 40; i < 60; i++)
		two_holes[n++] = i;
	/* the replay of 50..99 interleaved with the live records from 100 on */
	n = 0;
	for (guint i = 0; i < 50; i++)
		interleaved[n++] = i;
	for (guint i = 0; i < 75; i++) {
		if (i < 50)
			interleaved[n++] = 100 + i;
		if (i < 50)
			interleaved[n++] = 50 + i;
		else
			interleaved[n++] = 100 + i;
	}

	{
		const struct {
			const char *name;
			const guint *order;
		} runs[] = {
		    {"one hole", one_hole},
		    {"two holes", two_holes},
		    {"interleaved", interleaved},
		};

		/* depth_above_max on the forehead, area_not_in_plan on the nose, area_time_exceeded on
		 * the cheeks: each raised and cleared */
		g_assert_cmpuint(expected->len, ==, 6);
		for (guint r = 0; r < G_N_ELEMENTS(runs); r++) {
			NgSummary got = {0};
			g_autoptr(GPtrArray) alerts = order_run(runs[r].order, &got);

			g_test_message("%s", runs[r].name);
			g_ptr_array_sort(alerts, cmp_strp);
			for (guint i = 0; i < alerts->len; i++)
				g_test_message("  %s", (const char *)g_ptr_array_index(alerts, i));
			g_assert_cmpuint(alerts->len, ==, expected->len);
			for (guint i = 0; i < alerts->len; i++)
				g_assert_cmpstr(g_ptr_array_index(alerts, i), ==,
						g_ptr_array_index(expected, i));
			for (guint a = 0; a < NP_AREA_COUNT; a++) {
				g_assert_cmpuint(got.areas[a].records, ==, want.areas[a].records);
				g_assert_cmpuint(got.areas[a].active_records, ==,
						 want.areas[a].active_records);
				g_assert_cmpuint(got.areas[a].within_plan, ==, want.areas[a].within_plan);
				g_assert_cmpuint(got.areas[a].depth_max_centi_mm, ==,
						 want.areas[a].depth_max_centi_mm);
				g_assert_cmpuint(got.areas[a].time_ms, ==, want.areas[a].time_ms);
			}
		}
	}
	/* needling time by seq: the forehead's 75 records make 74 pairs, the nose's 25 records 25
	 * (its first pair is with the forehead's last record, and counts for the nose) */
	g_assert_cmpuint(want.areas[NP_AREA_FOREHEAD].time_ms, ==, 74 * 40);
	g_assert_cmpuint(want.areas[NP_AREA_NOSE].time_ms, ==, 25 * 40);
	/* the cheeks: 75 records, 3 of them lifted from the skin (4 pairs not needling) */
	g_assert_cmpuint(want.areas[NP_AREA_CHEEKS].time_ms, ==, (75 - 4) * 40);
}

/* A session that ends with reason device_error raises device_error, unless one was raised in it. */
static void
test_rules_device_error_end(void)
{
	Fixture f;

	fixture_init(&f, NG_RULES_DEFAULT_DEBOUNCE_MS);
	fixture_start(&f, f.plan);
	fixture_records(&f, 0, 400, 40, 40, 1000);
	ng_rules_session_failed(f.rules, f.seq, T0_MS + 500);
	ng_rules_session_end(f.rules, f.seq++, T0_MS + 500, 500);
	g_assert_cmpuint(fixture_count(&f, NG_RULE_DEVICE_ERROR, NG_ALERT_RAISED), ==, 1);
	g_assert_cmpuint(fixture_count(&f, NG_RULE_DEVICE_ERROR, NG_ALERT_CLEARED), ==, 1);
	g_assert_cmpint(fixture_alert(&f, 0)->area, ==, NP_AREA_FOREHEAD);

	fixture_start(&f, f.plan);
	ng_rules_error_raised(f.rules, 0x0001, f.seq++, T0_MS + 100);
	ng_rules_session_failed(f.rules, f.seq, T0_MS + 500);
	ng_rules_session_end(f.rules, f.seq++, T0_MS + 500, 500);
	/* the pen's own error only: one more in all, not two */
	g_assert_cmpuint(fixture_count(&f, NG_RULE_DEVICE_ERROR, NG_ALERT_RAISED), ==, 2);
	fixture_clear(&f);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/rules/names-and-severities", test_rules_names);
	g_test_add_func("/rules/clean-session", test_rules_clean_session);
	g_test_add_func("/rules/depth-above-max", test_rules_depth_above_max);
	g_test_add_func("/rules/debounce", test_rules_debounce);
	g_test_add_func("/rules/debounce-configurable", test_rules_debounce_configurable);
	g_test_add_func("/rules/excursion-once-and-clear", test_rules_excursion_once_and_clear);
	g_test_add_func("/rules/noise", test_rules_noise);
	g_test_add_func("/rules/depth-below-min", test_rules_depth_below_min);
	g_test_add_func("/rules/speed", test_rules_speed);
	g_test_add_func("/rules/motor-off", test_rules_motor_off_is_not_needling);
	g_test_add_func("/rules/area-not-in-plan", test_rules_area_not_in_plan);
	g_test_add_func("/rules/unknown-area", test_rules_unknown_area);
	g_test_add_func("/rules/area-time", test_rules_area_time);
	g_test_add_func("/rules/session-too-long", test_rules_session_too_long);
	g_test_add_func("/rules/cartridge", test_rules_cartridge);
	g_test_add_func("/rules/session-too-soon", test_rules_session_too_soon);
	g_test_add_func("/rules/session-too-soon-from-plan", test_rules_session_too_soon_from_plan);
	g_test_add_func("/rules/device-error", test_rules_device_error);
	g_test_add_func("/rules/telemetry-gap", test_rules_telemetry_gap);
	g_test_add_func("/rules/no-plan", test_rules_no_plan);
	g_test_add_func("/rules/clock-not-set", test_rules_clock_not_set);
	g_test_add_func("/rules/area-change-clears", test_rules_area_change_clears);
	g_test_add_func("/rules/other-session-ignored", test_rules_other_session_ignored);
	g_test_add_func("/rules/alerts-json", test_rules_alerts_json);
	g_test_add_func("/rules/arrival-order", test_rules_arrival_order);
	g_test_add_func("/rules/device-error-end", test_rules_device_error_end);
	return g_test_run();
}
