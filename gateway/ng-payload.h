/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON text for decoded NeedlePen values: the MQTT payload fields and needlectl decode output. */

#pragma once

#include <glib.h>

#include "np.h"

G_BEGIN_DECLS

/*
 * Every function appends one complete JSON value to out (nothing else: no
 * newline) and allocates nothing but what out grows by: these run once per
 * telemetry record. Field names are the contract of BRIEF.md ("add fields,
 * never rename"). Numbers with a unit are printed exactly from the codec's
 * fixed-point integers: depth 150 -> 1.50, speed 1200 -> 120.0.
 */

/* Appends s as a quoted JSON string. s comes from outside (a pen's serial,
 * a D-Bus caller): control characters, quotes and backslashes are escaped,
 * invalid UTF-8 bytes become U+FFFD, so the output is always valid JSON.
 * NULL appends null. */
void ng_payload_append_string(GString *out, const char *s);
/* The same for len bytes that need not be NUL-terminated (NULs become \u0000). */
void ng_payload_append_string_len(GString *out, const char *s, gsize len);

/* Appends unix_ms as a quoted ISO 8601 UTC time with milliseconds,
 * "2026-11-24T09:33:48.123Z". Times outside the years 0000 to 9999 cannot
 * be written that way and append null. */
void ng_payload_append_time(GString *out, gint64 unix_ms);

/* Appends a pen's clock (u64 UTC ms) as ng_payload_append_time does, or null when
 * it was never set (0) or lies beyond 9999: do not cast it to gint64 yourself,
 * values from 2^63 up would turn into times before 1970. */
void ng_payload_append_pen_clock(GString *out, guint64 pen_clock_ms);

/* Appends value / 10^decimals with exactly that many decimals: (150, 2) -> 1.50. */
void ng_payload_append_fixed(GString *out, guint64 value, guint decimals);

/* {"pen":…,"session":…,"seq":…,"t":…,"offset_ms":…,"depth_mm":1.50,"speed_hz":120.0,
 *  "area":"cheeks","pressure_gf":250,"motor":true,"contact":true,"replayed":false}
 * pen is omitted when NULL, t when t_ms < 0, area and pressure_gf when the
 * record's flags do not announce them. */
void ng_payload_telemetry(GString *out, const char *pen, const NpTelemetryRecord *rec, gint64 t_ms);

/* {"pen":…,"event":"session_started","seq":…,"session":…,"t":…,"pen_clock":ISO|null,
 *  "pen_clock_ms":…, then by type: "cartridge":{"id","needles","use_count"}, "area",
 *  "duration_ms", "duration_s" (3 decimals), "reason", "error":{"code","name"},
 *  "limits":{"max_depth_mm","min_speed_hz","max_speed_hz"} (null for 0xFFFF)}
 * pen_clock is null when the pen's clock was never set (0). */
void ng_payload_session_event(GString *out, const char *pen, const NpSessionEvent *ev, gint64 t_ms);

/* {"state":"idle","error":{"code","name"}|null,"cartridge":{"id","needles"}|null,
 *  "session":…|null,"limits_active":…,"clock_set":…} */
void ng_payload_pen_status(GString *out, const NpPenStatus *st);

/* {"protocol_version":1,"feature_bits":…,"features":["e2e_crc",…],"telemetry_rate_hz":…,
 *  "stored_records_capacity":…,"max_depth_mm":3.00} */
void ng_payload_pen_features(GString *out, const NpPenFeatures *f);

/* {"op":"set_time","op_code":1, then "time":ISO,"time_ms" | "limits":{…} |
 *  "first_seq" | "area"} */
void ng_payload_control_request(GString *out, const NpControlRequest *req);

/* {"response_to":"report_stored_records","op_code":4,"result":"success","result_code":1,
 *  "records_sent":…} (records_sent only for a successful Report Stored Records) */
void ng_payload_control_response(GString *out, const NpControlResponse *resp);

/* {"battery_percent":…} */
void ng_payload_battery_level(GString *out, guint8 percent);

/* {"model_code":…,"state":"idle","battery_percent":…} */
void ng_payload_adv_mfr_data(GString *out, const NpAdvMfrData *adv);

G_END_DECLS
