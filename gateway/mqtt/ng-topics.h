/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Every MQTT topic the gateway uses, made in one place: <base_topic>/<hub_id>/bridge/… and pens/<id>/…. */

#pragma once

#include <glib.h>

#include "ng-config.h"

G_BEGIN_DECLS

typedef struct {
	char *prefix; /* <base_topic>/<hub_id> */
	char *state;  /* bridge/state: the last will's topic */
	char *info;
	char *devices;
	char *event;
	char *request_prefix;  /* bridge/request/ */
	char *request_filter;  /* bridge/request/# */
	char *response_prefix; /* bridge/response/ */
} NgTopics;

/* Per pen topic names, made once when the pen's serial is known: no allocation per record. */
typedef struct {
	char *telemetry;
	char *session;
	char *state;
	char *alert;
	char *event;
} NgPenTopics;

NgTopics *ng_topics_new(const NgConfig *config);
void ng_topics_free(NgTopics *topics);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgTopics, ng_topics_free)

void ng_pen_topics_init(NgPenTopics *pen, const NgTopics *topics, const char *serial);
void ng_pen_topics_clear(NgPenTopics *pen);

/* bridge/response/<command>, or @response_topic (MQTT 5) when one can publish to it. */
char *ng_topics_dup_response(const NgTopics *topics, const char *command, const char *response_topic);

G_END_DECLS
