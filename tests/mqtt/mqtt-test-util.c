/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test helpers: a real mosquitto on free loopback ports, and a paho subscriber that records what arrives. */
#include "config.h"

#include "mqtt-test-util.h"

#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_BROKER_START_TIMEOUT_MS 5000

static int
test_free_port(void)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	g_assert_cmpint(fd, >=, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	g_assert_cmpint(getsockname(fd, (struct sockaddr *)&addr, &len), ==, 0);
	port = ntohs(addr.sin_port);
	close(fd);
	return port;
}

static gboolean
test_port_open(int port)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	gboolean ok;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
	close(fd);
	return ok;
}

static void
test_make_tls_files(const char *dir)
{
	const char *script =
	    "set -e\n"
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key "
	    "  -out ca.pem -days 2 -subj /CN=needlegate-test-ca 2>/dev/null\n"
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key "
	    "  -out server.csr -subj /CN=127.0.0.1 2>/dev/null\n"
	    "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext\n"
	    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
	    "  -days 2 -extfile san.ext 2>/dev/null\n"
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key "
	    "  -out client.csr -subj /CN=needlegate-test-hub 2>/dev/null\n"
	    "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem "
	    "  -days 2 2>/dev/null\n";
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	g_autoptr(GError) error = NULL;
	int status = 0;

	g_assert_true(
	    g_spawn_sync(dir, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, &error));
	g_assert_no_error(error);
	g_assert_true(g_spawn_check_wait_status(status, NULL));
}

static void
test_broker_write_conf(TestBroker *broker)
{
	g_autoptr(GString) conf = g_string_new(NULL);
	g_autofree char *path = g_build_filename(broker->dir, "mosquitto.conf", NULL);
	g_autoptr(GError) error = NULL;

	g_string_append(conf, "user root\nallow_anonymous true\nmax_queued_messages 0\n");
	if (broker->extra_conf != NULL)
		g_string_append_printf(conf, "%s\n", broker->extra_conf);
	g_string_append_printf(conf, "persistence %s\npersistence_location %s/\n",
			       broker->persistence ? "true" : "false", broker->dir);
	g_string_append_printf(conf, "log_dest file %s/mosquitto.log\nlog_type all\n", broker->dir);
	g_string_append_printf(conf, "listener %d 127.0.0.1\n", broker->port);
	if (broker->tls_port != 0) {
		g_string_append_printf(conf, "listener %d 127.0.0.1\n", broker->tls_port);
		g_string_append_printf(conf,
				       "cafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server.key\n",
				       broker->dir, broker->dir, broker->dir);
		/* and one that wants a client certificate signed by the same CA */
		g_string_append_printf(conf, "listener %d 127.0.0.1\n", broker->mtls_port);
		g_string_append_printf(conf,
				       "cafile %s/ca.pem\ncertfile %s/server.pem\nkeyfile %s/server.key\n",
				       broker->dir, broker->dir, broker->dir);
		g_string_append(conf, "require_certificate true\n");
	}
	g_assert_true(g_file_set_contents(path, conf->str, -1, &error));
	g_assert_no_error(error);
}

/* The broker must not outlive a test that aborts. */
static void
test_child_setup(gpointer user_data)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

void
test_broker_start(TestBroker *broker)
{
	g_autofree char *conf = g_build_filename(broker->dir, "mosquitto.conf", NULL);
	const char *argv[] = {"mosquitto", "-c", conf, NULL};
	g_autoptr(GError) error = NULL;
	gint64 deadline = g_get_monotonic_time() + TEST_BROKER_START_TIMEOUT_MS * 1000;

	g_assert_true(broker->pid == 0);
	g_assert_true(g_spawn_async(broker->dir, (char **)argv, NULL,
				    G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, test_child_setup, NULL,
				    &broker->pid, &error));
	g_assert_no_error(error);
	while (!test_port_open(broker->port) ||
	       (broker->tls_port != 0 && !test_port_open(broker->tls_port)) ||
	       (broker->mtls_port != 0 && !test_port_open(broker->mtls_port))) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(10000);
	}
}

void
test_broker_stop(TestBroker *broker)
{
	int status;

	if (broker->pid == 0)
		return;
	kill(broker->pid, SIGTERM);
	waitpid(broker->pid, &status, 0);
	g_spawn_close_pid(broker->pid);
	broker->pid = 0;
}

TestBroker *
test_broker_new(gboolean persistence, gboolean tls)
{
	return test_broker_new_full(persistence, tls, NULL);
}

TestBroker *
test_broker_new_full(gboolean persistence, gboolean tls, const char *extra_conf)
{
	TestBroker *broker = g_new0(TestBroker, 1);
	g_autoptr(GError) error = NULL;

	broker->extra_conf = g_strdup(extra_conf);
	broker->dir = g_dir_make_tmp("ng-mqtt-test-XXXXXX", &error);
	g_assert_no_error(error);
	broker->persistence = persistence;
	broker->port = test_free_port();
	if (tls) {
		broker->tls_port = test_free_port();
		broker->mtls_port = test_free_port();
		test_make_tls_files(broker->dir);
	}
	test_broker_write_conf(broker);
	test_broker_start(broker);
	return broker;
}

char *
test_broker_url(TestBroker *broker)
{
	return g_strdup_printf("mqtt://127.0.0.1:%d", broker->port);
}

static void
test_rm_rf(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	if (d == NULL)
		return;
	while ((name = g_dir_read_name(d)) != NULL) {
		g_autofree char *path = g_build_filename(dir, name, NULL);
		g_unlink(path);
	}
	g_rmdir(dir);
}

