/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A small object registry for needle-pensim: exported objects, ObjectManager at "/", PropertiesChanged. */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define SIM_BLUEZ_ERROR "org.bluez.Error."

typedef struct _SimBus SimBus;

/* One interface's behaviour: method calls, property reads (NULL: the
 * property is absent, as bluetoothd's optional ones) and writes. */
typedef void (*SimMethodFunc)(gpointer owner, GDBusMethodInvocation *invocation, const char *method,
			      GVariant *params);
typedef GVariant *(*SimGetFunc)(gpointer owner, const char *property);
typedef gboolean (*SimSetFunc)(gpointer owner, const char *property, GVariant *value, GError **error);

typedef struct {
	const char *name;
	SimMethodFunc method;
	SimGetFunc get;
	SimSetFunc set;
	gpointer owner;
} SimIfaceSpec;

SimBus *sim_bus_new(GDBusConnection *connection, GError **error);
void sim_bus_free(SimBus *bus);
GDBusConnection *sim_bus_get_connection(SimBus *bus);
GDBusInterfaceInfo *sim_bus_lookup_info(SimBus *bus, const char *interface);

/* Registers the interfaces on path (creating the object if new) and emits
 * one InterfacesAdded for them. */
gboolean sim_bus_add_interfaces(SimBus *bus, const char *path, const SimIfaceSpec *specs, guint n_specs,
				GError **error);
/* Unregisters one interface (InterfacesRemoved with it) or, with NULL, the
 * whole object. Quietly does nothing for what is not exported. */
void sim_bus_remove_interface(SimBus *bus, const char *path, const char *interface);
gboolean sim_bus_has_interface(SimBus *bus, const char *path, const char *interface);

/* Emits PropertiesChanged for the NULL-terminated property names, with
 * their current values; a property whose getter returns NULL is sent as
 * invalidated. Nothing happens when the interface is not exported. */
void sim_bus_emit_changed(SimBus *bus, const char *path, const char *interface, const char *first,
			  ...) G_GNUC_NULL_TERMINATED;

/* Replies with org.bluez.Error.<name> and a message. */
void sim_return_error(GDBusMethodInvocation *invocation, const char *name, const char *message);

/* "tok" watch: calls back when a unique name leaves the bus. */
typedef void (*SimNameVanishedFunc)(const char *unique_name, gpointer user_data);
void sim_bus_add_vanished_handler(SimBus *bus, SimNameVanishedFunc func, gpointer user_data);

G_END_DECLS
