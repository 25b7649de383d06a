/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pen's GATT database as bluetoothd 5.66 shows it: GattService1, GattCharacteristic1, GattDescriptor1. */

#include "sim-daemon.h"

#include <errno.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SIM_PROP_READ		 0x02u
#define SIM_PROP_WRITE		 0x08u
#define SIM_PROP_NOTIFY		 0x10u
#define SIM_PROP_INDICATE	 0x20u
#define SIM_UUID_CCC		 "00002902-0000-1000-8000-00805f9b34fb"
#define SIM_UUID_GATT_SERVICE	 "00001801-0000-1000-8000-00805f9b34fb"
#define SIM_UUID_SERVICE_CHANGED "00002a05-0000-1000-8000-00805f9b34fb"

typedef struct {
	const char *uuid;
	guint16 handle;
} SimServiceDef;

typedef struct {
	guint service;	/* index into sim_services */
	guint16 handle; /* declaration; value at +1, CCC descriptor at +2 */
	guint8 props;
	gboolean secure; /* needs an authenticated, encrypted link */
} SimChrDef;

/* Handles laid out as a pen's firmware would have them. Generic Access
 * (0x0006-0x0009) is claimed by bluetoothd's gap plugin and not exported;
 * Generic Attribute is, like any other service. */
static const SimServiceDef sim_services[] = {
    {SIM_UUID_GATT_SERVICE, 0x0001},
    {NP_UUID_DEVICE_INFORMATION, 0x000a},
    {NP_UUID_BATTERY_SERVICE, 0x0013},
    {NP_UUID_SESSION_SERVICE, 0x0017},
};

static const SimChrDef sim_chrs[SIM_CHR_COUNT] = {
    [SIM_CHR_MANUFACTURER] = {1, 0x000b, SIM_PROP_READ, FALSE},
    [SIM_CHR_MODEL] = {1, 0x000d, SIM_PROP_READ, FALSE},
    [SIM_CHR_SERIAL] = {1, 0x000f, SIM_PROP_READ, FALSE},
    [SIM_CHR_FIRMWARE] = {1, 0x0011, SIM_PROP_READ, FALSE},
    [SIM_CHR_BATTERY_LEVEL] = {2, 0x0014, SIM_PROP_READ | SIM_PROP_NOTIFY, FALSE},
    [SIM_CHR_FEATURES] = {3, 0x0018, SIM_PROP_READ, TRUE},
    [SIM_CHR_TELEMETRY] = {3, 0x001a, SIM_PROP_NOTIFY, TRUE},
    [SIM_CHR_SESSION_EVENT] = {3, 0x001d, SIM_PROP_INDICATE, TRUE},
    [SIM_CHR_CONTROL_POINT] = {3, 0x0020, SIM_PROP_WRITE | SIM_PROP_INDICATE, TRUE},
    [SIM_CHR_PEN_STATUS] = {3, 0x0023, SIM_PROP_READ | SIM_PROP_NOTIFY, TRUE},
    [SIM_CHR_SERVICE_CHANGED] = {0, 0x0002, SIM_PROP_INDICATE, FALSE},
};

static const char *const sim_chr_uuids[SIM_CHR_COUNT] = {
    [SIM_CHR_MANUFACTURER] = NP_UUID_MANUFACTURER_NAME,
    [SIM_CHR_MODEL] = NP_UUID_MODEL_NUMBER,
    [SIM_CHR_SERIAL] = NP_UUID_SERIAL_NUMBER,
    [SIM_CHR_FIRMWARE] = NP_UUID_FIRMWARE_REVISION,
    [SIM_CHR_BATTERY_LEVEL] = NP_UUID_BATTERY_LEVEL,
    [SIM_CHR_FEATURES] = NP_UUID_PEN_FEATURES,
    [SIM_CHR_TELEMETRY] = NP_UUID_TELEMETRY,
    [SIM_CHR_SESSION_EVENT] = NP_UUID_SESSION_EVENT,
    [SIM_CHR_CONTROL_POINT] = NP_UUID_CONTROL_POINT,
    [SIM_CHR_PEN_STATUS] = NP_UUID_PEN_STATUS,
    [SIM_CHR_SERVICE_CHANGED] = SIM_UUID_SERVICE_CHANGED,
};

