/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* needle-pensim: simulated NeedlePens behind a stand-in for bluetoothd 5.66 on a D-Bus bus. */

#include "config.h"

#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>

#include "sim-control.h"
#include "sim-peripheral.h"
#include "sim-scenario.h"

typedef struct {
	char *bus;
	int pens;
	int unpaired;
	char *scenario;
	gboolean manual;
	int rate;
	int seed;
	gboolean load;
	int duration;
	int load_delay;
	gboolean exit_after_load;
	gboolean verbose;
	gboolean version;
	gboolean peripheral;
	char *adapter;
	char *control;
	char *passkey_file;
	SimTiming timing;
} SimOptions;

typedef struct {
	SimOptions opt;
	GMainLoop *loop;
	GDBusConnection *connection;
	SimDaemon *daemon;
	SimControl *control;
	SimScenario *scenario;
	SimPeripheral *peripheral;
	guint own_id;
	guint load_timer_id;
	gboolean load_started;
	int exit_code;
} SimApp;

static gboolean
sim_parse_options(SimOptions *o, int *argc, char ***argv, GError **error)
{
	const GOptionEntry entries[] = {
	    {"bus", 'b', 0, G_OPTION_ARG_STRING, &o->bus,
	     "Bus to serve org.bluez on: \"system\" (honours DBUS_SYSTEM_BUS_ADDRESS), \"session\" or an "
	     "address",
	     "BUS"},
	    {"pens", 'n', 0, G_OPTION_ARG_INT, &o->pens, "Number of simulated pens (default 1)", "N"},
	    {"unpaired", 'u', 0, G_OPTION_ARG_INT, &o->unpaired,
	     "The last N pens are not bonded: they appear only when discovered and need pairing", "N"},
	    {"scenario", 's', 0, G_OPTION_ARG_FILENAME, &o->scenario, "Scenario file (see needle-pensim(1))",
	     "FILE"},
	    {"manual", 'm', 0, G_OPTION_ARG_NONE, &o->manual,
	     "Pens run no sessions on their own: drive them with org.needlegate.PenSim1", NULL},
	    {"rate", 'r', 0, G_OPTION_ARG_INT, &o->rate, "Telemetry records per second per pen (default 25)",
	     "HZ"},
	    {"seed", 0, 0, G_OPTION_ARG_INT, &o->seed, "Seed of the pens' noise (default: pen number)", "N"},
	    {"load", 'l', 0, G_OPTION_ARG_NONE, &o->load,
	     "Load mode: every pen runs one session at --rate for --duration seconds", NULL},
	    {"duration", 'd', 0, G_OPTION_ARG_INT, &o->duration, "Load mode: session length (default 10)",
	     "S"},
	    {"load-delay", 0, 0, G_OPTION_ARG_INT, &o->load_delay,
	     "Load mode: seconds to wait before the sessions start (default 0; -1: until "
	     "PenSimManager1.StartLoad)",
	     "S"},
	    {"exit-after-load", 0, 0, G_OPTION_ARG_NONE, &o->exit_after_load, "Load mode: exit when done",
	     NULL},
	    {"connect-delay-ms", 0, 0, G_OPTION_ARG_INT, &o->timing.connect_delay_ms,
	     "Time a connection and service discovery take (default 50)", "MS"},
	    {"connect-timeout-ms", 0, 0, G_OPTION_ARG_INT, &o->timing.connect_timeout_ms,
	     "Connect to an absent pen fails after this (default 5000)", "MS"},
	    {"att-timeout-ms", 0, 0, G_OPTION_ARG_INT, &o->timing.att_timeout_ms,
	     "A request to a pen that stopped answering fails after this (default 30000)", "MS"},
	    {"temporary-timeout", 0, 0, G_OPTION_ARG_INT, &o->timing.temporary_timeout_s,
	     "Unpaired devices vanish this long after discovery stops (default 30)", "S"},
	    {"adv-interval-ms", 0, 0, G_OPTION_ARG_INT, &o->timing.adv_interval_ms,
	     "Advertising reports while discovering (default 1000)", "MS"},
	    {"peripheral", 'P', 0, G_OPTION_ARG_NONE, &o->peripheral,
	     "Peripheral mode: serve one pen through the real bluetoothd on --adapter (GATT application, "
	     "advertisement, DisplayOnly agent) instead of simulating bluetoothd",
	     NULL},
	    {"adapter", 'a', 0, G_OPTION_ARG_STRING, &o->adapter,
	     "Peripheral mode: the adapter (default hci0)", "HCI"},
	    {"control", 'c', 0, G_OPTION_ARG_FILENAME, &o->control,
	     "Peripheral mode: a FIFO of commands (session N [AREA], stop, drop-link, battery P, quit)",
	     "FIFO"},
	    {"passkey-file", 0, 0, G_OPTION_ARG_FILENAME, &o->passkey_file,
	     "Peripheral mode: write each passkey the pen displays into FILE too", "FILE"},
	    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &o->verbose, "Log what the pens and clients do", NULL},
	    {"version", 0, 0, G_OPTION_ARG_NONE, &o->version, "Print the version and exit", NULL},
	    {NULL},
	};
	g_autoptr(GOptionContext) ctx =
	    g_option_context_new("- simulated NeedlePens behind a BlueZ 5.66 stand-in");

	g_option_context_set_summary(
	    ctx,
	    "Owns org.bluez on a D-Bus bus and serves /org/bluez/hci0 with one Device1 and its GATT\n"
	    "services per simulated pen, exactly as bluetoothd 5.66 would, so that needlegated and\n"
	    "bluetoothctl run unchanged. Tests steer the pens with org.needlegate.PenSim1.\n\n"
	    "Example, on a private bus:\n"
	    "  dbus-daemon --session --print-address --fork > addr\n"
	    "  needle-pensim --bus \"$(cat addr)\" --pens 3 --unpaired 1\n"
	    "  DBUS_SYSTEM_BUS_ADDRESS=\"$(cat addr)\" bluetoothctl\n\n"
	    "Peripheral mode (--peripheral) serves one pen through the real bluetoothd instead, on a\n"
	    "real or emulated adapter: GATT application, advertisement, DisplayOnly agent. It prints\n"
	    "one line per event (ready, passkey NNNNNN, connected, subscribed NAME, session-ended ...)\n"
	    "and reads commands from --control FIFO:\n"
	    "  needle-pensim --peripheral --adapter hci1 --control /run/pen --passkey-file /run/passkey\n"
	    "  echo 'session 300 cheeks' > /run/pen");
	g_option_context_add_main_entries(ctx, entries, NULL);
	return g_option_context_parse(ctx, argc, argv, error);
}

