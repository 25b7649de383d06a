/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Integration tests of store, outbox and MQTT client against a real mosquitto and a real subscriber. */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt-test-util.h"
#include "ng-mqtt.h"

typedef struct {
	char *dir;
	char *db_path;
	TestBroker *broker;
	NgStore *store;
	NgOutbox *outbox;
	NgMqtt *mqtt;
	guint connects;
	guint losses;
	GPtrArray *requests; /* "topic|payload|response_topic|correlation" */
} Gw;

static void
gw_connection_cb(NgMqtt *mqtt, gboolean connected, gpointer user_data)
{
	Gw *gw = user_data;

	if (connected)
		gw->connects++;
	else
		gw->losses++;
}

static void
gw_request_cb(NgMqtt *mqtt, const char *topic, const char *payload, gsize len, const char *response_topic,
	      GBytes *correlation_data, gpointer user_data)
{
	Gw *gw = user_data;
	g_autofree char *corr = NULL;

	g_assert_cmpuint(strlen(payload), ==, len);
	if (correlation_data != NULL)
		corr =
		    g_strndup(g_bytes_get_data(correlation_data, NULL), g_bytes_get_size(correlation_data));
	g_ptr_array_add(gw->requests, g_strdup_printf("%s|%s|%s|%s", topic, payload,
						      response_topic != NULL ? response_topic : "(null)",
						      corr != NULL ? corr : "(null)"));
}

static Gw *
gw_new(TestBroker *broker)
{
	Gw *gw = g_new0(Gw, 1);
	g_autoptr(GError) error = NULL;

	gw->dir = g_dir_make_tmp("ng-mqtt-gw-XXXXXX", &error);
	g_assert_no_error(error);
	gw->db_path = g_build_filename(gw->dir, "needlegate.db", NULL);
	gw->broker = broker;
	gw->requests = g_ptr_array_new_with_free_func(g_free);
	return gw;
}

/* Opens the database and the outbox (again, after a "crash" or a stop). */
static void
gw_open(Gw *gw, guint64 max)
{
	g_autoptr(GError) error = NULL;

	gw->store = ng_store_open(gw->db_path, &error);
	g_assert_no_error(error);
	gw->outbox = ng_outbox_new(gw->store, max, &error);
	g_assert_no_error(error);
}

static void
gw_start_mqtt_tls(Gw *gw, const char *url, const char *ca_file, const char *cert_file, const char *key_file)
{
	g_autoptr(GError) error = NULL;
	NgMqttConfig config = {
	    .url = url,
	    .client_id = "needlegate-test-hub",
	    .ca_file = ca_file,
	    .cert_file = cert_file,
	    .key_file = key_file,
	};

	gw->mqtt = ng_mqtt_new(&config, gw->outbox, &error);
	g_assert_no_error(error);
	ng_mqtt_set_connection_handler(gw->mqtt, gw_connection_cb, gw);
	ng_mqtt_start(gw->mqtt);
}

static void
gw_start_mqtt_full(Gw *gw, int version, const char *url, const char *ca_file)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *default_url = test_broker_url(gw->broker);
	NgMqttConfig config = {
	    .url = url != NULL ? url : default_url,
	    .client_id = "needlegate-test-hub",
	    .mqtt_version = version,
	    .keepalive_s = 5,
	    .will_topic = "needlegate/test/bridge/state",
	    .will_payload = "{\"state\":\"offline\"}",
	    .request_topic_filter = "needlegate/test/bridge/request/#",
	    .ca_file = ca_file,
	};

	gw->mqtt = ng_mqtt_new(&config, gw->outbox, &error);
	g_assert_no_error(error);
	ng_mqtt_set_connection_handler(gw->mqtt, gw_connection_cb, gw);
	ng_mqtt_set_request_handler(gw->mqtt, gw_request_cb, gw);
	ng_mqtt_start(gw->mqtt);
}

