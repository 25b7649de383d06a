/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* needlectl scan: opens the pairing window and lists the unpaired pens in range. */

#include "config.h"

#include <stdio.h>

#include "ctl-client.h"

static int scan_window_s = 120;
static int scan_wait_s = 10;
static gboolean scan_stop = FALSE;

static const GOptionEntry scan_entries[] = {
    {"time", 't', 0, G_OPTION_ARG_INT, &scan_window_s, NULL, NULL},
    {"wait", 'w', 0, G_OPTION_ARG_INT, &scan_wait_s, NULL, NULL},
    {"stop", 0, 0, G_OPTION_ARG_NONE, &scan_stop, NULL, NULL},
    {NULL},
};

static void
print_found(GVariant *pen)
{
	const char *address = "";
	const char *name = "";
	gint16 rssi = 0;
	g_autofree char *rssi_text = NULL;

	g_variant_lookup(pen, "address", "&s", &address);
	g_variant_lookup(pen, "name", "&s", &name);
	rssi_text =
	    g_variant_lookup(pen, "rssi", "n", &rssi) ? g_strdup_printf("%d dBm", rssi) : g_strdup("-");
	printf("%-17s  %-20s  %s\n", address, *name != '\0' ? name : "-", rssi_text);
	fflush(stdout);
}

/* Polls ListDiscovered for @wait_s seconds; prints each pen once (tables only) and keeps the last list. */
static GVariant *
watch(NgCtlClient *client, int wait_s, gboolean json, GError **error)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GVariant) last = NULL;
	gint64 end = g_get_monotonic_time() + (gint64)wait_s * G_USEC_PER_SEC;

	do {
		g_autoptr(GVariant) pens = NULL;
		GVariantIter iter;
		GVariant *pen;

		if (!ng_dbus_gateway1_call_list_discovered_sync(client->gateway, &pens, NULL, error))
			return NULL;
		g_variant_iter_init(&iter, pens);
		while ((pen = g_variant_iter_next_value(&iter)) != NULL) {
			const char *address = NULL;
			if (g_variant_lookup(pen, "address", "&s", &address) &&
			    !g_hash_table_contains(seen, address)) {
				g_hash_table_add(seen, g_strdup(address));
				if (!json)
					print_found(pen);
			}
			g_variant_unref(pen);
		}
		g_clear_pointer(&last, g_variant_unref);
		last = g_steal_pointer(&pens);
		if (g_get_monotonic_time() < end)
			g_usleep(G_USEC_PER_SEC);
	} while (g_get_monotonic_time() < end);
	return g_steal_pointer(&last);
}

static void
print_json(GVariant *pens)
{
	JsonArray *array = json_array_new();
	g_autoptr(JsonNode) node = json_node_new(JSON_NODE_ARRAY);
	GVariantIter iter;
	GVariant *pen;

	g_variant_iter_init(&iter, pens);
	while ((pen = g_variant_iter_next_value(&iter)) != NULL) {
		g_autoptr(JsonNode) element = json_gvariant_serialize(pen);
		json_array_add_element(array, g_steal_pointer(&element));
		g_variant_unref(pen);
	}
	json_node_take_array(node, array);
	ng_ctl_print_json(node);
}

static int
run_scan(int argc, char **argv)
{
	gboolean json = FALSE;
	int status = 0;
	int n = ng_ctl_parse(&ng_ctl_command_scan, scan_entries, &json, &argc, &argv, &status);
	g_autoptr(GError) error = NULL;
	g_autoptr(NgCtlClient) client = NULL;
	g_autoptr(GVariant) pens = NULL;

	if (n < 0)
		return status;
	if (n > 0) {
		ng_ctl_usage_error("scan", "unexpected argument '%s'", argv[1]);
		return NG_CTL_EXIT_USAGE;
	}
	if (scan_window_s < 1 || scan_window_s > 600 || scan_wait_s < 0 || scan_wait_s > scan_window_s) {
		ng_ctl_usage_error("scan", "--time must be 1 to 600 s and --wait 0 to --time");
		return NG_CTL_EXIT_USAGE;
	}
	client = ng_ctl_client_new(&error);
	if (client == NULL)
		return ng_ctl_fail("scan", error);
	if (scan_stop) {
		if (!ng_dbus_gateway1_call_close_pairing_window_sync(client->gateway, NULL, &error))
			return ng_ctl_fail("scan", error);
		if (!json)
			printf("Pairing window closed: the hub no longer looks for new pens.\n");
		return NG_CTL_EXIT_OK;
	}
	if (!ng_dbus_gateway1_call_open_pairing_window_sync(client->gateway, (guint)scan_window_s, NULL,
							    &error))
		return ng_ctl_fail("scan", error);
	if (!json)
		printf("Pairing window open for %d s. Looking for unpaired pens for %d s...\n", scan_window_s,
		       scan_wait_s);
	pens = watch(client, scan_wait_s, json, &error);
	if (pens == NULL)
		return ng_ctl_fail("scan", error);
	if (json)
		print_json(pens);
	else if (g_variant_n_children(pens) == 0)
		printf(
		    "No unpaired pen found: switch the pen on, put it in pairing mode near the hub, and scan "
		    "again.\n");
	else
		printf("Pair one with: needlectl pair ADDRESS (the window stays open for %d s more, or until "
		       "a pen is paired).\n",
		       scan_window_s - scan_wait_s);
	return NG_CTL_EXIT_OK;
}

const NgCtlCommand ng_ctl_command_scan = {
    .name = "scan",
    .synopsis = "[--time S] [--wait S] [--json] | --stop",
    .summary = "Open the pairing window and list unpaired pens in range",
    .help = "Opens the hub's pairing window (the hub looks for pens only while it is\n"
	    "open) and prints the unpaired NeedlePens it finds: address, name, signal\n"
	    "strength. Pens already paired are not listed (needlectl list shows them).\n"
	    "Then pair one with 'needlectl pair ADDRESS' before the window closes.\n"
	    "\n"
	    "The window closes when its time is up, when a pen has been paired (the\n"
	    "hub stops looking so that the new pen's first connection is not disturbed;\n"
	    "scan again for the next pen), or with --stop.\n"
	    "\n"
	    "Options:\n"
	    "  -t, --time S  Keep the pairing window open S seconds (1 to 600, default 120)\n"
	    "  -w, --wait S  Watch for pens S seconds before returning (default 10)\n"
	    "  --json        One JSON array at the end: {address, name, rssi, paired, connected}\n"
	    "  --stop        Close the pairing window now\n"
	    "  -h, --help    Show this help\n"
	    "\n" NG_CTL_EXIT_STATUS_HELP "\n"
	    "Examples:\n"
	    "  needlectl scan\n"
	    "  needlectl scan --time 300 --wait 20\n"
	    "  needlectl scan --stop\n",
    .run = run_scan,
};
