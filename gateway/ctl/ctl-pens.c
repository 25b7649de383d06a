/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* needlectl list, status, identify, stop and remove: the pens the hub serves. */

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl-client.h"

#define S(x) ((x) != NULL && *(x) != '\0' ? (x) : "-")

static char *
battery_text(NgDbusPen1 *pen)
{
	int battery = ng_dbus_pen1_get_battery(pen);

	return battery >= 0 ? g_strdup_printf("%d %%", battery) : g_strdup("-");
}

/* A running session only: the last one, over, is in needlectl sessions. */
static char *
session_text(NgDbusPen1 *pen)
{
	gboolean connected = g_strcmp0(ng_dbus_pen1_get_link_state(pen), "ready") == 0;

	if (ng_dbus_pen1_get_session(pen) == 0 || !ng_dbus_pen1_get_session_active(pen))
		return g_strdup("-");
	return g_strdup_printf("%u (running%s)", ng_dbus_pen1_get_session(pen),
			       connected ? "" : ", out of reach");
}

/* The hub's link to the pen, in words. */
static const char *
link_text(NgDbusPen1 *pen)
{
	static const char *const words[][2] = {
	    {"ready", "connected"},
	    {"idle", "not connected"},
	    {"waiting", "waiting to connect"},
	    {"connecting", "connecting"},
	    {"resolving", "reading its services"},
	    {"setup", "setting up"},
	    {"refused", "refused (protocol)"},
	    {"offline", "hub offline"},
	};
	const char *state = ng_dbus_pen1_get_link_state(pen);

	for (gsize i = 0; i < G_N_ELEMENTS(words); i++) {
		if (g_strcmp0(state, words[i][0]) == 0)
			return words[i][1];
	}
	return state != NULL && *state != '\0' ? state : "-";
}

/* The pen's own state, in words; "-" before its first status (or when out of reach). */
static const char *
pen_state_text(NgDbusPen1 *pen)
{
	const char *state = ng_dbus_pen1_get_pen_state(pen);

	if (g_strcmp0(ng_dbus_pen1_get_link_state(pen), "ready") != 0)
		return "-";
	if (g_strcmp0(state, "session_active") == 0)
		return "in session";
	return state != NULL && *state != '\0' ? state : "-";
}

static char *
time_text(gint64 unix_ms)
{
	char *t = ng_ctl_format_time(unix_ms);

	return t != NULL ? t : g_strdup("-");
}

static void
print_pen_table(GList *pens)
{
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);

	g_ptr_array_add(rows, ng_ctl_row("SERIAL", "ADDRESS", "LINK", "STATE", "BATTERY", "SESSION", "PLAN",
					 "LAST SEEN", NULL));
	for (GList *l = pens; l != NULL; l = l->next) {
		NgDbusPen1 *pen = l->data;
		g_autofree char *battery = battery_text(pen);
		g_autofree char *session = session_text(pen);
		g_autofree char *seen = time_text(ng_dbus_pen1_get_last_seen(pen));

		g_ptr_array_add(rows,
				ng_ctl_row(S(ng_dbus_pen1_get_serial(pen)), S(ng_dbus_pen1_get_address(pen)),
					   link_text(pen), pen_state_text(pen), battery, session,
					   S(ng_dbus_pen1_get_plan(pen)), seen, NULL));
	}
	ng_ctl_print_table(rows);
}

static JsonNode *
pens_to_json(GList *pens)
{
	JsonArray *array = json_array_new();
	JsonNode *node = json_node_new(JSON_NODE_ARRAY);

	for (GList *l = pens; l != NULL; l = l->next)
		json_array_add_element(array, ng_ctl_pen_to_json(l->data));
	json_node_take_array(node, array);
	return node;
}

/* ---- list ---------------------------------------------------------------------------------------- */

