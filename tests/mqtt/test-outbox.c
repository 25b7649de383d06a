/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the store and the outbox on a real SQLite file: order, bounds, state, durability. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ng-outbox.h"

typedef struct {
	char *dir;
	char *path;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	fx->dir = g_dir_make_tmp("ng-outbox-test-XXXXXX", &error);
	g_assert_no_error(error);
	fx->path = g_build_filename(fx->dir, "needlegate.db", NULL);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
	const char *suffixes[] = {"", "-wal", "-shm"};

	for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *p = g_strconcat(fx->path, suffixes[i], NULL);
		g_unlink(p);
	}
	g_rmdir(fx->dir);
	g_free(fx->path);
	g_free(fx->dir);
}

static NgStore *
open_store(Fixture *fx)
{
	g_autoptr(GError) error = NULL;
	NgStore *store = ng_store_open(fx->path, &error);

	g_assert_no_error(error);
	g_assert_nonnull(store);
	return store;
}

static NgOutbox *
open_outbox(NgStore *store, guint64 max)
{
	g_autoptr(GError) error = NULL;
	NgOutbox *outbox = ng_outbox_new(store, max, &error);

	g_assert_no_error(error);
	g_assert_nonnull(outbox);
	return outbox;
}

static void
push(NgOutbox *outbox, NgOutboxKind kind, const char *topic, const char *payload)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(ng_outbox_push(outbox, kind, topic, payload, strlen(payload), 1,
				     kind == NG_OUTBOX_KIND_STATE, &error));
	g_assert_no_error(error);
}

static int
count_rows(NgStore *store)
{
	sqlite3_stmt *stmt = NULL;
	int n;

	g_assert_cmpint(
	    sqlite3_prepare_v2(ng_store_get_db(store), "SELECT count(*) FROM outbox", -1, &stmt, NULL), ==,
	    SQLITE_OK);
	g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
	n = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

/* Takes the next message and checks its topic and payload. */
static guint64
take_expect(NgOutbox *outbox, const char *topic, const char *payload)
{
	NgOutboxMessage *msg = ng_outbox_take_next(outbox);
	gsize len = 0;
	const char *data;

	g_assert_nonnull(msg);
	data = ng_outbox_message_get_payload(msg, &len);
	g_assert_cmpstr(ng_outbox_message_get_topic(msg), ==, topic);
	g_assert_cmpmem(data, len, payload, strlen(payload));
	return ng_outbox_message_get_serial(msg);
}

static void
test_order_and_ack(Fixture *fx, gconstpointer data)
{
	g_autoptr(NgStore) store = open_store(fx);
	g_autoptr(NgOutbox) outbox = open_outbox(store, 100);
	NgOutboxCounters c;
	guint64 s1, s2;

	push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "1");
	push(outbox, NG_OUTBOX_KIND_EVENT, "p/1/alert", "2");
	push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "3");
	s1 = take_expect(outbox, "p/1/telemetry", "1");
	s2 = take_expect(outbox, "p/1/alert", "2");
	g_assert_cmpuint(ng_outbox_get_in_flight(outbox), ==, 2);
	/* connection lost: the in-flight ones go first again, in order */
	ng_outbox_requeue_in_flight(outbox);
	g_assert_cmpuint(take_expect(outbox, "p/1/telemetry", "1"), ==, s1);
	g_assert_cmpuint(take_expect(outbox, "p/1/alert", "2"), ==, s2);
	take_expect(outbox, "p/1/telemetry", "3");
	g_assert_null(ng_outbox_take_next(outbox));
	ng_outbox_acked(outbox, s2);
	ng_outbox_acked(outbox, s2); /* a duplicate acknowledgement is harmless */
	ng_outbox_acked(outbox, s1);
	ng_outbox_get_counters(outbox, &c);
	g_assert_cmpuint(c.queued, ==, 1);
	g_assert_cmpuint(c.pushed, ==, 3);
	g_assert_cmpuint(c.acked, ==, 2);
	g_assert_cmpuint(c.published, ==, 5);
}

