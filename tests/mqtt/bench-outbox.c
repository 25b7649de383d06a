/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Benchmark: CPU time per message pushed, published (QoS 1) and acknowledged through a local mosquitto.
 *
 * Usage: bench-outbox [COUNT [RATE_PER_S]]   (default 100000 as fast as it goes)
 * Counts this process's CPU (all threads: main loop, paho's send and receive threads, SQLite),
 * not the broker's. A RATE paces the pushes in 1 ms ticks, like a daemon fed by pens.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mqtt-test-util.h"
#include "ng-mqtt.h"

typedef struct {
	NgOutbox *outbox;
	guint64 count;
	guint64 pushed;
	guint64 rate;
	gint64 start_us;
	GMainLoop *loop;
	char payload[200];
} Bench;

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU seconds of each thread of this process (main loop vs paho's threads), from /proc. */
static void
print_threads(const char *when)
{
	g_autoptr(GDir) dir = g_dir_open("/proc/self/task", 0, NULL);
	const char *tid;
	long hz = sysconf(_SC_CLK_TCK);

	while (dir != NULL && (tid = g_dir_read_name(dir)) != NULL) {
		g_autofree char *path = g_strdup_printf("/proc/self/task/%s/stat", tid);
		g_autofree char *stat = NULL;
		g_auto(GStrv) fields = NULL;
		const char *close_paren;
		g_autofree char *name = NULL;

		if (!g_file_get_contents(path, &stat, NULL, NULL))
			continue;
		close_paren = strrchr(stat, ')');
		name = g_strndup(strchr(stat, '(') + 1, close_paren - strchr(stat, '(') - 1);
		fields = g_strsplit(close_paren + 2, " ", -1);
		if (g_strv_length(fields) > 13)
			printf("  %s thread %-16s %.3f s CPU\n", when, name,
			       (g_ascii_strtod(fields[11], NULL) + g_ascii_strtod(fields[12], NULL)) / hz);
	}
}

static void
bench_push(Bench *b, guint64 n)
{
	for (guint64 i = 0; i < n && b->pushed < b->count; i++) {
		g_autoptr(GError) error = NULL;
		int len =
		    g_snprintf(b->payload, sizeof(b->payload),
			       "{\"pen\":\"NP-000123\",\"session\":42,\"seq\":%" G_GUINT64_FORMAT
			       ",\"t\":\"2026-11-24T10:00:00.000Z\",\"offset_ms\":1234,\"depth_mm\":0.50,"
			       "\"speed_hz\":120,\"area\":\"cheeks\",\"motor\":true,\"contact\":true,"
			       "\"replayed\":false}",
			       b->pushed + 1);
		if (!ng_outbox_push(b->outbox, NG_OUTBOX_KIND_TELEMETRY,
				    "needlegate/bench/pens/NP-000123/telemetry", b->payload, len, 1, FALSE,
				    &error))
			g_error("%s", error->message);
		b->pushed++;
	}
}

static gboolean bench_check_cb(gpointer user_data);

static gboolean
bench_tick_cb(gpointer user_data)
{
	Bench *b = user_data;
	gint64 due = (g_get_monotonic_time() - b->start_us) * (gint64)b->rate / G_USEC_PER_SEC;

	/* as many as are due by now: GLib timers drift, the rate must not */
	if (due > (gint64)b->pushed)
		bench_push(b, due - b->pushed);
	return b->pushed < b->count ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean
bench_done(gpointer user_data)
{
	Bench *b = user_data;
	NgOutboxCounters c;

	ng_outbox_get_counters(b->outbox, &c);
	return b->pushed == b->count && c.acked == b->count;
}

static gboolean
bench_check_cb(gpointer user_data)
{
	Bench *b = user_data;

	if (!bench_done(b))
		return G_SOURCE_CONTINUE;
	g_main_loop_quit(b->loop);
	return G_SOURCE_REMOVE;
}

static gboolean
bench_connected(gpointer user_data)
{
	return ng_mqtt_is_connected(user_data);
}

static gboolean
bench_closed_loop_cb(gpointer user_data)
{
	Bench *b = user_data;
	NgOutboxCounters c;

	ng_outbox_get_counters(b->outbox, &c);
	if (c.queued < 2000)
		bench_push(b, 2000 - c.queued);
	return b->pushed < b->count ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
run_until_done(Bench *b)
{
	/* a slow poll, so that the benchmark's own wake-ups do not count */
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);

	b->loop = loop;
	g_timeout_add(100, bench_check_cb, b);
	g_main_loop_run(loop);
}

static void
run_idle(guint ms)
{
	g_autoptr(GMainLoop) idle = g_main_loop_new(NULL, FALSE);

	g_timeout_add_once(ms, (GSourceOnceFunc)g_main_loop_quit, idle);
	g_main_loop_run(idle);
}

static void
remove_db_files(const char *db)
{
	const char *suffixes[] = {"", "-wal", "-shm"};

	for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *p = g_strconcat(db, suffixes[i], NULL);
		remove(p);
	}
}

/* The outbox and store alone (no MQTT): push, take, acknowledge, with a commit every 10 messages
 * (1,000 records/s and a 10 ms window) and the acknowledgement of each before or after it. */
static void
bench_outbox_alone(const char *dir, guint64 count, gboolean ack_after_commit)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *db = g_build_filename(dir, "alone.db", NULL);
	g_autoptr(NgStore) store = ng_store_open(db, &error);
	g_autoptr(NgOutbox) outbox = ng_outbox_new(store, 10000000, &error);
	Bench b = {.outbox = outbox, .count = count};
	g_autoptr(GArray) serials = g_array_new(FALSE, FALSE, sizeof(guint64));
	double cpu0 = cpu_seconds();

	while (b.pushed < count) {
		g_array_set_size(serials, 0);
		bench_push(&b, 10);
		for (NgOutboxMessage *msg; (msg = ng_outbox_take_next(outbox)) != NULL;) {
			guint64 serial = ng_outbox_message_get_serial(msg);
			g_array_append_val(serials, serial);
		}
		if (ack_after_commit)
			g_assert_true(ng_store_flush(store, &error));
		for (guint i = 0; i < serials->len; i++)
			ng_outbox_acked(outbox, g_array_index(serials, guint64, i));
		g_assert_true(ng_store_flush(store, &error));
	}
	printf("outbox and store alone, %s: %.2f us CPU per message\n",
	       ack_after_commit ? "every message written and deleted" : "acknowledged before the commit",
	       (cpu_seconds() - cpu0) * 1e6 / count);
	g_clear_pointer(&outbox, ng_outbox_free);
	g_clear_pointer(&store, ng_store_free);
	remove_db_files(db);
}

