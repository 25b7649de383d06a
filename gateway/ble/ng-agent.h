/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's BlueZ pairing agent (org.bluez.Agent1, KeyboardOnly): hands passkey requests to pairing. */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NG_AGENT_PATH "/org/needlegate/Gateway1/agent"

typedef struct _NgAgent NgAgent;

/*
 * bluetoothd asks for the passkey of @device (an org.bluez device path). The handler takes
 * a reference on @invocation and answers later with ng_agent_return_passkey () or
 * ng_agent_return_rejected (). Called on the main loop, only for calls from org.bluez's owner.
 */
typedef void (*NgAgentPasskeyFunc)(const char *device, GDBusMethodInvocation *invocation, gpointer user_data);
/* bluetoothd gave up on the request in progress (Agent1.Cancel): drop the invocation held. */
typedef void (*NgAgentCancelFunc)(gpointer user_data);

/* Exports the agent at NG_AGENT_PATH and registers it with BlueZ ("KeyboardOnly") whenever
 * bluetoothd is on the bus, again after it restarts. It never asks to be the default agent:
 * BlueZ uses it for the pairings this daemon starts. */
NgAgent *ng_agent_new(GDBusConnection *bus, NgAgentPasskeyFunc passkey_func, NgAgentCancelFunc cancel_func,
		      gpointer user_data, GError **error);
void ng_agent_free(NgAgent *agent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgAgent, ng_agent_free)

/* Whether BlueZ accepted the registration (and did not Release it since). */
gboolean ng_agent_is_registered(NgAgent *agent);

void ng_agent_return_passkey(GDBusMethodInvocation *invocation, guint32 passkey);
/* org.bluez.Error.Rejected: pairing fails at once. */
void ng_agent_return_rejected(GDBusMethodInvocation *invocation, const char *why);

G_END_DECLS
