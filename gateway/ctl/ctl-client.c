/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What needlectl's daemon commands share: the bus, the Gateway1 proxy, pens by name, options, errors, tables.
 */

#include "config.h"

#include "ctl-client.h"

#include <stdio.h>
#include <string.h>

#define BUS_NAME    "org.needlegate.Gateway1"
#define OBJECT_PATH "/org/needlegate/Gateway1"

NgCtlClient *
ng_ctl_client_new(GError **error)
{
	g_autoptr(NgCtlClient) client = g_new0(NgCtlClient, 1);
	g_autofree char *owner = NULL;
	g_autoptr(GError) bus_error = NULL;

	client->bus = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, &bus_error);
	if (client->bus == NULL) {
		g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED,
			    "cannot reach the D-Bus system bus (%s): is dbus running?", bus_error->message);
		return NULL;
	}
	client->gateway = ng_dbus_gateway1_proxy_new_sync(client->bus, G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START,
							  BUS_NAME, OBJECT_PATH, NULL, error);
	if (client->gateway == NULL)
		return NULL;
	owner = g_dbus_proxy_get_name_owner(G_DBUS_PROXY(client->gateway));
	if (owner == NULL) {
		g_set_error_literal(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN,
				    "needlegated is not running: start it with 'systemctl start needlegated' "
				    "(see 'systemctl status needlegated')");
		return NULL;
	}
	client->manager = ng_dbus_object_manager_client_new_sync(
	    client->bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START, BUS_NAME, OBJECT_PATH, NULL,
	    error);
	if (client->manager == NULL)
		return NULL;
	return g_steal_pointer(&client);
}

void
ng_ctl_client_free(NgCtlClient *client)
{
	if (client == NULL)
		return;
	g_clear_object(&client->manager);
	g_clear_object(&client->gateway);
	g_clear_object(&client->bus);
	g_free(client);
}

static gint
compare_address(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(ng_dbus_pen1_get_address((NgDbusPen1 *)a),
			 ng_dbus_pen1_get_address((NgDbusPen1 *)b));
}

GList *
ng_ctl_client_list_pens(NgCtlClient *client)
{
	g_autolist(GDBusObject) objects = g_dbus_object_manager_get_objects(client->manager);
	GList *pens = NULL;

	for (GList *l = objects; l != NULL; l = l->next) {
		NgDbusPen1 *pen = ng_dbus_object_get_pen1(NG_DBUS_OBJECT(l->data));
		if (pen != NULL)
			pens = g_list_prepend(pens, pen);
	}
	return g_list_sort(pens, compare_address);
}

NgDbusPen1 *
ng_ctl_client_find_pen(NgCtlClient *client, const char *name, GError **error)
{
	g_autolist(NgDbusPen1) pens = ng_ctl_client_list_pens(client);

	for (GList *l = pens; l != NULL; l = l->next) {
		NgDbusPen1 *pen = l->data;
		const char *serial = ng_dbus_pen1_get_serial(pen);

		/* typed by a person: np5eed0001 is NP5EED0001, as an address in any case is */
		if ((serial != NULL && g_ascii_strcasecmp(serial, name) == 0) ||
		    g_ascii_strcasecmp(ng_dbus_pen1_get_address(pen), name) == 0)
			return g_object_ref(pen);
	}
	g_set_error(
	    error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
	    "no pen '%s' is paired with this hub: 'needlectl list' shows the pens (by serial or address)",
	    name);
	return NULL;
}