static void
gw_start_mqtt(Gw *gw, int version)
{
	gw_start_mqtt_full(gw, version, NULL, NULL);
}

static void
gw_close(Gw *gw)
{
	g_clear_pointer(&gw->mqtt, ng_mqtt_free);
	g_clear_pointer(&gw->outbox, ng_outbox_free);
	g_clear_pointer(&gw->store, ng_store_free);
}

static void
gw_free(Gw *gw)
{
	const char *suffixes[] = {"", "-wal", "-shm"};

	gw_close(gw);
	for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *p = g_strconcat(gw->db_path, suffixes[i], NULL);
		g_unlink(p);
	}
	g_rmdir(gw->dir);
	g_free(gw->db_path);
	g_free(gw->dir);
	g_ptr_array_unref(gw->requests);
	g_free(gw);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Gw, gw_free)

static gboolean
gw_is_connected(gpointer data)
{
	Gw *gw = data;

	return gw->mqtt != NULL && ng_mqtt_is_connected(gw->mqtt);
}

static gboolean
gw_is_disconnected(gpointer data)
{
	return !gw_is_connected(data);
}

static gboolean
gw_outbox_empty(gpointer data)
{
	Gw *gw = data;
	NgOutboxCounters c;

	ng_outbox_get_counters(gw->outbox, &c);
	return c.queued == 0;
}

static void
gw_push(Gw *gw, NgOutboxKind kind, const char *topic, const char *payload)
{
	g_autoptr(GError) error = NULL;

	g_assert_true(ng_outbox_push(gw->outbox, kind, topic, payload, strlen(payload), 1,
				     kind == NG_OUTBOX_KIND_STATE, &error));
	g_assert_no_error(error);
}

static void
gw_push_numbered(Gw *gw, const char *topic, guint first, guint last)
{
	for (guint i = first; i <= last; i++) {
		g_autofree char *payload = g_strdup_printf("%u", i);
		gw_push(gw, NG_OUTBOX_KIND_TELEMETRY, topic, payload);
	}
}

/* Checks that numbered messages on @topic cover 1..@n, each new one in increasing order (a QoS 1
 * duplicate of an earlier one may appear after a reconnect); returns how many duplicates. */
static guint
check_numbered(GPtrArray *messages, const char *topic, guint n)
{
	g_autofree gboolean *seen = g_new0(gboolean, n + 1);
	guint last_new = 0;
	guint dups = 0;
	guint count = 0;

	for (guint i = 0; i < messages->len; i++) {
		TestMessage *msg = messages->pdata[i];
		guint64 v;
		if (g_strcmp0(msg->topic, topic) != 0)
			continue;
		v = g_ascii_strtoull(msg->payload, NULL, 10);
		g_assert_cmpuint(v, >=, 1);
		g_assert_cmpuint(v, <=, n);
		if (seen[v]) {
			dups++;
			continue;
		}
		g_assert_cmpuint(v, ==, last_new + 1);
		last_new = v;
		seen[v] = TRUE;
		count++;
	}
	g_assert_cmpuint(count, ==, n);
	return dups;
}

static guint
count_topic(GPtrArray *messages, const char *topic)
{
	guint n = 0;

	for (guint i = 0; i < messages->len; i++)
		n += g_strcmp0(((TestMessage *)messages->pdata[i])->topic, topic) == 0;
	return n;
}

