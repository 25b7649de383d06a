/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* org.needlegate.PenSim1: the control interface tests use to act on simulated pens. */

#include "sim-control.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIM_CONTROL_ERROR "org.needlegate.PenSim.Error."

struct _SimControl {
	SimDaemon *daemon;
	gboolean load_finished;
	SimStartLoadFunc start_load;
	gpointer start_load_data;
	GHashTable *pen_paths; /* SimDevice -> control object path */
};

static void sim_control_error(GDBusMethodInvocation *inv, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void
sim_control_error(GDBusMethodInvocation *inv, const char *name, const char *fmt, ...)
{
	g_autofree char *full = g_strconcat(SIM_CONTROL_ERROR, name, NULL);
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_dbus_method_invocation_return_dbus_error(inv, full, msg);
}

/* ---- parsing --------------------------------------------------------------- */

int
sim_parse_area(const char *text)
{
	char *end = NULL;
	guint64 v;
	int code = np_area_from_string(text);

	if (code >= 0)
		return code;
	if (text[0] == '\0')
		return -1;
	v = g_ascii_strtoull(text, &end, 0);
	return (*end == '\0' && v <= 0xFF) ? (int)v : -1;
}

int
sim_parse_end_reason(const char *text)
{
	static const char *const names[] = {"stopped", "battery", "device_error", "remote_stop", "limit"};

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		if (g_str_equal(text, names[i]))
			return (int)i;
	}
	return -1;
}

int
sim_parse_chr(const char *text)
{
	static const struct {
		const char *name;
		SimChr chr;
	} map[] = {
	    {"telemetry", SIM_CHR_TELEMETRY},	      {"session_event", SIM_CHR_SESSION_EVENT},
	    {"control_point", SIM_CHR_CONTROL_POINT}, {"pen_status", SIM_CHR_PEN_STATUS},
	    {"battery_level", SIM_CHR_BATTERY_LEVEL},
	};

	for (guint i = 0; i < G_N_ELEMENTS(map); i++) {
		if (g_str_equal(text, map[i].name))
			return (int)map[i].chr;
	}
	return -1;
}

/* A record header as a pen writes it, for the malformed kinds. */
static GByteArray *
sim_record_header(SimPen *pen, guint8 size, guint8 flags, guint16 depth)
{
	GByteArray *b = g_byte_array_new();
	guint32 seq = GUINT32_TO_LE(sim_pen_get_next_seq(pen));
	guint16 session = GUINT16_TO_LE(sim_pen_get_session_id(pen));
	guint32 offset = GUINT32_TO_LE(1000);
	guint16 d = GUINT16_TO_LE(depth);
	guint16 speed = GUINT16_TO_LE(1200);

	g_byte_array_append(b, &size, 1);
	g_byte_array_append(b, &flags, 1);
	g_byte_array_append(b, (guint8 *)&seq, 4);
	g_byte_array_append(b, (guint8 *)&session, 2);
	g_byte_array_append(b, (guint8 *)&offset, 4);
	g_byte_array_append(b, (guint8 *)&d, 2);
	g_byte_array_append(b, (guint8 *)&speed, 2);
	return b;
}

static GBytes *
sim_malformed_telemetry(SimPen *pen, const char *kind)
{
	const guint8 flags = NP_TELEMETRY_FLAG_MOTOR | NP_TELEMETRY_FLAG_CONTACT;
	g_autoptr(GByteArray) b = NULL;

	if (g_str_equal(kind, "telemetry_size_mismatch")) {
		b = sim_record_header(pen, 17, flags, 150); /* size 17, no optional field */
	} else if (g_str_equal(kind, "telemetry_overrun")) {
		b = sim_record_header(pen, 21,
				      flags | NP_TELEMETRY_FLAG_AREA | NP_TELEMETRY_FLAG_PRESSURE |
					  NP_TELEMETRY_FLAG_CRC,
				      150); /* 5 bytes missing */
	} else if (g_str_equal(kind, "telemetry_bad_crc")) {
		guint16 crc;

		b = sim_record_header(pen, 18, flags | NP_TELEMETRY_FLAG_CRC, 150);
		crc = GUINT16_TO_LE(np_crc16_mcrf4xx(b->data, b->len) ^ 0x5A5Au);
		g_byte_array_append(b, (guint8 *)&crc, 2);
	} else if (g_str_equal(kind, "telemetry_depth")) {
		b = sim_record_header(pen, 16, flags, NP_DEPTH_MAX_CENTI_MM + 1);
	} else if (g_str_equal(kind, "telemetry_empty")) {
		b = g_byte_array_new();
	} else {
		return NULL;
	}
	return g_byte_array_free_to_bytes(g_steal_pointer(&b));
}