void
test_broker_free(TestBroker *broker)
{
	if (broker == NULL)
		return;
	test_broker_stop(broker);
	if (g_getenv("NG_TEST_KEEP_BROKER_DIR") == NULL)
		test_rm_rf(broker->dir);
	g_free(broker->dir);
	g_free(broker->extra_conf);
	g_free(broker);
}

/* ---- subscriber ------------------------------------------------------------------------------ */

struct _TestSub {
	MQTTAsync client;
	char *filter;
	GAsyncQueue *incoming; /* TestMessage from paho's thread */
	GPtrArray *messages;
	gint subscribed; /* atomic */
	gint connected;	 /* atomic */
};

static void
test_message_free(gpointer data)
{
	TestMessage *msg = data;

	g_free(msg->topic);
	g_free(msg->payload);
	g_free(msg);
}

static int
test_sub_on_message(void *context, char *topic, int topic_len, MQTTAsync_message *message)
{
	TestSub *sub = context;
	TestMessage *msg = g_new0(TestMessage, 1);

	msg->topic = topic_len > 0 ? g_strndup(topic, topic_len) : g_strdup(topic);
	msg->payload = g_strndup(message->payload, message->payloadlen);
	msg->retained = message->retained;
	g_async_queue_push(sub->incoming, msg);
	MQTTAsync_freeMessage(&message);
	MQTTAsync_free(topic);
	return 1;
}

static void
test_sub_on_subscribe(void *context, MQTTAsync_successData *response)
{
	TestSub *sub = context;

	g_atomic_int_set(&sub->subscribed, 1);
}

/* After a (re)connect: subscribe again (cheap, and needed when the session did not survive). */
static void
test_sub_on_connected(void *context, char *cause)
{
	TestSub *sub = context;
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;

	g_atomic_int_set(&sub->connected, 1);
	opts.onSuccess = test_sub_on_subscribe;
	opts.context = sub;
	MQTTAsync_subscribe(sub->client, sub->filter, 1, &opts);
}

static void
test_sub_on_lost(void *context, char *cause)
{
	TestSub *sub = context;

	g_atomic_int_set(&sub->connected, 0);
}

TestSub *
test_sub_new(TestBroker *broker, const char *client_id, const char *filter, gboolean persistent)
{
	TestSub *sub = g_new0(TestSub, 1);
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	g_autofree char *uri = g_strdup_printf("tcp://127.0.0.1:%d", broker->port);
	gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	sub->filter = g_strdup(filter);
	sub->incoming = g_async_queue_new();
	sub->messages = g_ptr_array_new_with_free_func(test_message_free);
	g_assert_cmpint(MQTTAsync_create(&sub->client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL), ==,
			MQTTASYNC_SUCCESS);
	MQTTAsync_setCallbacks(sub->client, sub, test_sub_on_lost, test_sub_on_message, NULL);
	MQTTAsync_setConnected(sub->client, sub, test_sub_on_connected);
	opts.cleansession = persistent ? 0 : 1;
	opts.keepAliveInterval = 10;
	opts.automaticReconnect = 1;
	opts.minRetryInterval = 1;
	opts.maxRetryInterval = 1;
	opts.MQTTVersion = MQTTVERSION_3_1_1;
	g_assert_cmpint(MQTTAsync_connect(sub->client, &opts), ==, MQTTASYNC_SUCCESS);
	while (!g_atomic_int_get(&sub->subscribed)) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_usleep(2000);
	}
	return sub;
}

static void
test_sub_collect(TestSub *sub, guint wait_us)
{
	TestMessage *msg = wait_us > 0 ? g_async_queue_timeout_pop(sub->incoming, wait_us)
				       : g_async_queue_try_pop(sub->incoming);

	while (msg != NULL) {
		g_ptr_array_add(sub->messages, msg);
		msg = g_async_queue_try_pop(sub->incoming);
	}
}

guint
test_sub_wait(TestSub *sub, guint n, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	test_sub_collect(sub, 0);
	while (sub->messages->len < n && g_get_monotonic_time() < deadline) {
		while (g_main_context_iteration(NULL, FALSE))
			;
		test_sub_collect(sub, 1000);
	}
	return sub->messages->len;
}

GPtrArray *
test_sub_get_messages(TestSub *sub)
{
	return sub->messages;
}

void
test_sub_publish(TestSub *sub, const char *topic, const char *payload)
{
	g_assert_cmpint(MQTTAsync_send(sub->client, topic, (int)strlen(payload), payload, 1, 0, NULL), ==,
			MQTTASYNC_SUCCESS);
}

void
test_sub_free(TestSub *sub)
{
	TestMessage *msg;

	if (sub == NULL)
		return;
	MQTTAsync_destroy(&sub->client);
	while ((msg = g_async_queue_try_pop(sub->incoming)) != NULL)
		test_message_free(msg);
	g_async_queue_unref(sub->incoming);
	g_ptr_array_unref(sub->messages);
	g_free(sub->filter);
	g_free(sub);
}

/* ---- main loop ------------------------------------------------------------------------------- */

static gboolean
test_wakeup_cb(gpointer user_data)
{
	return G_SOURCE_CONTINUE;
}

gboolean
test_wait_until(gboolean (*cond)(gpointer), gpointer data, guint timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	guint tick = g_timeout_add(5, test_wakeup_cb, NULL);
	gboolean ok;

	while (!(ok = cond(data)) && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	return ok;
}

static gboolean
test_never(gpointer data)
{
	return FALSE;
}

void
test_run_for(guint ms)
{
	test_wait_until(test_never, NULL, ms);
}