/* Messages arrive once each and in order; the will is published when the client goes. */
static void
test_delivery(gconstpointer data)
{
	int version = GPOINTER_TO_INT(data);
	g_autoptr(TestBroker) broker = test_broker_new(FALSE, FALSE);
	g_autoptr(TestSub) sub = test_sub_new(broker, "sub-delivery", "needlegate/test/#", FALSE);
	g_autoptr(Gw) gw = gw_new(broker);
	NgOutboxCounters c;
	GPtrArray *msgs;

	gw_open(gw, 100000);
	gw_start_mqtt(gw, version);
	g_assert_true(test_wait_until(gw_is_connected, gw, 5000));
	g_assert_cmpuint(gw->connects, ==, 1);
	for (guint i = 1; i <= 2000; i++) {
		g_autofree char *payload = g_strdup_printf("%u", i);
		gw_push(gw, NG_OUTBOX_KIND_TELEMETRY, "needlegate/test/pens/P1/telemetry", payload);
		if (i % 100 == 0)
			gw_push(gw, NG_OUTBOX_KIND_EVENT, "needlegate/test/pens/P1/alert", payload);
	}
	g_assert_cmpuint(test_sub_wait(sub, 2020, 20000), ==, 2020);
	g_assert_true(test_wait_until(gw_outbox_empty, gw, 5000));
	msgs = test_sub_get_messages(sub);
	g_assert_cmpuint(check_numbered(msgs, "needlegate/test/pens/P1/telemetry", 2000), ==, 0);
	g_assert_cmpuint(count_topic(msgs, "needlegate/test/pens/P1/alert"), ==, 20);
	ng_outbox_get_counters(gw->outbox, &c);
	g_assert_cmpuint(c.pushed, ==, 2020);
	g_assert_cmpuint(c.acked, ==, 2020);
	g_assert_cmpuint(c.dropped_telemetry, ==, 0);
	test_run_for(200);
	g_assert_cmpuint(test_sub_wait(sub, 2021, 200), ==, 2020); /* nothing more, no duplicate */

	/* a clean stop still tells the dashboards we are gone (the will, retained) */
	g_clear_pointer(&gw->mqtt, ng_mqtt_free);
	g_assert_cmpuint(test_sub_wait(sub, 2021, 5000), ==, 2021);
	{
		TestMessage *last = msgs->pdata[2020];
		g_assert_cmpstr(last->topic, ==, "needlegate/test/bridge/state");
		g_assert_cmpstr(last->payload, ==, "{\"state\":\"offline\"}");
	}
}

/* A clean stop after the daemon said "offline" itself (through the outbox, acknowledged): the broker
 * does not publish the will on top of it, so dashboards see it once. */
static void
test_will_not_repeated(gconstpointer data)
{
	int version = GPOINTER_TO_INT(data);
	g_autoptr(TestBroker) broker = test_broker_new(FALSE, FALSE);
	g_autoptr(TestSub) sub = test_sub_new(broker, "sub-will", "needlegate/test/bridge/#", FALSE);
	g_autoptr(Gw) gw = gw_new(broker);
	GPtrArray *msgs;

	gw_open(gw, 1000);
	gw_start_mqtt(gw, version);
	g_assert_true(test_wait_until(gw_is_connected, gw, 5000));
	gw_push(gw, NG_OUTBOX_KIND_STATE, "needlegate/test/bridge/state", "{\"state\":\"offline\"}");
	g_assert_true(test_wait_until(gw_outbox_empty, gw, 5000));
	g_clear_pointer(&gw->mqtt, ng_mqtt_free);
	g_assert_cmpuint(test_sub_wait(sub, 1, 5000), ==, 1);
	g_assert_cmpuint(test_sub_wait(sub, 2, 1000), ==, 1);
	msgs = test_sub_get_messages(sub);
	g_assert_cmpstr(((TestMessage *)msgs->pdata[0])->payload, ==, "{\"state\":\"offline\"}");
}

