/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Peripheral mode: one simulated pen served through the real bluetoothd (GattManager1,
 * LEAdvertisingManager1). */

#include "sim-peripheral.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim-control.h"

#define PER_ROOT	 "/org/needlegate/pensim"
#define PER_APP_PATH	 PER_ROOT "/app"
#define PER_AGENT_PATH	 PER_ROOT "/agent"
#define PER_ADV_PATH	 PER_ROOT "/advertisement"
#define PER_CALL_TIMEOUT 20000
#define PER_POLL_MS	 20u /* how often a "session N" checks its record count */
#define PER_N_SERVICES	 3u

/* The server side of the GATT API (BlueZ 5.66 doc/gatt-api.txt, "Local/Server"), the advertisement
 * (doc/advertising-api.txt) and the agent (doc/agent-api.txt): what bluetoothd calls on us. */
static const char per_xml[] =
    "<node>"
    " <interface name='org.freedesktop.DBus.ObjectManager'>"
    "  <method name='GetManagedObjects'><arg name='objects' type='a{oa{sa{sv}}}' direction='out'/></method>"
    " </interface>"
    " <interface name='org.bluez.GattService1'>"
    "  <property name='UUID' type='s' access='read'/>"
    "  <property name='Primary' type='b' access='read'/>"
    " </interface>"
    " <interface name='org.bluez.GattCharacteristic1'>"
    "  <method name='ReadValue'><arg name='options' type='a{sv}' direction='in'/>"
    "   <arg name='value' type='ay' direction='out'/></method>"
    "  <method name='WriteValue'><arg name='value' type='ay' direction='in'/>"
    "   <arg name='options' type='a{sv}' direction='in'/></method>"
    "  <method name='StartNotify'/>"
    "  <method name='StopNotify'/>"
    "  <method name='Confirm'/>"
    "  <property name='UUID' type='s' access='read'/>"
    "  <property name='Service' type='o' access='read'/>"
    "  <property name='Flags' type='as' access='read'/>"
    "  <property name='Notifying' type='b' access='read'/>"
    " </interface>"
    " <interface name='org.bluez.LEAdvertisement1'>"
    "  <method name='Release'/>"
    "  <property name='Type' type='s' access='read'/>"
    "  <property name='ServiceUUIDs' type='as' access='read'/>"
    "  <property name='ManufacturerData' type='a{qv}' access='read'/>"
    "  <property name='LocalName' type='s' access='read'/>"
    "  <property name='Discoverable' type='b' access='read'/>"
    " </interface>"
    " <interface name='org.bluez.Agent1'>"
    "  <method name='Release'/>"
    "  <method name='RequestPinCode'><arg name='device' type='o' direction='in'/>"
    "   <arg name='pincode' type='s' direction='out'/></method>"
    "  <method name='DisplayPinCode'><arg name='device' type='o' direction='in'/>"
    "   <arg name='pincode' type='s' direction='in'/></method>"
    "  <method name='RequestPasskey'><arg name='device' type='o' direction='in'/>"
    "   <arg name='passkey' type='u' direction='out'/></method>"
    "  <method name='DisplayPasskey'><arg name='device' type='o' direction='in'/>"
    "   <arg name='passkey' type='u' direction='in'/><arg name='entered' type='q' direction='in'/></method>"
    "  <method name='RequestConfirmation'><arg name='device' type='o' direction='in'/>"
    "   <arg name='passkey' type='u' direction='in'/></method>"
    "  <method name='RequestAuthorization'><arg name='device' type='o' direction='in'/></method>"
    "  <method name='AuthorizeService'><arg name='device' type='o' direction='in'/>"
    "   <arg name='uuid' type='s' direction='in'/></method>"
    "  <method name='Cancel'/>"
    " </interface>"
    "</node>";

typedef struct {
	const char *uuid;
	const char *name; /* for the "subscribed NAME" lines */
	guint service;
	const char *flags[3];
} PerChrDef;

static const char *const per_service_uuids[PER_N_SERVICES] = {
    NP_UUID_DEVICE_INFORMATION,
    NP_UUID_BATTERY_SERVICE,
    NP_UUID_SESSION_SERVICE,
};

/* The profile's security: Device Information and Battery are open, every characteristic of the
 * Needling Session Service needs an authenticated encrypted link (bluetoothd then answers an
 * unpaired central with ATT Insufficient Authentication and raises the security itself). */
static const PerChrDef per_chrs[] = {
    [SIM_CHR_MANUFACTURER] = {NP_UUID_MANUFACTURER_NAME, "manufacturer", 0, {"read"}},
    [SIM_CHR_MODEL] = {NP_UUID_MODEL_NUMBER, "model", 0, {"read"}},
    [SIM_CHR_SERIAL] = {NP_UUID_SERIAL_NUMBER, "serial", 0, {"read"}},
    [SIM_CHR_FIRMWARE] = {NP_UUID_FIRMWARE_REVISION, "firmware", 0, {"read"}},
    [SIM_CHR_BATTERY_LEVEL] = {NP_UUID_BATTERY_LEVEL, "battery", 1, {"read", "notify"}},
    [SIM_CHR_FEATURES] = {NP_UUID_PEN_FEATURES, "features", 2, {"encrypt-authenticated-read"}},
    [SIM_CHR_TELEMETRY] = {NP_UUID_TELEMETRY, "telemetry", 2, {"encrypt-authenticated-notify"}},
    [SIM_CHR_SESSION_EVENT] = {NP_UUID_SESSION_EVENT, "events", 2, {"encrypt-authenticated-indicate"}},
    [SIM_CHR_CONTROL_POINT] = {NP_UUID_CONTROL_POINT,
			       "control",
			       2,
			       {"encrypt-authenticated-write", "encrypt-authenticated-indicate"}},
    [SIM_CHR_PEN_STATUS] = {NP_UUID_PEN_STATUS,
			    "status",
			    2,
			    {"encrypt-authenticated-read", "encrypt-authenticated-notify"}},
};