gboolean
sim_malformed_kind_known(const char *kind)
{
	static const char *const kinds[] = {"telemetry_size_mismatch", "telemetry_overrun",
					    "telemetry_bad_crc",       "telemetry_depth",
					    "telemetry_empty",	       "event_unknown",
					    "event_truncated",	       "status_truncated",
					    "control_not_response",    NULL};

	return g_strv_contains(kinds, kind);
}

GBytes *
sim_malformed_bytes(SimPen *pen, const char *kind, SimChr *chr)
{
	static const guint8 unknown_event[NP_SESSION_EVENT_HEADER_SIZE] = {0x7F};
	static const guint8 truncated_event[5] = {NP_EVENT_SESSION_STARTED, 1, 0, 0, 0};
	static const guint8 truncated_status[3] = {0, 0, 0};
	static const guint8 not_response[3] = {0x01, NP_OP_SET_TIME, NP_RESULT_SUCCESS};

	*chr = SIM_CHR_TELEMETRY;
	if (g_str_has_prefix(kind, "telemetry_"))
		return sim_malformed_telemetry(pen, kind);
	*chr = SIM_CHR_SESSION_EVENT;
	if (g_str_equal(kind, "event_unknown"))
		return g_bytes_new(unknown_event, sizeof(unknown_event));
	if (g_str_equal(kind, "event_truncated"))
		return g_bytes_new(truncated_event, sizeof(truncated_event));
	*chr = SIM_CHR_PEN_STATUS;
	if (g_str_equal(kind, "status_truncated"))
		return g_bytes_new(truncated_status, sizeof(truncated_status));
	*chr = SIM_CHR_CONTROL_POINT;
	if (g_str_equal(kind, "control_not_response"))
		return g_bytes_new(not_response, sizeof(not_response));
	return NULL;
}

/* ---- PenSim1 properties ---------------------------------------------------------- */

static GVariant *
sim_control_get_link(SimDevice *device, const char *property)
{
	if (g_str_equal(property, "Connected"))
		return g_variant_new_boolean(device->connected);
	if (g_str_equal(property, "Paired"))
		return g_variant_new_boolean(device->paired);
	if (g_str_equal(property, "Present"))
		return g_variant_new_boolean(device->present);
	if (g_str_equal(property, "Responsive"))
		return g_variant_new_boolean(device->responsive);
	if (g_str_equal(property, "Passkey")) {
		g_autofree char *pk =
		    device->passkey_shown ? g_strdup_printf("%06u", device->passkey) : g_strdup("");
		return g_variant_new_string(pk);
	}
	if (g_str_equal(property, "TelemetryDropped"))
		return g_variant_new_uint64(device->chr[SIM_CHR_TELEMETRY].dropped);
	return NULL;
}

