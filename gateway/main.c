/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* needlegated: serves bonded NeedlePens over BlueZ and publishes their sessions to MQTT. */

#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <locale.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "ng-config.h"
#include "ng-dbus-service.h"
#include "ng-hub.h"
#include "ng-mqtt.h"
#include "ng-outbox.h"
#include "ng-publisher.h"
#include "ng-requests.h"
#include "ng-store.h"

/* How long a clean stop waits for the broker to take the last messages (offline, final state). */
#define STOP_DRAIN_MS 2000

typedef struct {
	GMainLoop *loop;
	int exit_code;
	NgConfig *config;
	NgStore *store;
	char *store_moved_to; /* the damaged database found at start, moved aside there */
	NgOutbox *outbox;
	NgMqtt *mqtt;
	GDBusConnection *bus;
	NgHub *hub;	      /* the engine */
	NgApi *api;	      /* front-end: the D-Bus service */
	NgRequests *requests; /* front-end: the MQTT requests */
	guint info_id;
	guint watchdog_id;
	guint status_id;
} Daemon;

static int verbosity;

/* ---- logging: journald when run by systemd, stderr otherwise; -v info, -vv debug -------------- */

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
	if ((level & G_LOG_LEVEL_DEBUG) && verbosity < 2)
		return G_LOG_WRITER_HANDLED;
	if ((level & G_LOG_LEVEL_INFO) && verbosity < 1)
		return G_LOG_WRITER_HANDLED;
	if (g_log_writer_is_journald(fileno(stderr)) &&
	    g_log_writer_journald(level, fields, n_fields, user_data) == G_LOG_WRITER_HANDLED)
		return G_LOG_WRITER_HANDLED;
	return g_log_writer_standard_streams(level, fields, n_fields, user_data);
}

/* ---- systemd notification -------------------------------------------------------------------------- */

#ifndef HAVE_LIBSYSTEMD
/* The notify protocol is one datagram to $NOTIFY_SOCKET: enough without libsystemd. */
static void
sd_notify_fallback(const char *state)
{
	const char *path = g_getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	gsize len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(addr.sun_path))
		return;
	len = strlen(path);
	memcpy(addr.sun_path, path, len);
	if (addr.sun_path[0] == '@')
		addr.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}
#endif

static void
notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, state);
#else
	sd_notify_fallback(state);
#endif
}

static guint64
watchdog_usec(void)
{
	const char *usec = g_getenv("WATCHDOG_USEC");
	const char *pid = g_getenv("WATCHDOG_PID");
	guint64 v = 0;

	if (usec == NULL || !g_ascii_string_to_unsigned(usec, 10, 1, G_MAXUINT64, &v, NULL))
		return 0;
	if (pid != NULL && g_ascii_strtoull(pid, NULL, 10) != (guint64)getpid())
		return 0;
	return v;
}

static gboolean
watchdog_cb(gpointer user_data)
{
	notify("WATCHDOG=1");
	return G_SOURCE_CONTINUE;
}

static gboolean
status_cb(gpointer user_data)
{
	Daemon *d = user_data;
	g_autofree char *status = NULL;
	NgHubCounters c;
	NgHubSnapshot snap;

	ng_hub_get_counters(d->hub, &c);
	ng_hub_get_snapshot(d->hub, &snap);
	status = g_strdup_printf("STATUS=%u pens connected, %" G_GUINT64_FORMAT " records, broker %s%s",
				 snap.pens_connected, c.records,
				 ng_mqtt_is_connected(d->mqtt) ? "connected" : "not connected",
				 snap.bluetoothd ? "" : ", bluetoothd not running");
	notify(status);
	return G_SOURCE_CONTINUE;
}

/* ---- command line and configuration -------------------------------------------------------------- */

/* sysexits.h's EX_CONFIG: the configuration is wrong (RestartPreventExitStatus= in the unit). */
#define NG_EXIT_CONFIG 78

typedef struct {
	char *config_path;
	char *hub_id;
	char *mqtt_url;
	char *state_dir;
	char *adapter;
	gboolean version;
} Options;

static gboolean
verbose_cb(const char *name, const char *value, gpointer data, GError **error)
{
	verbosity++;
	return TRUE;
}