/* The simulator's Service Changed characteristic is left out: bluetoothd serves its own. */
#define PER_N_CHRS G_N_ELEMENTS(per_chrs)

typedef struct {
	SimPeripheral *per;
	SimChr chr;
	char *path;
	gboolean notifying;
} PerChr;

struct _SimPeripheral {
	GDBusConnection *connection;
	GDBusNodeInfo *node;
	GMainLoop *loop;
	char *adapter_path;
	char *passkey_file;
	SimPen *pen;
	PerChr chrs[PER_N_CHRS];
	GArray *reg_ids;       /* guint, every registered object */
	GHashTable *connected; /* device paths with a link up */
	guint props_sub_id;
	guint added_sub_id;
	guint removed_sub_id;
	gboolean app_registered;
	gboolean adv_registered;
	gboolean agent_registered;
	gboolean failed;

	/* bluetoothd restarting: registered again once it is back (per_bluez_appeared) */
	guint bluez_watch_id;
	gboolean bluez_lost;
	guint resetup_id;
	guint resetup_tries;

	/* "session N": the session stops after N records */
	guint session_poll_id;
	guint64 session_base;
	guint session_reported;

	int control_fd;
	guint control_watch;
	GString *control_buf;
};

/* One line per thing that happened, on stdout: the scenario scripts wait on them. */
G_GNUC_PRINTF(1, 2)
static void
per_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static char *
per_service_path(guint index)
{
	return g_strdup_printf(PER_APP_PATH "/service%u", index);
}

/* ---- the pen's sink: notifications become PropertiesChanged of Value ------------------------ */

static gboolean
per_chr_can_subscribe(SimChr chr)
{
	return chr == SIM_CHR_BATTERY_LEVEL || chr == SIM_CHR_TELEMETRY || chr == SIM_CHR_SESSION_EVENT ||
	       chr == SIM_CHR_CONTROL_POINT || chr == SIM_CHR_PEN_STATUS;
}

static gboolean
per_can_notify(gpointer user_data, SimChr chr)
{
	SimPeripheral *per = user_data;

	/* Notifications with no link or no subscription are lost, as on a pen; the records are stored
	 * all the same. bluetoothd keeps a bonded central's subscriptions across a reconnection. */
	return chr < PER_N_CHRS && g_hash_table_size(per->connected) > 0 &&
	       (!per_chr_can_subscribe(chr) || per->chrs[chr].notifying);
}

static void
per_notify(gpointer user_data, SimChr chr, const guint8 *value, gsize len)
{
	SimPeripheral *per = user_data;
	GVariantBuilder changed;
	g_autoptr(GError) error = NULL;

	if (chr >= PER_N_CHRS || len == 0)
		return;
	g_variant_builder_init(&changed, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&changed, "{sv}", "Value",
			      g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, value, len, 1));
	/* bluetoothd sends the new Value to every central subscribed to it, as a notification or an
	 * indication by the characteristic's flags. */
	if (!g_dbus_connection_emit_signal(
		per->connection, NULL, per->chrs[chr].path, "org.freedesktop.DBus.Properties",
		"PropertiesChanged",
		g_variant_new("(sa{sv}as)", "org.bluez.GattCharacteristic1", &changed, NULL), &error))
		g_warning("notify %s: %s", per_chrs[chr].name, error->message);
}

static GVariant *
per_adv_mdata(SimPeripheral *per)
{
	guint8 data[3] = {sim_pen_get_config(per->pen)->model_code, sim_pen_get_state(per->pen),
			  sim_pen_get_battery(per->pen)};
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{qv}"));
	g_variant_builder_add(&b, "{qv}", (guint16)0xFFFF,
			      g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, sizeof(data), 1));
	return g_variant_builder_end(&b);
}

/* The advertisement says state and battery as they were when it was registered: refreshing it (a
 * PropertiesChanged of ManufacturerData) makes bluetoothd rewrite the advertising set, and that next to
 * a bonded central's reconnection went with more of the BlueZ 5.66 crashes seen on btvirt (issue 8). */
static void
per_state_changed(gpointer user_data)
{
}

/* ---- GATT application ------------------------------------------------------------------------ */

static GVariant *
per_chr_flags(SimChr chr)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
	for (guint i = 0; i < G_N_ELEMENTS(per_chrs[chr].flags) && per_chrs[chr].flags[i] != NULL; i++)
		g_variant_builder_add(&b, "s", per_chrs[chr].flags[i]);
	return g_variant_builder_end(&b);
}

static GVariant *
per_chr_property(PerChr *c, const char *name)
{
	if (g_str_equal(name, "UUID"))
		return g_variant_new_string(per_chrs[c->chr].uuid);
	if (g_str_equal(name, "Service")) {
		g_autofree char *service = per_service_path(per_chrs[c->chr].service);
		return g_variant_new_object_path(service);
	}
	if (g_str_equal(name, "Flags"))
		return per_chr_flags(c->chr);
	if (g_str_equal(name, "Notifying") && per_chr_can_subscribe(c->chr))
		return g_variant_new_boolean(c->notifying);
	return NULL;
}

