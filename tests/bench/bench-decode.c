/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmark: nanoseconds per telemetry record decoded, checked by the rules, and written as JSON. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ng-payload.h"
#include "ng-plan.h"
#include "ng-rules.h"
#include "ng-summary.h"
#include "np.h"

#define RECORDS_PER_RUN 1000000u
#define MTU_247_PAYLOAD 244u /* ATT_MTU minus the 3-byte notification header */
#define REPEATS		3u   /* the best run counts: a shared machine only ever slows a run down */

static volatile uint64_t sink; /* keeps the compiler from dropping the work */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Fills buf with n records with these flags; returns the notification length. */
static size_t
build_notification(uint8_t *buf, size_t cap, unsigned n, uint8_t flags)
{
	size_t pos = 0;

	for (unsigned i = 0; i < n; i++) {
		NpTelemetryRecord rec = {.flags = flags,
					 .seq = 1000 + i,
					 .session_id = 7,
					 .offset_ms = 10 * i,
					 .depth_centi_mm = 150,
					 .speed_deci_hz = 1200,
					 .area = NP_AREA_CHEEKS,
					 .pressure_gf = 250};
		size_t len = 0;

		if (np_telemetry_record_encode(&rec, buf + pos, cap - pos, &len) != NP_OK) {
			fprintf(stderr, "bench-decode: %u records with flags 0x%02x do not fit %zu bytes\n",
				n, flags, cap);
			exit(1);
		}
		pos += len;
	}
	return pos;
}

/* Decodes the notification until RECORDS_PER_RUN records are read; returns ns per record. */
static double
bench_decode(const uint8_t *buf, size_t len, unsigned per_notification)
{
	unsigned notifications = RECORDS_PER_RUN / per_notification;
	uint64_t records = 0;
	uint64_t acc = 0;
	uint64_t start = now_ns();

	for (unsigned n = 0; n < notifications; n++) {
		NpTelemetryReader r;
		NpTelemetryRecord rec;

		np_telemetry_reader_init(&r, buf, len, 300);
		while (np_telemetry_reader_next(&r, &rec) == NP_OK)
			acc += rec.depth_centi_mm;
		records += r.records;
	}
	sink = acc;
	if (records != (uint64_t)notifications * per_notification) {
		fprintf(stderr, "bench-decode: decoded %" PRIu64 " records, expected %u\n", records,
			notifications * per_notification);
		exit(1);
	}
	return (double)(now_ns() - start) / (double)records;
}

static double
bench_payload(uint8_t flags)
{
	NpTelemetryRecord rec = {.size = 0,
				 .flags = flags,
				 .seq = 123456,
				 .session_id = 7,
				 .offset_ms = 1000,
				 .depth_centi_mm = 150,
				 .speed_deci_hz = 1200,
				 .area = NP_AREA_CHEEKS,
				 .pressure_gf = 250};
	g_autoptr(GString) out = g_string_sized_new(256);
	gint64 t = G_GINT64_CONSTANT(1795599228123);
	uint64_t bytes = 0;
	uint64_t start = now_ns();

	for (unsigned i = 0; i < RECORDS_PER_RUN; i++) {
		g_string_truncate(out, 0);
		rec.seq++;
		ng_payload_telemetry(out, "NP-0042", &rec, t + i);
		bytes += out->len;
	}
	sink = bytes;
	return (double)(now_ns() - start) / RECORDS_PER_RUN;
}

/* The plan the rule rows check against: the records (cheeks, 1.50 mm, 120 Hz) are within it. */
static const char bench_plan[] =
    "{\"plan_id\":\"bench\",\"patient_ref\":\"P-BENCH\","
    "\"course\":{\"session_number\":1,\"sessions_total\":3,\"min_interval_days\":28},"
    "\"allowed_needles\":[12,36],"
    "\"areas\":{\"cheeks\":{\"depth_mm\":{\"min\":0.5,\"max\":2.0},\"speed_hz\":{\"min\":80,\"max\":150},"
    "\"max_time_s\":14400},\"forehead\":{\"depth_mm\":{\"min\":0.25,\"max\":0.5},"
    "\"speed_hz\":{\"min\":80,\"max\":120},\"max_time_s\":300}},"
    "\"max_session_s\":14400}";

static guint bench_alerts;

static void
count_alert(const NgAlert *alert, gpointer data)
{
	bench_alerts++;
}

/* A session under the plan: the engine the daemon keeps per pen (ng-check.c). */
static NgRules *
start_rules(NgPlan *plan)
{
	NgRules *rules = ng_rules_new(NULL, count_alert, NULL);
	NgSessionStart start = {.session_id = 7,
				.start_ms = G_GINT64_CONSTANT(1795599228000),
				.area = NP_AREA_CHEEKS,
				.clock_set = TRUE,
				.cartridge = {1001, 12, 1}};

	ng_rules_session_start(rules, &start, plan);
	return rules;
}

/*
 * What the daemon does per record before the payload: decode, then the rule engine and the
 * session summary (ng_rules_record ()). Offsets advance from notification to notification as a
 * pen's do (10 ms apart: 100 records/s, 10000 s in all, inside the plan's limits), so the engine
 * sees real time. @rules_only: decode once, time the rules alone.
 */
