/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmark: nanoseconds per decoded telemetry record and per JSON payload, the gateway's per-record cost. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ng-payload.h"
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
					 .offset_ms = 40 * i,
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

	printf("%-48s %8s %12s\n", "telemetry decode", "bytes", "ns/record");
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		size_t len = build_notification(buf, sizeof buf, cases[i].records, cases[i].flags);

		printf("%-48s %8zu %12.1f\n", cases[i].name, len, best_decode(buf, len, cases[i].records));
	}
	printf("\n%-48s %8s %12s\n", "telemetry JSON (ng_payload_telemetry)", "", "ns/payload");
	printf("%-48s %8s %12.1f\n", "minimal record, pen + t", "", best_payload(0x18));
	printf("%-48s %8s %12.1f\n", "area + pressure, pen + t", "", best_payload(0x3b));
	printf("\nbest of %u runs of %u records each, CLOCK_MONOTONIC\n", REPEATS, RECORDS_PER_RUN);
	return 0;
}