static void
test_bad_args(Fixture *fx, gconstpointer data)
{
	g_autoptr(NgStore) store = open_store(fx);
	g_autoptr(NgOutbox) outbox = open_outbox(store, 100);
	g_autoptr(GError) error = NULL;

	g_assert_false(ng_outbox_push(outbox, NG_OUTBOX_KIND_EVENT, "a/+/b", "x", 1, 1, FALSE, &error));
	g_assert_error(error, NG_OUTBOX_ERROR, NG_OUTBOX_ERROR_INVALID_ARGS);
	g_assert_true(g_str_has_prefix(error->message, "topic:"));
	g_clear_error(&error);
	g_assert_false(ng_outbox_push(outbox, NG_OUTBOX_KIND_EVENT, "", "x", 1, 1, FALSE, &error));
	g_assert_true(g_str_has_prefix(error->message, "topic:"));
	g_clear_error(&error);
	g_assert_false(ng_outbox_push(outbox, NG_OUTBOX_KIND_EVENT, "a/b", "x", 1, 2, FALSE, &error));
	g_assert_cmpstr(error->message, ==, "qos: must be 0 or 1, got 2");
	g_clear_error(&error);
	g_assert_null(ng_outbox_new(store, 0, &error));
	g_assert_cmpstr(error->message, ==, "max_messages: must be at least 1");
}

/* Full: the oldest telemetry goes, counted; events and state never. */
static void
test_full_drops_oldest_telemetry(Fixture *fx, gconstpointer data)
{
	g_autoptr(NgStore) store = open_store(fx);
	g_autoptr(NgOutbox) outbox = open_outbox(store, 10);
	NgOutboxCounters c;
	g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
	NgOutboxMessage *msg;

	for (int i = 0; i < 5; i++) {
		g_autofree char *t = g_strdup_printf("t%d", i);
		g_autofree char *e = g_strdup_printf("e%d", i);
		push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", t);
		push(outbox, NG_OUTBOX_KIND_EVENT, "p/1/alert", e);
	}
	push(outbox, NG_OUTBOX_KIND_STATE, "p/1/state", "s0");
	push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "t5");
	push(outbox, NG_OUTBOX_KIND_EVENT, "p/1/alert", "e5");
	ng_outbox_get_counters(outbox, &c);
	g_assert_cmpuint(c.dropped_telemetry, ==, 3);
	g_assert_cmpuint(c.queued, ==, 10);
	while ((msg = ng_outbox_take_next(outbox)) != NULL)
		g_ptr_array_add(seen, g_strdup(ng_outbox_message_get_payload(msg, NULL)));
	{
		const char *expected[] = {"e0", "e1", "e2", "t3", "e3", "t4", "e4", "s0", "t5", "e5"};
		g_assert_cmpuint(seen->len, ==, G_N_ELEMENTS(expected));
		for (guint i = 0; i < seen->len; i++)
			g_assert_cmpstr(seen->pdata[i], ==, expected[i]);
	}
	/* all in flight and only events left to make room with: events are kept beyond the bound, new
	 * telemetry is dropped */
	for (int i = 0; i < 3; i++)
		push(outbox, NG_OUTBOX_KIND_EVENT, "p/1/alert", "more");
	push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "t6");
	ng_outbox_get_counters(outbox, &c);
	g_assert_cmpuint(c.queued, ==, 13);
	g_assert_cmpuint(c.dropped_telemetry, ==, 4);
}

static void
test_state_replace_and_republish(Fixture *fx, gconstpointer data)
{
	g_autoptr(NgStore) store = open_store(fx);
	g_autoptr(NgOutbox) outbox = open_outbox(store, 100);
	NgOutboxCounters c;
	guint64 s;

	push(outbox, NG_OUTBOX_KIND_STATE, "p/1/state", "{\"v\":1}");
	push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "x");
	push(outbox, NG_OUTBOX_KIND_STATE, "p/1/state", "{\"v\":2}");
	ng_outbox_get_counters(outbox, &c);
	g_assert_cmpuint(c.replaced_state, ==, 1);
	g_assert_cmpuint(c.queued, ==, 2);
	ng_outbox_acked(outbox, take_expect(outbox, "p/1/telemetry", "x"));
	s = take_expect(outbox, "p/1/state", "{\"v\":2}");
	/* v3 pushed while v2 is in flight, then the connection drops: v2 is superseded, only v3 goes */
	push(outbox, NG_OUTBOX_KIND_STATE, "p/1/state", "{\"v\":3}");
	ng_outbox_requeue_in_flight(outbox);
	s = take_expect(outbox, "p/1/state", "{\"v\":3}");
	g_assert_null(ng_outbox_take_next(outbox));
	ng_outbox_acked(outbox, s);
	/* after a reconnect the latest state is sent again, and only once */
	ng_outbox_republish_state(outbox);
	ng_outbox_republish_state(outbox);
	ng_outbox_acked(outbox, take_expect(outbox, "p/1/state", "{\"v\":3}"));
	g_assert_null(ng_outbox_take_next(outbox));
	ng_outbox_get_counters(outbox, &c);
	g_assert_cmpuint(c.queued, ==, 0);
}