static GVariant *
per_props_dict(GDBusInterfaceInfo *info, GVariant *(*get)(gpointer owner, const char *name), gpointer owner)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	for (guint i = 0; info->properties[i] != NULL; i++) {
		GVariant *value = get(owner, info->properties[i]->name);

		if (value != NULL)
			g_variant_builder_add(&b, "{sv}", info->properties[i]->name, value);
	}
	return g_variant_builder_end(&b);
}

static GVariant *
per_chr_get(gpointer owner, const char *name)
{
	return per_chr_property(owner, name);
}

static GVariant *
per_service_get(gpointer owner, const char *name)
{
	guint index = GPOINTER_TO_UINT(owner);

	if (g_str_equal(name, "UUID"))
		return g_variant_new_string(per_service_uuids[index]);
	if (g_str_equal(name, "Primary"))
		return g_variant_new_boolean(TRUE);
	return NULL;
}

static GVariant *
per_managed_objects(SimPeripheral *per)
{
	GDBusInterfaceInfo *service_info =
	    g_dbus_node_info_lookup_interface(per->node, "org.bluez.GattService1");
	GDBusInterfaceInfo *chr_info =
	    g_dbus_node_info_lookup_interface(per->node, "org.bluez.GattCharacteristic1");
	GVariantBuilder objects;

	g_variant_builder_init(&objects, G_VARIANT_TYPE("a{oa{sa{sv}}}"));
	for (guint i = 0; i < PER_N_SERVICES; i++) {
		g_autofree char *path = per_service_path(i);

		g_variant_builder_add(
		    &objects, "{o@a{sa{sv}}}", path,
		    g_variant_new_parsed("{'org.bluez.GattService1': %@a{sv}}",
					 per_props_dict(service_info, per_service_get, GUINT_TO_POINTER(i))));
	}
	for (guint i = 0; i < PER_N_CHRS; i++)
		g_variant_builder_add(
		    &objects, "{o@a{sa{sv}}}", per->chrs[i].path,
		    g_variant_new_parsed("{'org.bluez.GattCharacteristic1': %@a{sv}}",
					 per_props_dict(chr_info, per_chr_get, &per->chrs[i])));
	return g_variant_builder_end(&objects);
}

/* bluetoothd passes the link's ATT MTU with each request: the pen packs its records to it. */
static void
per_learn_mtu(PerChr *c, GVariant *options)
{
	guint16 mtu = 0;

	if (g_variant_lookup(options, "mtu", "q", &mtu) && mtu >= 23)
		sim_pen_set_mtu(c->per->pen, mtu);
}

static void
per_chr_read(PerChr *c, GDBusMethodInvocation *inv, GVariant *params)
{
	g_autoptr(GVariant) options = NULL;
	g_autoptr(GBytes) value = NULL;
	guint16 offset = 0;
	gsize len;
	const guint8 *data;

	g_variant_get(params, "(@a{sv})", &options);
	per_learn_mtu(c, options);
	value = sim_pen_read(c->per->pen, c->chr);
	if (value == NULL) {
		g_dbus_method_invocation_return_dbus_error(inv, "org.bluez.Error.NotPermitted",
							   "Read not permitted");
		return;
	}
	g_variant_lookup(options, "offset", "q", &offset);
	data = g_bytes_get_data(value, &len);
	if (offset > len) {
		g_dbus_method_invocation_return_dbus_error(inv, "org.bluez.Error.InvalidOffset",
							   "Invalid offset");
		return;
	}
	g_dbus_method_invocation_return_value(
	    inv, g_variant_new("(@ay)", g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data + offset,
								  len - offset, 1)));
}

static void
per_chr_write(PerChr *c, GDBusMethodInvocation *inv, GVariant *params)
{
	g_autoptr(GVariant) value = NULL;
	g_autoptr(GVariant) options = NULL;
	const guint8 *data;
	gsize len = 0;
	guint8 att;

	g_variant_get(params, "(@ay@a{sv})", &value, &options);
	per_learn_mtu(c, options);
	if (c->chr != SIM_CHR_CONTROL_POINT) {
		g_dbus_method_invocation_return_dbus_error(inv, "org.bluez.Error.NotPermitted",
							   "Write not permitted");
		return;
	}
	data = g_variant_get_fixed_array(value, &len, 1);
	att = sim_pen_control_write(c->per->pen, data, len);
	if (att == 0x0D) {
		g_dbus_method_invocation_return_dbus_error(inv, "org.bluez.Error.InvalidValueLength",
							   "Invalid Length");
		return;
	}
	if (att != 0) {
		g_dbus_method_invocation_return_dbus_error(inv, "org.bluez.Error.Failed", "Request failed");
		return;
	}
	per_say("control %02x", len > 0 ? data[0] : 0);
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void
per_chr_set_notifying(PerChr *c, gboolean on)
{
	GVariantBuilder changed;

	if (c->notifying == on)
		return;
	c->notifying = on;
	per_say("%s %s", on ? "subscribed" : "unsubscribed", per_chrs[c->chr].name);
	g_variant_builder_init(&changed, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_add(&changed, "{sv}", "Notifying", g_variant_new_boolean(on));
	g_dbus_connection_emit_signal(
	    c->per->connection, NULL, c->path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
	    g_variant_new("(sa{sv}as)", "org.bluez.GattCharacteristic1", &changed, NULL), NULL);
}

static void
per_chr_method(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
	       const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer user_data)
{
	PerChr *c = user_data;

	if (g_str_equal(method, "ReadValue")) {
		per_chr_read(c, inv, params);
	} else if (g_str_equal(method, "WriteValue")) {
		per_chr_write(c, inv, params);
	} else if (g_str_equal(method, "StartNotify") || g_str_equal(method, "StopNotify")) {
		if (!per_chr_can_subscribe(c->chr)) {
			g_dbus_method_invocation_return_dbus_error(inv, "org.bluez.Error.NotSupported",
								   "Operation is not supported");
			return;
		}
		per_chr_set_notifying(c, g_str_equal(method, "StartNotify"));
		g_dbus_method_invocation_return_value(inv, NULL);
	} else {
		g_dbus_method_invocation_return_value(inv, NULL); /* Confirm: the indication arrived */
	}
}

static GVariant *
per_chr_get_property(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
		     const char *property, GError **error, gpointer user_data)
{
	GVariant *value = per_chr_property(user_data, property);

	if (value == NULL)
		g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "No such property '%s'",
			    property);
	return value;
}

static GVariant *
per_service_get_property(GDBusConnection *connection, const char *sender, const char *path,
			 const char *interface, const char *property, GError **error, gpointer user_data)
{
	GVariant *value = per_service_get(user_data, property);

	if (value == NULL)
		g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "No such property '%s'",
			    property);
	return value;
}

