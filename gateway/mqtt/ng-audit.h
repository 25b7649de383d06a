/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit trail: who paired, removed or assigned a plan to which pen, and when; logged and on bridge/event.
 */

#pragma once

#include <glib.h>

#include "ng-outbox.h"

G_BEGIN_DECLS

/* Who asked: a D-Bus caller (its uid) or an MQTT request. */
typedef struct {
	const char *via; /* "dbus" or "mqtt" */
	gint64 uid;	 /* the D-Bus caller's uid; -1 for MQTT */
} NgActor;

#define NG_ACTOR_MQTT ((NgActor){"mqtt", -1})

typedef struct _NgAudit NgAudit;

/* Publishes on <prefix>/bridge/event; @outbox may be NULL (only logged) and must outlive the audit. */
NgAudit *ng_audit_new(NgOutbox *outbox, const char *prefix);
void ng_audit_free(NgAudit *audit);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgAudit, ng_audit_free)

/*
 * One change, logged (g_message) and published on bridge/event as
 * {"event":"audit","action":…,"pen":…,"address":…,"by":{"via":"dbus","uid":0},"t":…,"detail":…}.
 * Actions: "pairing_window_opened", "pairing_window_closed", "paired", "pairing_failed",
 * "removed", "plan_assigned", "plan_cleared", "session_stopped". @pen, @address and @detail
 * may be NULL (left out).
 */
void ng_audit_record(NgAudit *audit, const NgActor *who, const char *action, const char *pen,
		     const char *address, const char *detail);

/* "uid 1000" or "mqtt", for log lines. */
char *ng_actor_to_string(const NgActor *who);

G_END_DECLS
