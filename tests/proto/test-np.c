/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the NeedlePen codec: the profile's test vectors, every field, flag and fault, round trips. */

#include <glib.h>
#include <string.h>

#include "np.h"

/* "10 18 2a000000": hex digits with optional spaces, as the profile writes its vectors. */
static GByteArray *
hex(const char *text)
{
	GByteArray *bytes = g_byte_array_new();
	int hi = -1;

	for (const char *p = text; *p != '\0'; p++) {
		if (*p == ' ')
			continue;
		g_assert_true(g_ascii_isxdigit(*p));
		if (hi < 0) {
			hi = g_ascii_xdigit_value(*p);
		} else {
			guint8 b = (guint8)((hi << 4) | g_ascii_xdigit_value(*p));
			g_byte_array_append(bytes, &b, 1);
			hi = -1;
		}
	}
	g_assert_cmpint(hi, ==, -1);
	return bytes;
}

#define VECTOR_1  "10 18 2a000000 0700 e8030000 9600 b004"
#define VECTOR_2  "15 3b 2b000000 0700 04040000 9600 b004 04 fa00 352b"
#define VECTOR_3B "10 18 2b000000 0700 10040000 9600 b004"
#define VECTOR_4  "11 18 2a000000 0700 e8030000 9600 b004"

/* ---- CRC ------------------------------------------------------------------ */

static void
test_crc_check_value(void)
{
	const char *check = "123456789";

	g_assert_cmphex(np_crc16_mcrf4xx((const uint8_t *)check, strlen(check)), ==, 0x6F91);
	g_assert_cmphex(np_crc16_mcrf4xx(NULL, 0), ==, 0xFFFF);
}

static void
test_crc_vector_2(void)
{
	g_autoptr(GByteArray) b = hex(VECTOR_2);

	g_assert_cmphex(np_crc16_mcrf4xx(b->data, 19), ==, 0x2b35);
}

/* ---- Telemetry: the profile's vectors ------------------------------------- */

static void
test_telemetry_vector_1(void)
{
	g_autoptr(GByteArray) b = hex(VECTOR_1);
	NpTelemetryRecord rec;
	size_t consumed = 0;

	g_assert_cmpint(np_telemetry_record_decode(b->data, b->len, 0, &rec, &consumed, NULL), ==, NP_OK);
	g_assert_cmpuint(consumed, ==, 16);
	g_assert_cmpuint(rec.size, ==, 16);
	g_assert_cmphex(rec.flags, ==, 0x18);
	g_assert_cmpuint(rec.flags & NP_TELEMETRY_FLAG_MOTOR, !=, 0);
	g_assert_cmpuint(rec.flags & NP_TELEMETRY_FLAG_CONTACT, !=, 0);
	g_assert_cmpuint(rec.flags & (NP_TELEMETRY_FLAG_AREA | NP_TELEMETRY_FLAG_PRESSURE |
				      NP_TELEMETRY_FLAG_CRC | NP_TELEMETRY_FLAG_REPLAYED),
			 ==, 0);
	g_assert_cmpuint(rec.seq, ==, 42);
	g_assert_cmpuint(rec.session_id, ==, 7);
	g_assert_cmpuint(rec.offset_ms, ==, 1000);
	g_assert_cmpuint(rec.depth_centi_mm, ==, 150);
	g_assert_cmpuint(rec.speed_deci_hz, ==, 1200);
}

static void
test_telemetry_vector_2(void)
{
	g_autoptr(GByteArray) b = hex(VECTOR_2);
	NpTelemetryRecord rec;
	size_t consumed = 0;

	g_assert_cmpuint(b->len, ==, 21);
	g_assert_cmpint(np_telemetry_record_decode(b->data, b->len, 0, &rec, &consumed, NULL), ==, NP_OK);
	g_assert_cmpuint(consumed, ==, 21);
	g_assert_cmpuint(rec.size, ==, 21);
	g_assert_cmphex(rec.flags, ==, 0x3b);
	g_assert_cmpuint(rec.seq, ==, 43);
	g_assert_cmpuint(rec.session_id, ==, 7);
	g_assert_cmpuint(rec.offset_ms, ==, 1028);
	g_assert_cmpuint(rec.depth_centi_mm, ==, 150);
	g_assert_cmpuint(rec.speed_deci_hz, ==, 1200);
	g_assert_cmpuint(rec.area, ==, NP_AREA_CHEEKS);
	g_assert_cmpstr(np_area_to_string(rec.area), ==, "cheeks");
	g_assert_cmpuint(rec.pressure_gf, ==, 250);
	g_assert_cmphex(rec.crc, ==, 0x2b35);
}

static void
test_telemetry_vector_3(void)
{
	g_autofree char *text = g_strconcat(VECTOR_1, " ", VECTOR_3B, NULL);
	g_autoptr(GByteArray) b = hex(text);
	NpTelemetryReader r;
	NpTelemetryRecord rec;

	np_telemetry_reader_init(&r, b->data, b->len, 0);
	g_assert_cmpint(np_telemetry_reader_next(&r, &rec), ==, NP_OK);
	g_assert_cmpuint(rec.seq, ==, 42);
	g_assert_cmpuint(rec.offset_ms, ==, 1000);
	g_assert_cmpint(np_telemetry_reader_next(&r, &rec), ==, NP_OK);
	g_assert_cmpuint(rec.seq, ==, 43);
	g_assert_cmpuint(rec.offset_ms, ==, 1040);
	g_assert_cmpuint(rec.depth_centi_mm, ==, 150);
	g_assert_cmpint(np_telemetry_reader_next(&r, &rec), ==, NP_ERR_END);
	g_assert_cmpuint(r.records, ==, 2);
	/* The end stays the end. */
	g_assert_cmpint(np_telemetry_reader_next(&r, &rec), ==, NP_ERR_END);
}

static void
test_telemetry_vector_4(void)
{
	g_autoptr(GByteArray) b = hex(VECTOR_4);
	NpTelemetryReader r;
	NpTelemetryRecord rec;
	size_t consumed = 0;
	size_t fault = 99;

	g_assert_cmpint(np_telemetry_record_decode(b->data, b->len, 0, &rec, &consumed, &fault), ==,
			NP_ERR_RECORD_SIZE_MISMATCH);
	g_assert_cmpuint(fault, ==, 0);
	np_telemetry_reader_init(&r, b->data, b->len, 0);
	g_assert_cmpint(np_telemetry_reader_next(&r, &rec), ==, NP_ERR_RECORD_SIZE_MISMATCH);
	g_assert_cmpuint(r.fault_offset, ==, 0);
	g_assert_cmpuint(r.records, ==, 0);
	g_assert_cmpint(np_telemetry_reader_next(&r, &rec), ==, NP_ERR_END);
}

/* ---- Telemetry: every flag, every field ------------------------------------- */

