/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: the Pen Status value (read and notify). */

#include <string.h>

#include "fuzz-common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	NpPenStatus st;
	size_t fault = (size_t)-1;
	uint8_t buf[NP_PEN_STATUS_SIZE];
	size_t len = 0;
	GString *out;

	if (np_pen_status_decode(data, size, &st, &fault) != NP_OK) {
		FUZZ_CHECK(fault <= size);
		return 0;
	}
	FUZZ_CHECK(size == NP_PEN_STATUS_SIZE);
	FUZZ_CHECK(np_pen_status_encode(&st, buf, sizeof buf, &len) == NP_OK);
	/* The same bytes, with the reserved flag bits and byte sent as 0. */
	FUZZ_CHECK(len == size && memcmp(buf, data, 10) == 0);
	FUZZ_CHECK(buf[10] == (data[10] & 0x03) && buf[11] == 0);
	out = fuzz_payload_buffer();
	ng_payload_pen_status(out, &st);
	fuzz_check_payload(out);
	return 0;
}
