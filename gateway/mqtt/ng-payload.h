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

/* {"pen":…,"session":…,"seq":…,"t":…,"offset_ms":…,"depth_mm":1.50,"speed_hz":120.0,
 *  "area":"cheeks","pressure_gf":250,"motor":true,"contact":true,"replayed":false}
 * pen is omitted when NULL, t when t_ms < 0, area and pressure_gf when the
 * record's flags do not announce them. */
void ng_payload_telemetry(GString *out, const char *pen, const NpTelemetryRecord *rec, gint64 t_ms);
/* One record of a batch: the same without "pen" and "session" (the batch names them once). */
void ng_payload_telemetry_record(GString *out, const NpTelemetryRecord *rec, gint64 t_ms);

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