static GDBusConnection *
sim_connect(const char *bus, GError **error)
{
	if (g_str_equal(bus, "system"))
		return g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, error);
	if (g_str_equal(bus, "session"))
		return g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, error);
	return g_dbus_connection_new_for_address_sync(bus,
						      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
							  G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
						      NULL, NULL, error);
}

static gboolean
sim_app_add_pens(SimApp *app, GError **error)
{
	guint n = (guint)MAX(app->opt.pens, 0);

	if (app->scenario != NULL && sim_scenario_get_n_pens(app->scenario) > n)
		n = sim_scenario_get_n_pens(app->scenario);
	for (guint i = 1; i <= n; i++) {
		SimPenConfig cfg;
		gboolean ok;

		sim_pen_config_init(&cfg, i);
		cfg.paired = i + (guint)MAX(app->opt.unpaired, 0) <= n;
		cfg.autorun = !app->opt.manual && !app->opt.load;
		if (app->opt.rate > 0)
			cfg.rate_hz = (guint8)CLAMP(app->opt.rate, 1, 255);
		if (app->opt.seed != 0)
			cfg.seed = (guint32)app->opt.seed + i;
		ok = app->scenario == NULL || sim_scenario_apply_config(app->scenario, i, &cfg, error);
		ok = ok && sim_daemon_add_pen(app->daemon, &cfg, error) != NULL;
		sim_pen_config_clear(&cfg);
		if (!ok)
			return FALSE;
	}
	return TRUE;
}

/* ---- load mode ------------------------------------------------------------- */

static gboolean
sim_app_load_stop(gpointer user_data)
{
	SimApp *app = user_data;
	guint64 total = 0;

	app->load_timer_id = 0;
	for (guint i = 0; i < app->daemon->devices->len; i++) {
		SimDevice *device = g_ptr_array_index(app->daemon->devices, i);

		sim_pen_stop_session(device->pen, NP_END_REASON_STOPPED, NULL);
		total += sim_pen_get_records_generated(device->pen);
		printf("load: pen %s generated %" G_GUINT64_FORMAT
		       " records, socket dropped %" G_GUINT64_FORMAT "\n",
		       sim_pen_get_config(device->pen)->serial, sim_pen_get_records_generated(device->pen),
		       device->chr[SIM_CHR_TELEMETRY].dropped);
	}
	printf("load: done, %" G_GUINT64_FORMAT " records from %u pens\n", total, app->daemon->devices->len);
	fflush(stdout);
	sim_control_set_load_finished(app->control, TRUE);
	if (app->opt.exit_after_load)
		g_main_loop_quit(app->loop);
	return G_SOURCE_REMOVE;
}

