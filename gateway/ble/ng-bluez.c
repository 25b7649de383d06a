/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BlueZ as seen from the gateway: the adapter, the bonded pens on it, bluetoothd coming and going. */

/*
 * Why GDBusObjectManagerClient with plain GDBusProxy objects, and no gdbus-codegen proxies:
 *
 * - bluetoothd exports everything through org.freedesktop.DBus.ObjectManager at "/". The
 *   manager client does GetManagedObjects once, follows InterfacesAdded/Removed, and keeps
 *   every object's properties cached from PropertiesChanged, all with one match rule per
 *   signal for the whole tree instead of one per proxy: with ten pens of ten
 *   characteristics each, that is what keeps the bus quiet.
 * - It follows the name owner of org.bluez itself: when bluetoothd exits, every object is
 *   removed (we drop the pens), and when it comes back the objects are fetched again (we
 *   serve the pens again). That is exactly "notice bluetoothd leaving and coming back".
 * - We read a handful of properties and call a dozen methods; generated typed proxies would
 *   add a build step and an XML copy of BlueZ's API for little gain, and the calls that need
 *   file descriptors (AcquireNotify) go through g_dbus_connection_call_with_unix_fd_list ()
 *   anyway.
 */

#include "config.h"

#include "ng-bluez.h"

#include <string.h>

#define BLUEZ_NAME     "org.bluez"
#define ADAPTER_IFACE  "org.bluez.Adapter1"
#define DEVICE_IFACE   "org.bluez.Device1"
#define GATT_CHR_IFACE "org.bluez.GattCharacteristic1"

struct _NgBluez {
	NgPenEnv *env;
	GCancellable *cancellable;
	GDBusObjectManager *manager;
	char *adapter_path;
	char *adapter_name;
	char *adapter_address;
	GHashTable *pens; /* device object path -> NgPen */
	guint schedule_id;
	gboolean running;
	gboolean at_limit_logged;
	const NgBluezListener *listener;
	gpointer listener_data;
};

#define NOTIFY(self, cb, ...)                                                                                \
	G_STMT_START                                                                                         \
	{                                                                                                    \
		if ((self)->listener != NULL && (self)->listener->cb != NULL)                                \
			(self)->listener->cb((self), __VA_ARGS__);                                           \
	}                                                                                                    \
	G_STMT_END

/* ---- the connection scheduler ------------------------------------------------------------------ */

/* One Connect at a time per adapter (controllers handle one LE connection attempt at a time,
 * and a Connect that hangs is bounded by connect_timeout, after which the next pen gets its
 * turn: the oldest waiting goes first); at most max_connections pens connected. */
static gboolean
run_scheduler(gpointer user_data)
{
	NgBluez *self = user_data;
	GHashTableIter iter;
	NgPen *pen;
	NgPen *next = NULL;
	guint active = 0;

	self->schedule_id = 0;
	g_hash_table_iter_init(&iter, self->pens);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pen)) {
		NgPenState state = ng_pen_get_state(pen);

		if (state == NG_PEN_STATE_CONNECTING)
			return G_SOURCE_REMOVE;
		if (state >= NG_PEN_STATE_CONNECTING && state <= NG_PEN_STATE_READY)
			active++;
		else if (state == NG_PEN_STATE_WAITING &&
			 (next == NULL || ng_pen_get_waiting_since(pen) < ng_pen_get_waiting_since(next)))
			next = pen;
	}
	if (next == NULL)
		return G_SOURCE_REMOVE;
	if (active >= self->env->config->max_connections) {
		if (!self->at_limit_logged)
			g_message("%u pens connected: max_connections reached; others wait", active);
		self->at_limit_logged = TRUE;
		return G_SOURCE_REMOVE;
	}
	self->at_limit_logged = FALSE;
	ng_pen_connect(next);
	return G_SOURCE_REMOVE;
}

static void
schedule(NgBluez *self)
{
	if (self->schedule_id == 0)
		self->schedule_id = g_idle_add(run_scheduler, self);
}

static void
pen_state_cb(NgPen *pen, NgPenState old_state, gpointer user_data)
{
	schedule(user_data);
}

/* ---- devices ----------------------------------------------------------------------------------- */

static gboolean
proxy_bool(GDBusProxy *proxy, const char *property)
{
	g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(proxy, property);

	return v != NULL && g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN) && g_variant_get_boolean(v);
}