static double
bench_rules(NgPlan *plan, const uint8_t *buf, size_t len, unsigned per_notification, gboolean rules_only)
{
	unsigned notifications = RECORDS_PER_RUN / per_notification;
	g_autoptr(NgRules) rules = start_rules(plan);
	NpTelemetryRecord recs[32];
	unsigned n_recs = 0;
	uint64_t records = 0;
	uint64_t start;
	NpTelemetryReader r;
	NpTelemetryRecord rec;

	np_telemetry_reader_init(&r, buf, len, 300);
	while (n_recs < G_N_ELEMENTS(recs) && np_telemetry_reader_next(&r, &recs[n_recs]) == NP_OK)
		n_recs++;
	start = now_ns();
	for (unsigned n = 0; n < notifications; n++) {
		guint32 base = 10u * per_notification * n;

		if (rules_only) {
			for (unsigned i = 0; i < n_recs; i++) {
				rec = recs[i];
				rec.offset_ms += base;
				ng_rules_record(rules, &rec,
						G_GINT64_CONSTANT(1795599228000) + rec.offset_ms);
			}
			records += n_recs;
			continue;
		}
		np_telemetry_reader_init(&r, buf, len, 300);
		while (np_telemetry_reader_next(&r, &rec) == NP_OK) {
			rec.offset_ms += base;
			ng_rules_record(rules, &rec, G_GINT64_CONSTANT(1795599228000) + rec.offset_ms);
		}
		records += r.records;
	}
	sink = ng_rules_get_summary(rules)->areas[NP_AREA_CHEEKS].within_plan;
	if (sink != records) {
		fprintf(stderr, "bench-decode: %" PRIu64 " of %" PRIu64 " records within the plan\n", sink,
			records);
		exit(1);
	}
	return (double)(now_ns() - start) / (double)records;
}

static double
best_rules(NgPlan *plan, const uint8_t *buf, size_t len, unsigned per_notification, gboolean rules_only)
{
	double best = bench_rules(plan, buf, len, per_notification, rules_only);

	for (unsigned i = 1; i < REPEATS; i++)
		best = MIN(best, bench_rules(plan, buf, len, per_notification, rules_only));
	return best;
}

static double
best_decode(const uint8_t *buf, size_t len, unsigned per_notification)
{
	double best = bench_decode(buf, len, per_notification);

	for (unsigned i = 1; i < REPEATS; i++)
		best = MIN(best, bench_decode(buf, len, per_notification));
	return best;
}

static double
best_payload(uint8_t flags)
{
	double best = bench_payload(flags);

	for (unsigned i = 1; i < REPEATS; i++)
		best = MIN(best, bench_payload(flags));
	return best;
}

int
main(void)
{
	static const struct {
		const char *name;
		unsigned records;
		uint8_t flags;
	} cases[] = {
	    {"1 minimal record / notification", 1, 0x18},
	    {"1 record + CRC / notification", 1, 0x38},
	    {"12 minimal records / notification (MTU 247)", 12, 0x18},
	    {"12 records + CRC / notification (MTU 247)", 12, 0x38},
	    {"11 records + area, pressure, CRC (MTU 247)", 11, 0x3b},
	};
	uint8_t buf[MTU_247_PAYLOAD];
	g_autoptr(GError) error = NULL;
	g_autoptr(NgPlan) plan = ng_plan_parse(bench_plan, -1, &error);
	size_t rules_len;

	if (plan == NULL) {
		fprintf(stderr, "bench-decode: the benchmark's plan: %s\n", error->message);
		return 1;
	}

	printf("%-48s %8s %12s\n", "telemetry decode", "bytes", "ns/record");
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		size_t len = build_notification(buf, sizeof buf, cases[i].records, cases[i].flags);

		printf("%-48s %8zu %12.1f\n", cases[i].name, len, best_decode(buf, len, cases[i].records));
	}
	rules_len = build_notification(buf, sizeof buf, 11, 0x3b);
	printf("\n%-48s %8s %12s\n", "live validation (ng_rules_record), in a plan", "bytes", "ns/record");
	printf("%-48s %8s %12.1f\n", "rules + summary alone", "", best_rules(plan, buf, rules_len, 11, TRUE));
	printf("%-48s %8zu %12.1f\n", "decode + rules + summary, 11 records (MTU 247)", rules_len,
	       best_rules(plan, buf, rules_len, 11, FALSE));
	if (bench_alerts != 0) {
		fprintf(stderr, "bench-decode: %u alerts on records within the plan\n", bench_alerts);
		return 1;
	}
	printf("\n%-48s %8s %12s\n", "telemetry JSON (ng_payload_telemetry)", "", "ns/payload");
	printf("%-48s %8s %12.1f\n", "minimal record, pen + t", "", best_payload(0x18));
	printf("%-48s %8s %12.1f\n", "area + pressure, pen + t", "", best_payload(0x3b));
	printf("\nbest of %u runs of %u records each, CLOCK_MONOTONIC\n", REPEATS, RECORDS_PER_RUN);
	return 0;
}