static void
test_telemetry_size_for_flags(void)
{
	g_assert_cmpuint(np_telemetry_record_size_for_flags(0), ==, 16);
	g_assert_cmpuint(np_telemetry_record_size_for_flags(NP_TELEMETRY_FLAG_AREA), ==, 17);
	g_assert_cmpuint(np_telemetry_record_size_for_flags(NP_TELEMETRY_FLAG_PRESSURE), ==, 18);
	g_assert_cmpuint(np_telemetry_record_size_for_flags(NP_TELEMETRY_FLAG_CRC), ==, 18);
	g_assert_cmpuint(np_telemetry_record_size_for_flags(NP_TELEMETRY_FLAG_REPLAYED |
							    NP_TELEMETRY_FLAG_MOTOR |
							    NP_TELEMETRY_FLAG_CONTACT),
			 ==, 16);
	g_assert_cmpuint(np_telemetry_record_size_for_flags(0x3f), ==, NP_TELEMETRY_RECORD_MAX_SIZE);
	/* Reserved bits do not change the size. */
	g_assert_cmpuint(np_telemetry_record_size_for_flags(0xc0), ==, 16);
	g_assert_cmpuint(np_telemetry_record_size_for_flags(0xff), ==, 21);
}

/* Every combination of the six defined flags, with distinct values in every field. */
static void
test_telemetry_round_trip_all_flags(void)
{
	for (guint flags = 0; flags < 64; flags++) {
		NpTelemetryRecord in = {
		    .flags = (uint8_t)flags,
		    .seq = 0xA1B2C3D4u,
		    .session_id = 0xBEEF,
		    .offset_ms = 0x01020304u,
		    .depth_centi_mm = 300,
		    .speed_deci_hz = 1500,
		    .area = NP_AREA_SCAR,
		    .pressure_gf = 0x1234,
		};
		NpTelemetryRecord out;
		uint8_t buf[NP_TELEMETRY_RECORD_MAX_SIZE];
		size_t len = 0;
		size_t consumed = 0;

		g_assert_cmpint(np_telemetry_record_encode(&in, buf, sizeof buf, &len), ==, NP_OK);
		g_assert_cmpuint(len, ==, np_telemetry_record_size_for_flags((uint8_t)flags));
		g_assert_cmpuint(buf[0], ==, len);
		g_assert_cmpuint(buf[1], ==, flags);
		g_assert_cmpint(np_telemetry_record_decode(buf, len, 0, &out, &consumed, NULL), ==, NP_OK);
		g_assert_cmpuint(consumed, ==, len);
		g_assert_cmpuint(out.size, ==, len);
		g_assert_cmpuint(out.flags, ==, flags);
		g_assert_cmpuint(out.seq, ==, in.seq);
		g_assert_cmpuint(out.session_id, ==, in.session_id);
		g_assert_cmpuint(out.offset_ms, ==, in.offset_ms);
		g_assert_cmpuint(out.depth_centi_mm, ==, in.depth_centi_mm);
		g_assert_cmpuint(out.speed_deci_hz, ==, in.speed_deci_hz);
		if (flags & NP_TELEMETRY_FLAG_AREA)
			g_assert_cmpuint(out.area, ==, in.area);
		if (flags & NP_TELEMETRY_FLAG_PRESSURE)
			g_assert_cmpuint(out.pressure_gf, ==, in.pressure_gf);
		if (flags & NP_TELEMETRY_FLAG_CRC)
			g_assert_cmphex(out.crc, ==, np_crc16_mcrf4xx(buf, len - 2));
	}
}