int
main(int argc, char **argv)
{
	const char *inflight = g_getenv("NG_BENCH_BROKER_MAX_INFLIGHT");
	g_autofree char *extra =
	    inflight != NULL ? g_strdup_printf("max_inflight_messages %s", inflight) : NULL;
	g_autoptr(TestBroker) broker = test_broker_new_full(FALSE, FALSE, extra);
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("ng-bench-XXXXXX", &error);
	g_autofree char *db = g_build_filename(dir, "needlegate.db", NULL);
	g_autofree char *url = test_broker_url(broker);
	g_autoptr(NgStore) store = NULL;
	g_autoptr(NgOutbox) outbox = NULL;
	g_autoptr(NgMqtt) mqtt = NULL;
	NgMqttConfig config = {.url = url, .client_id = "bench"};
	Bench b = {0};
	const char *mode;
	double cpu0, cpu1;
	gint64 t0, t1;
	guint64 rate;

	if (argc > 1 && (g_strcmp0(argv[1], "-h") == 0 || g_strcmp0(argv[1], "--help") == 0)) {
		printf("usage: %s [COUNT [RATE_PER_S | 0 | backlog]]\n"
		       "  RATE: paced pushes; 0 (default): closed loop, at most 2000 queued;\n"
		       "  backlog: all pushed while disconnected (written to disk), then sent.\n"
		       "  NG_BENCH_BROKER_MAX_INFLIGHT=N sets the broker's max_inflight_messages (default "
		       "20).\n",
		       argv[0]);
		return 0;
	}
	b.count = argc > 1 ? g_ascii_strtoull(argv[1], NULL, 10) : 100000;
	rate = argc > 2 ? g_ascii_strtoull(argv[2], NULL, 10) : 0;
	mode = argc > 2 && g_strcmp0(argv[2], "backlog") == 0 ? "backlog"
	       : rate > 0				      ? "paced"
							      : "closed loop";
	store = ng_store_open(db, &error);
	g_assert_no_error(error);
	outbox = ng_outbox_new(store, 10000000, &error);
	g_assert_no_error(error);
	mqtt = ng_mqtt_new(&config, outbox, &error);
	g_assert_no_error(error);
	b.outbox = outbox;
	bench_outbox_alone(dir, 100000, FALSE);
	bench_outbox_alone(dir, 100000, TRUE);

	cpu0 = cpu_seconds();
	t0 = g_get_monotonic_time();
	if (g_strcmp0(mode, "backlog") == 0) {
		bench_push(&b, b.count);
		g_assert_true(ng_store_flush(store, &error));
	}
	ng_mqtt_start(mqtt);
	if (!test_wait_until(bench_connected, mqtt, 5000))
		g_error("not connected");
	if (g_strcmp0(mode, "backlog") != 0) {
		/* the idle cost of a connected client (paho's threads, keepalive), to tell it apart */
		cpu0 = cpu_seconds();
		run_idle(2000);
		printf("idle, connected: %.1f us CPU per second\n", (cpu_seconds() - cpu0) * 1e6 / 2);
		cpu0 = cpu_seconds();
		t0 = g_get_monotonic_time();
		if (rate > 0) {
			b.rate = rate;
			b.start_us = t0;
			g_timeout_add(rate >= 1000 ? 1 : 1000 / rate, bench_tick_cb, &b);
		} else {
			g_timeout_add(1, bench_closed_loop_cb, &b);
		}
	}
	run_until_done(&b);
	t1 = g_get_monotonic_time();
	cpu1 = cpu_seconds();
	printf("%" G_GUINT64_FORMAT
	       " messages (%s, broker max_inflight_messages %s): %.2f s wall, %.0f msg/s, "
	       "%.2f us CPU per message (pushed + published QoS 1 + acknowledged, outbox rows included)\n",
	       b.count, mode, inflight != NULL ? inflight : "default", (t1 - t0) / 1e6,
	       b.count / ((t1 - t0) / 1e6), (cpu1 - cpu0) * 1e6 / b.count);
	print_threads("total");
	g_clear_pointer(&mqtt, ng_mqtt_free);
	g_clear_pointer(&outbox, ng_outbox_free);
	g_clear_pointer(&store, ng_store_free);
	remove_db_files(db);
	remove(dir);
	return 0;
}
