/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: a whole Telemetry notification through the reader, each record re-encoded and turned into
 * JSON. */

#include <string.h>

#include "fuzz-common.h"

/* Reads the notification with one pen maximum; checks what a record promises. */
static void
read_notification(const uint8_t *data, size_t size, uint16_t max_depth)
{
	NpTelemetryReader r;
	NpTelemetryRecord rec;
	NpStatus st;
	size_t pos = 0;

	np_telemetry_reader_init(&r, data, size, max_depth);
	while ((st = np_telemetry_reader_next(&r, &rec)) == NP_OK) {
		uint8_t buf[NP_TELEMETRY_RECORD_MAX_SIZE];
		size_t len = 0;
		GString *out = fuzz_payload_buffer();

		FUZZ_CHECK(rec.size == np_telemetry_record_size_for_flags(rec.flags));
		FUZZ_CHECK(pos + rec.size <= size);
		FUZZ_CHECK((rec.flags & 0xc0) == 0);
		FUZZ_CHECK(rec.depth_centi_mm <= NP_DEPTH_MAX_CENTI_MM);
		FUZZ_CHECK(max_depth == 0 || rec.depth_centi_mm <= max_depth);
		/* Re-encoding gives the bytes that came, reserved flag bits aside. */
		FUZZ_CHECK(np_telemetry_record_encode(&rec, buf, sizeof buf, &len) == NP_OK);
		FUZZ_CHECK(len == rec.size);
		FUZZ_CHECK(buf[0] == data[pos] && buf[1] == (data[pos + 1] & 0x3f));
		FUZZ_CHECK(memcmp(buf + 2, data + pos + 2, len - 2) == 0);
		pos += rec.size;
		ng_payload_telemetry(out, "NP-FUZZ", &rec, (gint64)rec.offset_ms);
		fuzz_check_payload(out);
	}
	if (st == NP_ERR_END) {
		FUZZ_CHECK(pos == size);
	} else {
		/* A fault is inside the notification, at or after the last good record. */
		FUZZ_CHECK(r.fault_offset >= pos && r.fault_offset <= size);
		/* Nothing after a fault is decoded. */
		FUZZ_CHECK(np_telemetry_reader_next(&r, &rec) == NP_ERR_END);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_notification(data, size, 0);
	read_notification(data, size, 250);
	return 0;
}
