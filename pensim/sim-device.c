/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One pen as bluetoothd shows it: Device1 and Battery1, connection, pairing through the client's agent. */

#include "sim-daemon.h"

#include <stdio.h>
#include <string.h>

#define SIM_DEVICE_IFACE  "org.bluez.Device1"
#define SIM_BATTERY_IFACE "org.bluez.Battery1"

static void sim_device_emit(SimDevice *device, const char *property);
static void sim_device_pair_start(SimDevice *device);
static void sim_device_pair_finish(SimDevice *device, const char *error, const char *message);

/* ---- the pen's sink: what it sends goes through the GATT layer ------------ */

static gboolean
sim_device_sink_can_notify(gpointer user_data, SimChr chr)
{
	return sim_gatt_can_notify(user_data, chr);
}

static void
sim_device_sink_notify(gpointer user_data, SimChr chr, const guint8 *value, gsize len)
{
	sim_gatt_notify(user_data, chr, value, len);
}

static void
sim_device_sink_state_changed(gpointer user_data)
{
	SimDevice *device = user_data;

	sim_daemon_pen_changed(device->daemon, device);
}

static const SimPenSink sim_device_sink = {
    .can_notify = sim_device_sink_can_notify,
    .notify = sim_device_sink_notify,
    .state_changed = sim_device_sink_state_changed,
};

/* ---- properties ------------------------------------------------------------- */

static GVariant *
sim_device_uuids(SimDevice *device)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE_STRING_ARRAY);
	/* Before service discovery only the advertised UUID is known. */
	if (device->ever_resolved) {
		g_variant_builder_add(&b, "s", "00001800-0000-1000-8000-00805f9b34fb");
		g_variant_builder_add(&b, "s", "00001801-0000-1000-8000-00805f9b34fb");
		g_variant_builder_add(&b, "s", NP_UUID_DEVICE_INFORMATION);
		g_variant_builder_add(&b, "s", NP_UUID_BATTERY_SERVICE);
	}
	g_variant_builder_add(&b, "s", NP_UUID_SESSION_SERVICE);
	return g_variant_builder_end(&b);
}

static GVariant *
sim_device_mfr_data(SimDevice *device)
{
	NpAdvMfrData adv = {
	    .model_code = sim_pen_get_config(device->pen)->model_code,
	    .state = sim_pen_get_state(device->pen),
	    .battery_percent = sim_pen_get_battery(device->pen),
	};
	guint8 buf[NP_ADV_MFR_DATA_SIZE];
	size_t len = 0;
	GVariantBuilder b;

	if (np_adv_mfr_data_encode(&adv, buf, sizeof(buf), &len) != NP_OK)
		len = 0;
	g_variant_builder_init(&b, G_VARIANT_TYPE("a{qv}"));
	g_variant_builder_add(&b, "{qv}", (guint16)NP_COMPANY_ID,
			      g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, buf, len, 1));
	return g_variant_builder_end(&b);
}

static GVariant *
sim_device_get_state_prop(SimDevice *device, const char *property)
{
	if (g_str_equal(property, "Paired"))
		return g_variant_new_boolean(device->paired);
	if (g_str_equal(property, "Bonded"))
		return g_variant_new_boolean(device->bonded);
	if (g_str_equal(property, "Trusted"))
		return g_variant_new_boolean(device->trusted);
	if (g_str_equal(property, "Blocked"))
		return g_variant_new_boolean(device->blocked);
	if (g_str_equal(property, "LegacyPairing"))
		return g_variant_new_boolean(FALSE);
	if (g_str_equal(property, "Connected"))
		return g_variant_new_boolean(device->connected);
	if (g_str_equal(property, "ServicesResolved"))
		return g_variant_new_boolean(device->services_resolved);
	if (g_str_equal(property, "RSSI"))
		return device->rssi_valid ? g_variant_new_int16(device->rssi) : NULL;
	return NULL;
}