static int
run_list(int argc, char **argv)
{
	gboolean json = FALSE;
	int status = 0;
	int n = ng_ctl_parse(&ng_ctl_command_list, NULL, &json, &argc, &argv, &status);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgCtlClient) client = NULL;
	g_autolist(NgDbusPen1) pens = NULL;

	if (n < 0)
		return status;
	if (n > 0) {
		ng_ctl_usage_error("list", "unexpected argument '%s'", argv[1]);
		return NG_CTL_EXIT_USAGE;
	}
	client = ng_ctl_client_new(&error);
	if (client == NULL)
		return ng_ctl_fail("list", error);
	pens = ng_ctl_client_list_pens(client);
	if (json) {
		g_autoptr(JsonNode) node = pens_to_json(pens);
		ng_ctl_print_json(node);
	} else if (pens == NULL) {
		printf("No pen is paired with this hub. Pair one: needlectl scan, then needlectl pair "
		       "ADDRESS.\n");
	} else {
		print_pen_table(pens);
	}
	return NG_CTL_EXIT_OK;
}

const NgCtlCommand ng_ctl_command_list = {
    .name = "list",
    .synopsis = "[--json]",
    .summary = "List the pens paired with this hub",
    .help = "Prints one line per pen the hub serves (bonded pens offering the Needling\n"
	    "Session Service): serial number, address, the hub's link to it\n"
	    "(connected: streaming), the pen's state, battery, the session running,\n"
	    "plan, and when the hub last heard from it (UTC). The serial is '-' until\n"
	    "the pen has connected once. A serial number may be typed in any case.\n"
	    "\n"
	    "Options:\n"
	    "  --json      One JSON array of pen objects (the fields of 'status --json')\n"
	    "  -h, --help  Show this help\n"
	    "\n" NG_CTL_EXIT_STATUS_HELP "\n"
	    "Example:\n"
	    "  needlectl list\n",
    .run = run_list,
};

/* ---- status --------------------------------------------------------------------------------------- */

static void
print_pen_details(NgDbusPen1 *pen)
{
	g_autofree char *battery = battery_text(pen);
	g_autofree char *session = session_text(pen);
	g_autofree char *seen = time_text(ng_dbus_pen1_get_last_seen(pen));
	g_autofree char *cartridge =
	    ng_dbus_pen1_get_cartridge(pen) != 0
		? g_strdup_printf("0x%08X, %u needles", ng_dbus_pen1_get_cartridge(pen),
				  ng_dbus_pen1_get_cartridge_needles(pen))
		: g_strdup("-");

	printf("Serial:     %s\n", S(ng_dbus_pen1_get_serial(pen)));
	printf("Address:    %s\n", S(ng_dbus_pen1_get_address(pen)));
	printf("Name:       %s\n", S(ng_dbus_pen1_get_name(pen)));
	printf("Model:      %s\n", S(ng_dbus_pen1_get_model(pen)));
	printf("Firmware:   %s\n", S(ng_dbus_pen1_get_firmware(pen)));
	printf("Link:       %s\n", link_text(pen));
	printf("State:      %s\n", pen_state_text(pen));
	printf("Error:      %s\n", S(ng_dbus_pen1_get_error(pen)));
	printf("Battery:    %s\n", battery);
	printf("Cartridge:  %s\n", cartridge);
	printf("Session:    %s\n", session);
	printf("Area:       %s\n", S(ng_dbus_pen1_get_area(pen)));
	printf("Plan:       %s\n", S(ng_dbus_pen1_get_plan(pen)));
	printf("Last seen:  %s\n", seen);
	if (ng_dbus_pen1_get_link_quality(pen) >= 0)
		printf("Signal:     %d dBm, link quality %d/255\n", ng_dbus_pen1_get_link_rssi(pen),
		       ng_dbus_pen1_get_link_quality(pen));
	else if (ng_dbus_pen1_get_connected(pen))
		printf("Signal:     unknown\n");
	if (ng_dbus_pen1_get_rssi(pen) != 0)
		printf("RSSI:       %d dBm (advertising)\n", ng_dbus_pen1_get_rssi(pen));
}