/* The encoder reproduces the profile's vectors byte for byte. */
static void
test_telemetry_encode_vectors(void)
{
	g_autoptr(GByteArray) v1 = hex(VECTOR_1);
	g_autoptr(GByteArray) v2 = hex(VECTOR_2);
	NpTelemetryRecord r1 = {.flags = 0x18,
				.seq = 42,
				.session_id = 7,
				.offset_ms = 1000,
				.depth_centi_mm = 150,
				.speed_deci_hz = 1200};
	NpTelemetryRecord r2 = {.flags = 0x3b,
				.seq = 43,
				.session_id = 7,
				.offset_ms = 1028,
				.depth_centi_mm = 150,
				.speed_deci_hz = 1200,
				.area = 4,
				.pressure_gf = 250,
				.size = 99,
				.crc = 0xdead /* both ignored */};
	uint8_t buf[32];
	size_t len = 0;

	g_assert_cmpint(np_telemetry_record_encode(&r1, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpmem(buf, len, v1->data, v1->len);
	g_assert_cmpint(np_telemetry_record_encode(&r2, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpmem(buf, len, v2->data, v2->len);
	/* Reserved bits are sent as 0. */
	r1.flags |= 0xc0;
	g_assert_cmpint(np_telemetry_record_encode(&r1, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpmem(buf, len, v1->data, v1->len);
}

static void
test_telemetry_reserved_flags_ignored(void)
{
	g_autoptr(GByteArray) b = hex(VECTOR_1);
	NpTelemetryRecord rec;
	size_t consumed = 0;

	b->data[1] |= 0xc0;
	g_assert_cmpint(np_telemetry_record_decode(b->data, b->len, 0, &rec, &consumed, NULL), ==, NP_OK);
	g_assert_cmphex(rec.flags, ==, 0x18);
	g_assert_cmpuint(rec.seq, ==, 42);
	g_assert_cmpuint(consumed, ==, 16);
}

static void
test_telemetry_replayed_flag(void)
{
	g_autoptr(GByteArray) b = hex(VECTOR_1);
	NpTelemetryRecord rec;
	size_t consumed = 0;

	b->data[1] = NP_TELEMETRY_FLAG_REPLAYED;
	g_assert_cmpint(np_telemetry_record_decode(b->data, b->len, 0, &rec, &consumed, NULL), ==, NP_OK);
	g_assert_cmphex(rec.flags, ==, NP_TELEMETRY_FLAG_REPLAYED);
}

/* Unknown area codes are reported as such, not rejected. */
static void
test_telemetry_unknown_area_kept(void)
{
	NpTelemetryRecord in = {.flags = NP_TELEMETRY_FLAG_AREA, .seq = 1, .area = 0x42};
	NpTelemetryRecord out;
	uint8_t buf[32];
	size_t len = 0;
	size_t consumed = 0;

	g_assert_cmpint(np_telemetry_record_encode(&in, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpint(np_telemetry_record_decode(buf, len, 0, &out, &consumed, NULL), ==, NP_OK);
	g_assert_cmpuint(out.area, ==, 0x42);
	g_assert_cmpstr(np_area_to_string(out.area), ==, "unknown");
}

/* ---- Telemetry: faults -------------------------------------------------------- */

/* Decodes a whole notification; returns the fault and its offset, and the sequence numbers read. */
static NpStatus
read_all(const GByteArray *b, uint16_t max_depth, GArray *seqs, size_t *fault)
{
	NpTelemetryReader r;
	NpTelemetryRecord rec;
	NpStatus st;

	np_telemetry_reader_init(&r, b->data, b->len, max_depth);
	while ((st = np_telemetry_reader_next(&r, &rec)) == NP_OK)
		g_array_append_val(seqs, rec.seq);
	g_assert_cmpuint(r.records, ==, seqs->len);
	*fault = r.fault_offset;
	/* Nothing after a fault (or the end) is decoded. */
	g_assert_cmpint(np_telemetry_reader_next(&r, &rec), ==, NP_ERR_END);
	return st;
}

static void
test_telemetry_empty(void)
{
	g_autoptr(GByteArray) b = g_byte_array_new();
	g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	NpTelemetryReader r;
	NpTelemetryRecord rec;
	size_t consumed = 0;
	size_t fault = 99;

	np_telemetry_reader_init(&r, b->data, 0, 0);
	g_assert_cmpint(np_telemetry_reader_next(&r, &rec), ==, NP_ERR_EMPTY);
	/* and then the end, so that a loop waiting for NP_ERR_END stops */
	g_assert_cmpint(np_telemetry_reader_next(&r, &rec), ==, NP_ERR_END);
	g_assert_cmpuint(r.fault_offset, ==, 0);
	g_assert_cmpint(np_telemetry_record_decode(b->data, 0, 0, &rec, &consumed, &fault), ==, NP_ERR_EMPTY);
	g_assert_cmpuint(fault, ==, 0);
	(void)seqs;
}

static void
test_telemetry_fault_stops_notification(void)
{
	/* good, size mismatch, good: only the first stands. */
	g_autofree char *text = g_strconcat(VECTOR_1, " ", VECTOR_4, " ", VECTOR_3B, NULL);
	g_autoptr(GByteArray) b = hex(text);
	g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	size_t fault = 0;

	g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_RECORD_SIZE_MISMATCH);
	g_assert_cmpuint(seqs->len, ==, 1);
	g_assert_cmpuint(g_array_index(seqs, uint32_t, 0), ==, 42);
	g_assert_cmpuint(fault, ==, 16);
}

static void
test_telemetry_size_mismatch_each_direction(void)
{
	/* Flags announce area + CRC (19 bytes) but size says 21, and the reverse. */
	g_autoptr(GByteArray) b = hex(VECTOR_2);
	g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	size_t fault = 99;

	b->data[1] &= (uint8_t)~NP_TELEMETRY_FLAG_PRESSURE;
	g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_RECORD_SIZE_MISMATCH);
	g_assert_cmpuint(fault, ==, 0);
	g_assert_cmpuint(seqs->len, ==, 0);

	g_byte_array_set_size(b, 0);
	g_byte_array_append(b, (const guint8 *)"\x0f\x00", 2);
	g_byte_array_set_size(b, 15);
	g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_RECORD_SIZE_MISMATCH);
	g_assert_cmpuint(fault, ==, 0);
}

static void
test_telemetry_overrun(void)
{
	g_autofree char *text = g_strconcat(VECTOR_1, " ", VECTOR_2, NULL);
	g_autoptr(GByteArray) b = hex(text);
	g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	size_t fault = 99;

	/* The second record (21 bytes) loses its last byte. */
	g_byte_array_set_size(b, b->len - 1);
	g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_RECORD_OVERRUN);
	g_assert_cmpuint(seqs->len, ==, 1);
	g_assert_cmpuint(fault, ==, 16);

	/* One stray byte after a good record: a record cannot start there. */
	g_array_set_size(seqs, 0);
	g_byte_array_set_size(b, 17);
	b->data[16] = 0x10;
	g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_RECORD_OVERRUN);
	g_assert_cmpuint(seqs->len, ==, 1);
	g_assert_cmpuint(fault, ==, 16);
}

static void
test_telemetry_bad_crc(void)
{
	g_autofree char *text = g_strconcat(VECTOR_1, " ", VECTOR_2, " ", VECTOR_1, NULL);
	g_autoptr(GByteArray) b = hex(text);
	g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	size_t fault = 99;

	/* Any one flipped bit in the covered bytes or the CRC itself. */
	for (guint i = 16; i < 16 + 21; i++) {
		if (i == 16 || i == 17)
			continue; /* size and flags: a size mismatch, tested above */
		g_array_set_size(seqs, 0);
		b->data[i] ^= 0x01;
		g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_BAD_CRC);
		g_assert_cmpuint(seqs->len, ==, 1);
		g_assert_cmpuint(fault, ==, 16 + 19);
		b->data[i] ^= 0x01;
	}
	g_array_set_size(seqs, 0);
	g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_END);
	g_assert_cmpuint(seqs->len, ==, 3);
}

static void
test_telemetry_depth_limits(void)
{
	g_autoptr(GByteArray) b = hex(VECTOR_1);
	g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	size_t fault = 99;

	/* 3.00 mm is the deepest any pen reaches: it stands, 3.01 does not. */
	b->data[12] = 300 & 0xff;
	b->data[13] = 300 >> 8;
	g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_END);
	g_assert_cmpuint(seqs->len, ==, 1);
	b->data[12] = 301 & 0xff;
	g_array_set_size(seqs, 0);
	g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_DEPTH_OUT_OF_RANGE);
	g_assert_cmpuint(fault, ==, 12);
	g_assert_cmpuint(seqs->len, ==, 0);
	/* A pen maximum above 3.00 mm does not widen the profile's range. */
	g_assert_cmpint(read_all(b, 400, seqs, &fault), ==, NP_ERR_DEPTH_OUT_OF_RANGE);
	b->data[12] = 0xff;
	b->data[13] = 0xff;
	g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_DEPTH_OUT_OF_RANGE);

	/* The pen's own maximum (Pen Features): 2.50 stands, 2.51 does not. */
	b->data[12] = 250;
	b->data[13] = 0;
	g_assert_cmpint(read_all(b, 250, seqs, &fault), ==, NP_ERR_END);
	g_assert_cmpuint(seqs->len, ==, 1);
	b->data[12] = 251;
	g_array_set_size(seqs, 0);
	g_assert_cmpint(read_all(b, 250, seqs, &fault), ==, NP_ERR_DEPTH_OUT_OF_RANGE);
	g_assert_cmpuint(fault, ==, 12);
	g_assert_cmpuint(seqs->len, ==, 0);
	/* 0: maximum not known, only 3.00 applies. */
	g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_END);
}

static void
test_telemetry_depth_fault_offset_in_notification(void)
{
	g_autofree char *text = g_strconcat(VECTOR_1, " ", VECTOR_3B, NULL);
	g_autoptr(GByteArray) b = hex(text);
	g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	size_t fault = 99;

	b->data[16 + 12] = 0x2d; /* 0x012d = 301 */
	b->data[16 + 13] = 0x01;
	g_assert_cmpint(read_all(b, 0, seqs, &fault), ==, NP_ERR_DEPTH_OUT_OF_RANGE);
	g_assert_cmpuint(fault, ==, 28);
	g_assert_cmpuint(seqs->len, ==, 1);
}

static void
test_telemetry_encode_too_small(void)
{
	NpTelemetryRecord in = {.flags = 0x3f};
	uint8_t buf[NP_TELEMETRY_RECORD_MAX_SIZE];
	size_t len = 0;

	g_assert_cmpint(np_telemetry_record_encode(&in, buf, 20, &len), ==, NP_ERR_BUFFER_TOO_SMALL);
	g_assert_cmpint(np_telemetry_record_encode(&in, buf, 21, &len), ==, NP_OK);
	in.flags = 0;
	g_assert_cmpint(np_telemetry_record_encode(&in, buf, 15, &len), ==, NP_ERR_BUFFER_TOO_SMALL);
	g_assert_cmpint(np_telemetry_record_encode(&in, buf, 16, &len), ==, NP_OK);
	g_assert_cmpuint(len, ==, 16);
}

