/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The controller as bluetoothd shows it: Adapter1 at /org/bluez/hci0, AgentManager1 at /org/bluez, discovery.
 */

#include "sim-daemon.h"

#include <string.h>

#define SIM_ADAPTER_IFACE	"org.bluez.Adapter1"
#define SIM_AGENT_MANAGER_IFACE "org.bluez.AgentManager1"

static const char *const sim_filter_keys[] = {"UUIDs",	       "RSSI",	       "Pathloss", "Transport",
					      "DuplicateData", "Discoverable", "Pattern",  NULL};

static void
sim_daemon_emit(SimDaemon *daemon, const char *property)
{
	sim_bus_emit_changed(daemon->bus, SIM_ADAPTER_PATH, SIM_ADAPTER_IFACE, property, NULL);
}

void
sim_daemon_pen_changed(SimDaemon *daemon, SimDevice *device)
{
	if (daemon->pen_changed != NULL)
		daemon->pen_changed(device, daemon->pen_changed_data);
}

/* ---- discovery ------------------------------------------------------------- */

gboolean
sim_daemon_is_discovering(SimDaemon *daemon)
{
	return g_hash_table_size(daemon->discovery) > 0;
}

/* "180a" and "0000180a" are short forms of SIG UUIDs; compare full forms. */
static char *
sim_uuid_normalize(const char *uuid)
{
	size_t len = strlen(uuid);

	g_autofree char *full = NULL;

	if (len == 4)
		full = g_strdup_printf("0000%s-0000-1000-8000-00805f9b34fb", uuid);
	else if (len == 8)
		full = g_strdup_printf("%s-0000-1000-8000-00805f9b34fb", uuid);
	return g_ascii_strdown(full != NULL ? full : uuid, -1);
}

static gboolean
sim_filter_uuids_match(GVariant *filter)
{
	g_autofree const char **uuids = NULL;
	gsize n = 0;

	if (!g_variant_lookup(filter, "UUIDs", "^a&s", &uuids))
		return TRUE;
	for (gsize i = 0; uuids[i] != NULL; i++, n++) {
		g_autofree char *norm = sim_uuid_normalize(uuids[i]);

		if (g_str_equal(norm, NP_UUID_SESSION_SERVICE))
			return TRUE;
	}
	return n == 0;
}

static gboolean
sim_filter_matches(GVariant *filter, SimDevice *device)
{
	const SimPenConfig *cfg = sim_pen_get_config(device->pen);
	const char *transport = NULL;
	const char *pattern = NULL;
	gint16 rssi;
	guint16 pathloss;

	if (filter == NULL)
		return TRUE;
	if (!sim_filter_uuids_match(filter))
		return FALSE;
	if (g_variant_lookup(filter, "Transport", "&s", &transport) && g_str_equal(transport, "bredr"))
		return FALSE;
	if (g_variant_lookup(filter, "RSSI", "n", &rssi) && cfg->rssi < rssi)
		return FALSE;
	/* the pens do not advertise their TX power: no path loss to compare */
	if (g_variant_lookup(filter, "Pathloss", "q", &pathloss))
		return FALSE;
	if (g_variant_lookup(filter, "Pattern", "&s", &pattern) && !g_str_has_prefix(cfg->address, pattern) &&
	    !g_str_has_prefix(sim_pen_get_name(device->pen), pattern))
		return FALSE;
	return TRUE;
}

/* bluetoothd merges the filters of all discovering clients: a device any
 * of them wants is reported to everyone. */
gboolean
sim_daemon_device_matches_filters(SimDaemon *daemon, SimDevice *device)
{
	GHashTableIter iter;
	gpointer sender;

	g_hash_table_iter_init(&iter, daemon->discovery);
	while (g_hash_table_iter_next(&iter, &sender, NULL)) {
		if (sim_filter_matches(g_hash_table_lookup(daemon->filters, sender), device))
			return TRUE;
	}
	return FALSE;
}

static gboolean
sim_daemon_adv_tick(gpointer user_data)
{
	SimDaemon *daemon = user_data;

	for (guint i = 0; i < daemon->devices->len; i++)
		sim_device_advertise(g_ptr_array_index(daemon->devices, i));
	return G_SOURCE_CONTINUE;
}

static void
sim_daemon_adv_once(gpointer user_data)
{
	sim_daemon_adv_tick(user_data);
}