static JsonNode *
gateway_to_json(NgDbusGateway1 *gw, GList *pens)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "version");
	json_builder_add_string_value(b, S(ng_dbus_gateway1_get_version(gw)));
	json_builder_set_member_name(b, "hub_id");
	json_builder_add_string_value(b, S(ng_dbus_gateway1_get_hub_id(gw)));
	json_builder_set_member_name(b, "adapter");
	json_builder_add_string_value(b, S(ng_dbus_gateway1_get_adapter(gw)));
	json_builder_set_member_name(b, "bluetooth_running");
	json_builder_add_boolean_value(b, ng_dbus_gateway1_get_bluetooth_running(gw));
	json_builder_set_member_name(b, "mqtt_connected");
	json_builder_add_boolean_value(b, ng_dbus_gateway1_get_mqtt_connected(gw));
	json_builder_set_member_name(b, "store_problem");
	if (strcmp(S(ng_dbus_gateway1_get_store_problem(gw)), "-") != 0)
		json_builder_add_string_value(b, ng_dbus_gateway1_get_store_problem(gw));
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "pairing_window_open");
	json_builder_add_boolean_value(b, ng_dbus_gateway1_get_pairing_window_open(gw));
	json_builder_set_member_name(b, "pairing_state");
	json_builder_add_string_value(b, S(ng_dbus_gateway1_get_pairing_state(gw)));
	json_builder_set_member_name(b, "pens");
	json_builder_add_value(b, pens_to_json(pens));
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

static void
print_gateway(NgDbusGateway1 *gw, GList *pens)
{
	gint64 ends = ng_dbus_gateway1_get_pairing_window_ends_at(gw);
	g_autofree char *until = time_text(ends);

	printf("Hub:          %s (needlegated %s)\n", S(ng_dbus_gateway1_get_hub_id(gw)),
	       S(ng_dbus_gateway1_get_version(gw)));
	printf("Bluetooth:    %s%s%s\n",
	       ng_dbus_gateway1_get_bluetooth_running(gw) ? "running" : "bluetoothd not running",
	       *S(ng_dbus_gateway1_get_adapter(gw)) != '-' ? ", adapter " : ", no adapter",
	       *S(ng_dbus_gateway1_get_adapter(gw)) != '-' ? ng_dbus_gateway1_get_adapter(gw) : "");
	printf("MQTT broker:  %s\n", ng_dbus_gateway1_get_mqtt_connected(gw) ? "connected" : "not connected");
	printf("Database:     %s\n", strcmp(S(ng_dbus_gateway1_get_store_problem(gw)), "-") != 0
					 ? ng_dbus_gateway1_get_store_problem(gw)
					 : "ok (it can be written)");
	printf("Pens:         %u paired, %u connected\n", ng_dbus_gateway1_get_pens_served(gw),
	       ng_dbus_gateway1_get_pens_connected(gw));
	if (ng_dbus_gateway1_get_pairing_window_open(gw))
		printf("Pairing:      window open until %s (%s)\n", until,
		       S(ng_dbus_gateway1_get_pairing_state(gw)));
	else
		printf("Pairing:      closed (needlectl scan opens it)\n");
	if (pens != NULL) {
		printf("\n");
		print_pen_table(pens);
	}
}

static int
run_status(int argc, char **argv)
{
	gboolean json = FALSE;
	int status = 0;
	int n = ng_ctl_parse(&ng_ctl_command_status, NULL, &json, &argc, &argv, &status);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgCtlClient) client = NULL;

	if (n < 0)
		return status;
	if (n > 1) {
		ng_ctl_usage_error("status", "expected at most one PEN, got %d arguments", n);
		return NG_CTL_EXIT_USAGE;
	}
	client = ng_ctl_client_new(&error);
	if (client == NULL)
		return ng_ctl_fail("status", error);
	if (n == 1) {
		g_autoptr(NgDbusPen1) pen = ng_ctl_client_find_pen(client, argv[1], &error);
		if (pen == NULL)
			return ng_ctl_fail("status", error);
		if (json) {
			g_autoptr(JsonNode) node = ng_ctl_pen_to_json(pen);
			ng_ctl_print_json(node);
		} else {
			print_pen_details(pen);
		}
	} else {
		g_autolist(NgDbusPen1) pens = ng_ctl_client_list_pens(client);
		if (json) {
			g_autoptr(JsonNode) node = gateway_to_json(client->gateway, pens);
			ng_ctl_print_json(node);
		} else {
			print_gateway(client->gateway, pens);
		}
	}
	return NG_CTL_EXIT_OK;
}