static void
per_om_method(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
	      const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer user_data)
{
	g_dbus_method_invocation_return_value(
	    inv, g_variant_new("(@a{oa{sa{sv}}})", per_managed_objects(user_data)));
}

/* ---- advertisement ------------------------------------------------------------------------------ */

static GVariant *
per_adv_get_property(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
		     const char *property, GError **error, gpointer user_data)
{
	SimPeripheral *per = user_data;
	const char *uuids[] = {NP_UUID_SESSION_SERVICE, NULL};

	if (g_str_equal(property, "Type"))
		return g_variant_new_string("peripheral");
	if (g_str_equal(property, "ServiceUUIDs"))
		return g_variant_new_strv(uuids, -1);
	if (g_str_equal(property, "ManufacturerData"))
		return per_adv_mdata(per);
	/* Flags, the 128-bit UUID and the manufacturer data fill 28 of the 31 bytes: bluetoothd puts
	 * the name into the scan response. */
	if (g_str_equal(property, "LocalName"))
		return g_variant_new_string(sim_pen_get_name(per->pen));
	if (g_str_equal(property, "Discoverable"))
		return g_variant_new_boolean(TRUE);
	g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "No such property '%s'", property);
	return NULL;
}

static void
per_adv_method(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
	       const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer user_data)
{
	SimPeripheral *per = user_data;

	per->adv_registered = FALSE;
	per_say("error advertisement released by bluetoothd");
	g_dbus_method_invocation_return_value(inv, NULL);
}

/* ---- agent: DisplayOnly, it only shows the passkey ---------------------------------------------- */

static void
per_show_passkey(SimPeripheral *per, guint32 passkey)
{
	g_autofree char *text = g_strdup_printf("%06u\n", passkey);
	g_autoptr(GError) error = NULL;

	per_say("passkey %06u", passkey);
	/* g_file_set_contents() renames a temporary file: a reader never sees half a passkey. */
	if (per->passkey_file != NULL && !g_file_set_contents(per->passkey_file, text, -1, &error))
		per_say("error passkey file: %s", error->message);
}

static void
per_agent_method(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
		 const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer user_data)
{
	SimPeripheral *per = user_data;

	if (g_str_equal(method, "DisplayPasskey")) {
		const char *device = NULL;
		guint32 passkey = 0;
		guint16 entered = 0;

		g_variant_get(params, "(&ouq)", &device, &passkey, &entered);
		if (entered == 0)
			per_show_passkey(per, passkey);
		g_dbus_method_invocation_return_value(inv, NULL);
	} else if (g_str_equal(method, "RequestPinCode") || g_str_equal(method, "RequestPasskey") ||
		   g_str_equal(method, "RequestConfirmation") ||
		   g_str_equal(method, "RequestAuthorization")) {
		per_say("error unexpected %s: the pen is DisplayOnly", method);
		g_dbus_method_invocation_return_dbus_error(inv, "org.bluez.Error.Rejected",
							   "the pen is DisplayOnly");
	} else {
		if (g_str_equal(method, "Cancel"))
			per_say("pairing-cancelled");
		g_dbus_method_invocation_return_value(inv,
						      NULL); /* Release, DisplayPinCode, AuthorizeService */
	}
}

/* ---- the link: Device1.Connected of the adapter's devices ----------------------------------------- */

static void
per_set_connected(SimPeripheral *per, const char *path, gboolean connected)
{
	gboolean was = g_hash_table_size(per->connected) > 0;

	if (connected == g_hash_table_contains(per->connected, path))
		return;
	if (connected)
		g_hash_table_add(per->connected, g_strdup(path));
	else
		g_hash_table_remove(per->connected, path);
	per_say("%s %s", connected ? "connected" : "disconnected", strrchr(path, '/') + 1);
	if (was != (g_hash_table_size(per->connected) > 0))
		sim_pen_link_changed(per->pen, !was);
}

