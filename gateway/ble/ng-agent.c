/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's BlueZ pairing agent (org.bluez.Agent1, KeyboardOnly): hands passkey requests to pairing. */

/*
 * A pen is DisplayOnly: it shows a passkey and the hub must type it. With a KeyboardOnly
 * agent BlueZ asks RequestPasskey; every other request (PIN codes, confirmations,
 * authorisations) is a method we refuse, so that nothing pairs without the passkey the
 * technician read from the pen. Only bluetoothd may call us: the D-Bus policy says so, and
 * we check the sender against org.bluez's owner as well.
 */

#include "config.h"

#include "ng-agent.h"

#define BLUEZ_NAME	    "org.bluez"
#define AGENT_MANAGER_PATH  "/org/bluez"
#define AGENT_MANAGER_IFACE "org.bluez.AgentManager1"
#define CALL_TIMEOUT_MS	    10000

static const char agent_xml[] = "<node>"
				"  <interface name='org.bluez.Agent1'>"
				"    <method name='Release'/>"
				"    <method name='RequestPinCode'>"
				"      <arg name='device' type='o' direction='in'/>"
				"      <arg name='pincode' type='s' direction='out'/>"
				"    </method>"
				"    <method name='DisplayPinCode'>"
				"      <arg name='device' type='o' direction='in'/>"
				"      <arg name='pincode' type='s' direction='in'/>"
				"    </method>"
				"    <method name='RequestPasskey'>"
				"      <arg name='device' type='o' direction='in'/>"
				"      <arg name='passkey' type='u' direction='out'/>"
				"    </method>"
				"    <method name='DisplayPasskey'>"
				"      <arg name='device' type='o' direction='in'/>"
				"      <arg name='passkey' type='u' direction='in'/>"
				"      <arg name='entered' type='q' direction='in'/>"
				"    </method>"
				"    <method name='RequestConfirmation'>"
				"      <arg name='device' type='o' direction='in'/>"
				"      <arg name='passkey' type='u' direction='in'/>"
				"    </method>"
				"    <method name='RequestAuthorization'>"
				"      <arg name='device' type='o' direction='in'/>"
				"    </method>"
				"    <method name='AuthorizeService'>"
				"      <arg name='device' type='o' direction='in'/>"
				"      <arg name='uuid' type='s' direction='in'/>"
				"    </method>"
				"    <method name='Cancel'/>"
				"  </interface>"
				"</node>";

struct _NgAgent {
	GDBusConnection *bus;
	NgAgentPasskeyFunc passkey_func;
	NgAgentCancelFunc cancel_func;
	gpointer user_data;
	guint registration_id;
	guint watch_id;
	char *bluez_owner;
	gboolean registered;
	GCancellable *cancellable;
};

void
ng_agent_return_passkey(GDBusMethodInvocation *invocation, guint32 passkey)
{
	g_dbus_method_invocation_return_value(invocation, g_variant_new("(u)", passkey));
}

void
ng_agent_return_rejected(GDBusMethodInvocation *invocation, const char *why)
{
	g_dbus_method_invocation_return_dbus_error(invocation, "org.bluez.Error.Rejected", why);
}

static void
agent_method_call(GDBusConnection *bus, const char *sender, const char *path, const char *iface,
		  const char *method, GVariant *params, GDBusMethodInvocation *invocation, gpointer user_data)
{
	NgAgent *agent = user_data;

	if (agent->bluez_owner == NULL || g_strcmp0(sender, agent->bluez_owner) != 0) {
		g_warning("pairing agent: refused %s from %s, which is not bluetoothd", method, sender);
		g_dbus_method_invocation_return_dbus_error(invocation, "org.bluez.Error.Rejected",
							   "only bluetoothd may call the pairing agent");
		return;
	}
	if (g_str_equal(method, "RequestPasskey")) {
		const char *device = NULL;
		g_variant_get(params, "(&o)", &device);
		g_info("pairing agent: %s asks for its passkey", device);
		agent->passkey_func(device, invocation, agent->user_data);
		return;
	}
	if (g_str_equal(method, "Cancel")) {
		g_info("pairing agent: bluetoothd cancelled the request");
		agent->cancel_func(agent->user_data);
	} else if (g_str_equal(method, "Release")) {
		g_message("pairing agent: released by bluetoothd");
		agent->registered = FALSE;
	} else if (g_str_equal(method, "DisplayPasskey") || g_str_equal(method, "DisplayPinCode")) {
		/* Informational for a display; a keyboard agent has nothing to show. */
	} else {
		g_message("pairing agent: refused %s (pens pair by passkey entry only)", method);
		ng_agent_return_rejected(invocation, "needlegate pairs pens by passkey entry only");
		return;
	}
	g_dbus_method_invocation_return_value(invocation, NULL);
}