/* The broker goes away for a while: what was queued meanwhile arrives after it is back, nothing lost. */
static void
test_broker_outage(void)
{
	g_autoptr(TestBroker) broker = test_broker_new(TRUE, FALSE);
	g_autoptr(TestSub) sub = test_sub_new(broker, "sub-outage", "needlegate/test/pens/#", TRUE);
	g_autoptr(Gw) gw = gw_new(broker);
	const char *topic = "needlegate/test/pens/P1/telemetry";
	guint dups;

	gw_open(gw, 100000);
	gw_start_mqtt(gw, 5);
	g_assert_true(test_wait_until(gw_is_connected, gw, 5000));
	gw_push_numbered(gw, topic, 1, 500);
	test_run_for(20); /* some in flight, some not */
	test_broker_stop(broker);
	gw_push_numbered(gw, topic, 501, 800);
	g_assert_true(test_wait_until(gw_is_disconnected, gw, 5000));
	gw_push_numbered(gw, topic, 801, 1000);
	test_run_for(2500); /* a few failed reconnects */
	g_assert_false(ng_mqtt_is_connected(gw->mqtt));
	test_broker_start(broker);
	g_assert_true(test_wait_until(gw_is_connected, gw, 10000));
	g_assert_true(test_wait_until(gw_outbox_empty, gw, 10000));
	test_sub_wait(sub, 1000, 10000);
	/* wait for late duplicates too, then check */
	test_sub_wait(sub, G_MAXUINT, 500);
	dups = check_numbered(test_sub_get_messages(sub), topic, 1000);
	g_test_message("duplicates after the outage: %u", dups);
	g_assert_cmpuint(gw->connects, ==, 2);
	g_assert_cmpuint(gw->losses, ==, 1);
}

/* A process killed with SIGKILL while pushing: whatever it reported committed is sent after a restart. */
static void
test_killed_and_restarted(void)
{
	g_autoptr(TestBroker) broker = test_broker_new(FALSE, FALSE);
	g_autoptr(TestSub) sub = test_sub_new(broker, "sub-kill", "needlegate/test/kill/#", FALSE);
	g_autoptr(Gw) gw = gw_new(broker);
	g_autoptr(GError) error = NULL;
	g_autofree char *url = test_broker_url(broker);
	const char *pusher = g_getenv("NG_OUTBOX_PUSHER");
	const char *topic = "needlegate/test/kill/telemetry";
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GDataInputStream) out = NULL;
	guint64 committed = 0;
	gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

	g_assert_nonnull(pusher);
	proc =
	    g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, pusher, gw->db_path, url, topic, NULL);
	g_assert_no_error(error);
	out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(proc));
	while (committed < 5000 && g_get_monotonic_time() < deadline) {
		g_autofree char *line = g_data_input_stream_read_line(out, NULL, NULL, &error);
		g_assert_no_error(error);
		g_assert_nonnull(line);
		if (g_str_has_prefix(line, "committed "))
			committed = g_ascii_strtoull(line + 10, NULL, 10);
	}
	g_subprocess_force_exit(proc); /* SIGKILL */
	g_subprocess_wait(proc, NULL, NULL);
	g_assert_cmpuint(committed, >=, 5000);

	gw_open(gw, 10000000);
	gw_start_mqtt(gw, 5);
	g_assert_true(test_wait_until(gw_is_connected, gw, 5000));
	g_assert_true(test_wait_until(gw_outbox_empty, gw, 20000));
	test_sub_wait(sub, G_MAXUINT, 500);
	/* the pusher may have sent more than it committed: count only up to what it committed */
	{
		GPtrArray *msgs = test_sub_get_messages(sub);
		g_autoptr(GPtrArray) upto = g_ptr_array_new();
		for (guint i = 0; i < msgs->len; i++) {
			TestMessage *msg = msgs->pdata[i];
			if (g_ascii_strtoull(msg->payload, NULL, 10) <= committed)
				g_ptr_array_add(upto, msg);
		}
		g_test_message("committed %" G_GUINT64_FORMAT
			       ", received %u messages up to it, duplicates %u",
			       committed, upto->len, check_numbered(upto, topic, committed));
	}
}

static gboolean
gw_connected_twice(gpointer data)
{
	Gw *gw = data;

	return gw->connects >= 2;
}

/* Retained state: the latest replaces older unsent ones, and is published again after a reconnect
 * (here to a broker that lost its retained messages). */