const NgCtlCommand ng_ctl_command_status = {
    .name = "status",
    .synopsis = "[--json] [PEN]",
    .summary = "Show the hub's state, or one pen's",
    .help = "Without PEN: the hub (id, Bluetooth, MQTT broker, pairing window) and its\n"
	    "pens. With PEN (a serial number such as NP5EED0001, or an address such as\n"
	    "C0:4E:50:5E:00:01): everything the hub knows about that pen.\n"
	    "\n"
	    "Options:\n"
	    "  --json      One JSON object: the hub with a \"pens\" array, or the pen\n"
	    "  -h, --help  Show this help\n"
	    "\n" NG_CTL_EXIT_STATUS_HELP "\n"
	    "Examples:\n"
	    "  needlectl status\n"
	    "  needlectl status NP5EED0001\n"
	    "  needlectl status --json C0:4E:50:5E:00:01\n",
    .run = run_status,
};

/* ---- identify ------------------------------------------------------------------------------------- */

static int
one_pen_argument(const NgCtlCommand *cmd, int *argc, char ***argv)
{
	int status = 0;
	int n = ng_ctl_parse(cmd, NULL, NULL, argc, argv, &status);

	if (n < 0)
		return status;
	if (n != 1) {
		ng_ctl_usage_error(cmd->name, n == 0 ? "no PEN given" : "expected one PEN, got %d arguments",
				   n);
		return NG_CTL_EXIT_USAGE;
	}
	return -1;
}

static int
run_identify(int argc, char **argv)
{
	gboolean json = FALSE;
	int status = 0;
	int n = ng_ctl_parse(&ng_ctl_command_identify, NULL, &json, &argc, &argv, &status);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgCtlClient) client = NULL;
	g_autoptr(NgDbusPen1) pen = NULL;

	if (n < 0)
		return status;
	if (n != 1) {
		ng_ctl_usage_error("identify", n == 0 ? "no PEN given" : "expected one PEN, got %d arguments",
				   n);
		return NG_CTL_EXIT_USAGE;
	}
	client = ng_ctl_client_new(&error);
	if (client == NULL)
		return ng_ctl_fail("identify", error);
	pen = ng_ctl_client_find_pen(client, argv[1], &error);
	if (pen == NULL || !ng_dbus_pen1_call_identify_sync(pen, NULL, &error))
		return ng_ctl_fail("identify", error);
	if (json) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonNode) node = NULL;

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "pen");
		json_builder_add_string_value(b, ng_dbus_pen1_get_serial(pen));
		json_builder_set_member_name(b, "identified");
		json_builder_add_boolean_value(b, TRUE);
		json_builder_end_object(b);
		node = json_builder_get_root(b);
		ng_ctl_print_json(node);
	} else {
		printf("Pen %s beeps and blinks for 5 seconds.\n", argv[1]);
	}
	return NG_CTL_EXIT_OK;
}

const NgCtlCommand ng_ctl_command_identify = {
    .name = "identify",
    .synopsis = "[--json] PEN",
    .summary = "Make a pen beep and blink, to find it in the room",
    .help = "The pen (a serial number or an address) beeps and blinks for 5 seconds.\n"
	    "It must be connected (needlectl list: link 'connected').\n"
	    "\n"
	    "Options:\n"
	    "  --json      Print {\"pen\": serial, \"identified\": true}\n"
	    "  -h, --help  Show this help\n"
	    "\n" NG_CTL_EXIT_STATUS_HELP "\n"
	    "Example:\n"
	    "  needlectl identify NP5EED0001\n",
    .run = run_identify,
};

/* ---- stop ----------------------------------------------------------------------------------------- */

static int
run_stop(int argc, char **argv)
{
	int status = one_pen_argument(&ng_ctl_command_stop, &argc, &argv);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgCtlClient) client = NULL;
	g_autoptr(NgDbusPen1) pen = NULL;

	if (status >= 0)
		return status;
	client = ng_ctl_client_new(&error);
	if (client == NULL)
		return ng_ctl_fail("stop", error);
	pen = ng_ctl_client_find_pen(client, argv[1], &error);
	if (pen == NULL || !ng_dbus_pen1_call_stop_session_sync(pen, NULL, &error))
		return ng_ctl_fail("stop", error);
	printf("Pen %s asked to end its session (reason \"remote_stop\"); the session's \"ended\" and "
	       "summary follow.\n",
	       argv[1]);
	return NG_CTL_EXIT_OK;
}