/* The GDBus owner of every GATT object: which device, which attribute. */
typedef struct {
	SimDevice *device;
	int service; /* >= 0 for a service object */
	int chr;     /* >= 0 for a characteristic or its descriptor */
	gboolean desc;
} SimAttr;

const char *
sim_gatt_chr_uuid(SimChr chr)
{
	return sim_chr_uuids[chr];
}

gboolean
sim_gatt_chr_is_secure(SimChr chr)
{
	return sim_chrs[chr].secure;
}

static gboolean
sim_chr_has_ccc(SimChr chr)
{
	return (sim_chrs[chr].props & (SIM_PROP_NOTIFY | SIM_PROP_INDICATE)) != 0;
}

void
sim_chr_state_init(SimChrState *state)
{
	memset(state, 0, sizeof(*state));
	state->clients = g_ptr_array_new_with_free_func(g_free);
	state->acquired_fd = -1;
}

static void
sim_chr_release_acquired(SimChrState *state)
{
	g_clear_handle_id(&state->acquired_watch, g_source_remove);
	if (state->acquired_fd >= 0)
		close(state->acquired_fd);
	state->acquired_fd = -1;
	g_clear_pointer(&state->acquired_sender, g_free);
}

void
sim_chr_state_clear(SimChrState *state)
{
	sim_chr_release_acquired(state);
	g_clear_pointer(&state->clients, g_ptr_array_unref);
	g_clear_pointer(&state->value, g_bytes_unref);
	g_clear_pointer(&state->ccc_value, g_bytes_unref);
}

/* ---- paths ---------------------------------------------------------------- */

static char *
sim_service_path(SimDevice *device, guint service)
{
	return g_strdup_printf("%s/service%04x", device->path, sim_services[service].handle);
}

static char *
sim_chr_path(SimDevice *device, SimChr chr)
{
	const SimChrDef *def = &sim_chrs[chr];

	return g_strdup_printf("%s/service%04x/char%04x", device->path, sim_services[def->service].handle,
			       def->handle);
}

static char *
sim_desc_path(SimDevice *device, SimChr chr)
{
	g_autofree char *chr_path = sim_chr_path(device, chr);

	return g_strdup_printf("%s/desc%04x", chr_path, sim_chrs[chr].handle + 2u);
}

static GVariant *
sim_bytes_variant(GBytes *bytes)
{
	gsize len = 0;
	gconstpointer data = bytes != NULL ? g_bytes_get_data(bytes, &len) : NULL;

	return g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data != NULL ? data : "", len, 1);
}

static void
sim_chr_emit(SimDevice *device, SimChr chr, const char *property)
{
	g_autofree char *path = sim_chr_path(device, chr);

	sim_bus_emit_changed(device->daemon->bus, path, "org.bluez.GattCharacteristic1", property, NULL);
}

/* ---- properties ------------------------------------------------------------- */

static GVariant *
sim_service_get(gpointer owner, const char *property)
{
	SimAttr *a = owner;

	if (g_str_equal(property, "UUID"))
		return g_variant_new_string(sim_services[a->service].uuid);
	if (g_str_equal(property, "Device"))
		return g_variant_new_object_path(a->device->path);
	if (g_str_equal(property, "Primary"))
		return g_variant_new_boolean(TRUE);
	if (g_str_equal(property, "Includes"))
		return g_variant_new_array(G_VARIANT_TYPE_OBJECT_PATH, NULL, 0);
	return NULL;
}

static GVariant *
sim_chr_flags(SimChr chr)
{
	GVariantBuilder b;
	guint8 props = sim_chrs[chr].props;

	g_variant_builder_init(&b, G_VARIANT_TYPE_STRING_ARRAY);
	if (props & SIM_PROP_READ)
		g_variant_builder_add(&b, "s", "read");
	if (props & SIM_PROP_WRITE)
		g_variant_builder_add(&b, "s", "write");
	if (props & SIM_PROP_NOTIFY)
		g_variant_builder_add(&b, "s", "notify");
	if (props & SIM_PROP_INDICATE)
		g_variant_builder_add(&b, "s", "indicate");
	return g_variant_builder_end(&b);
}