static void
register_cb(GObject *source, GAsyncResult *res, gpointer user_data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
	NgAgent *agent;

	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return;
	agent = user_data;
	if (reply == NULL) {
		g_autofree char *remote = g_dbus_error_get_remote_error(error);
		/* AlreadyExists: bluetoothd still knows us from before (a reconnection of ours). */
		if (g_strcmp0(remote, "org.bluez.Error.AlreadyExists") != 0) {
			g_warning("pairing agent: BlueZ refused the registration: %s", error->message);
			return;
		}
	}
	agent->registered = TRUE;
	g_info("pairing agent registered with BlueZ (KeyboardOnly)");
}

static void
bluez_appeared_cb(GDBusConnection *bus, const char *name, const char *owner, gpointer user_data)
{
	NgAgent *agent = user_data;

	g_free(agent->bluez_owner);
	agent->bluez_owner = g_strdup(owner);
	agent->registered = FALSE;
	g_dbus_connection_call(bus, BLUEZ_NAME, AGENT_MANAGER_PATH, AGENT_MANAGER_IFACE, "RegisterAgent",
			       g_variant_new("(os)", NG_AGENT_PATH, "KeyboardOnly"), NULL,
			       G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, agent->cancellable,
			       register_cb, agent);
}

static void
bluez_vanished_cb(GDBusConnection *bus, const char *name, gpointer user_data)
{
	NgAgent *agent = user_data;

	g_clear_pointer(&agent->bluez_owner, g_free);
	agent->registered = FALSE;
}

NgAgent *
ng_agent_new(GDBusConnection *bus, NgAgentPasskeyFunc passkey_func, NgAgentCancelFunc cancel_func,
	     gpointer user_data, GError **error)
{
	static const GDBusInterfaceVTable vtable = {agent_method_call, NULL, NULL, {0}};
	g_autoptr(GDBusNodeInfo) node = g_dbus_node_info_new_for_xml(agent_xml, error);
	g_autoptr(NgAgent) agent = g_new0(NgAgent, 1);

	g_return_val_if_fail(passkey_func != NULL && cancel_func != NULL, NULL);
	if (node == NULL)
		return NULL;
	agent->bus = g_object_ref(bus);
	agent->passkey_func = passkey_func;
	agent->cancel_func = cancel_func;
	agent->user_data = user_data;
	agent->cancellable = g_cancellable_new();
	agent->registration_id = g_dbus_connection_register_object(bus, NG_AGENT_PATH, node->interfaces[0],
								   &vtable, agent, NULL, error);
	if (agent->registration_id == 0) {
		g_prefix_error(error, "pairing agent: ");
		return NULL;
	}
	agent->watch_id = g_bus_watch_name_on_connection(bus, BLUEZ_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
							 bluez_appeared_cb, bluez_vanished_cb, agent, NULL);
	return g_steal_pointer(&agent);
}

void
ng_agent_free(NgAgent *agent)
{
	if (agent == NULL)
		return;
	g_cancellable_cancel(agent->cancellable);
	g_clear_object(&agent->cancellable);
	if (agent->watch_id != 0)
		g_bus_unwatch_name(agent->watch_id);
	/* bluetoothd forgets an agent whose connection closes; say it anyway if we stay connected. */
	if (agent->registered)
		g_dbus_connection_call(agent->bus, BLUEZ_NAME, AGENT_MANAGER_PATH, AGENT_MANAGER_IFACE,
				       "UnregisterAgent", g_variant_new("(o)", NG_AGENT_PATH), NULL,
				       G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, NULL, NULL);
	if (agent->registration_id != 0)
		g_dbus_connection_unregister_object(agent->bus, agent->registration_id);
	g_free(agent->bluez_owner);
	g_clear_object(&agent->bus);
	g_free(agent);
}

gboolean
ng_agent_is_registered(NgAgent *agent)
{
	return agent->registered;
}