static gboolean
per_is_our_device(SimPeripheral *per, const char *path)
{
	gsize n = strlen(per->adapter_path);

	return strncmp(path, per->adapter_path, n) == 0 && path[n] == '/' &&
	       strchr(path + n + 1, '/') == NULL;
}

static void
per_device_changed(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
		   const char *signal, GVariant *params, gpointer user_data)
{
	SimPeripheral *per = user_data;
	g_autoptr(GVariant) changed = NULL;
	const char *iface = NULL;
	gboolean connected;

	if (!per_is_our_device(per, path))
		return;
	g_variant_get(params, "(&s@a{sv}@as)", &iface, &changed, NULL);
	if (g_str_equal(iface, "org.bluez.Device1") &&
	    g_variant_lookup(changed, "Connected", "b", &connected))
		per_set_connected(per, path, connected);
}

/* A central that connects first creates its device object: bluetoothd then announces it already
 * connected, with no PropertiesChanged. */
static void
per_device_added(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
		 const char *signal, GVariant *params, gpointer user_data)
{
	SimPeripheral *per = user_data;
	g_autoptr(GVariant) ifaces = NULL;
	g_autoptr(GVariant) props = NULL;
	const char *object = NULL;
	gboolean connected = FALSE;

	if (g_str_equal(signal, "InterfacesRemoved")) {
		g_variant_get(params, "(&o@as)", &object, NULL);
		if (per_is_our_device(per, object))
			per_set_connected(per, object, FALSE);
		return;
	}
	g_variant_get(params, "(&o@a{sa{sv}})", &object, &ifaces);
	props = g_variant_lookup_value(ifaces, "org.bluez.Device1", G_VARIANT_TYPE("a{sv}"));
	if (props != NULL && per_is_our_device(per, object) &&
	    g_variant_lookup(props, "Connected", "b", &connected))
		per_set_connected(per, object, connected);
}

static void
per_disconnect_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GError) error = NULL;

	ret = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	if (ret == NULL)
		per_say("error drop-link: %s", error->message);
}

/* The pen ends the link from its side; its session goes on and stores the records. */
static void
per_drop_link(SimPeripheral *per)
{
	GHashTableIter it;
	gpointer path;

	g_hash_table_iter_init(&it, per->connected);
	while (g_hash_table_iter_next(&it, &path, NULL))
		g_dbus_connection_call(per->connection, "org.bluez", path, "org.bluez.Device1", "Disconnect",
				       NULL, NULL, G_DBUS_CALL_FLAGS_NONE, PER_CALL_TIMEOUT, NULL,
				       per_disconnect_done, NULL);
	per_say("link-dropped");
}

/* ---- control FIFO ----------------------------------------------------------------------------------- */

/* Progress for the scenario scripts, and the end of the session the pen stopped by itself. */
static gboolean
per_session_poll(gpointer user_data)
{
	SimPeripheral *per = user_data;
	guint64 made = sim_pen_get_records_generated(per->pen) - per->session_base;

	while (per->session_reported + 50 <= made) {
		per->session_reported += 50;
		per_say("records %u", per->session_reported);
	}
	if (sim_pen_get_session_id(per->pen) != 0)
		return G_SOURCE_CONTINUE;
	per->session_poll_id = 0;
	per_say("session-ended %" G_GUINT64_FORMAT " %u", made, sim_pen_get_next_seq(per->pen) - 1);
	/* The cartridge is single use: it comes out after the session. */
	sim_pen_remove_cartridge(per->pen);
	return G_SOURCE_REMOVE;
}

static void
per_cmd_session(SimPeripheral *per, char **words)
{
	g_autoptr(GError) error = NULL;
	guint64 n = 0;
	int area = -1;

	if (words[1] == NULL || !g_ascii_string_to_unsigned(words[1], 10, 1, 1000000, &n, NULL)) {
		per_say("error session: N must be a number of records, 1 to 1000000");
		return;
	}
	if (words[2] != NULL && (area = sim_parse_area(words[2])) < 0) {
		per_say("error session: unknown area '%s'", words[2]);
		return;
	}
	if (area >= 0)
		sim_pen_set_area(per->pen, (guint8)area);
	per->session_base = sim_pen_get_records_generated(per->pen);
	sim_pen_set_session_limit(per->pen, n);
	if (!sim_pen_start_session(per->pen, &error)) {
		per_say("error session: %s", error->message);
		return;
	}
	per->session_reported = 0;
	per_say("session-started %u", sim_pen_get_session_id(per->pen));
	g_clear_handle_id(&per->session_poll_id, g_source_remove);
	per->session_poll_id = g_timeout_add(PER_POLL_MS, per_session_poll, per);
}

static void
per_command(SimPeripheral *per, const char *line)
{
	g_auto(GStrv) words = g_strsplit_set(g_strstrip((char *)line), " \t", -1);
	guint64 v = 0;

	if (words[0] == NULL || words[0][0] == '\0')
		return;
	if (g_str_equal(words[0], "session")) {
		per_cmd_session(per, words);
	} else if (g_str_equal(words[0], "stop")) {
		g_autoptr(GError) error = NULL;

		if (!sim_pen_stop_session(per->pen, NP_END_REASON_STOPPED, &error))
			per_say("error stop: %s", error->message);
	} else if (g_str_equal(words[0], "drop-link")) {
		per_drop_link(per);
	} else if (g_str_equal(words[0], "battery")) {
		if (words[1] == NULL || !g_ascii_string_to_unsigned(words[1], 10, 0, 100, &v, NULL))
			per_say("error battery: PERCENT must be 0 to 100");
		else
			sim_pen_set_battery(per->pen, (guint8)v);
	} else if (g_str_equal(words[0], "quit")) {
		g_main_loop_quit(per->loop);
	} else {
		per_say("error unknown command '%s' (session N [AREA], stop, drop-link, battery P, quit)",
			words[0]);
	}
}

