/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of needlegated's configuration: defaults, every key, and errors that name the key. */

#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "ng-config.h"

static void
test_defaults(void)
{
	g_autoptr(NgConfig) config = ng_config_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *prefix = NULL;

	g_assert_true(ng_config_finish(config, &error));
	g_assert_no_error(error);
	g_assert_nonnull(config->hub_id);
	g_assert_null(strpbrk(config->hub_id, "/+# "));
	g_assert_cmpstr(config->url, ==, "mqtt://localhost:1883");
	g_assert_cmpstr(config->base_topic, ==, "needlegate");
	g_assert_cmpint(config->mqtt_version, ==, 5);
	g_assert_cmpint(config->telemetry_qos, ==, 1);
	g_assert_cmpuint(config->keepalive_s, ==, 30);
	g_assert_cmpuint(config->max_connections, ==, 10);
	g_assert_cmpuint(config->link_quality_interval_s, ==, 10);
	g_assert_cmpint(config->weak_link_dbm, ==, -85);
	g_assert_cmpuint(config->weak_link_seconds, ==, 60);
	g_assert_null(config->adapter);
	g_assert_cmpint(config->telemetry_notify, ==, NG_TELEMETRY_NOTIFY_AUTO);
	g_assert_true(g_str_has_prefix(config->client_id, "needlegated-"));
	prefix = ng_config_dup_topic_prefix(config);
	g_assert_true(g_str_has_prefix(prefix, "needlegate/"));
}