static GVariant *
sim_chr_get(gpointer owner, const char *property)
{
	SimAttr *a = owner;
	SimChrState *st = &a->device->chr[a->chr];
	guint8 props = sim_chrs[a->chr].props;

	if (g_str_equal(property, "UUID"))
		return g_variant_new_string(sim_chr_uuids[a->chr]);
	if (g_str_equal(property, "Service")) {
		g_autofree char *path = sim_service_path(a->device, sim_chrs[a->chr].service);
		return g_variant_new_object_path(path);
	}
	if (g_str_equal(property, "Value"))
		return st->value != NULL ? sim_bytes_variant(st->value) : NULL;
	if (g_str_equal(property, "Notifying"))
		return sim_chr_has_ccc(a->chr) ? g_variant_new_boolean(st->notifying) : NULL;
	if (g_str_equal(property, "Flags"))
		return sim_chr_flags(a->chr);
	if (g_str_equal(property, "NotifyAcquired"))
		return (props & SIM_PROP_NOTIFY) ? g_variant_new_boolean(st->acquired_fd >= 0) : NULL;
	if (g_str_equal(property, "MTU"))
		return g_variant_new_uint16(sim_pen_get_config(a->device->pen)->mtu);
	return NULL; /* WriteAcquired: no characteristic has write-without-response */
}

static GVariant *
sim_desc_get(gpointer owner, const char *property)
{
	SimAttr *a = owner;
	SimChrState *st = &a->device->chr[a->chr];

	if (g_str_equal(property, "UUID"))
		return g_variant_new_string(SIM_UUID_CCC);
	if (g_str_equal(property, "Characteristic")) {
		g_autofree char *path = sim_chr_path(a->device, a->chr);
		return g_variant_new_object_path(path);
	}
	if (g_str_equal(property, "Value"))
		return st->ccc_value != NULL ? sim_bytes_variant(st->ccc_value) : NULL;
	return NULL;
}

/* ---- notifications ------------------------------------------------------------ */

static gboolean
sim_chr_subscribed(SimChrState *st)
{
	return st->clients->len > 0 || st->acquired_fd >= 0;
}

gboolean
sim_gatt_can_notify(SimDevice *device, SimChr chr)
{
	SimChrState *st = &device->chr[chr];

	if (!device->connected || !device->responsive)
		return FALSE;
	if (sim_chrs[chr].secure && !device->paired)
		return FALSE;
	/* bluetoothd's battery plugin subscribes to Battery Level itself. */
	return chr == SIM_CHR_BATTERY_LEVEL || sim_chr_subscribed(st);
}

static void
sim_battery1_update(SimDevice *device)
{
	sim_bus_emit_changed(device->daemon->bus, device->path, "org.bluez.Battery1", "Percentage", NULL);
}

void
sim_gatt_notify(SimDevice *device, SimChr chr, const guint8 *value, gsize len)
{
	SimChrState *st = &device->chr[chr];

	if (chr == SIM_CHR_BATTERY_LEVEL)
		sim_battery1_update(device);
	if (st->acquired_fd >= 0) {
		if (send(st->acquired_fd, value, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			st->dropped++;
		return;
	}
	if (st->clients->len == 0)
		return;
	g_clear_pointer(&st->value, g_bytes_unref);
	st->value = g_bytes_new(value, len);
	sim_chr_emit(device, chr, "Value");
}

/* ---- method helpers ------------------------------------------------------------ */

/* bluetoothd's parse_options: a known key of the wrong type is an error,
 * unknown keys are ignored. Replies with the error itself. */
static gboolean
sim_parse_options(GDBusMethodInvocation *inv, GVariant *options, guint16 *offset, const char **type)
{
	g_autoptr(GVariant) off = g_variant_lookup_value(options, "offset", NULL);
	g_autoptr(GVariant) typ = g_variant_lookup_value(options, "type", NULL);

	if ((off != NULL && !g_variant_is_of_type(off, G_VARIANT_TYPE_UINT16)) ||
	    (typ != NULL && !g_variant_is_of_type(typ, G_VARIANT_TYPE_STRING))) {
		sim_return_error(inv, "InvalidArguments", "Invalid arguments in method call");
		return FALSE;
	}
	*offset = off != NULL ? g_variant_get_uint16(off) : 0;
	if (type != NULL)
		*type = typ != NULL ? g_variant_get_string(typ, NULL) : NULL;
	return TRUE;
}

static gboolean
sim_require_connected(SimAttr *a, GDBusMethodInvocation *inv)
{
	if (a->device->connected)
		return TRUE;
	sim_return_error(inv, "Failed", "Not connected");
	return FALSE;
}

/* Common gate of every ATT request: connected, answering, authenticated. */
static gboolean
sim_gatt_gate(SimAttr *a, GDBusMethodInvocation *inv)
{
	SimDevice *device = a->device;

	if (!device->connected) {
		sim_return_error(inv, "Failed", "Not connected");
		return FALSE;
	}
	if (!device->responsive) {
		sim_device_request_pending(device, inv);
		return FALSE;
	}
	if (!a->desc && sim_chrs[a->chr].secure && !device->paired) {
		/* The pen answers ATT Insufficient Authentication (0x05); bluetoothd 5.66 then raises the
		 * link's security itself with the default agent. On a hub that agent is no keyboard one
		 * (the gateway pairs through its own agent, never as the default), so that pairing fails:
		 * the request fails with the pen's last ATT error and the pen drops the link. */
		sim_return_error(inv, "Failed", "Operation failed with ATT error: 0x0e");
		sim_device_drop_link(device, "authentication failed on an unpaired access");
		return FALSE;
	}
	return TRUE;
}

void
sim_gatt_fail_pending(SimDevice *device)
{
	while (device->pending->len > 0) {
		g_autoptr(GDBusMethodInvocation) inv = g_ptr_array_steal_index(device->pending, 0);

		sim_return_error(inv, "Failed", "Operation failed");
	}
}

static void
sim_return_bytes(GDBusMethodInvocation *inv, GBytes *bytes, guint16 offset)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(bytes, &len);

	if (offset > len) {
		sim_return_error(inv, "InvalidArguments", "Invalid offset");
		return;
	}
	g_dbus_method_invocation_return_value(
	    inv, g_variant_new("(@ay)",
			       g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE,
							 len > offset ? data + offset : (const guint8 *)"",
							 len - offset, 1)));
}

