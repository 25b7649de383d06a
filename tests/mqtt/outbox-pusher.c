/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test helper: pushes numbered messages through store, outbox and MQTT until it is killed.
 *
 * Usage: outbox-pusher DB_PATH MQTT_URL TOPIC
 * Payloads are 1, 2, 3, ...; after each commit it prints "committed N": every message up to N
 * is durable (or was acknowledged already), so a SIGKILL must not lose any of them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "ng-mqtt.h"

typedef struct {
	NgOutbox *outbox;
	const char *topic;
	guint64 counter;
	guint64 mark; /* counter at the last pre-commit */
} Pusher;

static void
pusher_pre_commit_cb(NgStore *store, gpointer user_data)
{
	Pusher *p = user_data;

	p->mark = p->counter;
}

static void
pusher_committed_cb(NgStore *store, gboolean committed, gpointer user_data)
{
	Pusher *p = user_data;

	if (committed) {
		printf("committed %" G_GUINT64_FORMAT "\n", p->mark);
		fflush(stdout);
	}
}

static gboolean
pusher_tick_cb(gpointer user_data)
{
	Pusher *p = user_data;

	for (int i = 0; i < 20; i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *payload = g_strdup_printf("%" G_GUINT64_FORMAT, ++p->counter);
		if (!ng_outbox_push(p->outbox, NG_OUTBOX_KIND_TELEMETRY, p->topic, payload, strlen(payload),
				    1, FALSE, &error))
			g_error("%s", error->message);
	}
	return G_SOURCE_CONTINUE;
}

static gboolean
pusher_timeout_cb(gpointer user_data)
{
	fprintf(stderr, "outbox-pusher: not killed within 60 s, exiting\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(NgStore) store = NULL;
	g_autoptr(NgOutbox) outbox = NULL;
	g_autoptr(NgMqtt) mqtt = NULL;
	g_autofree char *client_id = g_strdup_printf("pusher-%d", (int)getpid());
	NgMqttConfig config = {0};
	Pusher p = {0};

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 1;
	if (argc != 4) {
		fprintf(stderr, "usage: %s DB_PATH MQTT_URL TOPIC\n", argv[0]);
		return 2;
	}
	store = ng_store_open(argv[1], &error);
	if (store == NULL)
		g_error("%s", error->message);
	outbox = ng_outbox_new(store, 10000000, &error);
	if (outbox == NULL)
		g_error("%s", error->message);
	config.url = argv[2];
	config.client_id = client_id;
	mqtt = ng_mqtt_new(&config, outbox, &error);
	if (mqtt == NULL)
		g_error("%s", error->message);
	p.outbox = outbox;
	p.topic = argv[3];
	ng_store_add_hooks(store, pusher_pre_commit_cb, pusher_committed_cb, &p);
	ng_mqtt_start(mqtt);
	g_timeout_add(2, pusher_tick_cb, &p);
	/* bounded, and never outliving the test that started it */
	g_timeout_add_seconds(60, pusher_timeout_cb, NULL);
	for (;;)
		g_main_context_iteration(NULL, TRUE);
	return 0;
}