static char *
proxy_string(GDBusProxy *proxy, const char *property)
{
	g_autoptr(GVariant) v = g_dbus_proxy_get_cached_property(proxy, property);

	if (v == NULL || !(g_variant_is_of_type(v, G_VARIANT_TYPE_STRING) ||
			   g_variant_is_of_type(v, G_VARIANT_TYPE_OBJECT_PATH)))
		return NULL;
	return g_variant_dup_string(v, NULL);
}

static gboolean
offers_session_service(GDBusProxy *device)
{
	g_autoptr(GVariant) uuids = g_dbus_proxy_get_cached_property(device, "UUIDs");
	g_autofree const char **strv = NULL;

	if (uuids == NULL || !g_variant_is_of_type(uuids, G_VARIANT_TYPE_STRING_ARRAY))
		return FALSE;
	strv = g_variant_get_strv(uuids, NULL);
	for (guint i = 0; strv[i] != NULL; i++) {
		if (g_ascii_strcasecmp(strv[i], NP_UUID_SESSION_SERVICE) == 0)
			return TRUE;
	}
	return FALSE;
}

/* The bond is the authorisation: a pen is served only when bonded and offering the service. */
static gboolean
is_served(NgBluez *self, GDBusProxy *device)
{
	g_autofree char *adapter = proxy_string(device, "Adapter");

	return self->adapter_path != NULL && g_strcmp0(adapter, self->adapter_path) == 0 &&
	       proxy_bool(device, "Paired") && offers_session_service(device);
}

static void
remove_pen(NgBluez *self, const char *path, const char *why)
{
	NgPen *pen = g_hash_table_lookup(self->pens, path);

	if (pen == NULL)
		return;
	g_info("pen %s: no longer served (%s)",
	       ng_pen_get_serial(pen) != NULL ? ng_pen_get_serial(pen) : ng_pen_get_address(pen), why);
	ng_pen_detach(pen);
	NOTIFY(self, pen_removed, pen, why, self->listener_data);
	g_hash_table_remove(self->pens, path);
	schedule(self);
}

static void
evaluate_device(NgBluez *self, GDBusProxy *device, GVariant *changed)
{
	const char *path = g_dbus_proxy_get_object_path(device);
	NgPen *pen = g_hash_table_lookup(self->pens, path);
	gboolean served = is_served(self, device);

	if (served && pen == NULL) {
		g_autofree char *address = proxy_string(device, "Address");
		g_info("pen at %s: bonded and offering the session service; serving it", address);
		pen = ng_pen_new(self->env, self->manager, device, pen_state_cb, self);
		g_hash_table_insert(self->pens, g_strdup(path), pen);
		NOTIFY(self, pen_added, pen, changed != NULL, self->listener_data);
		return;
	}
	if (!served && pen != NULL) {
		remove_pen(self, path, "not bonded any more or no session service");
		return;
	}
	if (pen != NULL && changed != NULL)
		ng_pen_device_changed(pen, changed);
}

/* ---- the adapter ----------------------------------------------------------------------------------- */

static gboolean
adapter_matches(NgBluez *self, GDBusProxy *adapter)
{
	const char *want = self->env->config->adapter;
	const char *path = g_dbus_proxy_get_object_path(adapter);
	g_autofree char *address = NULL;

	if (want == NULL)
		return TRUE;
	if (strchr(want, ':') == NULL)
		return g_str_equal(strrchr(path, '/') + 1, want);
	address = proxy_string(adapter, "Address");
	return address != NULL && g_ascii_strcasecmp(address, want) == 0;
}

static void
evaluate_all_devices(NgBluez *self)
{
	g_autolist(GDBusObject) objects = g_dbus_object_manager_get_objects(self->manager);

	for (GList *l = objects; l != NULL; l = l->next) {
		g_autoptr(GDBusInterface) iface = g_dbus_object_get_interface(l->data, DEVICE_IFACE);
		if (iface != NULL)
			evaluate_device(self, G_DBUS_PROXY(iface), NULL);
	}
}

static void
adapter_added(NgBluez *self, GDBusProxy *adapter)
{
	const char *path = g_dbus_proxy_get_object_path(adapter);

	if (self->adapter_path != NULL || !adapter_matches(self, adapter))
		return;
	self->adapter_path = g_strdup(path);
	self->adapter_name = g_strdup(strrchr(path, '/') + 1);
	self->adapter_address = proxy_string(adapter, "Address");
	g_message("using Bluetooth adapter %s (%s)%s", self->adapter_name,
		  self->adapter_address != NULL ? self->adapter_address : "no address",
		  proxy_bool(adapter, "Powered") ? "" : ", powered off");
	evaluate_all_devices(self);
	NOTIFY(self, changed, self->listener_data);
}