static gboolean
sim_app_load_start(gpointer user_data)
{
	SimApp *app = user_data;

	app->load_started = TRUE;

	for (guint i = 0; i < app->daemon->devices->len; i++) {
		SimDevice *device = g_ptr_array_index(app->daemon->devices, i);
		g_autoptr(GError) error = NULL;

		if (!sim_pen_start_session(device->pen, &error))
			g_warning("load: pen %s: %s", sim_pen_get_config(device->pen)->serial,
				  error->message);
	}
	printf("load: %u pens started\n", app->daemon->devices->len);
	fflush(stdout);
	app->load_timer_id = g_timeout_add((guint)MAX(app->opt.duration, 1) * 1000u, sim_app_load_stop, app);
	return G_SOURCE_REMOVE;
}

/* PenSimManager1.StartLoad: now, instead of after the delay. */
static gboolean
sim_app_start_load_now(gpointer user_data, GError **error)
{
	SimApp *app = user_data;

	if (app->load_started) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS, "the load already started");
		return FALSE;
	}
	g_clear_handle_id(&app->load_timer_id, g_source_remove);
	sim_app_load_start(app);
	return TRUE;
}

/* ---- bus name -------------------------------------------------------------------- */

static void
sim_app_name_acquired(GDBusConnection *connection, const char *name, gpointer user_data)
{
	SimApp *app = user_data;

	printf("needle-pensim: ready, %u pens, org.bluez owned\n", app->daemon->devices->len);
	fflush(stdout);
	if (app->scenario != NULL)
		sim_scenario_start(app->scenario, app->daemon);
	if (app->opt.load && app->opt.load_delay >= 0)
		app->load_timer_id =
		    g_timeout_add_seconds((guint)app->opt.load_delay, sim_app_load_start, app);
}

static void
sim_app_name_lost(GDBusConnection *connection, const char *name, gpointer user_data)
{
	SimApp *app = user_data;

	g_printerr("needle-pensim: cannot own %s on the bus (is bluetoothd or another simulator running?)\n",
		   name);
	app->exit_code = EXIT_FAILURE;
	g_main_loop_quit(app->loop);
}

static gboolean
sim_app_on_signal(gpointer user_data)
{
	SimApp *app = user_data;

	g_main_loop_quit(app->loop);
	return G_SOURCE_CONTINUE;
}

static void
sim_app_on_closed(GDBusConnection *connection, gboolean remote_peer_vanished, GError *error,
		  gpointer user_data)
{
	SimApp *app = user_data;

	g_printerr("needle-pensim: the bus connection closed\n");
	g_main_loop_quit(app->loop);
}

static void
sim_app_clear(SimApp *app)
{
	g_clear_handle_id(&app->load_timer_id, g_source_remove);
	if (app->own_id != 0)
		g_bus_unown_name(app->own_id);
	g_clear_pointer(&app->peripheral, sim_peripheral_free);
	g_clear_pointer(&app->control, sim_control_free);
	g_clear_pointer(&app->daemon, sim_daemon_free);
	g_clear_pointer(&app->scenario, sim_scenario_free);
	if (app->connection != NULL)
		g_dbus_connection_flush_sync(app->connection, NULL, NULL);
	g_clear_object(&app->connection);
	g_clear_pointer(&app->loop, g_main_loop_unref);
	g_free(app->opt.bus);
	g_free(app->opt.scenario);
	g_free(app->opt.adapter);
	g_free(app->opt.control);
	g_free(app->opt.passkey_file);
}

static void
sim_options_defaults(SimOptions *o)
{
	o->pens = 1;
	o->duration = 10;
	o->timing.connect_delay_ms = 50;
	o->timing.connect_timeout_ms = 5000;
	o->timing.att_timeout_ms = 30000;
	o->timing.temporary_timeout_s = SIM_TEMPORARY_TIMEOUT_S;
	o->timing.adv_interval_ms = 1000;
}

