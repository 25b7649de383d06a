/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LD_PRELOAD shim for needle-pensim: logs when each telemetry record leaves the simulator (benchmark
 * latency).
 *
 * The end-to-end benchmark needs the moment a record was handed to "BlueZ": the simulator's
 * send () on an AcquireNotify socket, or its PropertiesChanged signal carrying the Value of a
 * StartNotify characteristic. This shim wraps both, and for every telemetry notification writes one
 * line "MONOTONIC_NS SEQ..." (the sequence numbers of its records) to the file named by
 * NG_SENDSTAMP_FILE. CLOCK_MONOTONIC is the clock Python's time.monotonic_ns () reads, so the
 * subscriber's receive times compare directly. Without NG_SENDSTAMP_FILE the shim does nothing.
 * Records are recognised by shape (size byte consistent with the flags, as proto/ defines it).
 */
#include <dlfcn.h> /* RTLD_NEXT: the build defines _GNU_SOURCE */
#include <fcntl.h>
#include <gio/gio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FLAG_AREA     0x01
#define FLAG_PRESSURE 0x02
#define FLAG_CRC      0x20

static int stamp_fd = -2; /* -2: not opened yet, -1: disabled */

static int
stamp_open(void)
{
	const char *path;

	if (stamp_fd != -2)
		return stamp_fd;
	path = getenv("NG_SENDSTAMP_FILE");
	stamp_fd = path != NULL && path[0] != '\0'
		       ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)
		       : -1;
	return stamp_fd;
}

static size_t
record_size(uint8_t flags)
{
	return 16u + ((flags & FLAG_AREA) ? 1u : 0u) + ((flags & FLAG_PRESSURE) ? 2u : 0u) +
	       ((flags & FLAG_CRC) ? 2u : 0u);
}

/* One line for a notification made only of telemetry records; nothing for anything else. */
static void
stamp_notification(const uint8_t *data, size_t len)
{
	char line[4096];
	struct timespec ts;
	size_t pos = 0;
	int n;

	if (stamp_open() < 0 || len < 16)
		return;
	for (pos = 0; pos < len; pos += data[pos]) {
		if (pos + 2 > len || data[pos] != record_size(data[pos + 1]) || pos + data[pos] > len)
			return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof(line), "%lld", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	for (pos = 0; pos < len && n > 0 && (size_t)n < sizeof(line) - 16; pos += data[pos]) {
		uint32_t seq = (uint32_t)data[pos + 2] | (uint32_t)data[pos + 3] << 8 |
			       (uint32_t)data[pos + 4] << 16 | (uint32_t)data[pos + 5] << 24;
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %u", seq);
	}
	if (n > 0 && (size_t)n < sizeof(line) - 1) {
		line[n++] = '\n';
		if (write(stamp_fd, line, (size_t)n) < 0)
			stamp_fd = -1;
	}
}

ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	static ssize_t (*real_send)(int, const void *, size_t, int);
	int type = 0;
	socklen_t type_len = sizeof(type);

	if (real_send == NULL)
		real_send = (ssize_t(*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
	/* AcquireNotify sockets are SOCK_SEQPACKET; D-Bus and the rest are SOCK_STREAM */
	if (stamp_open() >= 0 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 &&
	    type == SOCK_SEQPACKET)
		stamp_notification(buf, len);
	return real_send(fd, buf, len, flags);
}

static void
stamp_properties_changed(const char *interface, const char *signal_name, GVariant *params)
{
	g_autoptr(GVariant) changed = NULL;
	g_autoptr(GVariant) value = NULL;
	const guint8 *data;
	gsize len = 0;

	if (g_strcmp0(interface, "org.freedesktop.DBus.Properties") != 0 ||
	    g_strcmp0(signal_name, "PropertiesChanged") != 0 || params == NULL ||
	    !g_variant_is_of_type(params, G_VARIANT_TYPE("(sa{sv}as)")))
		return;
	changed = g_variant_get_child_value(params, 1);
	value = g_variant_lookup_value(changed, "Value", G_VARIANT_TYPE_BYTESTRING);
	if (value == NULL)
		return;
	data = g_variant_get_fixed_array(value, &len, 1);
	stamp_notification(data, len);
}

gboolean
g_dbus_connection_emit_signal(GDBusConnection *connection, const gchar *destination_bus_name,
			      const gchar *object_path, const gchar *interface_name, const gchar *signal_name,
			      GVariant *parameters, GError **error)
{
	static gboolean (*real_emit)(GDBusConnection *, const gchar *, const gchar *, const gchar *,
				     const gchar *, GVariant *, GError **);
	gboolean ok;

	if (real_emit == NULL)
		*(void **)&real_emit = dlsym(RTLD_NEXT, "g_dbus_connection_emit_signal");
	if (parameters != NULL)
		g_variant_ref_sink(parameters);
	if (stamp_open() >= 0)
		stamp_properties_changed(interface_name, signal_name, parameters);
	ok = real_emit(connection, destination_bus_name, object_path, interface_name, signal_name, parameters,
		       error);
	if (parameters != NULL)
		g_variant_unref(parameters);
	return ok;
}