static gboolean
parse_options(int *argc, char ***argv, Options *opts, GError **error)
{
	const GOptionEntry entries[] = {
	    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &opts->config_path,
	     "Configuration file (default " NG_CONFIG_DEFAULT_PATH ")", "FILE"},
	    {"hub-id", 0, 0, G_OPTION_ARG_STRING, &opts->hub_id, "Hub id ([gateway] hub_id)", "ID"},
	    {"mqtt-url", 0, 0, G_OPTION_ARG_STRING, &opts->mqtt_url, "Broker URL ([mqtt] url)", "URL"},
	    {"state-dir", 0, 0, G_OPTION_ARG_FILENAME, &opts->state_dir,
	     "State directory ([gateway] state_dir)", "DIR"},
	    {"adapter", 0, 0, G_OPTION_ARG_STRING, &opts->adapter, "Bluetooth adapter ([bluetooth] adapter)",
	     "hciN|ADDRESS"},
	    {"verbose", 'v', G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, (gpointer)verbose_cb,
	     "Log lifecycle events; twice: every record", NULL},
	    {"version", 0, 0, G_OPTION_ARG_NONE, &opts->version, "Print the version and exit", NULL},
	    {NULL},
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- the needlegate BLE gateway daemon");

	g_option_context_set_summary(
	    ctx, "Serves bonded NeedlePens over BlueZ and publishes their sessions to MQTT.\n"
		 "It talks to bluetoothd and serves its own D-Bus API on the system bus\n"
		 "(another bus if DBUS_SYSTEM_BUS_ADDRESS names one). See needlegated(8).");
	g_option_context_add_main_entries(ctx, entries, NULL);
	return g_option_context_parse(ctx, argc, argv, error);
}

static void
override(char **field, char *value)
{
	if (value == NULL)
		return;
	g_free(*field);
	*field = *value != '\0' ? g_strdup(value) : NULL;
}

static NgConfig *
load_config(Options *opts, GError **error)
{
	g_autoptr(NgConfig) config = ng_config_new();
	const char *path = opts->config_path != NULL ? opts->config_path : NG_CONFIG_DEFAULT_PATH;

	/* Only the default file may be missing: a file named on the command line must exist. */
	if (!ng_config_load_file(config, path, opts->config_path == NULL, error))
		return NULL;
	const struct {
		char **field;
		const char *value;
		const char *key;
		const char *option;
	} overrides[] = {
	    {&config->hub_id, opts->hub_id, "[gateway] hub_id:", "--hub-id"},
	    {&config->url, opts->mqtt_url, "[mqtt] url:", "--mqtt-url"},
	    {&config->state_dir, opts->state_dir, "[gateway] state_dir:", "--state-dir"},
	    {&config->adapter, opts->adapter, "[bluetooth] adapter:", "--adapter"},
	};
	const char *blame = path;

	for (gsize i = 0; i < G_N_ELEMENTS(overrides); i++)
		override(overrides[i].field, (char *)overrides[i].value);
	if (!ng_config_finish(config, error)) {
		/* a value given on the command line is not the file's fault */
		for (gsize i = 0; i < G_N_ELEMENTS(overrides); i++) {
			if (overrides[i].value != NULL &&
			    g_str_has_prefix((*error)->message, overrides[i].key))
				blame = overrides[i].option;
		}
		g_prefix_error(error, "%s: ", blame);
		return NULL;
	}
	return g_steal_pointer(&config);
}

/* ---- start and stop: the composition root -------------------------------------------------------- */

static gboolean
info_cb(gpointer user_data)
{
	Daemon *d = user_data;

	ng_hub_publish_info(d->hub);
	return G_SOURCE_CONTINUE;
}

static void
mqtt_connection_cb(NgMqtt *mqtt, gboolean connected, gpointer user_data)
{
	Daemon *d = user_data;

	if (connected)
		g_message("connected to the MQTT broker at %s", d->config->url);
	else
		g_message("lost the MQTT broker at %s; messages wait in the outbox", d->config->url);
	ng_hub_set_mqtt_connected(d->hub, connected);
	status_cb(d);
}

static gboolean
stop_cb(gpointer user_data)
{
	Daemon *d = user_data;

	g_message("stopping");
	g_main_loop_quit(d->loop);
	return G_SOURCE_CONTINUE;
}