static void
sim_daemon_set_discovering(SimDaemon *daemon, gboolean on)
{
	if (on == (daemon->adv_timer_id != 0))
		return;
	if (on) {
		daemon->adv_timer_id =
		    g_timeout_add(daemon->timing.adv_interval_ms, sim_daemon_adv_tick, daemon);
		g_idle_add_once(sim_daemon_adv_once, daemon);
	} else {
		g_clear_handle_id(&daemon->adv_timer_id, g_source_remove);
		for (guint i = 0; i < daemon->devices->len; i++)
			sim_device_discovery_stopped(g_ptr_array_index(daemon->devices, i));
	}
	sim_daemon_emit(daemon, "Discovering");
}

static void
sim_adapter_start_discovery(SimDaemon *daemon, GDBusMethodInvocation *inv)
{
	const char *sender = g_dbus_method_invocation_get_sender(inv);

	if (!daemon->powered) {
		sim_return_error(inv, "NotReady", "Resource Not Ready");
		return;
	}
	if (g_hash_table_contains(daemon->discovery, sender)) {
		sim_return_error(inv, "InProgress", "Operation already in progress");
		return;
	}
	g_hash_table_add(daemon->discovery, g_strdup(sender));
	g_dbus_method_invocation_return_value(inv, NULL);
	sim_daemon_set_discovering(daemon, TRUE);
}

static void
sim_adapter_stop_discovery(SimDaemon *daemon, GDBusMethodInvocation *inv)
{
	const char *sender = g_dbus_method_invocation_get_sender(inv);

	if (!daemon->powered) {
		sim_return_error(inv, "NotReady", "Resource Not Ready");
		return;
	}
	if (!g_hash_table_remove(daemon->discovery, sender)) {
		sim_return_error(inv, "Failed", "No discovery started");
		return;
	}
	g_dbus_method_invocation_return_value(inv, NULL);
	if (!sim_daemon_is_discovering(daemon))
		sim_daemon_set_discovering(daemon, FALSE);
}

static gboolean
sim_filter_entry_valid(const char *key, GVariant *value)
{
	static const char *const types[] = {"as", "n", "q", "s", "b", "b", "s"};

	for (guint i = 0; sim_filter_keys[i] != NULL; i++) {
		if (!g_str_equal(key, sim_filter_keys[i]))
			continue;
		if (!g_variant_is_of_type(value, G_VARIANT_TYPE(types[i])))
			return FALSE;
		if (g_str_equal(key, "Transport"))
			return g_strv_contains((const char *const[]){"auto", "bredr", "le", NULL},
					       g_variant_get_string(value, NULL));
		return TRUE;
	}
	return FALSE;
}

static gboolean
sim_filter_valid(GVariant *filter)
{
	g_autoptr(GVariant) rssi = NULL;
	g_autoptr(GVariant) pathloss = NULL;
	GVariantIter iter;
	const char *key;
	GVariant *value;

	g_variant_iter_init(&iter, filter);
	while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
		gboolean ok = sim_filter_entry_valid(key, value);

		g_variant_unref(value);
		if (!ok)
			return FALSE;
	}
	/* RSSI and Pathloss exclude each other */
	rssi = g_variant_lookup_value(filter, "RSSI", NULL);
	pathloss = g_variant_lookup_value(filter, "Pathloss", NULL);
	return rssi == NULL || pathloss == NULL;
}