static void
drop_adapter(NgBluez *self, const char *why)
{
	GHashTableIter iter;
	NgPen *pen;

	if (self->adapter_path == NULL)
		return;
	g_message("Bluetooth adapter %s is gone (%s): %u pens dropped", self->adapter_name, why,
		  g_hash_table_size(self->pens));
	g_hash_table_iter_init(&iter, self->pens);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pen)) {
		ng_pen_detach(pen);
		NOTIFY(self, pen_removed, pen, why, self->listener_data);
	}
	g_hash_table_remove_all(self->pens);
	g_clear_pointer(&self->adapter_path, g_free);
	g_clear_pointer(&self->adapter_name, g_free);
	g_clear_pointer(&self->adapter_address, g_free);
	NOTIFY(self, changed, self->listener_data);
}

/* ---- object manager signals ---------------------------------------------------------------------- */

static void
interface_added(NgBluez *self, GDBusObject *object, GDBusInterface *iface)
{
	const char *name = g_dbus_proxy_get_interface_name(G_DBUS_PROXY(iface));

	if (g_str_equal(name, ADAPTER_IFACE)) {
		adapter_added(self, G_DBUS_PROXY(iface));
	} else if (g_str_equal(name, DEVICE_IFACE)) {
		evaluate_device(self, G_DBUS_PROXY(iface), NULL);
	}
}

static void
interface_added_cb(GDBusObjectManager *manager, GDBusObject *object, GDBusInterface *iface,
		   gpointer user_data)
{
	interface_added(user_data, object, iface);
}

static void
object_added_cb(GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
	g_autolist(GDBusInterface) ifaces = g_dbus_object_get_interfaces(object);

	for (GList *l = ifaces; l != NULL; l = l->next)
		interface_added(user_data, object, l->data);
}

static void
interface_removed(NgBluez *self, const char *path, const char *name)
{
	if (g_str_equal(name, ADAPTER_IFACE) && g_strcmp0(path, self->adapter_path) == 0)
		drop_adapter(self, "removed");
	else if (g_str_equal(name, DEVICE_IFACE))
		remove_pen(self, path, "device removed");
}

static void
interface_removed_cb(GDBusObjectManager *manager, GDBusObject *object, GDBusInterface *iface,
		     gpointer user_data)
{
	interface_removed(user_data, g_dbus_object_get_object_path(object),
			  g_dbus_proxy_get_interface_name(G_DBUS_PROXY(iface)));
}

static void
object_removed_cb(GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
	g_autolist(GDBusInterface) ifaces = g_dbus_object_get_interfaces(object);

	for (GList *l = ifaces; l != NULL; l = l->next)
		interface_removed(user_data, g_dbus_object_get_object_path(object),
				  g_dbus_proxy_get_interface_name(G_DBUS_PROXY(l->data)));
}

/* The pen a characteristic belongs to: its path is the device's path plus /serviceXXXX/charYYYY. */
static NgPen *
pen_for_child(NgBluez *self, const char *path)
{
	const char *service = strstr(path, "/service");
	char device[256];
	gsize len;

	if (service == NULL)
		return NULL;
	len = (gsize)(service - path);
	if (len >= sizeof(device))
		return NULL;
	memcpy(device, path, len);
	device[len] = '\0';
	return g_hash_table_lookup(self->pens, device);
}

static void
properties_changed_cb(GDBusObjectManagerClient *manager, GDBusObjectProxy *object, GDBusProxy *iface,
		      GVariant *changed, GStrv invalidated, gpointer user_data)
{
	NgBluez *self = user_data;
	const char *name = g_dbus_proxy_get_interface_name(iface);
	const char *path = g_dbus_proxy_get_object_path(iface);

	/* Characteristics first: with StartNotify, every Telemetry notification comes this way. */
	if (g_str_equal(name, GATT_CHR_IFACE)) {
		NgPen *pen = pen_for_child(self, path);
		if (pen != NULL)
			ng_pen_characteristic_changed(pen, path, changed);
	} else if (g_str_equal(name, DEVICE_IFACE)) {
		evaluate_device(self, iface, changed);
	} else if (g_str_equal(name, ADAPTER_IFACE) && g_strcmp0(path, self->adapter_path) == 0) {
		gboolean powered;
		if (g_variant_lookup(changed, "Powered", "b", &powered))
			g_message("Bluetooth adapter %s powered %s", self->adapter_name,
				  powered ? "on" : "off");
	}
}