/* A message acknowledged before the commit never touches the disk; one written is deleted on ack. */
static void
test_rows_batched(Fixture *fx, gconstpointer data)
{
	g_autoptr(NgStore) store = open_store(fx);
	g_autoptr(NgOutbox) outbox = open_outbox(store, 1000);
	g_autoptr(GError) error = NULL;
	g_autoptr(GArray) serials = g_array_new(FALSE, FALSE, sizeof(guint64));

	push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "fast");
	ng_outbox_acked(outbox, take_expect(outbox, "p/1/telemetry", "fast"));
	g_assert_true(ng_store_flush(store, &error));
	g_assert_cmpint(count_rows(store), ==, 0);

	for (int i = 0; i < 100; i++)
		push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "slow");
	g_assert_true(ng_store_flush(store, &error));
	g_assert_cmpint(count_rows(store), ==, 100);
	for (int i = 0; i < 100; i++) {
		NgOutboxMessage *msg = ng_outbox_take_next(outbox);
		guint64 serial = ng_outbox_message_get_serial(msg);
		g_array_append_val(serials, serial);
	}
	/* out of order acknowledgements: every second one, then the rest */
	for (guint i = 0; i < serials->len; i += 2)
		ng_outbox_acked(outbox, g_array_index(serials, guint64, i));
	g_assert_true(ng_store_flush(store, &error));
	g_assert_cmpint(count_rows(store), ==, 50);
	for (guint i = 1; i < serials->len; i += 2)
		ng_outbox_acked(outbox, g_array_index(serials, guint64, i));
	g_assert_true(ng_store_flush(store, &error));
	g_assert_no_error(error);
	g_assert_cmpint(count_rows(store), ==, 0);
}

/* The transport's sync handler runs before each commit: what it acknowledges there is never written
 * (acknowledgements that arrived without waking the main loop), the rest is. */
typedef struct {
	NgOutbox *outbox;
	guint64 serial; /* acknowledge this one at the next commit */
	guint calls;
} SyncProbe;

static void
sync_probe_cb(NgOutbox *outbox, gpointer user_data)
{
	SyncProbe *probe = user_data;

	probe->calls++;
	if (probe->serial != 0)
		ng_outbox_acked(outbox, probe->serial);
	probe->serial = 0;
}

