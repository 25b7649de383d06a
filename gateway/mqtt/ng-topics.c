/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every MQTT topic the gateway uses, made in one place: <base_topic>/<hub_id>/bridge/… and pens/<id>/…. */

#include "ng-topics.h"

#include <string.h>

NgTopics *
ng_topics_new(const NgConfig *config)
{
	NgTopics *t = g_new0(NgTopics, 1);

	t->prefix = ng_config_dup_topic_prefix(config);
	t->state = g_strconcat(t->prefix, "/bridge/state", NULL);
	t->info = g_strconcat(t->prefix, "/bridge/info", NULL);
	t->devices = g_strconcat(t->prefix, "/bridge/devices", NULL);
	t->event = g_strconcat(t->prefix, "/bridge/event", NULL);
	t->request_prefix = g_strconcat(t->prefix, "/bridge/request/", NULL);
	t->request_filter = g_strconcat(t->request_prefix, "#", NULL);
	t->response_prefix = g_strconcat(t->prefix, "/bridge/response/", NULL);
	return t;
}

void
ng_topics_free(NgTopics *t)
{
	if (t == NULL)
		return;
	g_free(t->prefix);
	g_free(t->state);
	g_free(t->info);
	g_free(t->devices);
	g_free(t->event);
	g_free(t->request_prefix);
	g_free(t->request_filter);
	g_free(t->response_prefix);
	g_free(t);
}

void
ng_pen_topics_init(NgPenTopics *pen, const NgTopics *topics, const char *serial)
{
	pen->telemetry = g_strdup_printf("%s/pens/%s/telemetry", topics->prefix, serial);
	pen->session = g_strdup_printf("%s/pens/%s/session", topics->prefix, serial);
	pen->state = g_strdup_printf("%s/pens/%s/state", topics->prefix, serial);
	pen->alert = g_strdup_printf("%s/pens/%s/alert", topics->prefix, serial);
	pen->event = g_strdup_printf("%s/pens/%s/event", topics->prefix, serial);
}

void
ng_pen_topics_clear(NgPenTopics *pen)
{
	g_clear_pointer(&pen->telemetry, g_free);
	g_clear_pointer(&pen->session, g_free);
	g_clear_pointer(&pen->state, g_free);
	g_clear_pointer(&pen->alert, g_free);
	g_clear_pointer(&pen->event, g_free);
}

/* A response topic from the request (MQTT 5) is used only if one can publish to it. */
char *
ng_topics_dup_response(const NgTopics *topics, const char *command, const char *response_topic)
{
	if (response_topic != NULL && *response_topic != '\0' && strpbrk(response_topic, "+#") == NULL &&
	    strlen(response_topic) < 65536)
		return g_strdup(response_topic);
	return g_strconcat(topics->response_prefix, command, NULL);
}