static void
sim_adapter_set_filter(SimDaemon *daemon, GDBusMethodInvocation *inv, GVariant *params)
{
	g_autoptr(GVariant) filter = g_variant_get_child_value(params, 0);
	const char *sender = g_dbus_method_invocation_get_sender(inv);

	if (!daemon->powered) {
		sim_return_error(inv, "NotReady", "Resource Not Ready");
		return;
	}
	if (!sim_filter_valid(filter)) {
		sim_return_error(inv, "InvalidArguments", "Invalid arguments in method call");
		return;
	}
	if (g_variant_n_children(filter) == 0)
		g_hash_table_remove(daemon->filters, sender);
	else
		g_hash_table_insert(daemon->filters, g_strdup(sender), g_variant_ref(filter));
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void
sim_adapter_remove_device(SimDaemon *daemon, GDBusMethodInvocation *inv, GVariant *params)
{
	const char *path;
	SimDevice *device;

	g_variant_get(params, "(&o)", &path);
	device = sim_daemon_find_device(daemon, path);
	if (device == NULL || !device->exported) {
		sim_return_error(inv, "DoesNotExist", "Does Not Exist");
		return;
	}
	sim_device_unexport(device);
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void
sim_adapter_method(gpointer owner, GDBusMethodInvocation *inv, const char *method, GVariant *params)
{
	SimDaemon *daemon = owner;

	if (g_str_equal(method, "StartDiscovery"))
		sim_adapter_start_discovery(daemon, inv);
	else if (g_str_equal(method, "StopDiscovery"))
		sim_adapter_stop_discovery(daemon, inv);
	else if (g_str_equal(method, "SetDiscoveryFilter"))
		sim_adapter_set_filter(daemon, inv, params);
	else if (g_str_equal(method, "GetDiscoveryFilters"))
		g_dbus_method_invocation_return_value(inv, g_variant_new("(^as)", sim_filter_keys));
	else if (g_str_equal(method, "RemoveDevice"))
		sim_adapter_remove_device(daemon, inv, params);
	else /* ConnectDevice is experimental: bluetoothd without -E refuses it */
		sim_return_error(inv, "NotSupported", "Operation is not supported");
}

static GVariant *
sim_adapter_get_strv(const char *property)
{
	static const char *const uuids[] = {"00001800-0000-1000-8000-00805f9b34fb",
					    "00001801-0000-1000-8000-00805f9b34fb",
					    "0000180a-0000-1000-8000-00805f9b34fb", NULL};
	static const char *const roles[] = {"central", "peripheral", NULL};

	if (g_str_equal(property, "UUIDs"))
		return g_variant_new_strv(uuids, -1);
	if (g_str_equal(property, "Roles"))
		return g_variant_new_strv(roles, -1);
	return NULL;
}

static GVariant *
sim_adapter_get(gpointer owner, const char *property)
{
	SimDaemon *daemon = owner;

	if (g_str_equal(property, "Address"))
		return g_variant_new_string(daemon->address);
	if (g_str_equal(property, "AddressType"))
		return g_variant_new_string("public");
	if (g_str_equal(property, "Name"))
		return g_variant_new_string("needle-pensim");
	if (g_str_equal(property, "Alias"))
		return g_variant_new_string(daemon->alias != NULL ? daemon->alias : "needle-pensim");
	if (g_str_equal(property, "Class"))
		return g_variant_new_uint32(0);
	if (g_str_equal(property, "Powered"))
		return g_variant_new_boolean(daemon->powered);
	if (g_str_equal(property, "PowerState"))
		return g_variant_new_string(daemon->powered ? "on" : "off");
	if (g_str_equal(property, "Discoverable"))
		return g_variant_new_boolean(daemon->discoverable);
	if (g_str_equal(property, "DiscoverableTimeout"))
		return g_variant_new_uint32(daemon->discoverable_timeout);
	if (g_str_equal(property, "Pairable"))
		return g_variant_new_boolean(daemon->pairable);
	if (g_str_equal(property, "PairableTimeout"))
		return g_variant_new_uint32(daemon->pairable_timeout);
	if (g_str_equal(property, "Discovering"))
		return g_variant_new_boolean(sim_daemon_is_discovering(daemon) && daemon->adv_timer_id != 0);
	if (g_str_equal(property, "Modalias"))
		return g_variant_new_string("usb:v1D6Bp0246d0542");
	return sim_adapter_get_strv(property);
}

static void
sim_daemon_set_powered(SimDaemon *daemon, gboolean powered)
{
	if (powered == daemon->powered)
		return;
	daemon->powered = powered;
	if (!powered) {
		for (guint i = 0; i < daemon->devices->len; i++)
			sim_device_drop_link(g_ptr_array_index(daemon->devices, i), "adapter powered off");
		g_hash_table_remove_all(daemon->discovery);
		sim_daemon_set_discovering(daemon, FALSE);
	}
	sim_daemon_emit(daemon, "Powered");
	sim_daemon_emit(daemon, "PowerState");
}

static gboolean
sim_adapter_set(gpointer owner, const char *property, GVariant *value, GError **error)
{
	SimDaemon *daemon = owner;
	gboolean is_bool = g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN);
	gboolean is_u32 = g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32);

	if (g_str_equal(property, "Powered") && is_bool) {
		sim_daemon_set_powered(daemon, g_variant_get_boolean(value));
		return TRUE;
	}
	if (g_str_equal(property, "Alias") && g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)) {
		g_free(daemon->alias);
		daemon->alias = g_variant_dup_string(value, NULL);
	} else if (g_str_equal(property, "Discoverable") && is_bool) {
		daemon->discoverable = g_variant_get_boolean(value);
	} else if (g_str_equal(property, "Pairable") && is_bool) {
		daemon->pairable = g_variant_get_boolean(value);
	} else if (g_str_equal(property, "DiscoverableTimeout") && is_u32) {
		daemon->discoverable_timeout = g_variant_get_uint32(value);
	} else if (g_str_equal(property, "PairableTimeout") && is_u32) {
		daemon->pairable_timeout = g_variant_get_uint32(value);
	} else {
		g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
			    "Invalid arguments in method call");
		return FALSE;
	}
	sim_daemon_emit(daemon, property);
	return TRUE;
}