static void
test_all_keys(void)
{
	g_autoptr(NgConfig) config = ng_config_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_dir_make_tmp("ng-config-XXXXXX", NULL);
	g_autofree char *pw = g_build_filename(dir, "pw", NULL);
	g_autofree char *data = NULL;
	g_autofree char *prefix = NULL;

	g_assert_true(g_file_set_contents(pw, "s3cret\nsecond line\n", -1, NULL));
	data = g_strdup_printf("[gateway]\nhub_id=room-1\nstate_dir=/tmp/x\ninfo_interval=0\n"
			       "[mqtt]\nurl=mqtts://broker.example:8883\nbase_topic=clinic/a\nclient_id=c1\n"
			       "username=gw\npassword_file=%s\nca_file=%s\nversion=3.1.1\ntelemetry_qos=0\n"
			       "keepalive=60\noutbox_max_messages=5000\ntelemetry_batch=record\n"
			       "[bluetooth]\nadapter=hci1\nmax_connections=3\nconnect_timeout=7\n"
			       "reconnect_min_delay=2\nreconnect_max_delay=9\ntelemetry_notify=start\n"
			       "link_quality_interval=0\nweak_link_dbm=-90\nweak_link_seconds=30\n",
			       pw, pw);
	g_assert_true(ng_config_load_data(config, data, &error));
	g_assert_no_error(error);
	g_assert_true(ng_config_finish(config, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(config->hub_id, ==, "room-1");
	g_assert_cmpstr(config->state_dir, ==, "/tmp/x");
	g_assert_cmpuint(config->info_interval_s, ==, 0);
	g_assert_cmpstr(config->url, ==, "mqtts://broker.example:8883");
	g_assert_cmpstr(config->client_id, ==, "c1");
	g_assert_cmpstr(config->username, ==, "gw");
	g_assert_cmpstr(config->password, ==, "s3cret");
	g_assert_cmpint(config->mqtt_version, ==, 4);
	g_assert_cmpint(config->telemetry_qos, ==, 0);
	g_assert_cmpuint(config->keepalive_s, ==, 60);
	g_assert_cmpuint(config->outbox_max_messages, ==, 5000);
	g_assert_cmpint(config->telemetry_batch, ==, NG_TELEMETRY_BATCH_RECORD);
	g_assert_cmpstr(config->adapter, ==, "hci1");
	g_assert_cmpuint(config->max_connections, ==, 3);
	g_assert_cmpuint(config->connect_timeout_s, ==, 7);
	g_assert_cmpuint(config->reconnect_min_s, ==, 2);
	g_assert_cmpuint(config->reconnect_max_s, ==, 9);
	g_assert_cmpint(config->telemetry_notify, ==, NG_TELEMETRY_NOTIFY_START);
	g_assert_cmpuint(config->link_quality_interval_s, ==, 0);
	g_assert_cmpint(config->weak_link_dbm, ==, -90);
	g_assert_cmpuint(config->weak_link_seconds, ==, 30);
	prefix = ng_config_dup_topic_prefix(config);
	g_assert_cmpstr(prefix, ==, "clinic/a/room-1");
	g_unlink(pw);
	g_rmdir(dir);
}

typedef struct {
	const char *text;
	const char *expect; /* in the message: the key and what is wrong */
} BadCase;

static void
test_bad_values(void)
{
	static const BadCase cases[] = {
	    {"[mqtt]\ntelemetry_qos=3\n", "[mqtt] telemetry_qos: '3' is not a whole number from 0 to 1"},
	    {"[mqtt]\nkeepalive=soon\n", "[mqtt] keepalive: 'soon' is not a whole number"},
	    {"[mqtt]\nkeepalive=-5\n", "[mqtt] keepalive:"},
	    {"[mqtt]\nversion=4.0\n", "[mqtt] version: '4.0' is not an MQTT version: use 5 or 3.1.1"},
	    {"[mqtt]\nurl=http://broker\n",
	     "[mqtt] url: 'http://broker' must start with mqtt:// or mqtts://"},
	    {"[mqtt]\nurl=mqtt://\n", "[mqtt] url: 'mqtt://' names no host"},
	    {"[mqtt]\nbase_topic=a//b\n", "[mqtt] base_topic:"},
	    {"[mqtt]\nbase_topic=a/#\n", "[mqtt] base_topic: 'a/#' may not contain"},
	    {"[gateway]\nhub_id=room/1\n",
	     "[gateway] hub_id: 'room/1' is not allowed: use 1 to 64 lower-case"},
	    {"[gateway]\nhub_id=Room 1\n", "[gateway] hub_id: 'Room 1' is not allowed"},
	    {"[gateway]\nhub_id=room.1\n", "[gateway] hub_id: 'room.1' is not allowed"},
	    {"[gateway]\nhub_id=room-1   # the treatment room\n",
	     "[gateway] hub_id: 'room-1   # the treatment room' has a comment after the value: a comment "
	     "goes "
	     "on a line of its own"},
	    {"[mqtt]\nurl=mqtt://local host\n", "[mqtt] url: 'mqtt://local host' has a space in it"},
	    {"[mqtt]\nurl=mqtt://broker:99999\n",
	     "[mqtt] url: 'mqtt://broker:99999': the port '99999' is not a "
	     "number from 1 to 65535"},
	    {"[gateway]\nstate_dir=relative/dir\n",
	     "[gateway] state_dir: must be an absolute directory path"},
	    {"[bluetooth]\nmax_connections=0\n",
	     "[bluetooth] max_connections: '0' is not a whole number from 1 to 32"},
	    {"[bluetooth]\ntelemetry_notify=fast\n", "[bluetooth] telemetry_notify: 'fast' is not a mode"},
	    {"[bluetooth]\nweak_link_dbm=85\n",
	     "[bluetooth] weak_link_dbm: '85' is not a signal strength in dBm from -127 to 20"},
	    {"[bluetooth]\nweak_link_dbm=-85dBm\n", "[bluetooth] weak_link_dbm: '-85dBm' is not a signal"},
	    {"[bluetooth]\nlink_quality_interval=-1\n", "[bluetooth] link_quality_interval:"},
	    {"[bluetooth]\nlink_quality_interval=3601\n",
	     "[bluetooth] link_quality_interval: '3601' is not a whole number from 0 to 3600"},
	    {"[mqtt]\ntelemetry_batch=16\n",
	     "[mqtt] telemetry_batch: '16' is not a batching: use notification (the records of one BLE "
	     "notification in one message, the default) or record (one message per record)"},
	    {"[bluetooth]\nreconnect_min_delay=90\n",
	     "[bluetooth] reconnect_min_delay: 90 is above reconnect_max_delay"},
	    {"[bluetooth]\nadaptor=hci0\n", "[bluetooth] adaptor: unknown key"},
	    {"[bluez]\nadapter=hci0\n", "[bluez]: unknown group"},
	    {"[mqtt]\ncert_file=/etc/hostname\n", "[mqtt] key_file: a client certificate needs both"},
	    {"[mqtt]\nusername=u\npassword_file=/nonexistent/pw\n",
	     "[mqtt] password_file: Failed to open file “/nonexistent/pw”: No such file or directory; put "
	     "the "
	     "broker password on the first line"},
	    {"[mqtt]\npassword_file=/etc/hostname\n", "[mqtt] username: must be set when password_file is"},
	    {"[mqtt]\nca_file=/nonexistent/ca.pem\n", "[mqtt] ca_file: cannot read /nonexistent/ca.pem"},
	    {"this is not a key file\n", "parse"},
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(NgConfig) config = ng_config_new();
		g_autoptr(GError) error = NULL;
		gboolean ok =
		    ng_config_load_data(config, cases[i].text, &error) && ng_config_finish(config, &error);

		g_test_message("case %zu: %s -> %s", i, cases[i].text,
			       error != NULL ? error->message : "(ok)");
		g_assert_false(ok);
		g_assert_nonnull(error);
		g_assert_true(error->domain == NG_CONFIG_ERROR);
		if (g_str_equal(cases[i].expect, "parse"))
			g_assert_cmpint(error->code, ==, NG_CONFIG_ERROR_PARSE);
		else
			g_assert_nonnull(strstr(error->message, cases[i].expect));
	}
}

static void
test_files(void)
{
	g_autoptr(NgConfig) config = ng_config_new();
	g_autoptr(GError) error = NULL;

	g_assert_true(ng_config_load_file(config, "/nonexistent/needlegated.conf", TRUE, &error));
	g_assert_no_error(error);
	g_assert_false(ng_config_load_file(config, "/nonexistent/needlegated.conf", FALSE, &error));
	g_assert_error(error, NG_CONFIG_ERROR, NG_CONFIG_ERROR_FILE);
}

/* The example in deploy/ documents every key at its default: uncommented, it changes nothing. */
static void
test_example_is_defaults(void)
{
	g_autofree char *path =
	    g_test_build_filename(G_TEST_DIST, "..", "..", "deploy", "needlegated.conf", NULL);
	g_autofree char *text = NULL;
	g_autoptr(GString) uncommented = g_string_new(NULL);
	g_auto(GStrv) lines = NULL;
	g_autoptr(NgConfig) defaults = ng_config_new();
	g_autoptr(NgConfig) config = ng_config_new();
	g_autoptr(GError) error = NULL;
	guint keys = 0;

	g_assert_true(g_file_get_contents(path, &text, NULL, &error));
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		const char *l = lines[i];
		/* "#key=value": a documented key; "# text": prose. */
		if (l[0] == '#' && g_ascii_isalpha(l[1]) && strchr(l, '=') != NULL) {
			if (g_str_has_prefix(l, "#hub_id="))
				continue; /* the default is the host name: the example shows a real one */
			g_string_append_printf(uncommented, "%s\n", l + 1);
			keys++;
		} else if (l[0] == '[') {
			g_string_append_printf(uncommented, "%s\n", l);
		}
	}
	g_assert_cmpuint(keys, >=, 20);
	g_assert_true(ng_config_load_data(config, uncommented->str, &error));
	g_assert_no_error(error);
	g_assert_true(ng_config_finish(config, &error));
	g_assert_no_error(error);
	g_assert_true(ng_config_finish(defaults, &error));
	g_assert_cmpstr(config->state_dir, ==, "/var/lib/needlegate");
	g_assert_cmpstr(config->url, ==, defaults->url);
	g_assert_cmpstr(config->base_topic, ==, defaults->base_topic);
	g_assert_cmpstr(config->client_id, ==, defaults->client_id);
	g_assert_cmpint(config->mqtt_version, ==, defaults->mqtt_version);
	g_assert_cmpint(config->telemetry_qos, ==, defaults->telemetry_qos);
	g_assert_cmpuint(config->keepalive_s, ==, defaults->keepalive_s);
	g_assert_cmpuint(config->outbox_max_messages, ==, defaults->outbox_max_messages);
	g_assert_cmpint(config->telemetry_batch, ==, NG_TELEMETRY_BATCH_NOTIFICATION);
	g_assert_cmpuint(config->link_quality_interval_s, ==, defaults->link_quality_interval_s);
	g_assert_cmpint(config->weak_link_dbm, ==, defaults->weak_link_dbm);
	g_assert_cmpuint(config->weak_link_seconds, ==, defaults->weak_link_seconds);
	g_assert_cmpuint(config->info_interval_s, ==, defaults->info_interval_s);
	g_assert_cmpuint(config->max_connections, ==, defaults->max_connections);
	g_assert_cmpuint(config->connect_timeout_s, ==, defaults->connect_timeout_s);
	g_assert_cmpuint(config->reconnect_min_s, ==, defaults->reconnect_min_s);
	g_assert_cmpuint(config->reconnect_max_s, ==, defaults->reconnect_max_s);
	g_assert_cmpint(config->telemetry_notify, ==, defaults->telemetry_notify);
	g_assert_null(config->adapter);
	g_assert_null(config->username);
}

/* What the stricter checks must still accept. */
static void
test_good_values(void)
{
	static const char *const cases[] = {
	    "[mqtt]\nurl=mqtts://[::1]:8883\n",
	    "[mqtt]\nurl=mqtt://broker.clinic.example\n",
	    "[mqtt]\nurl=mqtt://10.0.0.5:1883\n",
	    "[gateway]\nhub_id=room_2-b\n",
	    "# a comment on its own line\n[gateway]\nhub_id=a\n",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(NgConfig) config = ng_config_new();
		g_autoptr(GError) error = NULL;

		g_test_message("case %zu: %s", i, cases[i]);
		g_assert_true(ng_config_load_data(config, cases[i], &error) &&
			      ng_config_finish(config, &error));
		g_assert_no_error(error);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/config/good-values", test_good_values);
	g_test_add_func("/config/defaults", test_defaults);
	g_test_add_func("/config/all-keys", test_all_keys);
	g_test_add_func("/config/bad-values", test_bad_values);
	g_test_add_func("/config/files", test_files);
	g_test_add_func("/config/example-is-defaults", test_example_is_defaults);
	return g_test_run();
}