static gboolean
per_control_readable(int fd, GIOCondition cond, gpointer user_data)
{
	SimPeripheral *per = user_data;
	char buf[512];
	ssize_t n = read(fd, buf, sizeof(buf));
	char *nl;

	if (n > 0)
		g_string_append_len(per->control_buf, buf, n);
	while ((nl = memchr(per->control_buf->str, '\n', per->control_buf->len)) != NULL) {
		g_autofree char *line = g_strndup(per->control_buf->str, (gsize)(nl - per->control_buf->str));

		g_string_erase(per->control_buf, 0, nl - per->control_buf->str + 1);
		per_command(per, line);
	}
	if (per->control_buf->len > 4096)
		g_string_truncate(per->control_buf, 0); /* no newline in 4 KiB: not our protocol */
	return G_SOURCE_CONTINUE;
}

/* Held open for writing too, so that a writer closing it never gives end-of-file. */
static gboolean
per_open_control(SimPeripheral *per, const char *fifo, GError **error)
{
	if (mkfifo(fifo, 0600) < 0 && errno != EEXIST) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "control FIFO %s: %s", fifo,
			    g_strerror(errno));
		return FALSE;
	}
	per->control_fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (per->control_fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "control FIFO %s: %s", fifo,
			    g_strerror(errno));
		return FALSE;
	}
	per->control_watch = g_unix_fd_add(per->control_fd, G_IO_IN, per_control_readable, per);
	return TRUE;
}

/* ---- registration --------------------------------------------------------------------------------- */

static gboolean
per_register(SimPeripheral *per, const char *path, const char *iface, const GDBusInterfaceVTable *vtable,
	     gpointer user_data, GError **error)
{
	guint id = g_dbus_connection_register_object(per->connection, path,
						     g_dbus_node_info_lookup_interface(per->node, iface),
						     vtable, user_data, NULL, error);

	if (id == 0) {
		g_prefix_error(error, "exporting %s on %s: ", iface, path);
		return FALSE;
	}
	g_array_append_val(per->reg_ids, id);
	return TRUE;
}

static const GDBusInterfaceVTable per_om_vtable = {.method_call = per_om_method};
static const GDBusInterfaceVTable per_service_vtable = {.get_property = per_service_get_property};
static const GDBusInterfaceVTable per_chr_vtable = {.method_call = per_chr_method,
						    .get_property = per_chr_get_property};
static const GDBusInterfaceVTable per_adv_vtable = {.method_call = per_adv_method,
						    .get_property = per_adv_get_property};
static const GDBusInterfaceVTable per_agent_vtable = {.method_call = per_agent_method};

static gboolean
per_export(SimPeripheral *per, GError **error)
{
	if (!per_register(per, PER_APP_PATH, "org.freedesktop.DBus.ObjectManager", &per_om_vtable, per,
			  error))
		return FALSE;
	for (guint i = 0; i < PER_N_SERVICES; i++) {
		g_autofree char *path = per_service_path(i);

		if (!per_register(per, path, "org.bluez.GattService1", &per_service_vtable,
				  GUINT_TO_POINTER(i), error))
			return FALSE;
	}
	for (guint i = 0; i < PER_N_CHRS; i++) {
		PerChr *c = &per->chrs[i];

		if (!per_register(per, c->path, "org.bluez.GattCharacteristic1", &per_chr_vtable, c, error))
			return FALSE;
	}
	return per_register(per, PER_ADV_PATH, "org.bluez.LEAdvertisement1", &per_adv_vtable, per, error) &&
	       per_register(per, PER_AGENT_PATH, "org.bluez.Agent1", &per_agent_vtable, per, error);
}

static gboolean
per_call_sync(SimPeripheral *per, const char *path, const char *iface, const char *method, GVariant *args,
	      GError **error)
{
	g_autoptr(GVariant) ret =
	    g_dbus_connection_call_sync(per->connection, "org.bluez", path, iface, method, args, NULL,
					G_DBUS_CALL_FLAGS_NONE, PER_CALL_TIMEOUT, NULL, error);

	if (ret == NULL && error != NULL) {
		g_dbus_error_strip_remote_error(*error);
		g_prefix_error(error, "%s.%s on %s: ", iface, method, path);
	}
	return ret != NULL;
}

static void
per_check_ready(SimPeripheral *per)
{
	if (per->app_registered && per->adv_registered)
		per_say("ready %s %s", sim_pen_get_name(per->pen), sim_pen_get_config(per->pen)->serial);
}

static void
per_registered(SimPeripheral *per, GAsyncResult *res, gboolean *flag, const char *what)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret = g_dbus_connection_call_finish(per->connection, res, &error);

	if (ret == NULL) {
		g_dbus_error_strip_remote_error(error);
		per_say("error registering the %s: %s", what, error->message);
		per->failed = TRUE;
		g_main_loop_quit(per->loop);
		return;
	}
	*flag = TRUE;
	per_check_ready(per);
}

