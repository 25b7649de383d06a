/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test helpers: a real mosquitto on free loopback ports, and a paho subscriber that records what arrives. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	char *dir;     /* temporary directory: mosquitto.conf, log, persistence, TLS files */
	int port;      /* plain listener */
	int tls_port;  /* TLS listener, or 0 */
	int mtls_port; /* TLS listener that requires a client certificate (dir/client.pem, client.key) */
	gboolean persistence;
	char *extra_conf;
	GPid pid;
} TestBroker;

/* Starts mosquitto on a free 127.0.0.1 port (plus a TLS listener if @tls: makes a CA and a
 * server certificate for 127.0.0.1 with openssl, in dir/ca.pem, server.pem, server.key).
 * With @persistence, retained messages and persistent sessions survive a restart. */
TestBroker *test_broker_new(gboolean persistence, gboolean tls);
/* The same, with extra mosquitto.conf lines (global options, before the listeners). */
TestBroker *test_broker_new_full(gboolean persistence, gboolean tls, const char *extra_conf);
void test_broker_stop(TestBroker *broker);  /* SIGTERM, wait (mosquitto saves its state) */
void test_broker_start(TestBroker *broker); /* again, on the same ports */
void test_broker_free(TestBroker *broker);
char *test_broker_url(TestBroker *broker); /* mqtt://127.0.0.1:port */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestBroker, test_broker_free)

typedef struct {
	char *topic;
	char *payload;
	gboolean retained;
} TestMessage;

typedef struct _TestSub TestSub;

/* A subscriber (paho MQTTAsync, MQTT 3.1.1, QoS 1) on @filter. @persistent: a persistent session
 * (clean session off) that reconnects by itself, so that the broker queues for it across a
 * broker restart (with persistence). Returns once subscribed. */
TestSub *test_sub_new(TestBroker *broker, const char *client_id, const char *filter, gboolean persistent);
void test_sub_free(TestSub *sub);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestSub, test_sub_free)
/* Iterates the default main context and collects messages until @n arrived in total or @timeout_ms
 * passed; returns the number received. */
guint test_sub_wait(TestSub *sub, guint n, guint timeout_ms);
GPtrArray *test_sub_get_messages(TestSub *sub); /* of TestMessage, in arrival order */
/* Publishes (QoS 1) from the subscriber's connection; MQTT 3.1.1, so no properties. */
void test_sub_publish(TestSub *sub, const char *topic, const char *payload);

/* Iterates the default main context until @cond (polled) holds or @timeout_ms passed. */
gboolean test_wait_until(gboolean (*cond)(gpointer), gpointer data, guint timeout_ms);
/* Just runs the main loop for @ms. */
void test_run_for(guint ms);

G_END_DECLS