/* ---- characteristic methods -------------------------------------------------------- */

static void
sim_chr_read(SimAttr *a, GDBusMethodInvocation *inv, GVariant *params)
{
	g_autoptr(GVariant) options = NULL;
	g_autoptr(GBytes) value = NULL;
	SimChrState *st = &a->device->chr[a->chr];

	guint16 offset;

	g_variant_get(params, "(@a{sv})", &options);
	if (!sim_require_connected(a, inv) || !sim_parse_options(inv, options, &offset, NULL) ||
	    !sim_gatt_gate(a, inv))
		return;
	if (!(sim_chrs[a->chr].props & SIM_PROP_READ)) {
		sim_return_error(inv, "NotPermitted", "Read not permitted");
		return;
	}
	value = sim_pen_read(a->device->pen, a->chr);
	sim_return_bytes(inv, value, offset);
	g_clear_pointer(&st->value, g_bytes_unref);
	st->value = g_bytes_ref(value);
	sim_chr_emit(a->device, a->chr, "Value");
}

static gboolean
sim_write_type_ok(SimChr chr, const char *type)
{
	if (type == NULL || g_str_equal(type, "request"))
		return (sim_chrs[chr].props & SIM_PROP_WRITE) != 0;
	/* "command" needs write-without-response, "reliable" extended props:
	 * no characteristic of the pen has either. */
	return FALSE;
}

static void
sim_chr_write(SimAttr *a, GDBusMethodInvocation *inv, GVariant *params)
{
	g_autoptr(GVariant) options = NULL;
	g_autoptr(GVariant) value = NULL;
	const char *type = NULL;
	gsize len = 0;
	const guint8 *data;
	guint8 att;

	guint16 offset;

	g_variant_get(params, "(@ay@a{sv})", &value, &options);
	if (!sim_require_connected(a, inv) || !sim_parse_options(inv, options, &offset, &type))
		return;
	if (!sim_write_type_ok(a->chr, type)) {
		sim_return_error(inv, "NotSupported", "Operation is not supported");
		return;
	}
	if (!sim_gatt_gate(a, inv))
		return;
	/* A pen refuses a Control Point request nobody can hear the answer to. */
	if (a->device->chr[SIM_CHR_CONTROL_POINT].clients->len == 0) {
		sim_return_error(inv, "Failed", "Operation failed with ATT error: 0xfd");
		return;
	}
	data = g_variant_get_fixed_array(value, &len, 1);
	att = sim_pen_control_write(a->device->pen, data, len);
	if (att == 0x0D)
		sim_return_error(inv, "InvalidArguments", "Invalid Length");
	else if (att != 0)
		sim_return_error(inv, "Failed", "Operation failed");
	else
		g_dbus_method_invocation_return_value(inv, NULL);
}

