/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* needlegated's configuration: the key file, its defaults, command-line overrides and validation. */

#include "config.h"

#include "ng-config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK(ng - config - error - quark, ng_config_error)

typedef enum {
	KEY_STRING,
	KEY_UINT,
	KEY_QOS,
	KEY_MQTT_VERSION,
	KEY_TELEMETRY_NOTIFY,
	KEY_TELEMETRY_BATCH,
	KEY_BOOL,
	KEY_DBM,
} KeyKind;

/* Every key the file may hold: unknown keys are an error, so this table is the reference
 * (deploy/needlegated.conf documents the same list). */
typedef struct {
	const char *group;
	const char *key;
	KeyKind kind;
	size_t offset;
	guint min;
	guint max;
} KeyInfo;

#define STR(g, k, field)                                                                                     \
	{                                                                                                    \
		g, k, KEY_STRING, offsetof(NgConfig, field), 0, 0                                            \
	}
#define UINT(g, k, field, lo, hi)                                                                            \
	{                                                                                                    \
		g, k, KEY_UINT, offsetof(NgConfig, field), lo, hi                                            \
	}

static const KeyInfo keys[] = {
    STR("gateway", "hub_id", hub_id),
    STR("gateway", "state_dir", state_dir),
    UINT("gateway", "info_interval", info_interval_s, 0, 86400),
    STR("mqtt", "url", url),
    STR("mqtt", "base_topic", base_topic),
    STR("mqtt", "client_id", client_id),
    STR("mqtt", "username", username),
    STR("mqtt", "password_file", password_file),
    STR("mqtt", "ca_file", ca_file),
    STR("mqtt", "cert_file", cert_file),
    STR("mqtt", "key_file", key_file),
    {"mqtt", "version", KEY_MQTT_VERSION, offsetof(NgConfig, mqtt_version), 0, 0},
    {"mqtt", "telemetry_qos", KEY_QOS, offsetof(NgConfig, telemetry_qos), 0, 1},
    {"mqtt", "telemetry_batch", KEY_TELEMETRY_BATCH, offsetof(NgConfig, telemetry_batch), 0, 0},
    UINT("mqtt", "keepalive", keepalive_s, 5, 3600),
    UINT("mqtt", "outbox_max_messages", outbox_max_messages, 100, 100000000),
    {"mqtt", "allow_remote_pairing", KEY_BOOL, offsetof(NgConfig, allow_remote_pairing), 0, 0},
    STR("bluetooth", "adapter", adapter),
    UINT("bluetooth", "max_connections", max_connections, 1, 32),
    UINT("bluetooth", "connect_timeout", connect_timeout_s, 2, 300),
    UINT("bluetooth", "reconnect_min_delay", reconnect_min_s, 1, 3600),
    UINT("bluetooth", "reconnect_max_delay", reconnect_max_s, 1, 86400),
    {"bluetooth", "telemetry_notify", KEY_TELEMETRY_NOTIFY, offsetof(NgConfig, telemetry_notify), 0, 0},
    UINT("bluetooth", "link_quality_interval", link_quality_interval_s, 0, 3600),
    {"bluetooth", "weak_link_dbm", KEY_DBM, offsetof(NgConfig, weak_link_dbm), 0, 0},
    UINT("bluetooth", "weak_link_seconds", weak_link_seconds, 0, 86400),
};

/* A hub id from the host name, reduced to what is safe in an MQTT topic level. */
static char *
default_hub_id(void)
{
	char *id = g_ascii_strdown(g_get_host_name(), -1);

	for (char *p = id; *p != '\0'; p++) {
		if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
			*p = '-';
	}
	if (strlen(id) > 64)
		id[64] = '\0';
	if (*id == '\0') {
		g_free(id);
		return g_strdup("hub");
	}
	return id;
}