static GVariant *
sim_control_get_pen(SimPen *pen, const char *property)
{
	NpLimits limits;

	if (g_str_equal(property, "State"))
		return g_variant_new_string(np_pen_state_to_string(sim_pen_get_state(pen)));
	if (g_str_equal(property, "Error"))
		return g_variant_new_uint16(sim_pen_get_error(pen));
	if (g_str_equal(property, "SessionId"))
		return g_variant_new_uint16(sim_pen_get_session_id(pen));
	if (g_str_equal(property, "NextSeq"))
		return g_variant_new_uint32(sim_pen_get_next_seq(pen));
	if (g_str_equal(property, "StoredRecords"))
		return g_variant_new_uint32(sim_pen_get_stored_count(pen));
	if (g_str_equal(property, "Area"))
		return g_variant_new_string(np_area_to_string(sim_pen_get_area(pen)));
	if (g_str_equal(property, "Cartridge"))
		return g_variant_new_uint32(sim_pen_get_cartridge_id(pen));
	if (g_str_equal(property, "Battery"))
		return g_variant_new_byte(sim_pen_get_battery(pen));
	if (g_str_equal(property, "Autorun"))
		return g_variant_new_boolean(sim_pen_get_config(pen)->autorun);
	if (g_str_equal(property, "Identifying"))
		return g_variant_new_boolean(sim_pen_get_identifying(pen));
	if (g_str_equal(property, "ClockSet"))
		return g_variant_new_boolean(sim_pen_get_clock_set(pen));
	if (g_str_equal(property, "LimitsActive"))
		return g_variant_new_boolean(sim_pen_get_limits(pen, &limits));
	if (g_str_equal(property, "RecordsGenerated"))
		return g_variant_new_uint64(sim_pen_get_records_generated(pen));
	return NULL;
}

static GVariant *
sim_control_pen_get(gpointer owner, const char *property)
{
	SimDevice *device = owner;
	const SimPenConfig *cfg = sim_pen_get_config(device->pen);
	GVariant *value;

	if (g_str_equal(property, "Serial"))
		return g_variant_new_string(cfg->serial);
	if (g_str_equal(property, "Address"))
		return g_variant_new_string(cfg->address);
	if (g_str_equal(property, "Name"))
		return g_variant_new_string(sim_pen_get_name(device->pen));
	if (g_str_equal(property, "Device"))
		return g_variant_new_object_path(device->path);
	value = sim_control_get_pen(device->pen, property);
	return value != NULL ? value : sim_control_get_link(device, property);
}

/* ---- PenSim1 methods ----------------------------------------------------------- */

