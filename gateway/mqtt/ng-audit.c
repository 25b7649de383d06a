/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit trail: who paired, removed or assigned a plan to which pen, and when; logged and on bridge/event.
 */

#include "config.h"

#include "ng-audit.h"

#include "ng-json.h"
#include "ng-payload.h"

struct _NgAudit {
	NgOutbox *outbox;
	char *topic;
};

NgAudit *
ng_audit_new(NgOutbox *outbox, const char *prefix)
{
	NgAudit *audit = g_new0(NgAudit, 1);

	audit->outbox = outbox;
	audit->topic = g_strdup_printf("%s/bridge/event", prefix);
	return audit;
}

void
ng_audit_free(NgAudit *audit)
{
	if (audit == NULL)
		return;
	g_free(audit->topic);
	g_free(audit);
}

char *
ng_actor_to_string(const NgActor *who)
{
	if (who->uid >= 0)
		return g_strdup_printf("uid %" G_GINT64_FORMAT, who->uid);
	return g_strdup(who->via);
}

static void
append_field(GString *out, const char *key, const char *value)
{
	if (value == NULL)
		return;
	g_string_append_printf(out, ",\"%s\":", key);
	ng_json_append_string(out, value);
}

void
ng_audit_record(NgAudit *audit, const NgActor *who, const char *action, const char *pen, const char *address,
		const char *detail)
{
	g_autoptr(GString) out = g_string_new("{\"event\":\"audit\",\"action\":");
	g_autoptr(GError) error = NULL;
	g_autofree char *by = ng_actor_to_string(who);

	g_message("audit: %s%s%s%s%s by %s%s%s", action, pen != NULL ? " pen " : "", pen != NULL ? pen : "",
		  address != NULL ? " at " : "", address != NULL ? address : "", by,
		  detail != NULL ? ": " : "", detail != NULL ? detail : "");
	ng_json_append_string(out, action);
	append_field(out, "pen", pen);
	append_field(out, "address", address);
	g_string_append(out, ",\"by\":{\"via\":");
	ng_json_append_string(out, who->via);
	if (who->uid >= 0)
		g_string_append_printf(out, ",\"uid\":%" G_GINT64_FORMAT, who->uid);
	g_string_append(out, "},\"t\":");
	ng_json_append_time(out, g_get_real_time() / 1000);
	append_field(out, "detail", detail);
	g_string_append_c(out, '}');
	if (audit->outbox != NULL && !ng_outbox_push(audit->outbox, NG_OUTBOX_KIND_EVENT, audit->topic,
						     out->str, out->len, 1, FALSE, &error))
		g_warning("audit: cannot queue the event: %s", error->message);
}