/* Peripheral mode: one pen, no simulated bluetoothd; the options of the simulator mode do not apply. */
static gboolean
sim_app_setup_peripheral(SimApp *app, GError **error)
{
	SimPeripheralOptions popt = {
	    .adapter = app->opt.adapter != NULL ? app->opt.adapter : "hci0",
	    .control = app->opt.control,
	    .passkey_file = app->opt.passkey_file,
	};
	SimPenConfig cfg;

	if (app->opt.pens != 1 || app->opt.unpaired != 0 || app->opt.scenario != NULL || app->opt.load) {
		g_set_error_literal(
		    error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
		    "--peripheral serves exactly one pen: --pens, --unpaired, --scenario and --load "
		    "are for the simulator mode");
		return FALSE;
	}
	app->connection = sim_connect(app->opt.bus != NULL ? app->opt.bus : "system", error);
	if (app->connection == NULL) {
		g_prefix_error(error, "bus %s: ", app->opt.bus != NULL ? app->opt.bus : "system");
		return FALSE;
	}
	g_dbus_connection_set_exit_on_close(app->connection, FALSE);
	g_signal_connect(app->connection, "closed", G_CALLBACK(sim_app_on_closed), app);
	sim_pen_config_init(&cfg, 1);
	cfg.autorun = FALSE;
	cfg.paired = FALSE;
	if (app->opt.rate > 0)
		cfg.rate_hz = (guint8)CLAMP(app->opt.rate, 1, 255);
	if (app->opt.seed != 0)
		cfg.seed = (guint32)app->opt.seed + 1;
	app->peripheral = sim_peripheral_new(app->connection, &cfg, &popt, app->loop, error);
	sim_pen_config_clear(&cfg);
	if (app->peripheral == NULL)
		g_prefix_error(error, "peripheral on %s: ", popt.adapter);
	return app->peripheral != NULL;
}

static gboolean
sim_app_setup(SimApp *app, GError **error)
{
	if (app->opt.peripheral)
		return sim_app_setup_peripheral(app, error);
	if (app->opt.scenario != NULL) {
		app->scenario = sim_scenario_load(app->opt.scenario, error);
		if (app->scenario == NULL)
			return FALSE;
	}
	app->connection = sim_connect(app->opt.bus != NULL ? app->opt.bus : "system", error);
	if (app->connection == NULL) {
		g_prefix_error(error, "bus %s: ", app->opt.bus != NULL ? app->opt.bus : "system");
		return FALSE;
	}
	g_dbus_connection_set_exit_on_close(app->connection, FALSE);
	g_signal_connect(app->connection, "closed", G_CALLBACK(sim_app_on_closed), app);
	app->daemon = sim_daemon_new(app->connection, &app->opt.timing, error);
	if (app->daemon == NULL || !sim_app_add_pens(app, error))
		return FALSE;
	app->control = sim_control_new(app->daemon, error);
	if (app->control != NULL && app->opt.load)
		sim_control_set_start_load(app->control, sim_app_start_load_now, app);
	return app->control != NULL;
}

int
main(int argc, char **argv)
{
	SimApp app = {0};
	g_autoptr(GError) error = NULL;

	sim_options_defaults(&app.opt);
	if (!sim_parse_options(&app.opt, &argc, &argv, &error)) {
		g_printerr("needle-pensim: %s (try --help)\n", error->message);
		return EXIT_FAILURE;
	}
	if (app.opt.version) {
		printf("needle-pensim %s (BlueZ 5.66 D-Bus API)\n", PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	if (app.opt.verbose)
		g_setenv("G_MESSAGES_DEBUG", "needle-pensim", FALSE);
	app.loop = g_main_loop_new(NULL, FALSE);
	if (!sim_app_setup(&app, &error)) {
		g_printerr("needle-pensim: %s\n", error->message);
		sim_app_clear(&app);
		return EXIT_FAILURE;
	}
	/* Objects first, then the name, as bluetoothd: a client that sees the
	 * name finds every object. */
	if (!app.opt.peripheral)
		app.own_id = g_bus_own_name_on_connection(
		    app.connection, "org.bluez", G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE, sim_app_name_acquired,
		    sim_app_name_lost, &app, NULL);
	g_unix_signal_add(SIGINT, sim_app_on_signal, &app);
	g_unix_signal_add(SIGTERM, sim_app_on_signal, &app);
	g_main_loop_run(app.loop);
	if (app.peripheral != NULL && sim_peripheral_failed(app.peripheral))
		app.exit_code = EXIT_FAILURE;
	sim_app_clear(&app);
	return app.exit_code;
}