/* Notifying follows StartNotify sessions only: bluetoothd leaves it alone
 * for an AcquireNotify socket, which NotifyAcquired reports. */
static void
sim_chr_set_notifying(SimDevice *device, SimChr chr)
{
	SimChrState *st = &device->chr[chr];
	gboolean on = st->clients->len > 0;

	if (on == st->notifying)
		return;
	st->notifying = on;
	g_clear_pointer(&st->ccc_value, g_bytes_unref);
	sim_chr_emit(device, chr, "Notifying");
}

static gboolean
sim_chr_has_client(SimChrState *st, const char *sender, guint *index)
{
	return g_ptr_array_find_with_equal_func(st->clients, sender, g_str_equal, index);
}

static void
sim_chr_start_notify(SimAttr *a, GDBusMethodInvocation *inv)
{
	SimChrState *st = &a->device->chr[a->chr];
	const char *sender = g_dbus_method_invocation_get_sender(inv);

	if (st->acquired_fd >= 0) {
		sim_return_error(inv, "NotPermitted", "Notify acquired");
		return;
	}
	if (!sim_chr_has_ccc(a->chr)) {
		sim_return_error(inv, "NotSupported", "Operation is not supported");
		return;
	}
	if (sim_chr_has_client(st, sender, NULL)) {
		g_dbus_method_invocation_return_value(inv, NULL);
		return;
	}
	/* bluetoothd accepts a session on a disconnected device and subscribes
	 * when it connects; on a connected one the CCC write must succeed. */
	if (a->device->connected && !sim_gatt_gate(a, inv))
		return;
	g_ptr_array_add(st->clients, g_strdup(sender));
	if (a->device->connected)
		sim_chr_set_notifying(a->device, a->chr);
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void sim_chr_acquired_closed(SimDevice *device, SimChr chr);

static void
sim_chr_stop_notify(SimAttr *a, GDBusMethodInvocation *inv)
{
	SimChrState *st = &a->device->chr[a->chr];
	guint index;

	/* as bluetoothd: StopNotify ends an acquired socket, whoever asks */
	if (st->acquired_fd >= 0) {
		sim_chr_acquired_closed(a->device, a->chr);
		g_dbus_method_invocation_return_value(inv, NULL);
		return;
	}
	if (!sim_chr_has_client(st, g_dbus_method_invocation_get_sender(inv), &index)) {
		sim_return_error(inv, "Failed", "No notify session started");
		return;
	}
	g_ptr_array_remove_index(st->clients, index);
	sim_chr_set_notifying(a->device, a->chr);
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void
sim_chr_acquired_closed(SimDevice *device, SimChr chr)
{
	sim_chr_release_acquired(&device->chr[chr]);
	sim_chr_emit(device, chr, "NotifyAcquired");
	sim_chr_set_notifying(device, chr);
}

typedef struct {
	SimDevice *device;
	SimChr chr;
} SimAcquireWatch;

/* The client closed its end: the subscription ends, as in bluetoothd. */
static gboolean
sim_chr_acquired_hup(gint fd, GIOCondition cond, gpointer user_data)
{
	SimAcquireWatch *w = user_data;

	w->device->chr[w->chr].acquired_watch = 0;
	sim_chr_acquired_closed(w->device, w->chr);
	return G_SOURCE_REMOVE;
}

static gboolean
sim_chr_acquire_check(SimAttr *a, GDBusMethodInvocation *inv)
{
	SimChrState *st = &a->device->chr[a->chr];

	if (!a->device->connected) {
		sim_return_error(inv, "Failed", "Not connected");
		return FALSE;
	}
	if (st->acquired_fd >= 0) {
		sim_return_error(inv, "NotPermitted", "Notify acquired");
		return FALSE;
	}
	if (st->clients->len > 0) {
		sim_return_error(inv, "InProgress", "In Progress");
		return FALSE;
	}
	if (!(sim_chrs[a->chr].props & SIM_PROP_NOTIFY)) {
		sim_return_error(inv, "NotSupported", "Operation is not supported");
		return FALSE;
	}
	return sim_gatt_gate(a, inv);
}

static void
sim_chr_acquire_notify(SimAttr *a, GDBusMethodInvocation *inv)
{
	SimChrState *st = &a->device->chr[a->chr];
	g_autoptr(GUnixFDList) fds = NULL;
	g_autoptr(GError) error = NULL;
	SimAcquireWatch *w;
	int pair[2];
	int idx;

	if (!sim_chr_acquire_check(a, inv))
		return;
	if (socketpair(AF_LOCAL, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) {
		sim_return_error(inv, "Failed", g_strerror(errno));
		return;
	}
	fds = g_unix_fd_list_new();
	idx = g_unix_fd_list_append(fds, pair[1], &error);
	close(pair[1]);
	if (idx < 0) {
		close(pair[0]);
		sim_return_error(inv, "Failed", error->message);
		return;
	}
	st->acquired_fd = pair[0];
	st->acquired_sender = g_strdup(g_dbus_method_invocation_get_sender(inv));
	w = g_new0(SimAcquireWatch, 1);
	w->device = a->device;
	w->chr = a->chr;
	st->acquired_watch = g_unix_fd_add_full(G_PRIORITY_DEFAULT, pair[0], G_IO_HUP | G_IO_ERR,
						sim_chr_acquired_hup, w, g_free);
	g_dbus_method_invocation_return_value_with_unix_fd_list(
	    inv, g_variant_new("(hq)", idx, sim_pen_get_config(a->device->pen)->mtu), fds);
	sim_chr_emit(a->device, a->chr, "NotifyAcquired");
	sim_chr_set_notifying(a->device, a->chr);
}

static void
sim_chr_method(gpointer owner, GDBusMethodInvocation *inv, const char *method, GVariant *params)
{
	SimAttr *a = owner;

	if (g_str_equal(method, "ReadValue"))
		sim_chr_read(a, inv, params);
	else if (g_str_equal(method, "WriteValue"))
		sim_chr_write(a, inv, params);
	else if (g_str_equal(method, "StartNotify"))
		sim_chr_start_notify(a, inv);
	else if (g_str_equal(method, "StopNotify"))
		sim_chr_stop_notify(a, inv);
	else if (g_str_equal(method, "AcquireNotify"))
		sim_chr_acquire_notify(a, inv);
	else /* AcquireWrite: no characteristic has write-without-response */
		sim_return_error(inv, "NotSupported", "Operation is not supported");
}

/* ---- descriptor methods --------------------------------------------------------- */

static void
sim_desc_method(gpointer owner, GDBusMethodInvocation *inv, const char *method, GVariant *params)
{
	SimAttr *a = owner;
	SimChrState *st = &a->device->chr[a->chr];
	g_autofree char *path = NULL;
	g_autoptr(GVariant) options =
	    g_variant_get_child_value(params, g_str_equal(method, "WriteValue") ? 1 : 0);
	guint8 ccc[2] = {0, 0};
	guint16 offset;

	if (!sim_require_connected(a, inv) || !sim_parse_options(inv, options, &offset, NULL))
		return;
	/* CCC descriptors are written by StartNotify/StopNotify only */
	if (g_str_equal(method, "WriteValue")) {
		sim_return_error(inv, "NotPermitted", "Write not permitted");
		return;
	}
	if (!sim_gatt_gate(a, inv))
		return;
	if (sim_chr_subscribed(st))
		ccc[0] = (sim_chrs[a->chr].props & SIM_PROP_NOTIFY) ? 0x01 : 0x02;
	g_clear_pointer(&st->ccc_value, g_bytes_unref);
	st->ccc_value = g_bytes_new(ccc, sizeof(ccc));
	sim_return_bytes(inv, st->ccc_value, offset);
	path = sim_desc_path(a->device, a->chr);
	sim_bus_emit_changed(a->device->daemon->bus, path, "org.bluez.GattDescriptor1", "Value", NULL);
}

/* ---- export ----------------------------------------------------------------------- */

static SimAttr *
sim_attr_new(SimDevice *device, int service, int chr, gboolean desc)
{
	SimAttr *a = g_new0(SimAttr, 1);

	a->device = device;
	a->service = service;
	a->chr = chr;
	a->desc = desc;
	return a;
}

static gboolean
sim_gatt_export_chr(SimDevice *device, SimChr chr, GPtrArray *keep, GError **error)
{
	g_autofree char *path = sim_chr_path(device, chr);
	SimAttr *a = sim_attr_new(device, -1, (int)chr, FALSE);
	SimIfaceSpec spec = {"org.bluez.GattCharacteristic1", sim_chr_method, sim_chr_get, NULL, a};

	g_ptr_array_add(keep, a);
	if (!sim_bus_add_interfaces(device->daemon->bus, path, &spec, 1, error))
		return FALSE;
	if (sim_chr_has_ccc(chr)) {
		g_autofree char *dpath = sim_desc_path(device, chr);
		SimAttr *d = sim_attr_new(device, -1, (int)chr, TRUE);
		SimIfaceSpec dspec = {"org.bluez.GattDescriptor1", sim_desc_method, sim_desc_get, NULL, d};

		g_ptr_array_add(keep, d);
		if (!sim_bus_add_interfaces(device->daemon->bus, dpath, &dspec, 1, error))
			return FALSE;
	}
	return TRUE;
}

gboolean
sim_gatt_export(SimDevice *device, GError **error)
{
	GPtrArray *keep;

	if (device->gatt_exported)
		return TRUE;
	keep = device->gatt_attrs;
	device->gatt_exported = TRUE;
	for (guint s = 0; s < G_N_ELEMENTS(sim_services); s++) {
		g_autofree char *path = sim_service_path(device, s);
		SimAttr *a = sim_attr_new(device, (int)s, -1, FALSE);
		SimIfaceSpec spec = {"org.bluez.GattService1", NULL, sim_service_get, NULL, a};

		g_ptr_array_add(keep, a);
		if (!sim_bus_add_interfaces(device->daemon->bus, path, &spec, 1, error))
			return FALSE;
		for (guint c = 0; c < SIM_CHR_COUNT; c++) {
			if (sim_chrs[c].service == s && !sim_gatt_export_chr(device, (SimChr)c, keep, error))
				return FALSE;
		}
	}
	return TRUE;
}

/* bluetoothd removes descriptors, then characteristics, then services. */
void
sim_gatt_unexport(SimDevice *device)
{
	SimBus *bus = device->daemon->bus;

	if (!device->gatt_exported)
		return;
	for (guint s = 0; s < G_N_ELEMENTS(sim_services); s++) {
		g_autofree char *spath = sim_service_path(device, s);

		for (guint c = 0; c < SIM_CHR_COUNT; c++) {
			g_autofree char *cpath = NULL;
			g_autofree char *dpath = NULL;

			if (sim_chrs[c].service != s)
				continue;
			cpath = sim_chr_path(device, (SimChr)c);
			dpath = sim_desc_path(device, (SimChr)c);
			sim_bus_remove_interface(bus, dpath, NULL);
			sim_bus_remove_interface(bus, cpath, NULL);
			sim_chr_state_clear(&device->chr[c]);
			sim_chr_state_init(&device->chr[c]);
		}
		sim_bus_remove_interface(bus, spath, NULL);
	}
	g_ptr_array_set_size(device->gatt_attrs, 0);
	device->gatt_exported = FALSE;
}

/* On disconnect the acquired sockets close; StartNotify sessions stay and
 * resume on reconnection, as in bluetoothd. */
void
sim_gatt_link_down(SimDevice *device)
{
	sim_gatt_fail_pending(device);
	for (guint c = 0; c < SIM_CHR_COUNT; c++) {
		if (device->chr[c].acquired_fd >= 0 && device->gatt_exported)
			sim_chr_acquired_closed(device, (SimChr)c);
		else
			sim_chr_release_acquired(&device->chr[c]);
	}
}

void
sim_gatt_client_vanished(SimDevice *device, const char *sender)
{
	for (guint c = 0; c < SIM_CHR_COUNT; c++) {
		SimChrState *st = &device->chr[c];
		guint index;

		if (sim_chr_has_client(st, sender, &index)) {
			g_ptr_array_remove_index(st->clients, index);
			sim_chr_set_notifying(device, (SimChr)c);
		}
		if (g_strcmp0(st->acquired_sender, sender) == 0)
			sim_chr_acquired_closed(device, (SimChr)c);
	}
}

/* After a (re)connection, sessions started while disconnected take effect. */
void
sim_gatt_link_up(SimDevice *device)
{
	for (guint c = 0; c < SIM_CHR_COUNT; c++) {
		if (sim_chrs[c].secure && !device->paired)
			continue;
		sim_chr_set_notifying(device, (SimChr)c);
	}
}