/* ---- agents ------------------------------------------------------------------ */

static void
sim_agent_free(SimAgent *agent)
{
	g_free(agent->sender);
	g_free(agent->path);
	g_free(agent->capability);
	g_free(agent);
}

static SimAgent *
sim_daemon_agent_of(SimDaemon *daemon, const char *sender)
{
	for (guint i = 0; i < daemon->agents->len; i++) {
		SimAgent *agent = g_ptr_array_index(daemon->agents, i);

		if (g_str_equal(agent->sender, sender))
			return agent;
	}
	return NULL;
}

/* The caller's own agent first, as bluetoothd does, then the default one. */
SimAgent *
sim_daemon_find_agent(SimDaemon *daemon, const char *sender)
{
	SimAgent *agent = sim_daemon_agent_of(daemon, sender);

	if (agent != NULL)
		return agent;
	if (daemon->default_agents->len == 0)
		return NULL;
	return g_ptr_array_index(daemon->default_agents, daemon->default_agents->len - 1);
}

static void
sim_daemon_remove_agent(SimDaemon *daemon, SimAgent *agent)
{
	g_ptr_array_remove(daemon->default_agents, agent);
	for (guint i = 0; i < daemon->devices->len; i++)
		sim_device_agent_gone(g_ptr_array_index(daemon->devices, i), agent);
	g_info("agent %s %s unregistered", agent->sender, agent->path);
	g_ptr_array_remove(daemon->agents, agent);
}