static void
bus_closed_cb(GDBusConnection *bus, gboolean remote_peer_vanished, GError *error, gpointer user_data)
{
	Daemon *d = user_data;

	g_warning("the D-Bus system bus went away (%s): exiting", error != NULL ? error->message : "closed");
	d->exit_code = 1;
	g_main_loop_quit(d->loop);
}

/* bridge/request/<command>: answered on bridge/response/<command> (or the MQTT 5 response topic). */
static void
mqtt_request_cb(NgMqtt *mqtt, const char *topic, const char *payload, gsize len, const char *response_topic,
		GBytes *correlation_data, gpointer user_data)
{
	Daemon *d = user_data;

	ng_requests_handle(d->requests, topic, payload, len, response_topic, correlation_data);
}

static void
api_name_lost_cb(NgApi *api, gpointer user_data)
{
	Daemon *d = user_data;

	/* Two daemons on one adapter would fight over the pens. */
	d->exit_code = 1;
	g_main_loop_quit(d->loop);
}

static gboolean
start_mqtt(Daemon *d, GError **error)
{
	const NgTopics *topics = ng_hub_get_topics(d->hub);
	NgMqttConfig mc = {
	    .url = d->config->url,
	    .client_id = d->config->client_id,
	    .username = d->config->username,
	    .password = d->config->password,
	    .ca_file = d->config->ca_file,
	    .cert_file = d->config->cert_file,
	    .key_file = d->config->key_file,
	    .mqtt_version = d->config->mqtt_version,
	    .keepalive_s = (int)d->config->keepalive_s,
	    .will_topic = topics->state,
	    .will_payload = ng_publisher_offline_payload(),
	    .request_topic_filter = topics->request_filter,
	};

	d->mqtt = ng_mqtt_new(&mc, d->outbox, error);
	if (d->mqtt == NULL)
		return FALSE;
	ng_mqtt_set_connection_handler(d->mqtt, mqtt_connection_cb, d);
	ng_mqtt_set_request_handler(d->mqtt, mqtt_request_cb, d);
	ng_hub_set_mqtt(d->hub, d->mqtt);
	ng_mqtt_start(d->mqtt);
	return TRUE;
}

/* root with the service's own state directory would leave files the service user cannot write. */
static gboolean
refuse_root_in_service_dir(const NgConfig *config, GError **error)
{
	if (geteuid() != 0 || g_strcmp0(config->state_dir, NG_LOCALSTATEDIR "/lib/needlegate") != 0 ||
	    getpwnam("needlegate") == NULL)
		return TRUE;
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
		    "running as root with the service's state directory %s would leave files that the "
		    "service (user needlegate) cannot write: start it with 'systemctl start needlegated', "
		    "or give another --state-dir to run it by hand",
		    config->state_dir);
	return FALSE;
}

static gboolean
open_state(Daemon *d, GError **error)
{
	g_autofree char *db_path = g_build_filename(d->config->state_dir, "needlegate.db", NULL);

	if (!refuse_root_in_service_dir(d->config, error))
		return FALSE;
	if (g_mkdir_with_parents(d->config->state_dir, 0750) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "[gateway] state_dir: cannot create %s: %s", d->config->state_dir,
			    g_strerror(errno));
		return FALSE;
	}
	if (!ng_store_check_writable(db_path, error))
		return FALSE;
	d->store = ng_store_open_or_replace(db_path, &d->store_moved_to, error);
	if (d->store == NULL)
		return FALSE;
	d->outbox = ng_outbox_new(d->store, d->config->outbox_max_messages, error);
	return d->outbox != NULL;
}

static gboolean
start(Daemon *d, GError **error)
{
	NgHubEnv env = {.config = d->config};

	if (!open_state(d, error))
		return FALSE;
	d->bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, error);
	if (d->bus == NULL) {
		g_prefix_error(error, "cannot connect to the D-Bus system bus: ");
		return FALSE;
	}
	g_dbus_connection_set_exit_on_close(d->bus, FALSE);
	g_signal_connect(d->bus, "closed", G_CALLBACK(bus_closed_cb), d);
	env.bus = d->bus;
	env.store = d->store;
	env.outbox = d->outbox;
	d->hub = ng_hub_new(&env, error);
	if (d->hub == NULL)
		return FALSE;
	d->requests = ng_requests_new(d->config, d->outbox, d->hub);
	if (!start_mqtt(d, error))
		return FALSE;
	d->api = ng_api_new(d->hub, d->bus, api_name_lost_cb, d, error);
	if (d->api == NULL)
		return FALSE;
	ng_hub_publish_all(d->hub);
	if (d->store_moved_to != NULL)
		ng_hub_report_store_replaced(d->hub, d->store_moved_to);
	if (d->config->info_interval_s > 0)
		d->info_id = g_timeout_add_seconds(d->config->info_interval_s, info_cb, d);
	return TRUE;
}