/* A full MTU-247 notification: 12 records of 20 bytes (pressure + CRC). */
static void
test_telemetry_full_notification(void)
{
	uint8_t buf[244];
	size_t pos = 0;
	NpTelemetryReader r;
	NpTelemetryRecord rec;
	uint32_t expect = 1000;

	for (guint i = 0; i < 12; i++) {
		NpTelemetryRecord in = {.flags = NP_TELEMETRY_FLAG_PRESSURE | NP_TELEMETRY_FLAG_CRC |
						 NP_TELEMETRY_FLAG_MOTOR,
					.seq = 1000 + i,
					.session_id = 3,
					.offset_ms = 40 * i,
					.depth_centi_mm = (uint16_t)(100 + i),
					.speed_deci_hz = 1000,
					.pressure_gf = 200};
		size_t len = 0;

		g_assert_cmpint(np_telemetry_record_encode(&in, buf + pos, sizeof buf - pos, &len), ==,
				NP_OK);
		pos += len;
	}
	g_assert_cmpuint(pos, ==, 240);
	np_telemetry_reader_init(&r, buf, pos, 0);
	while (np_telemetry_reader_next(&r, &rec) == NP_OK) {
		g_assert_cmpuint(rec.seq, ==, expect);
		g_assert_cmpuint(rec.depth_centi_mm, ==, 100 + expect - 1000);
		expect++;
	}
	g_assert_cmpuint(r.records, ==, 12);
}

/* ---- Session Event -------------------------------------------------------------- */

