/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: a Control Point indication as the gateway receives it. */

#include <string.h>

#include "fuzz-common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	NpControlResponse resp;
	size_t fault = (size_t)-1;
	uint8_t buf[NP_CONTROL_RESPONSE_MAX_SIZE];
	size_t len = 0;
	GString *out;

	if (np_control_response_decode(data, size, &resp, &fault) != NP_OK) {
		FUZZ_CHECK(fault <= size);
		return 0;
	}
	FUZZ_CHECK(data[0] == NP_CONTROL_RESPONSE_CODE);
	FUZZ_CHECK(np_control_response_encode(&resp, buf, sizeof buf, &len) == NP_OK);
	FUZZ_CHECK(len == size && memcmp(buf, data, len) == 0);
	out = fuzz_payload_buffer();
	ng_payload_control_response(out, &resp);
	fuzz_check_payload(out);
	return 0;
}