static void
per_app_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
	SimPeripheral *per = user_data;

	per_registered(per, res, &per->app_registered, "GATT application");
}

static void
per_adv_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
	SimPeripheral *per = user_data;

	per_registered(per, res, &per->adv_registered, "advertisement");
}

/* bluetoothd calls back into us (GetManagedObjects, GetAll) while it handles these, so they are
 * asynchronous: a blocking call would stall our own main loop until it timed out. */
static void
per_register_with_bluez(SimPeripheral *per)
{
	g_dbus_connection_call(per->connection, "org.bluez", per->adapter_path, "org.bluez.GattManager1",
			       "RegisterApplication", g_variant_new("(oa{sv})", PER_APP_PATH, NULL), NULL,
			       G_DBUS_CALL_FLAGS_NONE, PER_CALL_TIMEOUT, NULL, per_app_done, per);
	g_dbus_connection_call(per->connection, "org.bluez", per->adapter_path,
			       "org.bluez.LEAdvertisingManager1", "RegisterAdvertisement",
			       g_variant_new("(oa{sv})", PER_ADV_PATH, NULL), NULL, G_DBUS_CALL_FLAGS_NONE,
			       PER_CALL_TIMEOUT, NULL, per_adv_done, per);
}

static gboolean
per_setup_bluez(SimPeripheral *per, GError **error)
{
	if (!per_call_sync(
		per, per->adapter_path, "org.freedesktop.DBus.Properties", "Set",
		g_variant_new("(ssv)", "org.bluez.Adapter1", "Powered", g_variant_new_boolean(TRUE)),
		error)) {
		g_prefix_error(error, "is bluetoothd running, with this adapter? ");
		return FALSE;
	}
	/* The GAP Device Name a central reads once connected is the adapter's alias. */
	if (!per_call_sync(per, per->adapter_path, "org.freedesktop.DBus.Properties", "Set",
			   g_variant_new("(ssv)", "org.bluez.Adapter1", "Alias",
					 g_variant_new_string(sim_pen_get_name(per->pen))),
			   error))
		return FALSE;
	if (!per_call_sync(per, "/org/bluez", "org.bluez.AgentManager1", "RegisterAgent",
			   g_variant_new("(os)", PER_AGENT_PATH, "DisplayOnly"), error))
		return FALSE;
	per->agent_registered = TRUE;
	/* Incoming pairing goes to the default agent, and one bluetoothd has one for all its adapters:
	 * start the pen after any central on the same bluetoothd has registered its own. */
	if (!per_call_sync(per, "/org/bluez", "org.bluez.AgentManager1", "RequestDefaultAgent",
			   g_variant_new("(o)", PER_AGENT_PATH), error))
		return FALSE;
	return TRUE;
}

static void
per_subscribe_bluez(SimPeripheral *per)
{
	per->props_sub_id = g_dbus_connection_signal_subscribe(
	    per->connection, "org.bluez", "org.freedesktop.DBus.Properties", "PropertiesChanged", NULL, NULL,
	    G_DBUS_SIGNAL_FLAGS_NONE, per_device_changed, per, NULL);
	per->added_sub_id = g_dbus_connection_signal_subscribe(
	    per->connection, "org.bluez", "org.freedesktop.DBus.ObjectManager", "InterfacesAdded", "/", NULL,
	    G_DBUS_SIGNAL_FLAGS_NONE, per_device_added, per, NULL);
	per->removed_sub_id = g_dbus_connection_signal_subscribe(
	    per->connection, "org.bluez", "org.freedesktop.DBus.ObjectManager", "InterfacesRemoved", "/",
	    NULL, G_DBUS_SIGNAL_FLAGS_NONE, per_device_added, per, NULL);
}

/* ---- bluetoothd restarting ------------------------------------------------------------------------ */

/* A real pen's stack is its own and never sees the hub's bluetoothd restart (systemctl restart
 * bluetooth); this one shares that bluetoothd, so it loses its link, its subscriptions and its
 * registrations with it, and registers again once bluetoothd is back. Its session goes on meanwhile
 * and stores the records, as a pen out of range does. */
static void
per_bluez_vanished(GDBusConnection *connection, const char *name, gpointer user_data)
{
	SimPeripheral *per = user_data;
	g_autofree gpointer *paths = NULL;
	guint n = 0;

	if (per->bluez_lost || !per->agent_registered)
		return;
	per->bluez_lost = TRUE;
	per->app_registered = per->adv_registered = per->agent_registered = FALSE;
	g_clear_handle_id(&per->resetup_id, g_source_remove);
	paths = g_hash_table_get_keys_as_array(per->connected, &n);
	for (guint i = 0; i < n; i++) {
		g_autofree char *path = g_strdup(paths[i]);

		per_set_connected(per, path, FALSE);
	}
	for (guint i = 0; i < PER_N_CHRS; i++)
		per->chrs[i].notifying = FALSE;
	per_say("bluetoothd-gone");
}

static gboolean
per_resetup(gpointer user_data)
{
	SimPeripheral *per = user_data;
	g_autoptr(GError) error = NULL;

	/* bluetoothd owns its name a moment before its adapters are there: try again until they are. */
	if (!per_setup_bluez(per, &error)) {
		if (++per->resetup_tries < 60)
			return G_SOURCE_CONTINUE;
		per_say("error bluetoothd is back, but registering again failed: %s", error->message);
		per->failed = TRUE;
		g_main_loop_quit(per->loop);
		per->resetup_id = 0;
		return G_SOURCE_REMOVE;
	}
	per_say("bluetoothd-back");
	per_register_with_bluez(per); /* "ready" again once both registrations are accepted */
	per->resetup_id = 0;
	return G_SOURCE_REMOVE;
}