static GVariant *
sim_device_get(gpointer owner, const char *property)
{
	SimDevice *device = owner;

	if (g_str_equal(property, "Address"))
		return g_variant_new_string(sim_pen_get_config(device->pen)->address);
	if (g_str_equal(property, "AddressType"))
		return g_variant_new_string("random");
	if (g_str_equal(property, "Name"))
		return g_variant_new_string(sim_pen_get_name(device->pen));
	if (g_str_equal(property, "Alias"))
		return g_variant_new_string(device->alias != NULL ? device->alias
								  : sim_pen_get_name(device->pen));
	if (g_str_equal(property, "Adapter"))
		return g_variant_new_object_path(SIM_ADAPTER_PATH);
	if (g_str_equal(property, "UUIDs"))
		return sim_device_uuids(device);
	if (g_str_equal(property, "ManufacturerData"))
		return sim_device_mfr_data(device);
	if (g_str_equal(property, "AdvertisingFlags")) {
		static const guint8 flags = 0x06; /* LE General Discoverable, BR/EDR not supported */
		return g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, &flags, 1, 1);
	}
	return sim_device_get_state_prop(device, property);
}

static gboolean
sim_device_set(gpointer owner, const char *property, GVariant *value, GError **error)
{
	SimDevice *device = owner;

	if (g_str_equal(property, "Trusted") && g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN)) {
		device->trusted = g_variant_get_boolean(value);
	} else if (g_str_equal(property, "Blocked") && g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN)) {
		device->blocked = g_variant_get_boolean(value);
		if (device->blocked && device->connected)
			sim_device_drop_link(device, "blocked");
	} else if (g_str_equal(property, "Alias") && g_variant_is_of_type(value, G_VARIANT_TYPE_STRING)) {
		g_free(device->alias);
		device->alias =
		    g_variant_get_string(value, NULL)[0] != '\0' ? g_variant_dup_string(value, NULL) : NULL;
	} else {
		g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS,
			    "Invalid arguments in method call");
		return FALSE;
	}
	sim_device_emit(device, property);
	return TRUE;
}

static GVariant *
sim_battery_get(gpointer owner, const char *property)
{
	SimDevice *device = owner;

	if (g_str_equal(property, "Percentage"))
		return g_variant_new_byte(sim_pen_get_battery(device->pen));
	return NULL; /* Source: only for batteries that a provider reports */
}

static void
sim_device_emit(SimDevice *device, const char *property)
{
	if (device->exported)
		sim_bus_emit_changed(device->daemon->bus, device->path, SIM_DEVICE_IFACE, property, NULL);
}

/* ---- connection ------------------------------------------------------------- */

static void
sim_device_cancel_temporary(SimDevice *device)
{
	g_clear_handle_id(&device->temp_timer_id, g_source_remove);
}

static gboolean
sim_device_temporary_expired(gpointer user_data)
{
	SimDevice *device = user_data;

	device->temp_timer_id = 0;
	if (!device->paired && !device->connected && !sim_daemon_is_discovering(device->daemon))
		sim_device_unexport(device);
	return G_SOURCE_REMOVE;
}

/* Unpaired devices are temporary: gone a while after discovery and link end. */
static void
sim_device_schedule_temporary(SimDevice *device)
{
	sim_device_cancel_temporary(device);
	if (device->exported && !device->paired && !device->connected &&
	    !sim_daemon_is_discovering(device->daemon))
		device->temp_timer_id = g_timeout_add_seconds(device->daemon->timing.temporary_timeout_s,
							      sim_device_temporary_expired, device);
}

static void
sim_device_link_up(SimDevice *device)
{
	g_autoptr(GError) error = NULL;
	SimIfaceSpec battery = {SIM_BATTERY_IFACE, NULL, sim_battery_get, NULL, device};

	sim_device_cancel_temporary(device);
	device->connected = TRUE;
	sim_device_emit(device, "Connected");
	if (!sim_gatt_export(device, &error))
		g_warning("pen %s: cannot export its GATT objects: %s",
			  sim_pen_get_config(device->pen)->serial, error->message);
	if (!sim_bus_add_interfaces(device->daemon->bus, device->path, &battery, 1, &error))
		g_warning("cannot export Battery1: %s", error->message);
	device->ever_resolved = TRUE;
	sim_device_emit(device, "UUIDs");
	device->services_resolved = TRUE;
	sim_device_emit(device, "ServicesResolved");
	sim_gatt_link_up(device);
	sim_pen_link_changed(device->pen, TRUE);
	g_info("pen %s: connected", sim_pen_get_config(device->pen)->serial);
	sim_daemon_pen_changed(device->daemon, device);
}