static void
test_sync_before_commit(Fixture *fx, gconstpointer data)
{
	g_autoptr(NgStore) store = open_store(fx);
	g_autoptr(NgOutbox) outbox = open_outbox(store, 1000);
	g_autoptr(GError) error = NULL;
	SyncProbe probe = {outbox, 0, 0};
	NgOutboxCounters c;

	ng_outbox_set_sync_handler(outbox, sync_probe_cb, &probe);
	push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "acked-late");
	push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "unacked");
	probe.serial = take_expect(outbox, "p/1/telemetry", "acked-late");
	take_expect(outbox, "p/1/telemetry", "unacked");
	g_assert_true(ng_store_flush(store, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(probe.calls, ==, 1);
	g_assert_cmpint(count_rows(store), ==, 1);
	ng_outbox_get_counters(outbox, &c);
	g_assert_cmpuint(c.acked, ==, 1);
	g_assert_cmpuint(c.queued, ==, 1);
	ng_outbox_set_sync_handler(outbox, NULL, NULL);
}

/* Telemetry (which the pen can send again) may wait ~250 ms for its commit, an event only ~10 ms;
 * an event pushed later brings the pending commit forward. Timers never fire early: the lower
 * bound is safe on a loaded machine; the upper ones are generous. */
static int
wait_rows(Fixture *fx, NgStore *reader, int rows, gint64 timeout_ms)
{
	gint64 start = g_get_monotonic_time();

	while (g_get_monotonic_time() - start < timeout_ms * 1000) {
		g_autoptr(GError) error = NULL;
		g_main_context_iteration(NULL, FALSE);
		g_assert_true(ng_store_flush(reader, &error));
		if (count_rows(reader) >= rows)
			break;
		g_usleep(1000);
	}
	return (int)((g_get_monotonic_time() - start) / 1000);
}

static void
test_commit_windows(Fixture *fx, gconstpointer data)
{
	g_autoptr(NgStore) store = open_store(fx);
	g_autoptr(NgOutbox) outbox = open_outbox(store, 100);
	g_autoptr(NgStore) reader = open_store(fx);
	int ms;

	push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "t1");
	ms = wait_rows(fx, reader, 1, 3000);
	g_assert_cmpint(count_rows(reader), ==, 1);
	g_assert_cmpint(ms, >=, 200);
	push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "t2");
	push(outbox, NG_OUTBOX_KIND_EVENT, "p/1/alert", "a");
	ms = wait_rows(fx, reader, 3, 3000);
	g_assert_cmpint(count_rows(reader), ==, 3);
	g_assert_cmpint(ms, <, 200);
}

/* A clean stop that published the will's payload itself, acknowledged, needs no will. */
static void
test_state_is_delivered(Fixture *fx, gconstpointer data)
{
	g_autoptr(NgStore) store = open_store(fx);
	g_autoptr(NgOutbox) outbox = open_outbox(store, 100);
	const char *topic = "b/bridge/state";
	guint64 serial;

	g_assert_false(ng_outbox_state_is_delivered(outbox, topic, "{\"state\":\"offline\"}"));
	push(outbox, NG_OUTBOX_KIND_STATE, topic, "{\"state\":\"offline\"}");
	g_assert_false(ng_outbox_state_is_delivered(outbox, topic, "{\"state\":\"offline\"}")); /* waiting */
	serial = take_expect(outbox, topic, "{\"state\":\"offline\"}");
	g_assert_false(
	    ng_outbox_state_is_delivered(outbox, topic, "{\"state\":\"offline\"}")); /* in flight */
	ng_outbox_acked(outbox, serial);
	g_assert_true(ng_outbox_state_is_delivered(outbox, topic, "{\"state\":\"offline\"}"));
	g_assert_false(ng_outbox_state_is_delivered(outbox, topic, "{\"state\":\"online\"}"));
	g_assert_false(ng_outbox_state_is_delivered(outbox, "b/other", "{\"state\":\"offline\"}"));
}

/* The store commits by itself on the main loop, shortly after a touch. */
static void
test_commit_on_main_loop(Fixture *fx, gconstpointer data)
{
	g_autoptr(NgStore) store = open_store(fx);
	g_autoptr(NgOutbox) outbox = open_outbox(store, 100);
	g_autoptr(NgStore) reader = open_store(fx);
	gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;

	push(outbox, NG_OUTBOX_KIND_EVENT, "p/1/alert", "a");
	g_assert_cmpint(count_rows(reader), ==, 0);
	/* the reader's own open transaction would pin its snapshot: flush it to see new commits */
	while (g_get_monotonic_time() < deadline) {
		g_autoptr(GError) error = NULL;
		g_main_context_iteration(NULL, FALSE);
		g_assert_true(ng_store_flush(reader, &error));
		if (count_rows(reader) == 1)
			break;
		g_usleep(1000);
	}
	g_assert_cmpint(count_rows(reader), ==, 1);
}

/* A process that dies without flushing: what was committed is back after a restart, in order;
 * what was not is gone (and the pen's sequence number, written in the same transaction, with it). */