NgConfig *
ng_config_new(void)
{
	NgConfig *config = g_new0(NgConfig, 1);

	config->hub_id = default_hub_id();
	config->state_dir = g_strdup(NG_LOCALSTATEDIR "/lib/needlegate");
	config->info_interval_s = 60;
	config->url = g_strdup("mqtt://localhost:1883");
	config->base_topic = g_strdup("needlegate");
	config->mqtt_version = 5;
	config->telemetry_qos = 1;
	config->telemetry_batch = NG_TELEMETRY_BATCH_NOTIFICATION;
	config->keepalive_s = 30;
	config->outbox_max_messages = 1000000;
	config->max_connections = 10;
	config->connect_timeout_s = 20;
	config->reconnect_min_s = 1;
	config->reconnect_max_s = 60;
	config->telemetry_notify = NG_TELEMETRY_NOTIFY_AUTO;
	config->link_quality_interval_s = 10;
	config->weak_link_dbm = -85;
	config->weak_link_seconds = 60;
	return config;
}

void
ng_config_free(NgConfig *config)
{
	if (config == NULL)
		return;
	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (keys[i].kind == KEY_STRING)
			g_free(G_STRUCT_MEMBER(char *, config, keys[i].offset));
	}
	if (config->password != NULL)
		memset(config->password, 0, strlen(config->password));
	g_free(config->password);
	g_free(config);
}

static const KeyInfo *
find_key(const char *group, const char *key)
{
	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (g_str_equal(keys[i].group, group) && g_str_equal(keys[i].key, key))
			return &keys[i];
	}
	return NULL;
}

static gboolean
group_known(const char *group)
{
	for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
		if (g_str_equal(keys[i].group, group))
			return TRUE;
	}
	return FALSE;
}