void
sim_device_drop_link(SimDevice *device, const char *why)
{
	g_clear_handle_id(&device->connect_timer_id, g_source_remove);
	if (device->connect_inv != NULL) {
		sim_return_error(g_steal_pointer(&device->connect_inv), "Failed",
				 "le-connection-abort-by-local");
	}
	if (device->pair_inv != NULL)
		sim_device_pair_finish(device, "AuthenticationCanceled", "Authentication Canceled");
	if (!device->connected)
		return;
	g_clear_handle_id(&device->att_timer_id, g_source_remove);
	sim_pen_link_changed(device->pen, FALSE);
	sim_gatt_link_down(device);
	device->services_resolved = FALSE;
	sim_device_emit(device, "ServicesResolved");
	device->connected = FALSE;
	sim_device_emit(device, "Connected");
	/* The GATT objects stay: bluetoothd's default cache policy is "always". */
	sim_bus_remove_interface(device->daemon->bus, device->path, SIM_BATTERY_IFACE);
	g_info("pen %s: disconnected (%s)", sim_pen_get_config(device->pen)->serial, why);
	sim_device_schedule_temporary(device);
	sim_daemon_pen_changed(device->daemon, device);
}

static gboolean
sim_device_connect_done(gpointer user_data)
{
	SimDevice *device = user_data;
	g_autoptr(GDBusMethodInvocation) inv = g_steal_pointer(&device->connect_inv);

	device->connect_timer_id = 0;
	if (!device->present || device->blocked) {
		if (device->pair_inv != NULL && device->pair_connected_link)
			sim_device_pair_finish(device, "ConnectionAttemptFailed", "Page Timeout");
		if (inv != NULL)
			sim_return_error(inv, "Failed", "le-connection-abort-by-local");
		return G_SOURCE_REMOVE;
	}
	sim_device_link_up(device);
	if (device->pair_inv != NULL && device->pair_connected_link)
		sim_device_pair_start(device);
	if (inv != NULL)
		g_dbus_method_invocation_return_value(inv, NULL);
	return G_SOURCE_REMOVE;
}

/* Starts a connection; the reply (if any) comes when services are resolved. */
static void
sim_device_start_connect(SimDevice *device, GDBusMethodInvocation *inv)
{
	SimTiming *t = &device->daemon->timing;

	device->connect_inv = inv;
	if (device->connect_timer_id == 0)
		device->connect_timer_id =
		    g_timeout_add(device->present ? t->connect_delay_ms : t->connect_timeout_ms,
				  sim_device_connect_done, device);
}

static void
sim_device_connect(SimDevice *device, GDBusMethodInvocation *inv)
{
	if (!device->daemon->powered) {
		sim_return_error(inv, "NotReady", "Resource Not Ready");
		return;
	}
	if (device->connected) {
		g_dbus_method_invocation_return_value(inv, NULL);
		return;
	}
	if (device->connect_inv != NULL || device->connect_timer_id != 0) {
		sim_return_error(inv, "InProgress", "In Progress");
		return;
	}
	sim_device_start_connect(device, g_object_ref(inv));
}

static void
sim_device_disconnect(SimDevice *device, GDBusMethodInvocation *inv)
{
	if (!device->connected && device->connect_inv == NULL && device->connect_timer_id == 0) {
		sim_return_error(inv, "NotConnected", "Not Connected");
		return;
	}
	g_clear_handle_id(&device->connect_timer_id, g_source_remove);
	sim_device_drop_link(device, "local request");
	g_dbus_method_invocation_return_value(inv, NULL);
}