int
ng_ctl_fail(const char *command, GError *error)
{
	g_autofree char *remote = g_dbus_error_get_remote_error(error);
	int status = NG_CTL_EXIT_FAILURE;

	if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED)) {
		status = NG_CTL_EXIT_DENIED;
		if (remote != NULL && strstr(error->message, "group") == NULL) {
			/* The bus policy's own words say nothing useful to a technician. */
			g_dbus_error_strip_remote_error(error);
			fflush(stdout);
			/* plans and the journal name patients: reading them is for the group too */
			gboolean reading =
			    g_str_equal(command, "sessions") || g_str_equal(command, "plan show");

			fprintf(
			    stderr,
			    "needlectl: %s: not allowed: only root and members of the group needlegate may "
			    "%s (ask the admin: adduser $USER needlegate)\n",
			    command, reading ? "read plans and the session journal" : "change the gateway");
			return status;
		}
	} else if (g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
		   g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
		   g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY) ||
		   g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED)) {
		status = NG_CTL_EXIT_UNAVAILABLE;
	}
	g_dbus_error_strip_remote_error(error);
	fflush(stdout);
	fprintf(stderr, "needlectl: %s: %s\n", command, error->message);
	return status;
}

int
ng_ctl_parse(const NgCtlCommand *cmd, const GOptionEntry *entries, gboolean *json, int *argc, char ***argv,
	     int *status)
{
	gboolean help = FALSE;
	GOptionEntry common[3] = {
	    {"help", 'h', 0, G_OPTION_ARG_NONE, &help, NULL, NULL},
	    {NULL},
	    {NULL},
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
	g_autoptr(GError) error = NULL;

	if (json != NULL)
		common[1] = (GOptionEntry){"json", 0, 0, G_OPTION_ARG_NONE, json, NULL, NULL};
	/* Our help is NgCtlCommand's text, the same as 'needlectl help COMMAND'. */
	g_option_context_set_help_enabled(ctx, FALSE);
	g_option_context_add_main_entries(ctx, common, NULL);
	if (entries != NULL)
		g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, argc, argv, &error)) {
		ng_ctl_usage_error(cmd->name, "%s", error->message);
		*status = NG_CTL_EXIT_USAGE;
		return -1;
	}
	if (help) {
		ng_ctl_print_command_help(cmd);
		*status = NG_CTL_EXIT_OK;
		return -1;
	}
	for (int i = 1; i < *argc; i++) {
		if ((*argv)[i][0] == '-' && (*argv)[i][1] != '\0') {
			ng_ctl_usage_error(cmd->name, "unknown option '%s'", (*argv)[i]);
			*status = NG_CTL_EXIT_USAGE;
			return -1;
		}
	}
	return *argc - 1;
}

GStrv
ng_ctl_row(const char *first, ...)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	va_list args;

	va_start(args, first);
	for (const char *s = first; s != NULL; s = va_arg(args, const char *))
		g_strv_builder_add(b, s);
	va_end(args);
	return g_strv_builder_end(b);
}

void
ng_ctl_print_table(GPtrArray *rows)
{
	guint widths[32] = {0};

	for (guint r = 0; r < rows->len; r++) {
		GStrv row = g_ptr_array_index(rows, r);
		for (guint c = 0; row[c] != NULL && c < G_N_ELEMENTS(widths); c++)
			widths[c] = MAX(widths[c], (guint)g_utf8_strlen(row[c], -1));
	}
	for (guint r = 0; r < rows->len; r++) {
		GStrv row = g_ptr_array_index(rows, r);
		g_autoptr(GString) line = g_string_new(NULL);
		for (guint c = 0; row[c] != NULL && c < G_N_ELEMENTS(widths); c++) {
			g_string_append(line, row[c]);
			if (row[c + 1] != NULL)
				for (guint pad = (guint)g_utf8_strlen(row[c], -1); pad < widths[c] + 2; pad++)
					g_string_append_c(line, ' ');
		}
		printf("%s\n", line->str);
	}
}

char *
ng_ctl_format_time(gint64 unix_ms)
{
	g_autoptr(GDateTime) utc = unix_ms > 0 ? g_date_time_new_from_unix_utc(unix_ms / 1000) : NULL;
	g_autofree char *seconds = utc != NULL ? g_date_time_format(utc, "%Y-%m-%dT%H:%M:%S") : NULL;

	/* as on MQTT and in needlectl sessions: UTC, milliseconds, Z */
	if (seconds == NULL)
		return NULL;
	return g_strdup_printf("%s.%03dZ", seconds, (int)(unix_ms % 1000));
}