static void
test_crash_keeps_committed(Fixture *fx, gconstpointer data)
{
	pid_t pid = fork();
	int status = 0;

	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		NgStore *store = open_store(fx);
		NgOutbox *outbox = open_outbox(store, 1000);
		g_autoptr(GError) error = NULL;
		for (int i = 0; i < 20; i++) {
			g_autofree char *p = g_strdup_printf("%d", i);
			push(outbox, i % 5 == 0 ? NG_OUTBOX_KIND_EVENT : NG_OUTBOX_KIND_TELEMETRY, "p/1/x",
			     p);
			if (i == 14)
				g_assert_true(ng_store_flush(store, &error));
		}
		ng_outbox_acked(outbox, ng_outbox_message_get_serial(ng_outbox_take_next(outbox)));
		_exit(0); /* no flush, no free: like SIGKILL or a power cut */
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		g_autoptr(NgStore) store = open_store(fx);
		g_autoptr(NgOutbox) outbox = open_outbox(store, 1000);
		NgOutboxCounters c;

		ng_outbox_get_counters(outbox, &c);
		g_assert_cmpuint(c.queued, ==, 15);
		for (int i = 0; i < 15; i++) {
			g_autofree char *p = g_strdup_printf("%d", i);
			ng_outbox_acked(outbox, take_expect(outbox, "p/1/x", p));
		}
		g_assert_null(ng_outbox_take_next(outbox));
	}
	{
		/* and all of them acknowledged: nothing comes back */
		g_autoptr(NgStore) store = open_store(fx);
		g_autoptr(NgOutbox) outbox = open_outbox(store, 1000);
		g_assert_null(ng_outbox_take_next(outbox));
	}
}

static void
test_reload_bound_and_state(Fixture *fx, gconstpointer data)
{
	{
		g_autoptr(NgStore) store = open_store(fx);
		g_autoptr(NgOutbox) outbox = open_outbox(store, 100);
		for (int i = 0; i < 10; i++)
			push(outbox, NG_OUTBOX_KIND_TELEMETRY, "p/1/telemetry", "t");
		push(outbox, NG_OUTBOX_KIND_STATE, "p/1/state", "s");
		push(outbox, NG_OUTBOX_KIND_EVENT, "p/1/alert", "a");
	}
	{
		/* configured smaller since: the oldest telemetry goes at load */
		g_autoptr(NgStore) store = open_store(fx);
		g_autoptr(NgOutbox) outbox = open_outbox(store, 5);
		NgOutboxCounters c;
		guint64 s;

		ng_outbox_get_counters(outbox, &c);
		g_assert_cmpuint(c.queued, ==, 5);
		g_assert_cmpuint(c.dropped_telemetry, ==, 7);
		for (int i = 0; i < 3; i++)
			ng_outbox_acked(outbox, take_expect(outbox, "p/1/telemetry", "t"));
		s = take_expect(outbox, "p/1/state", "s");
		ng_outbox_acked(outbox, s);
		ng_outbox_acked(outbox, take_expect(outbox, "p/1/alert", "a"));
		/* state loaded from disk is remembered for republishing too */
		ng_outbox_republish_state(outbox);
		take_expect(outbox, "p/1/state", "s");
	}
}

static void
test_store_bad_path(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NgStore) store = ng_store_open("/nonexistent-dir/needlegate.db", &error);

	g_assert_null(store);
	g_assert_error(error, NG_STORE_ERROR, NG_STORE_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "/nonexistent-dir/needlegate.db"));
}

static void
test_store_schema_versions(Fixture *fx, gconstpointer data)
{
	g_autoptr(NgStore) store = open_store(fx);
	g_autoptr(GError) error = NULL;

	g_assert_true(ng_store_ensure_schema(store, "pens", 1, "CREATE TABLE pens (serial TEXT)", &error));
	g_assert_no_error(error);
	/* same version again: nothing runs (the table would already exist) */
	g_assert_true(ng_store_ensure_schema(store, "pens", 1, "CREATE TABLE pens (serial TEXT)", &error));
	g_assert_true(
	    ng_store_ensure_schema(store, "pens", 2, "ALTER TABLE pens ADD COLUMN seq INTEGER", &error));
	g_assert_false(ng_store_ensure_schema(store, "pens", 1, "", &error));
	g_assert_nonnull(strstr(error->message, "newer"));
}