static void
test_retained_state(void)
{
	g_autoptr(TestBroker) broker = test_broker_new(FALSE, FALSE);
	g_autoptr(Gw) gw = gw_new(broker);
	const char *topic = "needlegate/test/pens/P1/state";
	NgOutboxCounters c;

	gw_open(gw, 1000);
	/* while not connected: v1 is replaced by v2 before anything is sent */
	gw_push(gw, NG_OUTBOX_KIND_STATE, topic, "{\"v\":1}");
	gw_push(gw, NG_OUTBOX_KIND_STATE, topic, "{\"v\":2}");
	ng_outbox_get_counters(gw->outbox, &c);
	g_assert_cmpuint(c.replaced_state, ==, 1);
	gw_start_mqtt(gw, 5);
	g_assert_true(test_wait_until(gw_is_connected, gw, 5000));
	g_assert_true(test_wait_until(gw_outbox_empty, gw, 5000));
	{
		g_autoptr(TestSub) sub = test_sub_new(broker, "sub-state-1", "needlegate/test/pens/#", FALSE);
		GPtrArray *msgs;
		g_assert_cmpuint(test_sub_wait(sub, 1, 5000), ==, 1);
		test_sub_wait(sub, 2, 300);
		msgs = test_sub_get_messages(sub);
		g_assert_cmpuint(msgs->len, ==, 1);
		g_assert_cmpstr(((TestMessage *)msgs->pdata[0])->payload, ==, "{\"v\":2}");
		g_assert_true(((TestMessage *)msgs->pdata[0])->retained);
	}
	/* the broker restarts without persistence: its retained copy is gone */
	test_broker_stop(broker);
	test_broker_start(broker);
	g_assert_true(test_wait_until(gw_connected_twice, gw, 10000));
	g_assert_true(test_wait_until(gw_outbox_empty, gw, 5000));
	{
		g_autoptr(TestSub) sub = test_sub_new(broker, "sub-state-2", "needlegate/test/pens/#", FALSE);
		GPtrArray *msgs;
		g_assert_cmpuint(test_sub_wait(sub, 1, 5000), ==, 1);
		msgs = test_sub_get_messages(sub);
		g_assert_cmpstr(((TestMessage *)msgs->pdata[0])->topic, ==, topic);
		g_assert_cmpstr(((TestMessage *)msgs->pdata[0])->payload, ==, "{\"v\":2}");
		g_assert_true(((TestMessage *)msgs->pdata[0])->retained);
	}
}

/* The outbox fills during an outage: the oldest telemetry goes, counted; alerts all arrive. */
static void
test_full_during_outage(void)
{
	g_autoptr(TestBroker) broker = test_broker_new(TRUE, FALSE);
	g_autoptr(TestSub) sub = test_sub_new(broker, "sub-full", "needlegate/test/pens/#", TRUE);
	g_autoptr(Gw) gw = gw_new(broker);
	NgOutboxCounters c;
	GPtrArray *msgs;
	guint telemetry = 0;

	gw_open(gw, 100);
	gw_start_mqtt(gw, 5);
	g_assert_true(test_wait_until(gw_is_connected, gw, 5000));
	test_broker_stop(broker);
	g_assert_true(test_wait_until(gw_is_disconnected, gw, 5000));
	for (guint i = 1; i <= 300; i++) {
		g_autofree char *payload = g_strdup_printf("%u", i);
		gw_push(gw, NG_OUTBOX_KIND_TELEMETRY, "needlegate/test/pens/P1/telemetry", payload);
		if (i % 10 == 0)
			gw_push(gw, NG_OUTBOX_KIND_EVENT, "needlegate/test/pens/P1/alert", payload);
	}
	ng_outbox_get_counters(gw->outbox, &c);
	g_assert_cmpuint(c.queued, ==, 100);
	g_assert_cmpuint(c.dropped_telemetry, ==, 230);
	test_broker_start(broker);
	g_assert_true(test_wait_until(gw_is_connected, gw, 10000));
	g_assert_true(test_wait_until(gw_outbox_empty, gw, 10000));
	test_sub_wait(sub, 100, 5000);
	test_sub_wait(sub, G_MAXUINT, 300);
	msgs = test_sub_get_messages(sub);
	g_assert_cmpuint(count_topic(msgs, "needlegate/test/pens/P1/alert"), ==, 30);
	/* the telemetry kept is the newest 70, in order */
	for (guint i = 0; i < msgs->len; i++) {
		TestMessage *msg = msgs->pdata[i];
		if (g_strcmp0(msg->topic, "needlegate/test/pens/P1/telemetry") != 0)
			continue;
		g_assert_cmpuint(g_ascii_strtoull(msg->payload, NULL, 10), ==, 231 + telemetry);
		telemetry++;
	}
	g_assert_cmpuint(telemetry, ==, 70);
}