void
ng_ctl_print_json(JsonNode *node)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree char *text = NULL;

	json_generator_set_root(gen, node);
	text = json_generator_to_data(gen, NULL);
	printf("%s\n", text);
}

/* A property not cached yet reads NULL: "" is what the daemon would have sent. */
static void
add_string(JsonBuilder *b, const char *value)
{
	json_builder_add_string_value(b, value != NULL ? value : "");
}

JsonNode *
ng_ctl_pen_to_json(NgDbusPen1 *pen)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *last_seen = ng_ctl_format_time(ng_dbus_pen1_get_last_seen(pen));

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "serial");
	add_string(b, ng_dbus_pen1_get_serial(pen));
	json_builder_set_member_name(b, "address");
	add_string(b, ng_dbus_pen1_get_address(pen));
	json_builder_set_member_name(b, "name");
	add_string(b, ng_dbus_pen1_get_name(pen));
	json_builder_set_member_name(b, "model");
	add_string(b, ng_dbus_pen1_get_model(pen));
	json_builder_set_member_name(b, "firmware");
	add_string(b, ng_dbus_pen1_get_firmware(pen));
	json_builder_set_member_name(b, "link");
	add_string(b, ng_dbus_pen1_get_link_state(pen));
	json_builder_set_member_name(b, "connected");
	json_builder_add_boolean_value(b, ng_dbus_pen1_get_connected(pen));
	json_builder_set_member_name(b, "state");
	add_string(b, ng_dbus_pen1_get_pen_state(pen));
	json_builder_set_member_name(b, "error");
	add_string(b, ng_dbus_pen1_get_error(pen));
	json_builder_set_member_name(b, "battery");
	if (ng_dbus_pen1_get_battery(pen) >= 0)
		json_builder_add_int_value(b, ng_dbus_pen1_get_battery(pen));
	else
		json_builder_add_null_value(b);
	/* unknown values are null, as on MQTT */
	json_builder_set_member_name(b, "cartridge");
	if (ng_dbus_pen1_get_cartridge(pen) != 0) {
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "id");
		json_builder_add_int_value(b, ng_dbus_pen1_get_cartridge(pen));
		json_builder_set_member_name(b, "needles");
		json_builder_add_int_value(b, ng_dbus_pen1_get_cartridge_needles(pen));
		json_builder_end_object(b);
	} else {
		json_builder_add_null_value(b);
	}
	json_builder_set_member_name(b, "session");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "id");
	json_builder_add_int_value(b, ng_dbus_pen1_get_session(pen));
	json_builder_set_member_name(b, "active");
	json_builder_add_boolean_value(b, ng_dbus_pen1_get_session_active(pen));
	json_builder_end_object(b);
	json_builder_set_member_name(b, "area");
	add_string(b, ng_dbus_pen1_get_area(pen));
	json_builder_set_member_name(b, "plan");
	if (g_strcmp0(ng_dbus_pen1_get_plan(pen), "") != 0)
		add_string(b, ng_dbus_pen1_get_plan(pen));
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "last_seen");
	if (last_seen != NULL)
		json_builder_add_string_value(b, last_seen);
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "rssi");
	if (ng_dbus_pen1_get_rssi(pen) != 0)
		json_builder_add_int_value(b, ng_dbus_pen1_get_rssi(pen));
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "rssi_dbm");
	if (ng_dbus_pen1_get_link_quality(pen) >= 0)
		json_builder_add_int_value(b, ng_dbus_pen1_get_link_rssi(pen));
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "linkquality");
	if (ng_dbus_pen1_get_link_quality(pen) >= 0)
		json_builder_add_int_value(b, ng_dbus_pen1_get_link_quality(pen));
	else
		json_builder_add_null_value(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}
