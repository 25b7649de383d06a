/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Exports needle-pensim's objects the way bluetoothd's gdbus layer does: ObjectManager, Properties, signals.
 */

#include "sim-bus.h"

#include <stdarg.h>
#include <stdlib.h>

#define SIM_RESOURCE_PREFIX "/org/needlegate/pensim/"

typedef struct {
	SimBus *bus;
	char *path;
	SimIfaceSpec spec;
	GDBusInterfaceInfo *info;
	guint reg_id;
} SimIface;

typedef struct {
	char *path;
	GPtrArray *ifaces; /* SimIface, in the order added */
} SimObject;

typedef struct {
	SimNameVanishedFunc func;
	gpointer user_data;
} SimVanishedHandler;

struct _SimBus {
	GDBusConnection *connection;
	GHashTable *infos;   /* interface name -> GDBusInterfaceInfo */
	GHashTable *objects; /* path -> SimObject */
	GPtrArray *node_infos;
	GArray *vanished;
	guint om_reg_id;
	guint owner_sub_id;
};

static const char *const sim_xml_files[] = {
    "bluez/org.freedesktop.DBus.ObjectManager.xml",
    "bluez/org.bluez.AgentManager1.xml",
    "bluez/org.bluez.Agent1.xml",
    "bluez/org.bluez.Adapter1.xml",
    "bluez/org.bluez.Device1.xml",
    "bluez/org.bluez.Battery1.xml",
    "bluez/org.bluez.GattService1.xml",
    "bluez/org.bluez.GattCharacteristic1.xml",
    "bluez/org.bluez.GattDescriptor1.xml",
    "org.needlegate.PenSim1.xml",
};

static void
sim_iface_free(SimIface *iface)
{
	if (iface->reg_id != 0)
		g_dbus_connection_unregister_object(iface->bus->connection, iface->reg_id);
	g_free(iface->path);
	g_free(iface);
}

static void
sim_object_free(SimObject *obj)
{
	g_ptr_array_unref(obj->ifaces);
	g_free(obj->path);
	g_free(obj);
}

static gboolean
sim_bus_load_infos(SimBus *bus, GError **error)
{
	for (guint i = 0; i < G_N_ELEMENTS(sim_xml_files); i++) {
		g_autofree char *rpath = g_strconcat(SIM_RESOURCE_PREFIX, sim_xml_files[i], NULL);
		g_autoptr(GBytes) bytes = g_resources_lookup_data(rpath, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
		GDBusNodeInfo *node;

		if (bytes == NULL)
			return FALSE;
		node = g_dbus_node_info_new_for_xml(g_bytes_get_data(bytes, NULL), error);
		if (node == NULL) {
			g_prefix_error(error, "%s: ", sim_xml_files[i]);
			return FALSE;
		}
		g_ptr_array_add(bus->node_infos, node);
		for (guint j = 0; node->interfaces != NULL && node->interfaces[j] != NULL; j++)
			g_hash_table_insert(bus->infos, node->interfaces[j]->name, node->interfaces[j]);
	}
	return TRUE;
}

GDBusInterfaceInfo *
sim_bus_lookup_info(SimBus *bus, const char *interface)
{
	return g_hash_table_lookup(bus->infos, interface);
}

GDBusConnection *
sim_bus_get_connection(SimBus *bus)
{
	return bus->connection;
}

void
sim_return_error(GDBusMethodInvocation *invocation, const char *name, const char *message)
{
	g_autofree char *full = g_strconcat(SIM_BLUEZ_ERROR, name, NULL);

	g_dbus_method_invocation_return_dbus_error(invocation, full, message);
}

/* ---- per-interface trampolines ------------------------------------------ */

static void
sim_iface_method_call(GDBusConnection *connection, const char *sender, const char *path,
		      const char *interface, const char *method, GVariant *params,
		      GDBusMethodInvocation *invocation, gpointer user_data)
{
	SimIface *iface = user_data;

	if (iface->spec.method == NULL) {
		g_dbus_method_invocation_return_dbus_error(
		    invocation, "org.freedesktop.DBus.Error.UnknownMethod", "Method not implemented");
		return;
	}
	iface->spec.method(iface->spec.owner, invocation, method, params);
}

static GVariant *
sim_iface_get_property(GDBusConnection *connection, const char *sender, const char *path,
		       const char *interface, const char *property, GError **error, gpointer user_data)
{
	SimIface *iface = user_data;
	GVariant *value = iface->spec.get != NULL ? iface->spec.get(iface->spec.owner, property) : NULL;

	/* bluetoothd answers a Get of an absent optional property like this. */
	if (value == NULL && error != NULL)
		g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "No such property '%s'",
			    property);
	return value;
}