const NgCtlCommand ng_ctl_command_stop = {
    .name = "stop",
    .synopsis = "PEN",
    .summary = "End a pen's running session now",
    .help = "Asks the pen (a serial number or an address) to end its session now, as its\n"
	    "own stop button would; the session ends with reason \"remote_stop\" and goes\n"
	    "into the journal. The pen must be connected and in a session.\n"
	    "\n"
	    "Options:\n"
	    "  -h, --help  Show this help\n"
	    "\n" NG_CTL_EXIT_STATUS_HELP "\n"
	    "Example:\n"
	    "  needlectl stop NP5EED0001\n",
    .run = run_stop,
};

/* ---- remove --------------------------------------------------------------------------------------- */

/* "Remove it and end session 3 now?": TRUE if the technician typed y or yes. */
static gboolean
confirm_end_session(const char *name, guint session)
{
	char line[16] = "";

	printf("Pen %s is in session %u. Removing it ends the session now (reason \"removed\").\n"
	       "Remove it? [y/N] ",
	       name, session);
	fflush(stdout);
	if (fgets(line, sizeof line, stdin) == NULL)
		return FALSE;
	g_strstrip(line);
	return g_ascii_strcasecmp(line, "y") == 0 || g_ascii_strcasecmp(line, "yes") == 0;
}

static int
run_remove(int argc, char **argv)
{
	gboolean force = FALSE;
	gboolean json = FALSE;
	const GOptionEntry entries[] = {
	    {"force", 'f', 0, G_OPTION_ARG_NONE, &force, NULL, NULL},
	    {NULL},
	};
	int status = 0;
	int n = ng_ctl_parse(&ng_ctl_command_remove, entries, &json, &argc, &argv, &status);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgCtlClient) client = NULL;
	g_autoptr(NgDbusPen1) pen = NULL;
	guint session = 0;

	if (n < 0)
		return status;
	if (n != 1) {
		ng_ctl_usage_error("remove", n == 0 ? "no PEN given" : "expected one PEN, got %d arguments",
				   n);
		return NG_CTL_EXIT_USAGE;
	}
	client = ng_ctl_client_new(&error);
	if (client == NULL)
		return ng_ctl_fail("remove", error);
	/* A pen the hub does not serve (bonded, never connected) has no session to lose. */
	pen = ng_ctl_client_find_pen(client, argv[1], NULL);
	if (pen != NULL && ng_dbus_pen1_get_session_active(pen))
		session = ng_dbus_pen1_get_session(pen);
	if (session != 0 && !force) {
		if (json || !isatty(STDIN_FILENO)) {
			fprintf(
			    stderr,
			    "needlectl: remove: pen %s is in session %u: removing it ends the session now "
			    "(reason \"removed\"). Wait for the session to end, or add --force.\n",
			    argv[1], session);
			return NG_CTL_EXIT_FAILURE;
		}
		if (!confirm_end_session(argv[1], session)) {
			printf("Not removed.\n");
			return NG_CTL_EXIT_FAILURE;
		}
	}
	if (!ng_dbus_gateway1_call_remove_sync(client->gateway, argv[1], NULL, &error))
		return ng_ctl_fail("remove", error);
	if (json) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonNode) node = NULL;

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "pen");
		json_builder_add_string_value(b, argv[1]);
		json_builder_set_member_name(b, "removed");
		json_builder_add_boolean_value(b, TRUE);
		json_builder_set_member_name(b, "session_ended");
		if (session != 0)
			json_builder_add_int_value(b, session);
		else
			json_builder_add_null_value(b);
		json_builder_end_object(b);
		node = json_builder_get_root(b);
		ng_ctl_print_json(node);
		return NG_CTL_EXIT_OK;
	}
	printf("Pen %s removed: it is no longer paired with this hub.\n", argv[1]);
	if (session != 0)
		printf("Its session %u ended now (reason \"removed\"); it is in the journal with what came "
		       "before the removal.\n",
		       session);
	printf("Its finished sessions stay in the journal (needlectl sessions).\n");
	return NG_CTL_EXIT_OK;
}