/* Lets the MQTT client hand the last messages to the broker, for at most STOP_DRAIN_MS. */
static void
drain_outbox(Daemon *d)
{
	gint64 deadline = g_get_monotonic_time() + STOP_DRAIN_MS * 1000;
	GMainContext *ctx = g_main_context_default();

	while (g_get_monotonic_time() < deadline && ng_mqtt_is_connected(d->mqtt)) {
		NgOutboxCounters c;
		ng_outbox_get_counters(d->outbox, &c);
		if (c.queued == 0)
			break;
		if (!g_main_context_iteration(ctx, FALSE))
			g_usleep(5000);
	}
}

static void
stop(Daemon *d)
{
	g_autoptr(GError) error = NULL;

	notify("STOPPING=1");
	if (d->info_id != 0)
		g_source_remove(d->info_id);
	/* Every pen's state says offline, then the hub's: the will covers only a crash. */
	if (d->hub != NULL && d->mqtt != NULL)
		ng_hub_publish_offline(d->hub);
	g_clear_pointer(&d->api, ng_api_free);
	g_clear_pointer(&d->requests, ng_requests_free);
	g_clear_pointer(&d->hub, ng_hub_free);
	if (d->mqtt != NULL)
		drain_outbox(d);
	g_clear_pointer(&d->mqtt, ng_mqtt_free);
	if (d->store != NULL && !ng_store_flush(d->store, &error))
		g_warning("saving state: %s", error->message);
	g_clear_pointer(&d->outbox, ng_outbox_free);
	g_clear_pointer(&d->store, ng_store_free);
	g_clear_pointer(&d->store_moved_to, g_free);
	g_clear_object(&d->bus);
}

static void
run(Daemon *d)
{
	guint64 wd = watchdog_usec();
	guint sigterm = g_unix_signal_add(SIGTERM, stop_cb, d);
	guint sigint = g_unix_signal_add(SIGINT, stop_cb, d);

	if (wd > 0)
		d->watchdog_id = g_timeout_add((guint)MAX(wd / 2000, 1), watchdog_cb, d);
	d->status_id = g_timeout_add_seconds(10, status_cb, d);
	notify("READY=1");
	status_cb(d);
	g_message("needlegated %s running: hub %s, broker %s, topics under %s", PACKAGE_VERSION,
		  d->config->hub_id, d->config->url, ng_hub_get_topics(d->hub)->prefix);
	g_main_loop_run(d->loop);
	g_source_remove(sigterm);
	g_source_remove(sigint);
	if (d->watchdog_id != 0)
		g_source_remove(d->watchdog_id);
	g_source_remove(d->status_id);
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	Options opts = {0};
	Daemon d = {0};

	setlocale(LC_ALL, "");
	g_log_set_writer_func(log_writer, NULL, NULL);
	if (!parse_options(&argc, &argv, &opts, &error)) {
		g_printerr("needlegated: %s (try --help)\n", error->message);
		return 2;
	}
	if (opts.version) {
		g_print("needlegated %s\n", PACKAGE_VERSION);
		return 0;
	}
	d.config = load_config(&opts, &error);
	if (d.config == NULL) {
		/* permanent until someone edits the file: the unit does not restart on this code */
		g_printerr("needlegated: %s\n", error->message);
		d.exit_code = NG_EXIT_CONFIG;
	} else {
		d.loop = g_main_loop_new(NULL, FALSE);
		if (start(&d, &error))
			run(&d);
		else
			d.exit_code = 1;
		if (error != NULL)
			g_printerr("needlegated: %s\n", error->message);
		stop(&d);
		g_main_loop_unref(d.loop);
		ng_config_free(d.config);
	}
	g_free(opts.config_path);
	g_free(opts.hub_id);
	g_free(opts.mqtt_url);
	g_free(opts.state_dir);
	g_free(opts.adapter);
	return d.exit_code;
}