/* ---- pairing ------------------------------------------------------------------ */

static void
sim_device_show_passkey(SimDevice *device, gboolean shown)
{
	device->passkey_shown = shown;
	if (shown) {
		device->passkey = g_random_int_range(0, 1000000);
		/* for a person at the terminal: the pen's display */
		printf("pen %s (%s) shows passkey %06u\n", sim_pen_get_config(device->pen)->serial,
		       sim_pen_get_config(device->pen)->address, device->passkey);
		fflush(stdout);
	}
	sim_daemon_pen_changed(device->daemon, device);
}

static void
sim_device_pair_finish(SimDevice *device, const char *error, const char *message)
{
	g_autoptr(GDBusMethodInvocation) inv = g_steal_pointer(&device->pair_inv);
	gboolean drop = error != NULL && device->pair_connected_link;

	g_cancellable_cancel(device->pair_cancellable);
	g_clear_object(&device->pair_cancellable);
	device->pair_agent = NULL;
	device->pair_connected_link = FALSE;
	sim_device_show_passkey(device, FALSE);
	if (error == NULL) {
		sim_device_set_paired(device, TRUE);
		g_dbus_method_invocation_return_value(inv, NULL);
		return;
	}
	g_message("pen %s: pairing failed: %s", sim_pen_get_config(device->pen)->serial, message);
	sim_return_error(inv, error, message);
	/* a link made only for pairing goes down with it */
	if (drop)
		sim_device_drop_link(device, "pairing failed");
}

static void
sim_device_passkey_reply(GObject *source, GAsyncResult *res, gpointer user_data)
{
	SimDevice *device = user_data;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	guint32 entered = 0;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return; /* device may be gone; pair_finish already replied */
	if (device->pair_inv == NULL)
		return;
	if (reply == NULL) {
		g_message("pen %s: the agent did not give a passkey: %s",
			  sim_pen_get_config(device->pen)->serial, error->message);
		sim_device_pair_finish(device, "AuthenticationFailed", "Authentication Failed");
		return;
	}
	g_variant_get(reply, "(u)", &entered);
	if (entered != device->passkey) {
		sim_device_pair_finish(device, "AuthenticationFailed", "Authentication Failed");
		return;
	}
	sim_device_pair_finish(device, NULL, NULL);
}

static gboolean
sim_agent_has_keyboard(const SimAgent *agent)
{
	return g_str_equal(agent->capability, "KeyboardOnly") ||
	       g_str_equal(agent->capability, "KeyboardDisplay") || agent->capability[0] == '\0';
}

/* A DisplayOnly pen and a keyboard-capable agent: passkey entry. */
static void
sim_device_pair_start(SimDevice *device)
{
	SimAgent *agent = device->pair_agent;

	if (agent == NULL || !sim_agent_has_keyboard(agent)) {
		/* Just Works gives no MITM protection, which the pen requires. */
		sim_device_pair_finish(device, "AuthenticationFailed", "Authentication Failed");
		return;
	}
	sim_device_show_passkey(device, TRUE);
	g_dbus_connection_call(sim_bus_get_connection(device->daemon->bus), agent->sender, agent->path,
			       "org.bluez.Agent1", "RequestPasskey", g_variant_new("(o)", device->path),
			       G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, SIM_AGENT_TIMEOUT_MS,
			       device->pair_cancellable, sim_device_passkey_reply, device);
}

static void
sim_device_pair(SimDevice *device, GDBusMethodInvocation *inv)
{
	const char *sender = g_dbus_method_invocation_get_sender(inv);

	if (device->paired) {
		sim_return_error(inv, "AlreadyExists", "Already Paired");
		return;
	}
	if (device->pair_inv != NULL) {
		sim_return_error(inv, "InProgress", "In Progress");
		return;
	}
	device->pair_inv = g_object_ref(inv);
	device->pair_agent = sim_daemon_find_agent(device->daemon, sender);
	device->pair_cancellable = g_cancellable_new();
	if (device->connected) {
		sim_device_pair_start(device);
		return;
	}
	device->pair_connected_link = TRUE;
	if (device->connect_timer_id == 0)
		sim_device_start_connect(device, NULL);
}