typedef struct {
	gboolean done;
	char *out;
} SubOutput;

static void
sub_output_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	SubOutput *o = user_data;

	g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source), res, &o->out, NULL, NULL);
	o->done = TRUE;
}

static gboolean
sub_output_done(gpointer data)
{
	return ((SubOutput *)data)->done;
}

/* Requests arrive on the main loop with MQTT 5 response topic and correlation data; the answer
 * goes to the response topic with the same correlation data. */
static void
test_requests(void)
{
	g_autoptr(TestBroker) broker = test_broker_new(FALSE, FALSE);
	g_autoptr(Gw) gw = gw_new(broker);
	g_autofree char *port = g_strdup_printf("%d", broker->port);
	const char *argv[] = {"mosquitto_pub",
			      "-h",
			      "127.0.0.1",
			      "-p",
			      port,
			      "-V",
			      "5",
			      "-q",
			      "1",
			      "-t",
			      "needlegate/test/bridge/request/pair",
			      "-m",
			      "{\"pen\":\"NP-1\"}",
			      "-D",
			      "publish",
			      "response-topic",
			      "dash/1/reply",
			      "-D",
			      "publish",
			      "correlation-data",
			      "abc123",
			      NULL};
	g_autoptr(GError) error = NULL;
	int status = 0;

	gw_open(gw, 1000);
	gw_start_mqtt(gw, 5);
	g_assert_true(test_wait_until(gw_is_connected, gw, 5000));
	test_run_for(200); /* the subscription is made right after the connect */
	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
				   &status, &error));
	g_assert_no_error(error);
	g_assert_true(g_spawn_check_wait_status(status, NULL));
	for (guint i = 0; i < 500 && gw->requests->len == 0; i++)
		test_run_for(10);
	g_assert_cmpuint(gw->requests->len, ==, 1);
	g_assert_cmpstr(gw->requests->pdata[0], ==,
			"needlegate/test/bridge/request/pair|{\"pen\":\"NP-1\"}|dash/1/reply|abc123");

	/* the answer, as ng-requests.c gives it: a requester (MQTT 5) sees the correlation data */
	{
		g_autoptr(GSubprocess) sub =
		    g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "mosquitto_sub", "-h",
				     "127.0.0.1", "-p", port, "-V", "5", "-q", "1", "-t", "dash/1/reply",
				     "-C", "1", "-W", "10", "-F", "%t|%D|%p", NULL);
		g_autoptr(GBytes) corr = g_bytes_new_static("abc123", 6);
		SubOutput o = {FALSE, NULL};

		g_assert_no_error(error);
		g_subprocess_communicate_utf8_async(sub, NULL, NULL, sub_output_cb, &o);
		test_run_for(500); /* mosquitto_sub subscribes */
		g_assert_true(ng_outbox_push_response(gw->outbox, "dash/1/reply", "{\"status\":\"ok\"}", 15,
						      corr, &error));
		g_assert_no_error(error);
		g_assert_true(test_wait_until(sub_output_done, &o, 12000));
		g_assert_cmpstr(o.out, ==, "dash/1/reply|abc123|{\"status\":\"ok\"}\n");
		g_free(o.out);
	}
}