/* Takes the next message and checks its MQTT 5 correlation data (NULL: none). */
static void
take_expect_correlation(NgOutbox *outbox, const char *payload, const void *corr, gsize corr_len)
{
	NgOutboxMessage *msg = ng_outbox_take_next(outbox);
	gsize len = 0;
	const void *data;

	g_assert_nonnull(msg);
	data = ng_outbox_message_get_payload(msg, &len);
	g_assert_cmpmem(data, len, payload, strlen(payload));
	g_assert_cmpint(ng_outbox_message_get_qos(msg), ==, 1);
	g_assert_false(ng_outbox_message_get_retain(msg));
	data = ng_outbox_message_get_correlation_data(msg, &len);
	if (corr == NULL) {
		g_assert_null(data);
	} else {
		g_assert_nonnull(data);
		g_assert_cmpmem(data, len, corr, corr_len);
	}
	ng_outbox_acked(outbox, ng_outbox_message_get_serial(msg));
}

static void
test_correlation_durable_and_migrated(Fixture *fx, gconstpointer data)
{
	static const char corr[] = {'\0', '\xff', 'c', '1'};
	g_autoptr(GError) error = NULL;

	{
		/* a database of the previous version (1), with a message still waiting */
		g_autoptr(NgStore) store = open_store(fx);
		g_assert_true(ng_store_ensure_schema(
		    store, "outbox", 1,
		    "CREATE TABLE outbox (id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, topic TEXT NOT NULL,"
		    " payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL);"
		    "INSERT INTO outbox (kind, topic, payload, qos, retain) VALUES (1, 'r/old', 'old', 1, "
		    "0);",
		    &error));
		g_assert_no_error(error);
	}
	{
		g_autoptr(NgStore) store = open_store(fx);
		g_autoptr(NgOutbox) outbox = open_outbox(store, 100);
		g_autoptr(GBytes) bytes = g_bytes_new_static(corr, sizeof(corr));
		g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
		g_autofree char *big = g_malloc0(65536);
		g_autoptr(GBytes) too_big = g_bytes_new_take(g_steal_pointer(&big), 65536);

		g_assert_true(ng_outbox_push_response(outbox, "r/1", "one", 3, bytes, &error));
		g_assert_true(ng_outbox_push_response(outbox, "r/2", "two", 3, NULL, &error));
		g_assert_true(ng_outbox_push_response(outbox, "r/3", "three", 5, empty, &error));
		g_assert_no_error(error);
		g_assert_false(ng_outbox_push_response(outbox, "r/4", "four", 4, too_big, &error));
		g_assert_error(error, NG_OUTBOX_ERROR, NG_OUTBOX_ERROR_INVALID_ARGS);
		g_assert_nonnull(strstr(error->message, "correlation_data"));
		/* freed without acknowledgements: all of them are written, then read back */
	}
	{
		g_autoptr(NgStore) store = open_store(fx);
		g_autoptr(NgOutbox) outbox = open_outbox(store, 100);

		take_expect_correlation(outbox, "old", NULL, 0);
		take_expect_correlation(outbox, "one", corr, sizeof(corr));
		take_expect_correlation(outbox, "two", NULL, 0);
		take_expect_correlation(outbox, "three", "", 0);
		g_assert_null(ng_outbox_take_next(outbox));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/outbox/order-and-ack", test_order_and_ack);
	ADD("/outbox/bad-args", test_bad_args);
	ADD("/outbox/full-drops-oldest-telemetry", test_full_drops_oldest_telemetry);
	ADD("/outbox/state-replace-and-republish", test_state_replace_and_republish);
	ADD("/outbox/rows-batched", test_rows_batched);
	ADD("/outbox/commit-on-main-loop", test_commit_on_main_loop);
	ADD("/outbox/crash-keeps-committed", test_crash_keeps_committed);
	ADD("/outbox/reload-bound-and-state", test_reload_bound_and_state);
	ADD("/store/schema-versions", test_store_schema_versions);
	ADD("/outbox/sync-before-commit", test_sync_before_commit);
	ADD("/outbox/commit-windows", test_commit_windows);
	ADD("/outbox/state-is-delivered", test_state_is_delivered);
	ADD("/outbox/correlation-durable-and-migrated", test_correlation_durable_and_migrated);
	g_test_add_func("/store/bad-path", test_store_bad_path);
	return g_test_run();
}