static gboolean
sim_iface_set_property(GDBusConnection *connection, const char *sender, const char *path,
		       const char *interface, const char *property, GVariant *value, GError **error,
		       gpointer user_data)
{
	SimIface *iface = user_data;

	if (iface->spec.set == NULL) {
		g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_PROPERTY_READ_ONLY,
			    "Property '%s' is read-only", property);
		return FALSE;
	}
	return iface->spec.set(iface->spec.owner, property, value, error);
}

static const GDBusInterfaceVTable sim_iface_vtable = {
    .method_call = sim_iface_method_call,
    .get_property = sim_iface_get_property,
    .set_property = sim_iface_set_property,
};

/* bluetoothd's ObjectManager covers its own objects only; the control
 * objects (/org/needlegate/PenSim) are on the bus but outside it, so that a
 * BlueZ client sees what bluetoothd would show. */
static gboolean
sim_path_is_managed(const char *path)
{
	return g_str_has_prefix(path, "/org/bluez");
}

/* ---- ObjectManager --------------------------------------------------------- */

static GVariant *
sim_iface_collect_properties(SimIface *iface)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
	for (guint i = 0; iface->info->properties != NULL && iface->info->properties[i] != NULL; i++) {
		const char *name = iface->info->properties[i]->name;
		GVariant *value = iface->spec.get != NULL ? iface->spec.get(iface->spec.owner, name) : NULL;

		if (value != NULL)
			g_variant_builder_add(&b, "{sv}", name, value);
	}
	return g_variant_builder_end(&b);
}

/* bluetoothd's gdbus lists its two standard interfaces with every object. */
static void
sim_add_standard_ifaces(GVariantBuilder *b)
{
	g_variant_builder_add(b, "{s@a{sv}}", "org.freedesktop.DBus.Introspectable",
			      g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0));
	g_variant_builder_add(b, "{s@a{sv}}", "org.freedesktop.DBus.Properties",
			      g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0));
}

static GVariant *
sim_object_collect(SimObject *obj, guint from, gboolean standard)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{sa{sv}}"));
	if (standard)
		sim_add_standard_ifaces(&b);
	for (guint i = from; i < obj->ifaces->len; i++) {
		SimIface *iface = g_ptr_array_index(obj->ifaces, i);

		g_variant_builder_add(&b, "{s@a{sv}}", iface->spec.name, sim_iface_collect_properties(iface));
	}
	return g_variant_builder_end(&b);
}