static void
sim_control_start_session(SimDevice *device, GDBusMethodInvocation *inv)
{
	g_autoptr(GError) error = NULL;

	if (!sim_pen_start_session(device->pen, &error)) {
		sim_control_error(inv, "Failed", "cannot start a session: %s", error->message);
		return;
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(q)", sim_pen_get_session_id(device->pen)));
}

static void
sim_control_stop_session(SimDevice *device, GDBusMethodInvocation *inv, GVariant *params)
{
	g_autoptr(GError) error = NULL;
	const char *text;
	int reason;

	g_variant_get(params, "(&s)", &text);
	reason = sim_parse_end_reason(text);
	if (reason < 0) {
		sim_control_error(inv, "InvalidArgs", "reason: '%s' is not an end reason", text);
		return;
	}
	if (!sim_pen_stop_session(device->pen, (guint8)reason, &error)) {
		sim_control_error(inv, "Failed", "cannot stop the session: %s", error->message);
		return;
	}
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void
sim_control_set_area(SimDevice *device, GDBusMethodInvocation *inv, GVariant *params)
{
	const char *text;
	int area;

	g_variant_get(params, "(&s)", &text);
	area = sim_parse_area(text);
	if (area < 0) {
		sim_control_error(inv, "InvalidArgs", "area: '%s' is not an area name or code", text);
		return;
	}
	sim_pen_set_area(device->pen, (guint8)area);
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void
sim_control_set_motion(SimDevice *device, GDBusMethodInvocation *inv, GVariant *params, gboolean depth)
{
	double v;

	g_variant_get(params, "(d)", &v);
	if (depth && (v < 0 || v > sim_pen_get_config(device->pen)->max_depth / 100.0)) {
		sim_control_error(inv, "InvalidArgs", "depth_mm: %.2f is outside 0 to %.2f", v,
				  sim_pen_get_config(device->pen)->max_depth / 100.0);
		return;
	}
	if (!depth && (v < 5.0 || v > 160.0)) {
		sim_control_error(inv, "InvalidArgs", "speed_hz: %.1f is outside 5 to 160", v);
		return;
	}
	if (depth)
		sim_pen_set_depth(device->pen, (guint16)lround(v * 100.0));
	else
		sim_pen_set_speed(device->pen, (guint16)lround(v * 10.0));
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void
sim_control_send_malformed(SimDevice *device, GDBusMethodInvocation *inv, GVariant *params)
{
	const char *kind;
	SimChr chr;
	g_autoptr(GBytes) bytes = NULL;

	g_variant_get(params, "(&s)", &kind);
	bytes = sim_malformed_bytes(device->pen, kind, &chr);
	if (bytes == NULL) {
		sim_control_error(inv, "InvalidArgs", "kind: '%s' is not a malformation this simulator knows",
				  kind);
		return;
	}
	sim_pen_send_raw(device->pen, chr, g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void
sim_control_send_raw(SimDevice *device, GDBusMethodInvocation *inv, GVariant *params)
{
	g_autoptr(GVariant) value = NULL;
	const char *name;
	const guint8 *data;
	gsize len = 0;
	int chr;

	g_variant_get(params, "(&s@ay)", &name, &value);
	chr = sim_parse_chr(name);
	if (chr < 0) {
		sim_control_error(inv, "InvalidArgs", "characteristic: '%s' does not notify or indicate",
				  name);
		return;
	}
	data = g_variant_get_fixed_array(value, &len, 1);
	sim_pen_send_raw(device->pen, (SimChr)chr, data, len);
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void
sim_control_set_bonded(SimDevice *device, gboolean bonded)
{
	g_autoptr(GError) error = NULL;

	if (bonded && !device->exported && !sim_device_export(device, &error))
		g_warning("cannot export a device: %s", error->message);
	sim_device_set_paired(device, bonded);
}

static void
sim_control_set_charging(SimDevice *device, GDBusMethodInvocation *inv, GVariant *params)
{
	g_autoptr(GError) error = NULL;
	gboolean charging;

	g_variant_get(params, "(b)", &charging);
	if (!sim_pen_set_charging(device->pen, charging, &error)) {
		sim_control_error(inv, "Failed", "cannot change charging: %s", error->message);
		return;
	}
	g_dbus_method_invocation_return_value(inv, NULL);
}

static void
sim_control_cartridge(SimDevice *device, GDBusMethodInvocation *inv, GVariant *params)
{
	guint32 id;
	guint8 needles;
	guint16 uses;

	g_variant_get(params, "(uyq)", &id, &needles, &uses);
	if (id == 0) {
		sim_control_error(inv, "InvalidArgs", "cartridge_id: 0 means no cartridge");
		return;
	}
	sim_pen_insert_cartridge(device->pen, id, needles, uses);
	g_dbus_method_invocation_return_value(inv, NULL);
}

/* Methods with one plain argument or none. */
static gboolean
sim_control_simple(SimDevice *device, const char *method, GVariant *params)
{
	gboolean b = FALSE;

	if (g_variant_is_of_type(params, G_VARIANT_TYPE("(b)")))
		g_variant_get(params, "(b)", &b);
	if (g_str_equal(method, "RemoveCartridge"))
		sim_pen_remove_cartridge(device->pen);
	else if (g_str_equal(method, "ClearError"))
		sim_pen_clear_error(device->pen);
	else if (g_str_equal(method, "DropLink"))
		sim_device_drop_link(device, "link lost");
	else if (g_str_equal(method, "SetPresent"))
		sim_device_set_present(device, b);
	else if (g_str_equal(method, "SetResponsive"))
		sim_device_set_responsive(device, b);
	else if (g_str_equal(method, "SetBonded"))
		sim_control_set_bonded(device, b);
	else if (g_str_equal(method, "SetAutorun"))
		sim_pen_set_autorun(device->pen, b);
	else if (g_str_equal(method, "SetControlPointSilent"))
		sim_pen_set_cp_silent(device->pen, b);
	else
		return FALSE;
	return TRUE;
}

/* Methods with one number; returns FALSE for other methods. Answers the
 * call, with an error that names the argument when the number is wrong. */
static gboolean
sim_control_numeric(SimDevice *device, GDBusMethodInvocation *inv, const char *method, GVariant *params)
{
	g_autoptr(GVariant) arg = g_variant_get_child_value(params, 0);
	guint32 v;

	if (g_str_equal(method, "RaiseError"))
		v = g_variant_get_uint16(arg);
	else if (g_str_equal(method, "SetBattery"))
		v = g_variant_get_byte(arg);
	else if (g_str_equal(method, "SetRate"))
		v = g_variant_get_uint32(arg);
	else
		return FALSE;
	if (g_str_equal(method, "RaiseError") && v == 0) {
		sim_control_error(inv, "InvalidArgs", "code: 0 means no error");
		return TRUE;
	}
	if (g_str_equal(method, "SetBattery") && v > 100) {
		sim_control_error(inv, "InvalidArgs", "percent: %u is above 100", v);
		return TRUE;
	}
	if (g_str_equal(method, "SetRate") && (v == 0 || v > 255)) {
		sim_control_error(inv, "InvalidArgs", "rate_hz: %u is outside 1 to 255", v);
		return TRUE;
	}
	if (g_str_equal(method, "RaiseError"))
		sim_pen_raise_error(device->pen, (guint16)v);
	else if (g_str_equal(method, "SetBattery"))
		sim_pen_set_battery(device->pen, (guint8)v);
	else
		sim_pen_set_rate(device->pen, v);
	g_dbus_method_invocation_return_value(inv, NULL);
	return TRUE;
}

static void
sim_control_pen_method(gpointer owner, GDBusMethodInvocation *inv, const char *method, GVariant *params)
{
	SimDevice *device = owner;

	if (g_str_equal(method, "StartSession"))
		sim_control_start_session(device, inv);
	else if (g_str_equal(method, "StopSession"))
		sim_control_stop_session(device, inv, params);
	else if (g_str_equal(method, "SetArea"))
		sim_control_set_area(device, inv, params);
	else if (g_str_equal(method, "SetDepth") || g_str_equal(method, "SetSpeed"))
		sim_control_set_motion(device, inv, params, g_str_equal(method, "SetDepth"));
	else if (g_str_equal(method, "InsertCartridge"))
		sim_control_cartridge(device, inv, params);
	else if (g_str_equal(method, "SendMalformed"))
		sim_control_send_malformed(device, inv, params);
	else if (g_str_equal(method, "SendRaw"))
		sim_control_send_raw(device, inv, params);
	else if (g_str_equal(method, "SetCharging"))
		sim_control_set_charging(device, inv, params);
	else if (sim_control_simple(device, method, params))
		g_dbus_method_invocation_return_value(inv, NULL);
	else if (!sim_control_numeric(device, inv, method, params))
		sim_control_error(inv, "Failed", "method %s is not implemented", method);
}

/* ---- manager ------------------------------------------------------------------- */

static void
sim_control_list_pens(SimControl *control, GDBusMethodInvocation *inv)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a(soo)"));
	for (guint i = 0; i < control->daemon->devices->len; i++) {
		SimDevice *device = g_ptr_array_index(control->daemon->devices, i);

		g_variant_builder_add(&b, "(soo)", sim_pen_get_config(device->pen)->serial,
				      (const char *)g_hash_table_lookup(control->pen_paths, device),
				      device->path);
	}
	g_dbus_method_invocation_return_value(inv, g_variant_new("(a(soo))", &b));
}

static void
sim_control_manager_method(gpointer owner, GDBusMethodInvocation *inv, const char *method, GVariant *params)
{
	SimControl *control = owner;
	g_autoptr(GError) error = NULL;

	if (g_str_equal(method, "ListPens")) {
		sim_control_list_pens(control, inv);
		return;
	}
	if (control->start_load == NULL) {
		sim_control_error(inv, "Failed", "not in load mode (start needle-pensim with --load)");
		return;
	}
	if (!control->start_load(control->start_load_data, &error)) {
		sim_control_error(inv, "Failed", "%s", error->message);
		return;
	}
	g_dbus_method_invocation_return_value(inv, NULL);
}

void
sim_control_set_start_load(SimControl *control, SimStartLoadFunc func, gpointer user_data)
{
	control->start_load = func;
	control->start_load_data = user_data;
}

static GVariant *
sim_control_manager_get(gpointer owner, const char *property)
{
	SimControl *control = owner;
	guint64 total = 0;

	if (g_str_equal(property, "LoadFinished"))
		return g_variant_new_boolean(control->load_finished);
	for (guint i = 0; i < control->daemon->devices->len; i++) {
		SimDevice *device = g_ptr_array_index(control->daemon->devices, i);

		total += sim_pen_get_records_generated(device->pen);
	}
	return g_variant_new_uint64(total);
}

void
sim_control_set_load_finished(SimControl *control, gboolean finished)
{
	control->load_finished = finished;
	sim_bus_emit_changed(control->daemon->bus, SIM_CONTROL_PATH, "org.needlegate.PenSimManager1",
			     "LoadFinished", "RecordsGenerated", NULL);
}

/* Every pen change is announced with the properties a test waits on. */
static void
sim_control_pen_changed(SimDevice *device, gpointer user_data)
{
	SimControl *control = user_data;
	const char *path = g_hash_table_lookup(control->pen_paths, device);

	if (path == NULL)
		return;
	sim_bus_emit_changed(control->daemon->bus, path, "org.needlegate.PenSim1", "Passkey", "State",
			     "Error", "SessionId", "NextSeq", "StoredRecords", "Area", "Cartridge", "Battery",
			     "Connected", "Paired", "Present", "Responsive", "Autorun", "Identifying",
			     "ClockSet", "LimitsActive", NULL);
}

/* The serial number, with what an object path cannot hold replaced. */
static char *
sim_control_pen_path(const char *serial)
{
	g_autofree char *elem = g_strdup(serial);

	for (char *c = elem; *c != '\0'; c++) {
		if (!g_ascii_isalnum(*c))
			*c = '_';
	}
	return g_strdup_printf("%s/%s", SIM_CONTROL_PATH, elem[0] != '\0' ? elem : "_");
}

SimControl *
sim_control_new(SimDaemon *daemon, GError **error)
{
	g_autoptr(SimControl) control = g_new0(SimControl, 1);
	SimIfaceSpec mgr = {"org.needlegate.PenSimManager1", sim_control_manager_method,
			    sim_control_manager_get, NULL, NULL};

	control->daemon = daemon;
	control->pen_paths = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	mgr.owner = control;
	if (!sim_bus_add_interfaces(daemon->bus, SIM_CONTROL_PATH, &mgr, 1, error))
		return NULL;
	for (guint i = 0; i < daemon->devices->len; i++) {
		SimDevice *device = g_ptr_array_index(daemon->devices, i);
		char *path = sim_control_pen_path(sim_pen_get_config(device->pen)->serial);
		SimIfaceSpec spec = {"org.needlegate.PenSim1", sim_control_pen_method, sim_control_pen_get,
				     NULL, device};

		g_hash_table_insert(control->pen_paths, device, path);
		if (!sim_bus_add_interfaces(daemon->bus, path, &spec, 1, error))
			return NULL;
	}
	daemon->pen_changed = sim_control_pen_changed;
	daemon->pen_changed_data = control;
	return g_steal_pointer(&control);
}

void
sim_control_free(SimControl *control)
{
	if (control == NULL)
		return;
	if (control->daemon->pen_changed_data == control)
		control->daemon->pen_changed = NULL;
	g_hash_table_unref(control->pen_paths);
	g_free(control);
}