/* mqtts:// with a CA file: the broker's certificate is checked, messages flow. */
static void
test_tls(void)
{
	g_autoptr(TestBroker) broker = test_broker_new(FALSE, TRUE);
	g_autoptr(TestSub) sub = test_sub_new(broker, "sub-tls", "needlegate/test/#", FALSE);
	g_autoptr(Gw) gw = gw_new(broker);
	g_autofree char *url = g_strdup_printf("mqtts://127.0.0.1:%d", broker->tls_port);
	g_autofree char *ca = g_build_filename(broker->dir, "ca.pem", NULL);

	gw_open(gw, 1000);
	gw_start_mqtt_full(gw, 5, url, ca);
	g_assert_true(test_wait_until(gw_is_connected, gw, 5000));
	gw_push_numbered(gw, "needlegate/test/pens/P1/telemetry", 1, 50);
	g_assert_cmpuint(test_sub_wait(sub, 50, 5000), ==, 50);
	check_numbered(test_sub_get_messages(sub), "needlegate/test/pens/P1/telemetry", 50);
}

/* A broker that wants a client certificate: with one signed by its CA we get in, without we do not. */
static void
test_tls_client_cert(void)
{
	g_autoptr(TestBroker) broker = test_broker_new(FALSE, TRUE);
	g_autoptr(TestSub) sub = test_sub_new(broker, "sub-mtls", "needlegate/test/#", FALSE);
	g_autoptr(Gw) gw = gw_new(broker);
	g_autoptr(Gw) gw_nocert = gw_new(broker);
	g_autofree char *url = g_strdup_printf("mqtts://127.0.0.1:%d", broker->mtls_port);
	g_autofree char *ca = g_build_filename(broker->dir, "ca.pem", NULL);
	g_autofree char *cert = g_build_filename(broker->dir, "client.pem", NULL);
	g_autofree char *key = g_build_filename(broker->dir, "client.key", NULL);

	gw_open(gw_nocert, 1000);
	gw_start_mqtt_tls(gw_nocert, url, ca, NULL, NULL);
	gw_open(gw, 1000);
	gw_start_mqtt_tls(gw, url, ca, cert, key);
	g_assert_true(test_wait_until(gw_is_connected, gw, 5000));
	gw_push_numbered(gw, "needlegate/test/pens/P1/telemetry", 1, 10);
	g_assert_cmpuint(test_sub_wait(sub, 10, 5000), ==, 10);
	check_numbered(test_sub_get_messages(sub), "needlegate/test/pens/P1/telemetry", 10);
	g_assert_false(ng_mqtt_is_connected(gw_nocert->mqtt));
	g_assert_cmpuint(gw_nocert->connects, ==, 0);
}

/* A CA that did not sign the broker's certificate: no connection. */
static void
test_tls_wrong_ca(void)
{
	g_autoptr(TestBroker) broker = test_broker_new(FALSE, TRUE);
	g_autoptr(TestBroker) other = test_broker_new(FALSE, TRUE);
	g_autoptr(Gw) gw = gw_new(broker);
	g_autofree char *url = g_strdup_printf("mqtts://127.0.0.1:%d", broker->tls_port);
	g_autofree char *ca = g_build_filename(other->dir, "ca.pem", NULL);

	gw_open(gw, 1000);
	gw_start_mqtt_full(gw, 5, url, ca);
	test_run_for(1500);
	g_assert_false(ng_mqtt_is_connected(gw->mqtt));
	g_assert_cmpuint(gw->connects, ==, 0);
}