const NgCtlCommand ng_ctl_command_remove = {
    .name = "remove",
    .synopsis = "[--force] [--json] PEN",
    .summary = "Unpair a pen from this hub",
    .help = "Removes the pen's bond (a serial number or an address) from BlueZ, so the\n"
	    "hub no longer serves it, and drops its plan. Its finished sessions stay in\n"
	    "the journal. To use it here again, pair it again (needlectl scan, pair).\n"
	    "\n"
	    "A session under way ends at once (reason \"removed\"): needlectl asks first on\n"
	    "a terminal, and refuses without a terminal (or with --json) unless --force.\n"
	    "\n"
	    "Options:\n"
	    "  -f, --force  Remove the pen even while a session is under way\n"
	    "  --json       Print {\"pen\",\"removed\",\"session_ended\"} (the session that\n"
	    "               the removal ended, or null)\n"
	    "  -h, --help   Show this help\n"
	    "\n" NG_CTL_EXIT_STATUS_HELP "\n"
	    "Examples:\n"
	    "  needlectl remove NP5EED0001\n"
	    "  needlectl remove --force NP5EED0001\n",
    .run = run_remove,
};

/* ---- forget-hub ----------------------------------------------------------------------------------- */

static int
run_forget_hub(int argc, char **argv)
{
	gboolean json = FALSE;
	const GOptionEntry entries[] = {{NULL}};
	int status = 0;
	int n = ng_ctl_parse(&ng_ctl_command_forget_hub, entries, &json, &argc, &argv, &status);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgCtlClient) client = NULL;
	guint cleared = 0;

	if (n < 0)
		return status;
	if (n != 1) {
		ng_ctl_usage_error("forget-hub",
				   n == 0 ? "no HUB_ID given" : "expected one HUB_ID, got %d arguments", n);
		return NG_CTL_EXIT_USAGE;
	}
	client = ng_ctl_client_new(&error);
	if (client == NULL)
		return ng_ctl_fail("forget-hub", error);
	if (!ng_dbus_gateway1_call_forget_hub_sync(client->gateway, argv[1], &cleared, NULL, &error))
		return ng_ctl_fail("forget-hub", error);
	if (json) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonNode) node = NULL;

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "hub_id");
		json_builder_add_string_value(b, argv[1]);
		json_builder_set_member_name(b, "cleared");
		json_builder_add_int_value(b, cleared);
		json_builder_end_object(b);
		node = json_builder_get_root(b);
		ng_ctl_print_json(node);
		return NG_CTL_EXIT_OK;
	}
	if (cleared == 0)
		printf("The broker retains nothing for hub '%s': nothing to clear.\n", argv[1]);
	else
		printf("Cleared %u retained message%s of hub '%s' from the broker.\n", cleared,
		       cleared == 1 ? "" : "s", argv[1]);
	return NG_CTL_EXIT_OK;
}

const NgCtlCommand ng_ctl_command_forget_hub = {
    .name = "forget-hub",
    .synopsis = "[--json] HUB_ID",
    .summary = "Clear what the broker retains for a hub id no longer in use",
    .help = "A hub publishes its state retained under <base_topic>/<hub_id>/ (bridge/state,\n"
	    "bridge/info, bridge/devices, each pen's state and last session), and the\n"
	    "broker keeps it after the hub is gone: after hub_id was changed (the package\n"
	    "starts the service under the host name until it is set), or a hub was taken\n"
	    "away, dashboards still list the old hub and its pens, offline. This clears\n"
	    "them, through this hub's connection to the broker.\n"
	    "\n"
	    "Refused for this hub's own id, and for a hub whose bridge/state is online\n"
	    "(stop its gateway first, or it publishes everything again).\n"
	    "\n"
	    "Options:\n"
	    "  --json      Print {\"hub_id\",\"cleared\"}\n"
	    "  -h, --help  Show this help\n"
	    "\n" NG_CTL_EXIT_STATUS_HELP "\n"
	    "Example:\n"
	    "  needlectl forget-hub raspberrypi\n",
    .run = run_forget_hub,
};