static void
sim_agent_register(SimDaemon *daemon, GDBusMethodInvocation *inv, GVariant *params)
{
	static const char *const caps[] = {
	    "DisplayOnly", "DisplayYesNo", "KeyboardOnly", "NoInputNoOutput", "KeyboardDisplay", "", NULL};
	const char *sender = g_dbus_method_invocation_get_sender(inv);
	const char *path, *cap;
	SimAgent *agent;

	g_variant_get(params, "(&o&s)", &path, &cap);
	if (!g_strv_contains(caps, cap)) {
		sim_return_error(inv, "InvalidArguments", "Invalid arguments in method call");
		return;
	}
	if (sim_daemon_agent_of(daemon, sender) != NULL) {
		sim_return_error(inv, "AlreadyExists", "Already Exists");
		return;
	}
	agent = g_new0(SimAgent, 1);
	agent->sender = g_strdup(sender);
	agent->path = g_strdup(path);
	agent->capability = g_strdup(cap);
	g_ptr_array_add(daemon->agents, agent);
	g_info("agent %s %s registered (%s)", sender, path, cap[0] != '\0' ? cap : "KeyboardDisplay");
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void
sim_agent_manager_method(gpointer owner, GDBusMethodInvocation *inv, const char *method, GVariant *params)
{
	SimDaemon *daemon = owner;
	SimAgent *agent;
	const char *path;

	if (g_str_equal(method, "RegisterAgent")) {
		sim_agent_register(daemon, inv, params);
		return;
	}
	g_variant_get(params, "(&o)", &path);
	agent = sim_daemon_agent_of(daemon, g_dbus_method_invocation_get_sender(inv));
	if (agent == NULL || !g_str_equal(agent->path, path)) {
		sim_return_error(inv, "DoesNotExist", "Does Not Exist");
		return;
	}
	if (g_str_equal(method, "UnregisterAgent")) {
		sim_daemon_remove_agent(daemon, agent);
	} else {
		g_ptr_array_remove(daemon->default_agents, agent);
		g_ptr_array_add(daemon->default_agents, agent);
	}
	g_dbus_method_invocation_return_value(inv, NULL);
}

/* ---- clients leaving the bus --------------------------------------------------- */

static void
sim_daemon_name_vanished(const char *name, gpointer user_data)
{
	SimDaemon *daemon = user_data;
	SimAgent *agent = sim_daemon_agent_of(daemon, name);

	if (agent != NULL)
		sim_daemon_remove_agent(daemon, agent);
	g_hash_table_remove(daemon->filters, name);
	if (g_hash_table_remove(daemon->discovery, name) && !sim_daemon_is_discovering(daemon))
		sim_daemon_set_discovering(daemon, FALSE);
	for (guint i = 0; i < daemon->devices->len; i++)
		sim_device_client_vanished(g_ptr_array_index(daemon->devices, i), name);
}

/* ---- lifetime ------------------------------------------------------------------- */

SimDaemon *
sim_daemon_new(GDBusConnection *connection, const SimTiming *timing, GError **error)
{
	SimDaemon *daemon = g_new0(SimDaemon, 1);
	SimIfaceSpec am = {SIM_AGENT_MANAGER_IFACE, sim_agent_manager_method, NULL, NULL, daemon};
	SimIfaceSpec ad = {SIM_ADAPTER_IFACE, sim_adapter_method, sim_adapter_get, sim_adapter_set, daemon};

	daemon->timing = *timing;
	daemon->devices = g_ptr_array_new_with_free_func((GDestroyNotify)sim_device_free);
	daemon->address = g_strdup("00:1A:7D:4E:47:01");
	daemon->powered = TRUE;
	daemon->pairable = TRUE;
	daemon->discoverable_timeout = 180;
	daemon->discovery = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	daemon->filters =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_variant_unref);
	daemon->agents = g_ptr_array_new_with_free_func((GDestroyNotify)sim_agent_free);
	daemon->default_agents = g_ptr_array_new();
	daemon->bus = sim_bus_new(connection, error);
	if (daemon->bus == NULL ||
	    !sim_bus_add_interfaces(daemon->bus, SIM_AGENT_MANAGER_PATH, &am, 1, error) ||
	    !sim_bus_add_interfaces(daemon->bus, SIM_ADAPTER_PATH, &ad, 1, error)) {
		sim_daemon_free(daemon);
		return NULL;
	}
	sim_bus_add_vanished_handler(daemon->bus, sim_daemon_name_vanished, daemon);
	return daemon;
}

void
sim_daemon_free(SimDaemon *daemon)
{
	if (daemon == NULL)
		return;
	g_clear_handle_id(&daemon->adv_timer_id, g_source_remove);
	g_ptr_array_unref(daemon->devices);
	sim_bus_free(daemon->bus);
	g_ptr_array_unref(daemon->default_agents);
	g_ptr_array_unref(daemon->agents);
	g_hash_table_unref(daemon->discovery);
	g_hash_table_unref(daemon->filters);
	g_free(daemon->address);
	g_free(daemon->alias);
	g_free(daemon);
}

SimDevice *
sim_daemon_add_pen(SimDaemon *daemon, const SimPenConfig *cfg, GError **error)
{
	SimDevice *device = sim_device_new(daemon, cfg, daemon->devices->len + 1);

	g_ptr_array_add(daemon->devices, device);
	/* bluetoothd loads bonded devices from storage at start */
	if (device->paired && !sim_device_export(device, error))
		return NULL;
	return device;
}

SimDevice *
sim_daemon_find_device(SimDaemon *daemon, const char *path_or_serial)
{
	for (guint i = 0; i < daemon->devices->len; i++) {
		SimDevice *device = g_ptr_array_index(daemon->devices, i);
		const SimPenConfig *cfg = sim_pen_get_config(device->pen);

		if (g_str_equal(device->path, path_or_serial) || g_str_equal(cfg->serial, path_or_serial) ||
		    g_ascii_strcasecmp(cfg->address, path_or_serial) == 0)
			return device;
	}
	return NULL;
}