static void
expect_config_error(const NgMqttConfig *config, const char *prefix)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("ng-mqtt-cfg-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "needlegate.db", NULL);
	g_autoptr(NgStore) store = ng_store_open(path, &error);
	g_autoptr(NgOutbox) outbox = ng_outbox_new(store, 10, &error);
	g_autoptr(NgMqtt) mqtt = ng_mqtt_new(config, outbox, &error);

	g_assert_null(mqtt);
	g_assert_error(error, NG_MQTT_ERROR, NG_MQTT_ERROR_INVALID_CONFIG);
	if (!g_str_has_prefix(error->message, prefix))
		g_error("expected an error starting with '%s', got '%s'", prefix, error->message);
	g_clear_pointer(&outbox, ng_outbox_free);
	g_clear_pointer(&store, ng_store_free);
	{
		g_autofree char *wal = g_strconcat(path, "-wal", NULL);
		g_autofree char *shm = g_strconcat(path, "-shm", NULL);
		g_unlink(path);
		g_unlink(wal);
		g_unlink(shm);
		g_rmdir(dir);
	}
}

static void
test_config_errors(void)
{
	NgMqttConfig c = {.url = "http://localhost", .client_id = "hub"};

	expect_config_error(&c, "mqtt.url: unsupported scheme 'http', use mqtt:// or mqtts://");
	c.url = NULL;
	expect_config_error(&c, "mqtt.url: missing");
	c.url = "mqtt://";
	expect_config_error(&c, "mqtt.url:");
	c.url = "mqtt://user:secret@localhost";
	expect_config_error(&c, "mqtt.url: no user or password");
	c.url = "mqtt://localhost:99999";
	expect_config_error(&c, "mqtt.url:");
	c.url = "mqtt://localhost/some/path";
	expect_config_error(&c, "mqtt.url: unexpected path");
	c.url = "mqtts://localhost";
	c.ca_file = "/nonexistent/ca.pem";
	expect_config_error(&c, "mqtt.ca_file:");
	c.ca_file = "/etc/hostname";
	expect_config_error(&c, "mqtt.ca_file: '/etc/hostname' holds no PEM certificate");
	c.ca_file = NULL;
	c.key_file = "/nonexistent/key.pem";
	expect_config_error(&c, "mqtt.key_file: set without mqtt.cert_file");
	c.key_file = NULL;
	c.url = "mqtt://localhost";
	c.ca_file = "/etc/hostname";
	expect_config_error(&c, "mqtt.ca_file: set, but mqtt.url is not mqtts://");
	c.ca_file = NULL;
	c.client_id = "";
	expect_config_error(&c, "mqtt.client_id:");
	c.client_id = "hub";
	c.mqtt_version = 3;
	expect_config_error(&c, "mqtt.mqtt_version: must be 5 or 4");
	c.mqtt_version = 5;
	c.request_topic_filter = "base/#/request";
	expect_config_error(&c, "mqtt.request_topic_filter:");
	c.request_topic_filter = "base/req+/x";
	expect_config_error(&c, "mqtt.request_topic_filter:");
	c.request_topic_filter = NULL;
	c.will_topic = "base/bridge/state";
	expect_config_error(&c, "mqtt.will_payload: missing");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_data_func("/mqtt/delivery/v5", GINT_TO_POINTER(5), test_delivery);
	g_test_add_data_func("/mqtt/delivery/v311", GINT_TO_POINTER(4), test_delivery);
	g_test_add_data_func("/mqtt/will-not-repeated/v5", GINT_TO_POINTER(5), test_will_not_repeated);
	g_test_add_data_func("/mqtt/will-not-repeated/v311", GINT_TO_POINTER(4), test_will_not_repeated);
	g_test_add_func("/mqtt/broker-outage", test_broker_outage);
	g_test_add_func("/mqtt/killed-and-restarted", test_killed_and_restarted);
	g_test_add_func("/mqtt/retained-state", test_retained_state);
	g_test_add_func("/mqtt/full-during-outage", test_full_during_outage);
	g_test_add_func("/mqtt/requests", test_requests);
	g_test_add_func("/mqtt/tls", test_tls);
	g_test_add_func("/mqtt/tls-wrong-ca", test_tls_wrong_ca);
	g_test_add_func("/mqtt/tls-client-cert", test_tls_client_cert);
	g_test_add_func("/mqtt/config-errors", test_config_errors);
	return g_test_run();
}