static void
check_event_round_trip(const NpSessionEvent *in, const char *expect_hex)
{
	g_autoptr(GByteArray) expect = hex(expect_hex);
	uint8_t buf[NP_SESSION_EVENT_MAX_SIZE + 4];
	NpSessionEvent out;
	size_t len = 0;
	size_t fault = 99;

	g_assert_cmpint(np_session_event_encode(in, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpmem(buf, len, expect->data, expect->len);
	g_assert_cmpint(np_session_event_decode(buf, len, &out, &fault), ==, NP_OK);
	g_assert_cmpuint(out.type, ==, in->type);
	g_assert_cmpuint(out.seq, ==, in->seq);
	g_assert_cmpuint(out.session_id, ==, in->session_id);
	g_assert_cmpuint(out.pen_clock_ms, ==, in->pen_clock_ms);
	/* Re-encoding what was decoded gives the same bytes: every parameter came back. */
	g_assert_cmpint(np_session_event_encode(&out, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpmem(buf, len, expect->data, expect->len);
	/* One byte less is truncated at the end, one more is trailing. */
	g_assert_cmpint(np_session_event_decode(expect->data, expect->len - 1, &out, &fault), ==,
			NP_ERR_TRUNCATED);
	g_assert_cmpuint(fault, ==, expect->len - 1);
	g_byte_array_append(expect, (const guint8 *)"\0", 1);
	g_assert_cmpint(np_session_event_decode(expect->data, expect->len, &out, &fault), ==,
			NP_ERR_TRAILING_BYTES);
	g_assert_cmpuint(fault, ==, expect->len - 1);
	/* And the encoder needs room for every byte. */
	g_assert_cmpint(np_session_event_encode(in, buf, expect->len - 2, &len), ==, NP_ERR_BUFFER_TOO_SMALL);
}

#define EV_HEADER(type) type " 2c000000 0700 00e8f5a3b5010000"
#define EV_CLOCK	G_GUINT64_CONSTANT(0x1b5a3f5e800)

static void
test_event_session_started(void)
{
	NpSessionEvent ev = {
	    .type = NP_EVENT_SESSION_STARTED, .seq = 44, .session_id = 7, .pen_clock_ms = EV_CLOCK};
	g_autoptr(GByteArray) b = hex(EV_HEADER("01") " 78563412 0c 0100 04");
	NpSessionEvent out;

	ev.u.started.cartridge.cartridge_id = 0x12345678;
	ev.u.started.cartridge.needle_count = 12;
	ev.u.started.cartridge.use_count = 1;
	ev.u.started.area = NP_AREA_CHEEKS;
	check_event_round_trip(&ev, EV_HEADER("01") " 78563412 0c 0100 04");
	g_assert_cmpuint(b->len, ==, NP_SESSION_EVENT_MAX_SIZE);
	g_assert_cmpint(np_session_event_decode(b->data, b->len, &out, NULL), ==, NP_OK);
	g_assert_cmpuint(out.u.started.cartridge.cartridge_id, ==, 0x12345678);
	g_assert_cmpuint(out.u.started.cartridge.needle_count, ==, 12);
	g_assert_cmpuint(out.u.started.cartridge.use_count, ==, 1);
	g_assert_cmpuint(out.u.started.area, ==, NP_AREA_CHEEKS);
	g_assert_cmpuint(out.pen_clock_ms, ==, EV_CLOCK);
}

static void
test_event_session_ended(void)
{
	NpSessionEvent ev = {
	    .type = NP_EVENT_SESSION_ENDED, .seq = 44, .session_id = 7, .pen_clock_ms = EV_CLOCK};
	g_autoptr(GByteArray) b = hex(EV_HEADER("02") " 40771b00 03");
	NpSessionEvent out;

	ev.u.ended.duration_ms = 1800000;
	ev.u.ended.reason = NP_END_REASON_REMOTE_STOP;
	check_event_round_trip(&ev, EV_HEADER("02") " 40771b00 03");
	g_assert_cmpint(np_session_event_decode(b->data, b->len, &out, NULL), ==, NP_OK);
	g_assert_cmpuint(out.u.ended.duration_ms, ==, 1800000);
	g_assert_cmpstr(np_end_reason_to_string(out.u.ended.reason), ==, "remote_stop");
}

static void
test_event_area_changed(void)
{
	NpSessionEvent ev = {
	    .type = NP_EVENT_AREA_CHANGED, .seq = 44, .session_id = 7, .pen_clock_ms = EV_CLOCK};
	g_autoptr(GByteArray) b = hex(EV_HEADER("03") " 0f");
	NpSessionEvent out;

	ev.u.area_changed.area = NP_AREA_SCAR;
	check_event_round_trip(&ev, EV_HEADER("03") " 0f");
	g_assert_cmpint(np_session_event_decode(b->data, b->len, &out, NULL), ==, NP_OK);
	g_assert_cmpuint(out.u.area_changed.area, ==, NP_AREA_SCAR);
	/* An unknown area is reported as unknown, not rejected. */
	b->data[15] = 0x10;
	g_assert_cmpint(np_session_event_decode(b->data, b->len, &out, NULL), ==, NP_OK);
	g_assert_cmpstr(np_area_to_string(out.u.area_changed.area), ==, "unknown");
}

static void
test_event_cartridge(void)
{
	NpSessionEvent ev = {
	    .type = NP_EVENT_CARTRIDGE_INSERTED, .seq = 44, .session_id = 7, .pen_clock_ms = EV_CLOCK};
	NpSessionEvent removed = {.type = NP_EVENT_CARTRIDGE_REMOVED, .seq = 45, .session_id = 0};

	ev.u.cartridge_inserted.cartridge_id = 0xCAFEF00D;
	ev.u.cartridge_inserted.needle_count = 36;
	ev.u.cartridge_inserted.use_count = 2;
	check_event_round_trip(&ev, EV_HEADER("04") " 0df0feca 24 0200");
	check_event_round_trip(&removed, "05 2d000000 0000 0000000000000000");
}

static void
test_event_error(void)
{
	NpSessionEvent raised = {
	    .type = NP_EVENT_ERROR_RAISED, .seq = 44, .session_id = 7, .pen_clock_ms = EV_CLOCK};
	NpSessionEvent cleared = raised;
	g_autoptr(GByteArray) b = hex(EV_HEADER("06") " 0200");
	NpSessionEvent out;

	raised.u.error.code = NP_PEN_ERROR_OVER_TEMPERATURE;
	cleared.type = NP_EVENT_ERROR_CLEARED;
	cleared.u.error.code = 0x1234;
	check_event_round_trip(&raised, EV_HEADER("06") " 0200");
	check_event_round_trip(&cleared, EV_HEADER("07") " 3412");
	g_assert_cmpint(np_session_event_decode(b->data, b->len, &out, NULL), ==, NP_OK);
	g_assert_cmpstr(np_pen_error_to_string(out.u.error.code), ==, "over_temperature");
}

static void
test_event_limits_applied(void)
{
	NpSessionEvent ev = {
	    .type = NP_EVENT_LIMITS_APPLIED, .seq = 44, .session_id = 7, .pen_clock_ms = EV_CLOCK};
	g_autoptr(GByteArray) b = hex(EV_HEADER("08") " 9600 ffff e803");
	NpSessionEvent out;

	ev.u.limits_applied.max_depth_centi_mm = 150;
	ev.u.limits_applied.min_speed_deci_hz = NP_LIMIT_NONE;
	ev.u.limits_applied.max_speed_deci_hz = 1000;
	check_event_round_trip(&ev, EV_HEADER("08") " 9600 ffff e803");
	g_assert_cmpint(np_session_event_decode(b->data, b->len, &out, NULL), ==, NP_OK);
	g_assert_cmpuint(out.u.limits_applied.max_depth_centi_mm, ==, 150);
	g_assert_cmpuint(out.u.limits_applied.min_speed_deci_hz, ==, NP_LIMIT_NONE);
	g_assert_cmpuint(out.u.limits_applied.max_speed_deci_hz, ==, 1000);
}

static void
test_event_faults(void)
{
	g_autoptr(GByteArray) b = hex(EV_HEADER("01") " 78563412 0c 0100 04");
	NpSessionEvent out;
	size_t fault = 99;
	uint8_t buf[NP_SESSION_EVENT_MAX_SIZE];
	size_t len = 0;

	g_assert_cmpint(np_session_event_decode(b->data, 0, &out, &fault), ==, NP_ERR_EMPTY);
	g_assert_cmpuint(fault, ==, 0);
	/* Shorter than the header. */
	g_assert_cmpint(np_session_event_decode(b->data, 10, &out, &fault), ==, NP_ERR_TRUNCATED);
	g_assert_cmpuint(fault, ==, 10);
	g_assert_cmpint(np_session_event_decode(b->data, 1, &out, &fault), ==, NP_ERR_TRUNCATED);
	g_assert_cmpuint(fault, ==, 1);
	for (guint type = 0; type < 256; type++) {
		if (type >= NP_EVENT_SESSION_STARTED && type <= NP_EVENT_LIMITS_APPLIED)
			continue;
		b->data[0] = (uint8_t)type;
		fault = 99;
		g_assert_cmpint(np_session_event_decode(b->data, b->len, &out, &fault), ==,
				NP_ERR_UNKNOWN_EVENT);
		g_assert_cmpuint(fault, ==, 0);
		g_assert_cmpstr(np_event_type_to_string((uint8_t)type), ==, "unknown");
		out.type = (uint8_t)type;
		g_assert_cmpint(np_session_event_encode(&out, buf, sizeof buf, &len), ==,
				NP_ERR_INVALID_ARGUMENT);
	}
}

/* ---- Control Point ---------------------------------------------------------------- */

static void
check_request(const NpControlRequest *in, const char *expect_hex)
{
	g_autoptr(GByteArray) expect = hex(expect_hex);
	uint8_t buf[NP_CONTROL_REQUEST_MAX_SIZE + 2];
	NpControlRequest out;
	size_t len = 0;
	size_t fault = 99;

	g_assert_cmpint(np_control_request_encode(in, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpmem(buf, len, expect->data, expect->len);
	g_assert_cmpint(np_control_request_decode(buf, len, &out, &fault), ==, NP_OK);
	g_assert_cmpuint(out.op, ==, in->op);
	g_assert_cmpint(np_control_request_encode(&out, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpmem(buf, len, expect->data, expect->len);
	if (expect->len > 1) {
		g_assert_cmpint(np_control_request_decode(expect->data, expect->len - 1, &out, &fault), ==,
				NP_ERR_TRUNCATED);
		g_assert_cmpuint(fault, ==, expect->len - 1);
	}
	g_byte_array_append(expect, (const guint8 *)"\x01", 1);
	g_assert_cmpint(np_control_request_decode(expect->data, expect->len, &out, &fault), ==,
			NP_ERR_TRAILING_BYTES);
	g_assert_cmpuint(fault, ==, expect->len - 1);
	g_assert_cmpint(np_control_request_encode(in, buf, expect->len - 2, &len), ==,
			NP_ERR_BUFFER_TOO_SMALL);
}

static void
test_control_requests(void)
{
	NpControlRequest set_time = {.op = NP_OP_SET_TIME, .u.time_ms = EV_CLOCK};
	NpControlRequest set_limits = {.op = NP_OP_SET_LIMITS};
	NpControlRequest report = {.op = NP_OP_REPORT_STORED_RECORDS, .u.first_seq = 42};
	NpControlRequest set_area = {.op = NP_OP_SET_AREA, .u.area = NP_AREA_PERIORBITAL};
	NpControlRequest out;
	g_autoptr(GByteArray) b = hex("02 9600 e803 dc05");

	set_limits.u.limits.max_depth_centi_mm = 150;
	set_limits.u.limits.min_speed_deci_hz = 1000;
	set_limits.u.limits.max_speed_deci_hz = 1500;
	check_request(&set_time, "01 00e8f5a3b5010000");
	check_request(&set_limits, "02 9600 e803 dc05");
	check_request(&(NpControlRequest){.op = NP_OP_CLEAR_LIMITS}, "03");
	check_request(&report, "04 2a000000");
	check_request(&(NpControlRequest){.op = NP_OP_STOP_SESSION}, "05");
	check_request(&set_area, "06 02");
	check_request(&(NpControlRequest){.op = NP_OP_IDENTIFY}, "07");

	g_assert_cmpint(np_control_request_decode(b->data, b->len, &out, NULL), ==, NP_OK);
	g_assert_cmpuint(out.u.limits.max_depth_centi_mm, ==, 150);
	g_assert_cmpuint(out.u.limits.min_speed_deci_hz, ==, 1000);
	g_assert_cmpuint(out.u.limits.max_speed_deci_hz, ==, 1500);
	g_assert_cmpstr(np_op_code_to_string(out.op), ==, "set_limits");
}

static void
test_control_request_faults(void)
{
	uint8_t buf[4] = {0};
	NpControlRequest out;
	size_t fault = 99;
	size_t len = 0;

	g_assert_cmpint(np_control_request_decode(buf, 0, &out, &fault), ==, NP_ERR_EMPTY);
	g_assert_cmpuint(fault, ==, 0);
	for (guint op = 0; op < 256; op++) {
		if (op >= NP_OP_SET_TIME && op <= NP_OP_IDENTIFY)
			continue;
		buf[0] = (uint8_t)op;
		fault = 99;
		out.op = 0;
		g_assert_cmpint(np_control_request_decode(buf, 1, &out, &fault), ==, NP_ERR_UNKNOWN_OPCODE);
		/* The pen needs the op to answer "not supported". */
		g_assert_cmpuint(out.op, ==, op);
		g_assert_cmpuint(fault, ==, 0);
		g_assert_cmpstr(np_op_code_to_string((uint8_t)op), ==, "unknown");
		g_assert_cmpint(np_control_request_encode(&out, buf, sizeof buf, &len), ==,
				NP_ERR_INVALID_ARGUMENT);
	}
}

static void
check_response(const NpControlResponse *in, const char *expect_hex)
{
	g_autoptr(GByteArray) expect = hex(expect_hex);
	uint8_t buf[NP_CONTROL_RESPONSE_MAX_SIZE + 2];
	NpControlResponse out;
	size_t len = 0;
	size_t fault = 99;

	g_assert_cmpint(np_control_response_encode(in, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpmem(buf, len, expect->data, expect->len);
	g_assert_cmpint(np_control_response_decode(buf, len, &out, &fault), ==, NP_OK);
	g_assert_cmpuint(out.request_op, ==, in->request_op);
	g_assert_cmpuint(out.result, ==, in->result);
	g_assert_cmpint(np_control_response_decode(expect->data, expect->len - 1, &out, &fault), ==,
			NP_ERR_TRUNCATED);
	g_assert_cmpuint(fault, ==, expect->len - 1);
	g_byte_array_append(expect, (const guint8 *)"\x01", 1);
	g_assert_cmpint(np_control_response_decode(expect->data, expect->len, &out, &fault), ==,
			NP_ERR_TRAILING_BYTES);
	g_assert_cmpuint(fault, ==, expect->len - 1);
	g_assert_cmpint(np_control_response_encode(in, buf, expect->len - 2, &len), ==,
			NP_ERR_BUFFER_TOO_SMALL);
}

static void
test_control_responses(void)
{
	NpControlResponse out;
	g_autoptr(GByteArray) b = hex("80 04 01 0c000000");

	check_response(&(NpControlResponse){.request_op = NP_OP_REPORT_STORED_RECORDS,
					    .result = NP_RESULT_SUCCESS,
					    .records_sent = 12},
		       "80 04 01 0c000000");
	/* Records sent only with success of Report Stored Records. */
	check_response(&(NpControlResponse){.request_op = NP_OP_REPORT_STORED_RECORDS,
					    .result = NP_RESULT_BUSY,
					    .records_sent = 12},
		       "80 04 06");
	for (guint op = NP_OP_SET_TIME; op <= NP_OP_IDENTIFY; op++) {
		for (guint result = NP_RESULT_SUCCESS; result <= NP_RESULT_BUSY; result++) {
			if (op == NP_OP_REPORT_STORED_RECORDS && result == NP_RESULT_SUCCESS)
				continue;
			g_autofree char *text = g_strdup_printf("80 %02x %02x", op, result);
			check_response(
			    &(NpControlResponse){.request_op = (uint8_t)op, .result = (uint8_t)result}, text);
		}
	}
	/* The pen echoes whatever op it got, and an unknown result is reported as such. */
	check_response(&(NpControlResponse){.request_op = 0x42, .result = 0x09}, "80 42 09");
	g_assert_cmpint(np_control_response_decode(b->data, b->len, &out, NULL), ==, NP_OK);
	g_assert_cmpuint(out.records_sent, ==, 12);
	g_assert_cmpstr(np_result_code_to_string(NP_RESULT_NOT_PERMITTED), ==, "not_permitted");
	g_assert_cmpstr(np_result_code_to_string(0), ==, "unknown");
	g_assert_cmpstr(np_result_code_to_string(7), ==, "unknown");
}

static void
test_control_response_faults(void)
{
	g_autoptr(GByteArray) b = hex("80 04 01 0c000000");
	NpControlResponse out;
	size_t fault = 99;

	g_assert_cmpint(np_control_response_decode(b->data, 0, &out, &fault), ==, NP_ERR_EMPTY);
	g_assert_cmpuint(fault, ==, 0);
	g_assert_cmpint(np_control_response_decode(b->data, 2, &out, &fault), ==, NP_ERR_TRUNCATED);
	g_assert_cmpuint(fault, ==, 2);
	g_assert_cmpint(np_control_response_decode(b->data, 1, &out, &fault), ==, NP_ERR_TRUNCATED);
	g_assert_cmpuint(fault, ==, 1);
	/* A successful Report Stored Records without its count. */
	g_assert_cmpint(np_control_response_decode(b->data, 3, &out, &fault), ==, NP_ERR_TRUNCATED);
	g_assert_cmpuint(fault, ==, 3);
	/* A request echoed back is not a response. */
	b->data[0] = NP_OP_REPORT_STORED_RECORDS;
	fault = 99;
	g_assert_cmpint(np_control_response_decode(b->data, 5, &out, &fault), ==, NP_ERR_NOT_A_RESPONSE);
	g_assert_cmpuint(fault, ==, 0);
	b->data[0] = 0x81;
	g_assert_cmpint(np_control_response_decode(b->data, b->len, &out, &fault), ==, NP_ERR_NOT_A_RESPONSE);
}

/* ---- Pen Status, Pen Features, Battery, advertisement ------------------------------- */

static void
test_pen_status(void)
{
	g_autoptr(GByteArray) b = hex("01 0100 78563412 0c 0700 03 00");
	NpPenStatus st;
	NpPenStatus again;
	uint8_t buf[NP_PEN_STATUS_SIZE];
	size_t len = 0;
	size_t fault = 99;

	g_assert_cmpint(np_pen_status_decode(b->data, b->len, &st, &fault), ==, NP_OK);
	g_assert_cmpuint(st.state, ==, NP_PEN_STATE_SESSION_ACTIVE);
	g_assert_cmpstr(np_pen_state_to_string(st.state), ==, "session_active");
	g_assert_cmpuint(st.error_code, ==, NP_PEN_ERROR_MOTOR_STALL);
	g_assert_cmpuint(st.cartridge_id, ==, 0x12345678);
	g_assert_cmpuint(st.needle_count, ==, 12);
	g_assert_cmpuint(st.session_id, ==, 7);
	g_assert_cmphex(st.flags, ==, NP_STATUS_FLAG_LIMITS_ACTIVE | NP_STATUS_FLAG_CLOCK_SET);
	g_assert_cmpint(np_pen_status_encode(&st, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpmem(buf, len, b->data, b->len);

	/* Reserved flag bits and the reserved byte are ignored, and sent as 0. */
	b->data[10] = 0xfe;
	b->data[11] = 0xaa;
	g_assert_cmpint(np_pen_status_decode(b->data, b->len, &again, &fault), ==, NP_OK);
	g_assert_cmphex(again.flags, ==, NP_STATUS_FLAG_CLOCK_SET);
	g_assert_cmpint(np_pen_status_encode(&again, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpuint(buf[10], ==, NP_STATUS_FLAG_CLOCK_SET);
	g_assert_cmpuint(buf[11], ==, 0);
	again.flags = 0xff;
	g_assert_cmpint(np_pen_status_encode(&again, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpuint(buf[10], ==, 0x03);

	g_assert_cmpint(np_pen_status_decode(b->data, 0, &st, &fault), ==, NP_ERR_EMPTY);
	g_assert_cmpuint(fault, ==, 0);
	g_assert_cmpint(np_pen_status_decode(b->data, 11, &st, &fault), ==, NP_ERR_TRUNCATED);
	g_assert_cmpuint(fault, ==, 11);
	g_byte_array_append(b, (const guint8 *)"\0", 1);
	g_assert_cmpint(np_pen_status_decode(b->data, b->len, &st, &fault), ==, NP_ERR_TRAILING_BYTES);
	g_assert_cmpuint(fault, ==, 12);
	g_assert_cmpint(np_pen_status_encode(&st, buf, 11, &len), ==, NP_ERR_BUFFER_TOO_SMALL);
	g_assert_cmpstr(np_pen_state_to_string(4), ==, "unknown");
}

static void
test_pen_features(void)
{
	g_autoptr(GByteArray) b = hex("01 1f00 19 0010 2c01");
	NpPenFeatures f;
	uint8_t buf[NP_PEN_FEATURES_SIZE];
	size_t len = 0;
	size_t fault = 99;

	g_assert_cmpint(np_pen_features_decode(b->data, b->len, &f, &fault), ==, NP_OK);
	g_assert_cmpuint(f.protocol_version, ==, 1);
	g_assert_cmphex(f.feature_bits, ==,
			NP_FEATURE_E2E_CRC | NP_FEATURE_PRESSURE | NP_FEATURE_AREA_SELECTOR |
			    NP_FEATURE_STORED_RECORDS | NP_FEATURE_LIMIT_ENFORCEMENT);
	g_assert_cmpuint(f.telemetry_rate_hz, ==, 25);
	g_assert_cmpuint(f.stored_records_capacity, ==, 4096);
	g_assert_cmpuint(f.max_depth_centi_mm, ==, 300);
	g_assert_cmpint(np_pen_features_encode(&f, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpmem(buf, len, b->data, b->len);

	/* Unknown feature bits are kept as sent (a v1.x pen). */
	b->data[2] = 0x80;
	g_assert_cmpint(np_pen_features_decode(b->data, b->len, &f, &fault), ==, NP_OK);
	g_assert_cmphex(f.feature_bits, ==, 0x801f);

	/* Another version is refused, but decoded so that the error can name it. */
	b->data[0] = 2;
	fault = 99;
	g_assert_cmpint(np_pen_features_decode(b->data, b->len, &f, &fault), ==, NP_ERR_UNSUPPORTED_VERSION);
	g_assert_cmpuint(fault, ==, 0);
	g_assert_cmpuint(f.protocol_version, ==, 2);
	b->data[0] = 0;
	g_assert_cmpint(np_pen_features_decode(b->data, b->len, &f, &fault), ==, NP_ERR_UNSUPPORTED_VERSION);

	g_assert_cmpint(np_pen_features_decode(b->data, 0, &f, &fault), ==, NP_ERR_EMPTY);
	g_assert_cmpint(np_pen_features_decode(b->data, 7, &f, &fault), ==, NP_ERR_TRUNCATED);
	g_assert_cmpuint(fault, ==, 7);
	g_byte_array_append(b, (const guint8 *)"\0", 1);
	g_assert_cmpint(np_pen_features_decode(b->data, b->len, &f, &fault), ==, NP_ERR_TRAILING_BYTES);
	g_assert_cmpuint(fault, ==, 8);
	g_assert_cmpint(np_pen_features_encode(&f, buf, 7, &len), ==, NP_ERR_BUFFER_TOO_SMALL);
}

static void
test_battery_level(void)
{
	uint8_t buf[2] = {0};
	uint8_t percent = 0;
	size_t len = 0;
	size_t fault = 99;

	for (guint p = 0; p <= 100; p++) {
		g_assert_cmpint(np_battery_level_encode((uint8_t)p, buf, 1, &len), ==, NP_OK);
		g_assert_cmpuint(len, ==, 1);
		g_assert_cmpint(np_battery_level_decode(buf, 1, &percent, &fault), ==, NP_OK);
		g_assert_cmpuint(percent, ==, p);
	}
	buf[0] = 101;
	g_assert_cmpint(np_battery_level_decode(buf, 1, &percent, &fault), ==, NP_ERR_VALUE_OUT_OF_RANGE);
	g_assert_cmpuint(fault, ==, 0);
	buf[0] = 0xff;
	g_assert_cmpint(np_battery_level_decode(buf, 1, &percent, &fault), ==, NP_ERR_VALUE_OUT_OF_RANGE);
	g_assert_cmpint(np_battery_level_decode(buf, 0, &percent, &fault), ==, NP_ERR_EMPTY);
	g_assert_cmpint(np_battery_level_decode(buf, 2, &percent, &fault), ==, NP_ERR_TRAILING_BYTES);
	g_assert_cmpuint(fault, ==, 1);
	g_assert_cmpint(np_battery_level_encode(101, buf, 1, &len), ==, NP_ERR_INVALID_ARGUMENT);
	g_assert_cmpint(np_battery_level_encode(50, buf, 0, &len), ==, NP_ERR_BUFFER_TOO_SMALL);
}

static void
test_adv_mfr_data(void)
{
	g_autoptr(GByteArray) b = hex("07 02 55");
	NpAdvMfrData adv;
	uint8_t buf[NP_ADV_MFR_DATA_SIZE];
	size_t len = 0;
	size_t fault = 99;

	g_assert_cmpint(np_adv_mfr_data_decode(b->data, b->len, &adv, &fault), ==, NP_OK);
	g_assert_cmpuint(adv.model_code, ==, 7);
	g_assert_cmpuint(adv.state, ==, NP_PEN_STATE_CHARGING);
	g_assert_cmpuint(adv.battery_percent, ==, 85);
	g_assert_cmpint(np_adv_mfr_data_encode(&adv, buf, sizeof buf, &len), ==, NP_OK);
	g_assert_cmpmem(buf, len, b->data, b->len);
	g_assert_cmpint(np_adv_mfr_data_encode(&adv, buf, 2, &len), ==, NP_ERR_BUFFER_TOO_SMALL);

	b->data[2] = 101;
	g_assert_cmpint(np_adv_mfr_data_decode(b->data, b->len, &adv, &fault), ==, NP_ERR_VALUE_OUT_OF_RANGE);
	g_assert_cmpuint(fault, ==, 2);
	adv.battery_percent = 101;
	g_assert_cmpint(np_adv_mfr_data_encode(&adv, buf, sizeof buf, &len), ==, NP_ERR_INVALID_ARGUMENT);
	g_assert_cmpint(np_adv_mfr_data_decode(b->data, 0, &adv, &fault), ==, NP_ERR_EMPTY);
	g_assert_cmpint(np_adv_mfr_data_decode(b->data, 2, &adv, &fault), ==, NP_ERR_TRUNCATED);
	g_assert_cmpuint(fault, ==, 2);
	g_byte_array_append(b, (const guint8 *)"\0", 1);
	b->data[2] = 100;
	g_assert_cmpint(np_adv_mfr_data_decode(b->data, b->len, &adv, &fault), ==, NP_ERR_TRAILING_BYTES);
	g_assert_cmpuint(fault, ==, 3);
}

/* ---- names ------------------------------------------------------------------------------ */

static void
test_area_names(void)
{
	static const char *const names[] = {
	    "unspecified", "forehead", "periorbital", "nose",	 "cheeks", "perioral", "chin_jawline", "neck",
	    "decollete",   "arms",     "hands",	      "abdomen", "thighs", "back",     "scalp",	       "scar",
	};

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		g_assert_cmpstr(np_area_to_string((uint8_t)i), ==, names[i]);
		g_assert_cmpint(np_area_from_string(names[i]), ==, (int)i);
	}
	for (guint i = NP_AREA_COUNT; i < 256; i++)
		g_assert_cmpstr(np_area_to_string((uint8_t)i), ==, "unknown");
	g_assert_cmpint(np_area_from_string("unknown"), ==, -1);
	g_assert_cmpint(np_area_from_string("Cheeks"), ==, -1);
	g_assert_cmpint(np_area_from_string(""), ==, -1);
	g_assert_cmpint(np_area_from_string(NULL), ==, -1);
}

static void
test_code_names(void)
{
	g_assert_cmpstr(np_pen_error_to_string(0), ==, "none");
	g_assert_cmpstr(np_pen_error_to_string(NP_PEN_ERROR_MOTOR_STALL), ==, "motor_stall");
	g_assert_cmpstr(np_pen_error_to_string(NP_PEN_ERROR_BATTERY_CRITICAL), ==, "battery_critical");
	g_assert_cmpstr(np_pen_error_to_string(6), ==, "unknown");
	g_assert_cmpstr(np_pen_error_to_string(0xffff), ==, "unknown");
	g_assert_cmpstr(np_pen_error_to_string(0x0100), ==, "unknown");
	g_assert_cmpstr(np_end_reason_to_string(NP_END_REASON_LIMIT), ==, "limit");
	g_assert_cmpstr(np_end_reason_to_string(5), ==, "unknown");
	g_assert_cmpstr(np_event_type_to_string(NP_EVENT_LIMITS_APPLIED), ==, "limits_applied");
	g_assert_cmpstr(np_op_code_to_string(NP_OP_IDENTIFY), ==, "identify");
	g_assert_cmpstr(np_pen_state_to_string(NP_PEN_STATE_ERROR), ==, "error");
}

static void
test_status_names(void)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	for (int st = NP_OK; st <= NP_ERR_INVALID_ARGUMENT; st++) {
		const char *id = np_status_to_string((NpStatus)st);
		const char *text = np_status_describe((NpStatus)st);

		g_assert_nonnull(id);
		g_assert_cmpstr(id, !=, "unknown");
		g_assert_nonnull(text);
		g_assert_cmpuint(strlen(text), >, 5);
		/* A stable identifier: lower case and underscores only, never twice. */
		for (const char *p = id; *p != '\0'; p++)
			g_assert_true(g_ascii_islower(*p) || *p == '_');
		g_assert_false(g_hash_table_contains(seen, id));
		g_hash_table_add(seen, (gpointer)id);
	}
	g_assert_cmpstr(np_status_to_string(NP_ERR_RECORD_SIZE_MISMATCH), ==, "record_size_mismatch");
	g_assert_cmpstr(np_status_to_string(NP_ERR_BAD_CRC), ==, "bad_crc");
	g_assert_cmpstr(np_status_to_string((NpStatus)999), ==, "unknown");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/np/crc/check-value", test_crc_check_value);
	g_test_add_func("/np/crc/vector-2", test_crc_vector_2);
	g_test_add_func("/np/telemetry/vector-1", test_telemetry_vector_1);
	g_test_add_func("/np/telemetry/vector-2", test_telemetry_vector_2);
	g_test_add_func("/np/telemetry/vector-3", test_telemetry_vector_3);
	g_test_add_func("/np/telemetry/vector-4", test_telemetry_vector_4);
	g_test_add_func("/np/telemetry/size-for-flags", test_telemetry_size_for_flags);
	g_test_add_func("/np/telemetry/round-trip-all-flags", test_telemetry_round_trip_all_flags);
	g_test_add_func("/np/telemetry/encode-vectors", test_telemetry_encode_vectors);
	g_test_add_func("/np/telemetry/reserved-flags-ignored", test_telemetry_reserved_flags_ignored);
	g_test_add_func("/np/telemetry/replayed-flag", test_telemetry_replayed_flag);
	g_test_add_func("/np/telemetry/unknown-area-kept", test_telemetry_unknown_area_kept);
	g_test_add_func("/np/telemetry/empty", test_telemetry_empty);
	g_test_add_func("/np/telemetry/fault-stops-notification", test_telemetry_fault_stops_notification);
	g_test_add_func("/np/telemetry/size-mismatch", test_telemetry_size_mismatch_each_direction);
	g_test_add_func("/np/telemetry/overrun", test_telemetry_overrun);
	g_test_add_func("/np/telemetry/bad-crc", test_telemetry_bad_crc);
	g_test_add_func("/np/telemetry/depth-limits", test_telemetry_depth_limits);
	g_test_add_func("/np/telemetry/depth-fault-offset",
			test_telemetry_depth_fault_offset_in_notification);
	g_test_add_func("/np/telemetry/encode-too-small", test_telemetry_encode_too_small);
	g_test_add_func("/np/telemetry/full-notification", test_telemetry_full_notification);
	g_test_add_func("/np/event/session-started", test_event_session_started);
	g_test_add_func("/np/event/session-ended", test_event_session_ended);
	g_test_add_func("/np/event/area-changed", test_event_area_changed);
	g_test_add_func("/np/event/cartridge", test_event_cartridge);
	g_test_add_func("/np/event/error", test_event_error);
	g_test_add_func("/np/event/limits-applied", test_event_limits_applied);
	g_test_add_func("/np/event/faults", test_event_faults);
	g_test_add_func("/np/control/requests", test_control_requests);
	g_test_add_func("/np/control/request-faults", test_control_request_faults);
	g_test_add_func("/np/control/responses", test_control_responses);
	g_test_add_func("/np/control/response-faults", test_control_response_faults);
	g_test_add_func("/np/status/pen-status", test_pen_status);
	g_test_add_func("/np/status/pen-features", test_pen_features);
	g_test_add_func("/np/status/battery-level", test_battery_level);
	g_test_add_func("/np/status/adv-mfr-data", test_adv_mfr_data);
	g_test_add_func("/np/names/areas", test_area_names);
	g_test_add_func("/np/names/codes", test_code_names);
	g_test_add_func("/np/names/status", test_status_names);
	return g_test_run();
}