static gboolean invalid(GError **error, const KeyInfo *info, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean
invalid(GError **error, const KeyInfo *info, const char *fmt, ...)
{
	va_list args;
	g_autofree char *msg = NULL;

	va_start(args, fmt);
	msg = g_strdup_vprintf(fmt, args);
	va_end(args);
	g_set_error(error, NG_CONFIG_ERROR, NG_CONFIG_ERROR_INVALID, "[%s] %s: %s", info->group, info->key,
		    msg);
	return FALSE;
}

static gboolean
parse_uint(const KeyInfo *info, const char *value, guint *out, GError **error)
{
	guint64 v = 0;

	if (!g_ascii_string_to_unsigned(value, 10, info->min, info->max, &v, NULL))
		return invalid(error, info, "'%s' is not a whole number from %u to %u", value, info->min,
			       info->max);
	*out = (guint)v;
	return TRUE;
}

static gboolean
parse_value(NgConfig *config, const KeyInfo *info, const char *value, GError **error)
{
	gpointer field = G_STRUCT_MEMBER_P(config, info->offset);

	switch (info->kind) {
	case KEY_STRING:
		g_free(*(char **)field);
		/* An empty value means "not set", as if the key were absent. */
		*(char **)field = *value != '\0' ? g_strdup(value) : NULL;
		return TRUE;
	case KEY_UINT:
		return parse_uint(info, value, field, error);
	case KEY_QOS: {
		guint qos = 0;
		if (!parse_uint(info, value, &qos, error))
			return FALSE;
		*(int *)field = (int)qos;
		return TRUE;
	}
	case KEY_MQTT_VERSION:
		if (g_str_equal(value, "5") || g_str_equal(value, "5.0"))
			*(int *)field = 5;
		else if (g_str_equal(value, "3.1.1") || g_str_equal(value, "4"))
			*(int *)field = 4;
		else
			return invalid(error, info, "'%s' is not an MQTT version: use 5 or 3.1.1", value);
		return TRUE;
	case KEY_TELEMETRY_NOTIFY:
		if (g_str_equal(value, "auto"))
			*(NgTelemetryNotify *)field = NG_TELEMETRY_NOTIFY_AUTO;
		else if (g_str_equal(value, "acquire"))
			*(NgTelemetryNotify *)field = NG_TELEMETRY_NOTIFY_ACQUIRE;
		else if (g_str_equal(value, "start"))
			*(NgTelemetryNotify *)field = NG_TELEMETRY_NOTIFY_START;
		else
			return invalid(error, info, "'%s' is not a mode: use auto, acquire or start", value);
		return TRUE;
	case KEY_TELEMETRY_BATCH:
		if (g_str_equal(value, "notification"))
			*(NgTelemetryBatch *)field = NG_TELEMETRY_BATCH_NOTIFICATION;
		else if (g_str_equal(value, "record"))
			*(NgTelemetryBatch *)field = NG_TELEMETRY_BATCH_RECORD;
		else
			return invalid(
			    error, info,
			    "'%s' is not a batching: use notification (the records of one BLE "
			    "notification in one message, the default) or record (one message per record)",
			    value);
		return TRUE;
	case KEY_DBM: {
		gint64 v = 0;
		/* what an LE controller reports (Core 5.x, Read RSSI: -127 to +20 dBm) */
		if (!g_ascii_string_to_signed(value, 10, -127, 20, &v, NULL))
			return invalid(
			    error, info,
			    "'%s' is not a signal strength in dBm from -127 to 20 (for example -85)", value);
		*(int *)field = (int)v;
		return TRUE;
	}
	case KEY_BOOL:
		if (g_str_equal(value, "true"))
			*(gboolean *)field = TRUE;
		else if (g_str_equal(value, "false"))
			*(gboolean *)field = FALSE;
		else
			return invalid(error, info, "'%s' is not a boolean: use true or false", value);
		return TRUE;
	default:
		g_assert_not_reached();
	}
}

static gboolean
load_group(NgConfig *config, GKeyFile *kf, const char *group, GError **error)
{
	g_auto(GStrv) names = g_key_file_get_keys(kf, group, NULL, error);

	if (names == NULL)
		return FALSE;
	for (guint i = 0; names[i] != NULL; i++) {
		const KeyInfo *info = find_key(group, names[i]);
		g_autofree char *value = NULL;

		if (info == NULL) {
			g_set_error(error, NG_CONFIG_ERROR, NG_CONFIG_ERROR_INVALID,
				    "[%s] %s: unknown key (see the example needlegated.conf for the keys)",
				    group, names[i]);
			return FALSE;
		}
		/* get_string: unescapes and strips, as a string key should be. */
		value = g_key_file_get_string(kf, group, names[i], error);
		if (value == NULL)
			return FALSE;
		g_strstrip(value);
		/* "hub_id=room-1   # comment": a key file has no comments after a value */
		if (strstr(value, " #") != NULL || strstr(value, "\t#") != NULL)
			return invalid(error, info,
				       "'%s' has a comment after the value: a comment goes on a line of its "
				       "own, starting with #",
				       value);
		if (!parse_value(config, info, value, error))
			return FALSE;
	}
	return TRUE;
}

static gboolean
load_key_file(NgConfig *config, GKeyFile *kf, GError **error)
{
	g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);

	for (guint i = 0; groups[i] != NULL; i++) {
		if (!group_known(groups[i])) {
			g_set_error(error, NG_CONFIG_ERROR, NG_CONFIG_ERROR_INVALID,
				    "[%s]: unknown group (use [gateway], [mqtt] or [bluetooth])", groups[i]);
			return FALSE;
		}
		if (!load_group(config, kf, groups[i], error))
			return FALSE;
	}
	return TRUE;
}

gboolean
ng_config_load_data(NgConfig *config, const char *data, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) local = NULL;

	if (!g_key_file_load_from_data(kf, data, -1, G_KEY_FILE_NONE, &local)) {
		g_set_error(error, NG_CONFIG_ERROR, NG_CONFIG_ERROR_PARSE, "%s", local->message);
		return FALSE;
	}
	return load_key_file(config, kf, error);
}

