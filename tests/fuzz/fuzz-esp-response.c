/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for reply parsing: an unframed packet from the chip is
 * decoded as a ROM and as a stub reply, and every payload parser the loader
 * runs on replies (MD5, security info, "unsupported") is applied to it.
 * Request decoding (the simulated chip's side) is exercised on the same bytes. */

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "esp-command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_response(const uint8_t *data, size_t size, size_t status_len) {
        EspResponse resp;
        EspSecurityInfo info;
        uint8_t digest[16];
        int r;

        r = esp_response_decode(data, size, status_len, &resp);
        assert(r == 0 || r == -EBADMSG);
        if (r < 0)
                return;
        /* The body and the status bytes lie inside the frame. */
        assert(resp.data >= data && resp.data + resp.data_len + status_len <= data + size);

        r = esp_md5_reply_parse(&resp, digest);
        assert(r == 0 || r == -EBADMSG || r == -EPROTO);
        r = esp_security_info_parse(&resp, &info);
        assert(r == 0 || r == -EBADMSG || r == -EPROTO);
        (void) esp_response_is_unsupported(&resp, resp.op);
        (void) esp_response_is_unsupported(&resp, ESP_OP_GET_SECURITY_INFO);
        (void) esp_opcode_to_string(resp.op);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        EspRequest req;
        int r;

        check_response(data, size, ESP_ROM_STATUS_LEN);
        check_response(data, size, ESP_STUB_STATUS_LEN);

        r = esp_request_decode(data, size, &req);
        assert(r == 0 || r == -EBADMSG);
        if (r == 0)
                assert(req.payload >= data && req.payload + req.payload_len <= data + size);
        return 0;
}