static void
name_owner_cb(GObject *object, GParamSpec *pspec, gpointer user_data)
{
	NgBluez *self = user_data;
	g_autofree char *owner =
	    g_dbus_object_manager_client_get_name_owner(G_DBUS_OBJECT_MANAGER_CLIENT(object));

	if (owner == NULL && self->running) {
		/* The objects go with it (object-removed); sessions and their sequence numbers stay. */
		g_message("bluetoothd left the bus; waiting for it to come back");
		self->running = FALSE;
		drop_adapter(self, "bluetoothd stopped");
		NOTIFY(self, changed, self->listener_data);
	} else if (owner != NULL && !self->running) {
		g_message("bluetoothd is on the bus (%s)", owner);
		self->running = TRUE;
		NOTIFY(self, changed, self->listener_data);
	}
}

static void
manager_ready_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	GDBusObjectManager *manager = g_dbus_object_manager_client_new_finish(res, &error);
	NgBluez *self = user_data;
	g_autolist(GDBusObject) objects = NULL;

	if (manager == NULL) {
		if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
			g_warning("cannot follow BlueZ: %s", error->message);
		return;
	}
	self->manager = manager;
	g_signal_connect(manager, "object-added", G_CALLBACK(object_added_cb), self);
	g_signal_connect(manager, "object-removed", G_CALLBACK(object_removed_cb), self);
	g_signal_connect(manager, "interface-added", G_CALLBACK(interface_added_cb), self);
	g_signal_connect(manager, "interface-removed", G_CALLBACK(interface_removed_cb), self);
	g_signal_connect(manager, "interface-proxy-properties-changed", G_CALLBACK(properties_changed_cb),
			 self);
	g_signal_connect(manager, "notify::name-owner", G_CALLBACK(name_owner_cb), self);
	name_owner_cb(G_OBJECT(manager), NULL, self);
	if (!self->running)
		g_message("bluetoothd is not on the bus; waiting for it");
	objects = g_dbus_object_manager_get_objects(manager);
	for (GList *l = objects; l != NULL; l = l->next)
		object_added_cb(manager, l->data, self);
}

NgBluez *
ng_bluez_new(NgPenEnv *env, const NgBluezListener *listener, gpointer user_data, GError **error)
{
	NgBluez *self = g_new0(NgBluez, 1);

	self->env = env;
	self->listener = listener;
	self->listener_data = user_data;
	self->cancellable = g_cancellable_new();
	self->pens = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)ng_pen_free);
	g_dbus_object_manager_client_new(env->bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
					 BLUEZ_NAME, "/", NULL, NULL, NULL, self->cancellable,
					 manager_ready_cb, self);
	return self;
}

void
ng_bluez_free(NgBluez *self)
{
	if (self == NULL)
		return;
	g_cancellable_cancel(self->cancellable);
	g_clear_object(&self->cancellable);
	if (self->schedule_id != 0)
		g_source_remove(self->schedule_id);
	g_hash_table_destroy(self->pens);
	if (self->manager != NULL) {
		g_signal_handlers_disconnect_by_data(self->manager, self);
		g_object_unref(self->manager);
	}
	g_free(self->adapter_path);
	g_free(self->adapter_name);
	g_free(self->adapter_address);
	g_free(self);
}

GHashTable *
ng_bluez_get_pens(NgBluez *self)
{
	return self->pens;
}

NgPen *
ng_bluez_find_pen(NgBluez *self, const char *serial)
{
	GHashTableIter iter;
	NgPen *pen;

	g_hash_table_iter_init(&iter, self->pens);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pen)) {
		if (g_strcmp0(ng_pen_get_serial(pen), serial) == 0)
			return pen;
	}
	return NULL;
}

const char *
ng_bluez_get_adapter_name(NgBluez *self)
{
	return self->adapter_name;
}

const char *
ng_bluez_get_adapter_address(NgBluez *self)
{
	return self->adapter_address;
}

gboolean
ng_bluez_is_running(NgBluez *self)
{
	return self->running;
}

guint
ng_bluez_count_connected(NgBluez *self)
{
	GHashTableIter iter;
	NgPen *pen;
	guint n = 0;

	g_hash_table_iter_init(&iter, self->pens);
	while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pen))
		n += ng_pen_is_connected(pen);
	return n;
}