static gint
sim_compare_paths(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

static void
sim_om_method_call(GDBusConnection *connection, const char *sender, const char *path, const char *interface,
		   const char *method, GVariant *params, GDBusMethodInvocation *invocation,
		   gpointer user_data)
{
	SimBus *bus = user_data;
	GVariantBuilder b;
	guint n = 0;
	g_autofree gpointer *paths = g_hash_table_get_keys_as_array(bus->objects, &n);

	qsort(paths, n, sizeof(gpointer), sim_compare_paths);
	g_variant_builder_init(&b, G_VARIANT_TYPE("a{oa{sa{sv}}}"));
	for (guint i = 0; i < n; i++) {
		SimObject *obj = g_hash_table_lookup(bus->objects, paths[i]);

		if (obj->ifaces->len > 0 && sim_path_is_managed(obj->path))
			g_variant_builder_add(&b, "{o@a{sa{sv}}}", obj->path,
					      sim_object_collect(obj, 0, TRUE));
	}
	g_dbus_method_invocation_return_value(invocation,
					      g_variant_new("(@a{oa{sa{sv}}})", g_variant_builder_end(&b)));
}

static const GDBusInterfaceVTable sim_om_vtable = {
    .method_call = sim_om_method_call,
};

static void
sim_emit(SimBus *bus, const char *path, const char *interface, const char *signal, GVariant *params)
{
	g_autoptr(GError) error = NULL;

	if (!g_dbus_connection_emit_signal(bus->connection, NULL, path, interface, signal, params, &error))
		g_warning("cannot emit %s.%s on %s: %s", interface, signal, path, error->message);
}

static void
sim_emit_om(SimBus *bus, const char *path, const char *signal, GVariant *params)
{
	if (!sim_path_is_managed(path)) {
		g_variant_unref(g_variant_ref_sink(params));
		return;
	}
	sim_emit(bus, "/", "org.freedesktop.DBus.ObjectManager", signal, params);
}

/* ---- name tracking ------------------------------------------------------- */

static void
sim_on_name_owner_changed(GDBusConnection *connection, const char *sender, const char *path,
			  const char *interface, const char *signal, GVariant *params, gpointer user_data)
{
	SimBus *bus = user_data;
	const char *name, *old_owner, *new_owner;

	g_variant_get(params, "(&s&s&s)", &name, &old_owner, &new_owner);
	if (name[0] != ':' || new_owner[0] != '\0')
		return;
	for (guint i = 0; i < bus->vanished->len; i++) {
		SimVanishedHandler *h = &g_array_index(bus->vanished, SimVanishedHandler, i);

		h->func(name, h->user_data);
	}
}

void
sim_bus_add_vanished_handler(SimBus *bus, SimNameVanishedFunc func, gpointer user_data)
{
	SimVanishedHandler h = {func, user_data};

	g_array_append_val(bus->vanished, h);
}

/* ---- public -------------------------------------------------------------------------- */

SimBus *
sim_bus_new(GDBusConnection *connection, GError **error)
{
	SimBus *bus = g_new0(SimBus, 1);

	bus->connection = g_object_ref(connection);
	bus->infos = g_hash_table_new(g_str_hash, g_str_equal);
	bus->objects = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)sim_object_free);
	bus->node_infos = g_ptr_array_new_with_free_func((GDestroyNotify)g_dbus_node_info_unref);
	bus->vanished = g_array_new(FALSE, FALSE, sizeof(SimVanishedHandler));
	if (!sim_bus_load_infos(bus, error)) {
		sim_bus_free(bus);
		return NULL;
	}
	bus->om_reg_id = g_dbus_connection_register_object(
	    connection, "/", sim_bus_lookup_info(bus, "org.freedesktop.DBus.ObjectManager"), &sim_om_vtable,
	    bus, NULL, error);
	if (bus->om_reg_id == 0) {
		sim_bus_free(bus);
		return NULL;
	}
	bus->owner_sub_id = g_dbus_connection_signal_subscribe(
	    connection, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
	    "/org/freedesktop/DBus", NULL, G_DBUS_SIGNAL_FLAGS_NONE, sim_on_name_owner_changed, bus, NULL);
	return bus;
}

void
sim_bus_free(SimBus *bus)
{
	if (bus == NULL)
		return;
	if (bus->owner_sub_id != 0)
		g_dbus_connection_signal_unsubscribe(bus->connection, bus->owner_sub_id);
	if (bus->om_reg_id != 0)
		g_dbus_connection_unregister_object(bus->connection, bus->om_reg_id);
	g_hash_table_unref(bus->objects);
	g_hash_table_unref(bus->infos);
	g_ptr_array_unref(bus->node_infos);
	g_array_unref(bus->vanished);
	g_object_unref(bus->connection);
	g_free(bus);
}

static SimIface *
sim_object_find(SimObject *obj, const char *interface, guint *index)
{
	for (guint i = 0; i < obj->ifaces->len; i++) {
		SimIface *iface = g_ptr_array_index(obj->ifaces, i);

		if (g_strcmp0(iface->spec.name, interface) == 0) {
			if (index != NULL)
				*index = i;
			return iface;
		}
	}
	return NULL;
}

static SimIface *
sim_bus_register(SimBus *bus, const char *path, const SimIfaceSpec *spec, GError **error)
{
	SimIface *iface = g_new0(SimIface, 1);

	iface->bus = bus;
	iface->path = g_strdup(path);
	iface->spec = *spec;
	iface->info = sim_bus_lookup_info(bus, spec->name);
	if (iface->info == NULL) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no introspection data for %s",
			    spec->name);
		sim_iface_free(iface);
		return NULL;
	}
	iface->reg_id = g_dbus_connection_register_object(bus->connection, path, iface->info,
							  &sim_iface_vtable, iface, NULL, error);
	if (iface->reg_id == 0) {
		g_prefix_error(error, "%s on %s: ", spec->name, path);
		sim_iface_free(iface);
		return NULL;
	}
	return iface;
}

