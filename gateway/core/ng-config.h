/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* needlegated's configuration: the key file, its defaults, command-line overrides and validation. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define NG_CONFIG_DEFAULT_PATH NG_SYSCONFDIR "/needlegate/needlegated.conf"

#define NG_CONFIG_ERROR (ng_config_error_quark())
GQuark ng_config_error_quark(void);

typedef enum {
	NG_CONFIG_ERROR_PARSE,	 /* the file is not a valid key file */
	NG_CONFIG_ERROR_INVALID, /* a key has a value it cannot have; the message names group.key */
	NG_CONFIG_ERROR_FILE,	 /* a file the configuration points at cannot be read */
} NgConfigError;

/* How Telemetry notifications reach the gateway. */
typedef enum {
	NG_TELEMETRY_NOTIFY_AUTO,    /* AcquireNotify, StartNotify if that fails */
	NG_TELEMETRY_NOTIFY_ACQUIRE, /* AcquireNotify only (benchmarks) */
	NG_TELEMETRY_NOTIFY_START,   /* StartNotify only (benchmarks) */
} NgTelemetryNotify;

/* What one message on pens/<id>/telemetry carries. */
typedef enum {
	NG_TELEMETRY_BATCH_NOTIFICATION, /* the records of one BLE notification:
					    {"pen","session","records":[…]} */
	NG_TELEMETRY_BATCH_RECORD,	 /* one record: {"pen","session","seq",…} */
} NgTelemetryBatch;

typedef struct {
	/* [gateway] */
	char *hub_id;
	char *state_dir;
	guint info_interval_s;

	/* [mqtt] */
	char *url;
	char *base_topic; /* without the hub id; the prefix is base_topic/hub_id */
	char *client_id;
	char *username;
	char *password_file;
	char *password; /* read from password_file; never logged */
	char *ca_file;
	char *cert_file;
	char *key_file;
	int mqtt_version; /* 5 or 4 (3.1.1) */
	int telemetry_qos;
	NgTelemetryBatch telemetry_batch;
	guint keepalive_s;
	guint outbox_max_messages;
	gboolean allow_remote_pairing; /* bridge/request/permit_pairing, pair, remove over MQTT */

	/* [bluetooth] */
	char *adapter; /* "hci0", an address, or NULL for the first adapter */
	guint max_connections;
	guint connect_timeout_s;
	guint reconnect_min_s;
	guint reconnect_max_s;
	NgTelemetryNotify telemetry_notify;
	guint link_quality_interval_s; /* seconds between RSSI reads of each connected pen; 0: off */
	int weak_link_dbm;	       /* below this RSSI (dBm) a link is weak */
	guint weak_link_seconds;       /* weak for this long: bridge/event weak_link; 0: never */
} NgConfig;

/* The defaults: what runs on a Pi with a local Mosquitto. */
NgConfig *ng_config_new(void);
void ng_config_free(NgConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NgConfig, ng_config_free)

/* Reads the key file at path over the defaults. allow_missing: a file that does not exist
 * leaves the defaults (used for the default path only). Unknown groups and keys are refused
 * by name: a typo must not silently fall back to a default. */
gboolean ng_config_load_file(NgConfig *config, const char *path, gboolean allow_missing, GError **error);
/* The same for a key file already in memory (tests). */
gboolean ng_config_load_data(NgConfig *config, const char *data, GError **error);

/* Checks the values together and reads password_file; call after loading and overrides. */
gboolean ng_config_finish(NgConfig *config, GError **error);

/* "needlegate/<hub_id>" from base_topic and hub_id. */
char *ng_config_dup_topic_prefix(const NgConfig *config);

const char *ng_telemetry_notify_to_string(NgTelemetryNotify mode);
const char *ng_telemetry_batch_to_string(NgTelemetryBatch batch);
/* [a-z0-9_-], 1 to 64 characters: one MQTT topic level a person types and reads. */
gboolean ng_config_hub_id_is_valid(const char *value);

G_END_DECLS