static void
per_bluez_appeared(GDBusConnection *connection, const char *name, const char *owner, gpointer user_data)
{
	SimPeripheral *per = user_data;

	if (!per->bluez_lost)
		return;
	per->bluez_lost = FALSE;
	per->resetup_tries = 0;
	g_clear_handle_id(&per->resetup_id, g_source_remove);
	per->resetup_id = g_timeout_add(500, per_resetup, per);
}

SimPeripheral *
sim_peripheral_new(GDBusConnection *connection, const SimPenConfig *cfg, const SimPeripheralOptions *opt,
		   GMainLoop *quit_loop, GError **error)
{
	g_autoptr(SimPeripheral) per = g_new0(SimPeripheral, 1);
	const SimPenSink sink = {per_can_notify, per_notify, per_state_changed};

	per->connection = g_object_ref(connection);
	per->loop = g_main_loop_ref(quit_loop);
	per->control_fd = -1;
	per->control_buf = g_string_new(NULL);
	per->reg_ids = g_array_new(FALSE, FALSE, sizeof(guint));
	per->connected = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	per->passkey_file = g_strdup(opt->passkey_file);
	per->adapter_path = g_strconcat("/org/bluez/", opt->adapter, NULL);
	if (!g_variant_is_object_path(per->adapter_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "--adapter: '%s' is not an adapter name such as hci1", opt->adapter);
		return NULL;
	}
	per->node = g_dbus_node_info_new_for_xml(per_xml, error);
	if (per->node == NULL)
		return NULL;
	per->pen = sim_pen_new(cfg, &sink, per);
	for (guint i = 0; i < PER_N_CHRS; i++) {
		per->chrs[i].per = per;
		per->chrs[i].chr = (SimChr)i;
		per->chrs[i].path = g_strdup_printf(PER_APP_PATH "/service%u/char%u", per_chrs[i].service, i);
	}
	if (!per_export(per, error) || !per_setup_bluez(per, error))
		return NULL;
	per_subscribe_bluez(per);
	if (opt->control != NULL && !per_open_control(per, opt->control, error))
		return NULL;
	per_register_with_bluez(per);
	per->bluez_watch_id =
	    g_bus_watch_name_on_connection(connection, "org.bluez", G_BUS_NAME_WATCHER_FLAGS_NONE,
					   per_bluez_appeared, per_bluez_vanished, per, NULL);
	return g_steal_pointer(&per);
}

gboolean
sim_peripheral_failed(SimPeripheral *per)
{
	return per->failed;
}

static void
per_unregister_with_bluez(SimPeripheral *per)
{
	g_autoptr(GError) error = NULL;

	/* Best effort on the way out: bluetoothd also drops all of it when our connection closes. */
	if (per->adv_registered)
		per_call_sync(per, per->adapter_path, "org.bluez.LEAdvertisingManager1",
			      "UnregisterAdvertisement", g_variant_new("(o)", PER_ADV_PATH), NULL);
	if (per->app_registered)
		per_call_sync(per, per->adapter_path, "org.bluez.GattManager1", "UnregisterApplication",
			      g_variant_new("(o)", PER_APP_PATH), NULL);
	if (per->agent_registered)
		per_call_sync(per, "/org/bluez", "org.bluez.AgentManager1", "UnregisterAgent",
			      g_variant_new("(o)", PER_AGENT_PATH), &error);
}

void
sim_peripheral_free(SimPeripheral *per)
{
	if (per == NULL)
		return;
	if (per->bluez_watch_id != 0)
		g_bus_unwatch_name(per->bluez_watch_id);
	g_clear_handle_id(&per->resetup_id, g_source_remove);
	if (per->connection != NULL)
		per_unregister_with_bluez(per);
	g_clear_handle_id(&per->session_poll_id, g_source_remove);
	g_clear_handle_id(&per->control_watch, g_source_remove);
	if (per->control_fd >= 0)
		close(per->control_fd);
	if (per->props_sub_id != 0)
		g_dbus_connection_signal_unsubscribe(per->connection, per->props_sub_id);
	if (per->added_sub_id != 0)
		g_dbus_connection_signal_unsubscribe(per->connection, per->added_sub_id);
	if (per->removed_sub_id != 0)
		g_dbus_connection_signal_unsubscribe(per->connection, per->removed_sub_id);
	for (guint i = 0; per->reg_ids != NULL && i < per->reg_ids->len; i++)
		g_dbus_connection_unregister_object(per->connection, g_array_index(per->reg_ids, guint, i));
	for (guint i = 0; i < PER_N_CHRS; i++)
		g_free(per->chrs[i].path);
	g_clear_pointer(&per->pen, sim_pen_free);
	g_clear_pointer(&per->node, g_dbus_node_info_unref);
	g_clear_pointer(&per->reg_ids, g_array_unref);
	g_clear_pointer(&per->connected, g_hash_table_unref);
	if (per->control_buf != NULL)
		g_string_free(per->control_buf, TRUE);
	g_clear_pointer(&per->loop, g_main_loop_unref);
	g_clear_object(&per->connection);
	g_free(per->adapter_path);
	g_free(per->passkey_file);
	g_free(per);
}