gboolean
sim_bus_add_interfaces(SimBus *bus, const char *path, const SimIfaceSpec *specs, guint n_specs,
		       GError **error)
{
	SimObject *obj = g_hash_table_lookup(bus->objects, path);
	gboolean is_new = obj == NULL || obj->ifaces->len == 0;
	guint from;

	if (obj == NULL) {
		obj = g_new0(SimObject, 1);
		obj->path = g_strdup(path);
		obj->ifaces = g_ptr_array_new_with_free_func((GDestroyNotify)sim_iface_free);
		g_hash_table_insert(bus->objects, obj->path, obj);
	}
	from = obj->ifaces->len;
	for (guint i = 0; i < n_specs; i++) {
		SimIface *iface;

		if (sim_object_find(obj, specs[i].name, NULL) != NULL)
			continue;
		iface = sim_bus_register(bus, path, &specs[i], error);
		if (iface == NULL)
			return FALSE;
		g_ptr_array_add(obj->ifaces, iface);
	}
	if (obj->ifaces->len > from)
		sim_emit_om(bus, path, "InterfacesAdded",
			    g_variant_new("(o@a{sa{sv}})", path, sim_object_collect(obj, from, is_new)));
	return TRUE;
}

gboolean
sim_bus_has_interface(SimBus *bus, const char *path, const char *interface)
{
	SimObject *obj = g_hash_table_lookup(bus->objects, path);

	return obj != NULL && sim_object_find(obj, interface, NULL) != NULL;
}

static void
sim_bus_remove_object(SimBus *bus, SimObject *obj)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < obj->ifaces->len; i++)
		g_ptr_array_add(names, g_strdup(((SimIface *)g_ptr_array_index(obj->ifaces, i))->spec.name));
	g_ptr_array_add(names, g_strdup("org.freedesktop.DBus.Introspectable"));
	g_ptr_array_add(names, g_strdup("org.freedesktop.DBus.Properties"));
	g_ptr_array_add(names, NULL);
	sim_emit_om(bus, obj->path, "InterfacesRemoved",
		    g_variant_new("(o^as)", obj->path, (char **)names->pdata));
	g_hash_table_remove(bus->objects, obj->path);
}

void
sim_bus_remove_interface(SimBus *bus, const char *path, const char *interface)
{
	SimObject *obj = g_hash_table_lookup(bus->objects, path);
	const char *names[2] = {interface, NULL};
	guint index;

	if (obj == NULL)
		return;
	if (interface == NULL || (obj->ifaces->len == 1 && sim_object_find(obj, interface, NULL) != NULL)) {
		sim_bus_remove_object(bus, obj);
		return;
	}
	if (sim_object_find(obj, interface, &index) == NULL)
		return;
	g_ptr_array_remove_index(obj->ifaces, index);
	sim_emit_om(bus, path, "InterfacesRemoved", g_variant_new("(o^as)", path, names));
}

void
sim_bus_emit_changed(SimBus *bus, const char *path, const char *interface, const char *first, ...)
{
	SimObject *obj = g_hash_table_lookup(bus->objects, path);
	SimIface *iface = obj != NULL ? sim_object_find(obj, interface, NULL) : NULL;
	GVariantBuilder changed, invalidated;
	va_list ap;

	if (iface == NULL)
		return;
	g_variant_builder_init(&changed, G_VARIANT_TYPE("a{sv}"));
	g_variant_builder_init(&invalidated, G_VARIANT_TYPE("as"));
	va_start(ap, first);
	for (const char *name = first; name != NULL; name = va_arg(ap, const char *)) {
		GVariant *value = iface->spec.get(iface->spec.owner, name);

		if (value != NULL)
			g_variant_builder_add(&changed, "{sv}", name, value);
		else
			g_variant_builder_add(&invalidated, "s", name);
	}
	va_end(ap);
	sim_emit(bus, path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
		 g_variant_new("(sa{sv}as)", interface, &changed, &invalidated));
}