gboolean
ng_config_load_file(NgConfig *config, const char *path, gboolean allow_missing, GError **error)
{
	g_autofree char *data = NULL;
	g_autoptr(GError) local = NULL;

	if (!g_file_get_contents(path, &data, NULL, &local)) {
		if (allow_missing && g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return TRUE;
		g_set_error(error, NG_CONFIG_ERROR, NG_CONFIG_ERROR_FILE, "%s", local->message);
		return FALSE;
	}
	if (!ng_config_load_data(config, data, error)) {
		g_prefix_error(error, "%s: ", path);
		return FALSE;
	}
	return TRUE;
}

/* One MQTT topic level: not empty, no separators or wildcards. */
static gboolean
check_topic_level(const char *group, const char *key, const char *value, gboolean allow_slash, GError **error)
{
	const KeyInfo *info = find_key(group, key);

	if (value == NULL || *value == '\0')
		return invalid(error, info, "must not be empty");
	if (strlen(value) > 128)
		return invalid(error, info, "'%s' is longer than 128 characters", value);
	if (!g_utf8_validate(value, -1, NULL))
		return invalid(error, info, "is not valid UTF-8");
	if (strpbrk(value, "+#") != NULL || (!allow_slash && strchr(value, '/') != NULL))
		return invalid(error, info, "'%s' may not contain %s", value,
			       allow_slash ? "'+' or '#'" : "'/', '+' or '#'");
	if (allow_slash && (value[0] == '/' || g_str_has_suffix(value, "/") || strstr(value, "//") != NULL))
		return invalid(error, info, "'%s' may not begin or end with '/' or hold an empty level",
			       value);
	for (const char *p = value; *p != '\0'; p++) {
		if ((guchar)*p < 0x20)
			return invalid(error, info, "may not contain control characters");
	}
	return TRUE;
}

/* hub_id: one topic level a person types and reads: [a-z0-9_-], 1 to 64 characters. */
gboolean
ng_config_hub_id_is_valid(const char *value)
{
	gsize len = value != NULL ? strlen(value) : 0;

	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_islower(value[i]) && !g_ascii_isdigit(value[i]) && value[i] != '-' &&
		    value[i] != '_')
			return FALSE;
	}
	return len > 0 && len <= 64;
}

static gboolean
check_hub_id(const char *value, GError **error)
{
	const KeyInfo *info = find_key("gateway", "hub_id");

	if (!ng_config_hub_id_is_valid(value))
		return invalid(error, info,
			       "'%s' is not allowed: use 1 to 64 lower-case letters, digits, '-' or '_' "
			       "(for example treatment-room-1)",
			       value != NULL ? value : "");
	return TRUE;
}

static gboolean
check_url(const NgConfig *config, GError **error)
{
	const KeyInfo *info = find_key("mqtt", "url");
	static const char *const schemes[] = {"mqtt://", "mqtts://", "tcp://", "ssl://", "ws://", "wss://"};
	const char *rest = NULL;

	if (config->url == NULL)
		return invalid(error, info, "must not be empty (for example mqtt://localhost:1883)");
	for (gsize i = 0; i < G_N_ELEMENTS(schemes) && rest == NULL; i++) {
		if (g_str_has_prefix(config->url, schemes[i]))
			rest = config->url + strlen(schemes[i]);
	}
	if (rest == NULL)
		return invalid(error, info,
			       "'%s' must start with mqtt:// or mqtts:// (for example mqtt://localhost:1883)",
			       config->url);
	if (*rest == '\0' || *rest == ':' || *rest == '/')
		return invalid(error, info, "'%s' names no host (for example mqtt://localhost:1883)",
			       config->url);
	for (const char *p = rest; *p != '\0'; p++) {
		if (g_ascii_isspace(*p) || (guchar)*p < 0x20)
			return invalid(error, info,
				       "'%s' has a space in it: use mqtt://HOST[:PORT] (for example "
				       "mqtt://localhost:1883)",
				       config->url);
	}
	{
		/* the port, after the last ':' unless that is inside an IPv6 address ([::1]) */
		const char *colon = strrchr(rest, ':');
		const char *bracket = strrchr(rest, ']');
		guint64 port = 0;
		g_autofree char *digits = NULL;

		if (colon != NULL && (bracket == NULL || colon > bracket)) {
			digits = g_strndup(colon + 1, strcspn(colon + 1, "/"));
			if (!g_ascii_string_to_unsigned(digits, 10, 1, 65535, &port, NULL))
				return invalid(error, info,
					       "'%s': the port '%s' is not a number from 1 to 65535 (for "
					       "example mqtt://localhost:1883)",
					       config->url, digits);
		}
	}
	return TRUE;
}