static void
sim_device_cancel_pairing(SimDevice *device, GDBusMethodInvocation *inv)
{
	SimAgent *agent = device->pair_agent;

	if (device->pair_inv == NULL) {
		sim_return_error(inv, "DoesNotExist", "Does Not Exist");
		return;
	}
	if (agent != NULL && device->passkey_shown)
		g_dbus_connection_call(sim_bus_get_connection(device->daemon->bus), agent->sender,
				       agent->path, "org.bluez.Agent1", "Cancel", NULL, NULL,
				       G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, NULL, NULL);
	sim_device_pair_finish(device, "AuthenticationCanceled", "Authentication Canceled");
	g_dbus_method_invocation_return_value(inv, NULL);
}

void
sim_device_agent_gone(SimDevice *device, SimAgent *agent)
{
	if (device->pair_agent == agent)
		device->pair_agent = NULL;
}

static void
sim_device_method(gpointer owner, GDBusMethodInvocation *inv, const char *method, GVariant *params)
{
	SimDevice *device = owner;

	if (g_str_equal(method, "Connect"))
		sim_device_connect(device, inv);
	else if (g_str_equal(method, "Disconnect"))
		sim_device_disconnect(device, inv);
	else if (g_str_equal(method, "Pair"))
		sim_device_pair(device, inv);
	else if (g_str_equal(method, "CancelPairing"))
		sim_device_cancel_pairing(device, inv);
	else if (g_str_equal(method, "ConnectProfile"))
		sim_device_connect(device, inv);
	else /* DisconnectProfile: GATT has no profile connection to drop */
		sim_return_error(inv, "NotSupported", "Operation is not supported");
}

/* ---- state changes from the adapter and the control interface ------------------- */

void
sim_device_set_paired(SimDevice *device, gboolean paired)
{
	if (device->paired == paired)
		return;
	device->paired = paired;
	device->bonded = paired; /* pens always bond */
	sim_device_emit(device, "Paired");
	sim_device_emit(device, "Bonded");
	if (paired) {
		sim_device_cancel_temporary(device);
		sim_gatt_link_up(device);
	} else {
		sim_device_schedule_temporary(device);
	}
	g_info("pen %s: %s", sim_pen_get_config(device->pen)->serial, paired ? "paired" : "unpaired");
	sim_daemon_pen_changed(device->daemon, device);
}

gboolean
sim_device_export(SimDevice *device, GError **error)
{
	SimIfaceSpec spec = {SIM_DEVICE_IFACE, sim_device_method, sim_device_get, sim_device_set, device};

	if (device->exported)
		return TRUE;
	if (!sim_bus_add_interfaces(device->daemon->bus, device->path, &spec, 1, error))
		return FALSE;
	device->exported = TRUE;
	/* a bonded device's GATT database is cached across restarts */
	if (device->bonded && device->ever_resolved)
		return sim_gatt_export(device, error);
	return TRUE;
}

void
sim_device_unexport(SimDevice *device)
{
	if (!device->exported)
		return;
	sim_device_drop_link(device, "removed");
	sim_device_cancel_temporary(device);
	sim_gatt_unexport(device);
	sim_bus_remove_interface(device->daemon->bus, device->path, NULL);
	device->exported = FALSE;
	device->rssi_valid = FALSE;
	device->trusted = FALSE;
	device->blocked = FALSE;
	g_clear_pointer(&device->alias, g_free);
	if (device->paired) {
		device->paired = device->bonded = FALSE;
		g_info("pen %s: bond removed", sim_pen_get_config(device->pen)->serial);
	}
	device->ever_resolved = FALSE;
	sim_daemon_pen_changed(device->daemon, device);
}

