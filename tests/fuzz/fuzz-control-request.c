/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: a Control Point request as the pen (the simulator) receives it. */

#include <string.h>

#include "fuzz-common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	NpControlRequest req;
	size_t fault = (size_t)-1;
	uint8_t buf[NP_CONTROL_REQUEST_MAX_SIZE];
	size_t len = 0;
	NpStatus st = np_control_request_decode(data, size, &req, &fault);
	GString *out;

	if (st == NP_ERR_UNKNOWN_OPCODE)
		FUZZ_CHECK(req.op == data[0]); /* the pen answers "not supported" to this op */
	if (st != NP_OK) {
		FUZZ_CHECK(fault <= size);
		return 0;
	}
	FUZZ_CHECK(np_control_request_encode(&req, buf, sizeof buf, &len) == NP_OK);
	FUZZ_CHECK(len == size && memcmp(buf, data, len) == 0);
	out = fuzz_payload_buffer();
	ng_payload_control_request(out, &req);
	fuzz_check_payload(out);
	return 0;
}