static gboolean
check_readable(const char *key, const char *path, GError **error)
{
	const KeyInfo *info = find_key("mqtt", key);

	if (path == NULL)
		return TRUE;
	if (access(path, R_OK) != 0)
		return invalid(error, info,
			       "cannot read %s: %s; check the path, and that the daemon's user may read "
			       "it",
			       path, g_strerror(errno));
	return TRUE;
}

static gboolean
read_password(NgConfig *config, GError **error)
{
	const KeyInfo *info = find_key("mqtt", "password_file");
	g_autofree char *data = NULL;
	g_autoptr(GError) local = NULL;
	char *nl;

	if (config->password_file == NULL)
		return TRUE;
	if (!g_file_get_contents(config->password_file, &data, NULL, &local))
		return invalid(error, info,
			       "%s; put the broker password on the first line of that file (mode 0600, "
			       "owned by the daemon's user), or remove password_file",
			       local->message);
	/* The first line is the password: files written by echo end with a newline. */
	nl = strpbrk(data, "\r\n");
	if (nl != NULL)
		*nl = '\0';
	g_free(config->password);
	config->password = g_steal_pointer(&data);
	return TRUE;
}

static gboolean
check_files(NgConfig *config, GError **error)
{
	if ((config->cert_file == NULL) != (config->key_file == NULL)) {
		const KeyInfo *info = find_key("mqtt", config->cert_file == NULL ? "cert_file" : "key_file");
		return invalid(error, info, "a client certificate needs both cert_file and key_file");
	}
	if (config->password_file != NULL && config->username == NULL)
		return invalid(error, find_key("mqtt", "username"), "must be set when password_file is");
	return check_readable("ca_file", config->ca_file, error) &&
	       check_readable("cert_file", config->cert_file, error) &&
	       check_readable("key_file", config->key_file, error) && read_password(config, error);
}

gboolean
ng_config_finish(NgConfig *config, GError **error)
{
	if (!check_hub_id(config->hub_id, error) ||
	    !check_topic_level("mqtt", "base_topic", config->base_topic, TRUE, error) ||
	    !check_url(config, error))
		return FALSE;
	if (config->state_dir == NULL || !g_path_is_absolute(config->state_dir))
		return invalid(error, find_key("gateway", "state_dir"), "must be an absolute directory path");
	if (config->reconnect_min_s > config->reconnect_max_s)
		return invalid(error, find_key("bluetooth", "reconnect_min_delay"),
			       "%u is above reconnect_max_delay (%u)", config->reconnect_min_s,
			       config->reconnect_max_s);
	if (config->client_id == NULL)
		config->client_id = g_strdup_printf("needlegated-%s", config->hub_id);
	if (strlen(config->client_id) > 65535)
		return invalid(error, find_key("mqtt", "client_id"), "is too long");
	return check_files(config, error);
}

char *
ng_config_dup_topic_prefix(const NgConfig *config)
{
	return g_strdup_printf("%s/%s", config->base_topic, config->hub_id);
}

const char *
ng_telemetry_notify_to_string(NgTelemetryNotify mode)
{
	switch (mode) {
	case NG_TELEMETRY_NOTIFY_AUTO:
		return "auto";
	case NG_TELEMETRY_NOTIFY_ACQUIRE:
		return "acquire";
	case NG_TELEMETRY_NOTIFY_START:
		return "start";
	default:
		return "unknown";
	}
}

const char *
ng_telemetry_batch_to_string(NgTelemetryBatch batch)
{
	switch (batch) {
	case NG_TELEMETRY_BATCH_NOTIFICATION:
		return "notification";
	case NG_TELEMETRY_BATCH_RECORD:
		return "record";
	default:
		return "unknown";
	}
}