/* An advertising report: new devices appear, known ones get an RSSI. */
void
sim_device_advertise(SimDevice *device)
{
	g_autoptr(GError) error = NULL;
	gint16 jitter = (gint16)g_random_int_range(-3, 4);

	if (!device->present || device->connected)
		return;
	if (!sim_daemon_device_matches_filters(device->daemon, device))
		return;
	device->rssi = (gint16)(sim_pen_get_config(device->pen)->rssi + jitter);
	device->rssi_valid = TRUE;
	sim_device_cancel_temporary(device);
	if (!device->exported) {
		if (!sim_device_export(device, &error))
			g_warning("cannot export a device: %s", error->message);
		return;
	}
	sim_device_emit(device, "RSSI");
	sim_device_emit(device, "ManufacturerData");
}

void
sim_device_discovery_stopped(SimDevice *device)
{
	if (device->rssi_valid) {
		device->rssi_valid = FALSE;
		sim_device_emit(device, "RSSI");
	}
	sim_device_schedule_temporary(device);
}

void
sim_device_set_present(SimDevice *device, gboolean present)
{
	device->present = present;
	if (!present && device->connected)
		sim_device_drop_link(device, "supervision timeout");
	sim_daemon_pen_changed(device->daemon, device);
}

static gboolean
sim_device_att_timeout(gpointer user_data)
{
	SimDevice *device = user_data;

	device->att_timer_id = 0;
	sim_device_drop_link(device, "ATT timeout");
	return G_SOURCE_REMOVE;
}

/* A request the pen does not answer: bluetoothd gives up after the ATT
 * time-out and drops the link, failing every pending request. */
void
sim_device_request_pending(SimDevice *device, GDBusMethodInvocation *inv)
{
	g_ptr_array_add(device->pending, g_object_ref(inv));
	if (device->att_timer_id == 0)
		device->att_timer_id =
		    g_timeout_add(device->daemon->timing.att_timeout_ms, sim_device_att_timeout, device);
}

void
sim_device_set_responsive(SimDevice *device, gboolean responsive)
{
	device->responsive = responsive;
	sim_daemon_pen_changed(device->daemon, device);
}

void
sim_device_client_vanished(SimDevice *device, const char *sender)
{
	if (device->gatt_exported)
		sim_gatt_client_vanished(device, sender);
}

SimDevice *
sim_device_new(SimDaemon *daemon, const SimPenConfig *cfg, guint index)
{
	SimDevice *device = g_new0(SimDevice, 1);
	g_autofree char *addr = g_strdup(cfg->address);

	g_strdelimit(addr, ":", '_');
	device->daemon = daemon;
	device->index = index;
	device->path = g_strdup_printf("%s/dev_%s", SIM_ADAPTER_PATH, addr);
	device->present = TRUE;
	device->responsive = TRUE;
	device->paired = device->bonded = cfg->paired;
	device->ever_resolved = cfg->paired;
	device->pending = g_ptr_array_new_with_free_func(g_object_unref);
	device->gatt_attrs = g_ptr_array_new_with_free_func(g_free);
	for (guint c = 0; c < SIM_CHR_COUNT; c++)
		sim_chr_state_init(&device->chr[c]);
	device->pen = sim_pen_new(cfg, &sim_device_sink, device);
	return device;
}

void
sim_device_free(SimDevice *device)
{
	if (device == NULL)
		return;
	g_clear_handle_id(&device->connect_timer_id, g_source_remove);
	g_clear_handle_id(&device->att_timer_id, g_source_remove);
	sim_device_cancel_temporary(device);
	if (device->pair_cancellable != NULL)
		g_cancellable_cancel(device->pair_cancellable);
	g_clear_object(&device->pair_cancellable);
	g_clear_object(&device->pair_inv);
	g_clear_object(&device->connect_inv);
	sim_pen_free(device->pen);
	for (guint c = 0; c < SIM_CHR_COUNT; c++)
		sim_chr_state_clear(&device->chr[c]);
	g_ptr_array_unref(device->pending);
	g_ptr_array_unref(device->gatt_attrs);
	g_free(device->alias);
	g_free(device->path);
	g_free(device);
}
