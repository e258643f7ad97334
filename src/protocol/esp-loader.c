/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session with an ESP ROM loader or flasher stub: SLIP-framed commands with
 * deadlines, reply matching and retries, register access and data blocks.
 * Talks only through the Transport ops; behaviour follows esptool (loader.py)
 * and the reference traces. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "esp-loader-internal.h"
#include "esp-status.h"
#include "log.h"
#include "macro.h"
#include "string-util.h"

int esp_loader_new(Transport *t, EspLoader **ret) {
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        int r;

        assert(t && ret);

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->transport = t;
        l->status_len = ESP_ROM_STATUS_LEN;
        l->restarts_left = ESP_LOADER_RESTART_BUDGET;

        l->request = malloc(ESP_REQUEST_HEADER_SIZE + LOADER_MAX_PAYLOAD);
        l->scratch = malloc(LOADER_MAX_PAYLOAD);
        l->wire_cap = SLIP_ENCODED_MAX(ESP_REQUEST_HEADER_SIZE + LOADER_MAX_PAYLOAD);
        l->wire = malloc(l->wire_cap);
        if (!l->request || !l->scratch || !l->wire)
                return -ENOMEM;

        r = slip_decoder_init(&l->decoder, LOADER_MAX_FRAME);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(l);
        return 0;
}

EspLoader *esp_loader_free(EspLoader *l) {
        if (!l)
                return NULL;
        slip_decoder_deinit(&l->decoder);
        free(l->request);
        free(l->scratch);
        free(l->wire);
        free(l);
        return NULL;
}

const EspChipInfo *esp_loader_chip(EspLoader *l) {
        return l ? l->chip : NULL;
}

bool esp_loader_is_stub(EspLoader *l) {
        return l && l->stub;
}

bool esp_loader_secure_download_mode(EspLoader *l) {
        return l && l->secure_download;
}

bool esp_loader_uses_usb_jtag(EspLoader *l) {
        return l && l->usb_jtag;
}

const EspLoaderStats *esp_loader_stats(EspLoader *l) {
        return l ? &l->stats : NULL;
}

uint8_t esp_loader_last_error(EspLoader *l) {
        return l ? l->last_error : 0;
}

uint32_t esp_loader_flash_size(EspLoader *l) {
        return l ? l->flash_size : 0;
}

uint32_t esp_loader_flash_id(EspLoader *l) {
        return l ? l->flash_id : 0;
}

uint32_t esp_loader_baud(EspLoader *l) {
        return l ? l->transport->baud : 0;
}

bool esp_loader_baud_raised(EspLoader *l) {
        return l && l->baud_raised;
}

bool esp_loader_defl_spill(EspLoader *l, uint32_t *ret_window) {
        uint32_t window = 0;
        bool known = true;

        if (!l || !l->chip)
                known = false;
        else if (!l->stub) {
                known = l->chip->rom_defl_spill_known;
                window = l->chip->rom_defl_spill_window;
        }
        if (ret_window)
                *ret_window = known ? window : 0;
        return known;
}

bool esp_loader_can_skip_erase(EspLoader *l) {
        /* not a stub (its begin size is what it writes), nor a ROM whose
         * writes are unknown, nor one that failed it in this session */
        return l && !l->stub && !l->erase_skip_failed && esp_loader_defl_spill(l, NULL);
}

void esp_loader_forbid_skip_erase(EspLoader *l) {
        if (l)
                l->erase_skip_failed = true;
}

uint64_t esp_loader_stream_flushed(EspLoader *l, bool compressed, uint64_t acked) {
        if (!l || l->stub)
                return 0;
        if (!compressed)
                return acked;
        return acked / ESP_ROM_INFLATE_BUFFER_SIZE * ESP_ROM_INFLATE_BUFFER_SIZE;
}

int esp_loader_take_restart(EspLoader *l) {
        assert(l);
        if (l->restarts_left == 0)
                return log_debug_errno(EPROTO, "No write stream restarts left in this session.");
        l->restarts_left--;
        l->stats.stream_restarts++;
        return 0;
}

void loader_block_acked(EspLoader *l) {
        if (++l->blocks_acked < ESP_LOADER_BLOCKS_PER_RESTART)
                return;
        l->blocks_acked = 0;
        if (l->restarts_left < UINT_MAX)
                l->restarts_left++;
}

uint32_t esp_loader_flash_block_size(EspLoader *l) {
        if (!l || !l->stub)
                return ESP_ROM_FLASH_BLOCK_SIZE;
        return l->stub_block_size != 0 ? l->stub_block_size : ESP_STUB_FLASH_BLOCK_SIZE;
}

bool esp_loader_shrink_blocks(EspLoader *l) {
        uint32_t size = esp_loader_flash_block_size(l);

        if (!l || !l->stub || size <= ESP_ROM_FLASH_BLOCK_SIZE)
                return false;
        l->stub_block_size = size / 2;
        log_debug("Stub data blocks of %u bytes from now on.", l->stub_block_size);
        return true;
}

/* seconds_per_mb × size, at least the default timeout (esptool timeout_per_mb) */
usec_t loader_timeout_per_mb(unsigned seconds_per_mb, uint64_t size) {
        usec_t t = (usec_t) seconds_per_mb * size * USEC_PER_SEC / 1000000u;

        return MAX(t, LOADER_DEFAULT_TIMEOUT);
}

/* ---- framing ----------------------------------------------------------------- */

void loader_discard_input_state(EspLoader *l) {
        l->rx_pos = l->rx_len = 0;
        slip_decoder_reset(&l->decoder);
}

int loader_flush_input(EspLoader *l) {
        loader_discard_input_state(l);
        return transport_flush_input(l->transport);
}

/* A frame that turned out not to be a response most likely began at a stray
 * 0xC0 before boot text ("\xc0\xc0ets Jul 29…" after a reset), so its closing
 * 0xC0 was really the opening of the next frame. Reopen the decoder as if that
 * delimiter had started a frame: if it did not, the next 0xC0 only yields an
 * empty frame, which the decoder skips. */
void loader_reopen_frame(EspLoader *l) {
        slip_decoder_reset(&l->decoder);
        l->decoder.in_frame = true;
}

/* Returns the next complete SLIP frame (valid until the next read). */
int loader_read_frame(EspLoader *l, usec_t deadline, const uint8_t **ret_frame,
                      size_t *ret_len) {
        int n;

        for (;;) {
                while (l->rx_pos < l->rx_len) {
                        size_t consumed = 0;
                        int r;

                        r = slip_decoder_feed(&l->decoder, l->rx + l->rx_pos, l->rx_len - l->rx_pos,
                                              &consumed);
                        l->rx_pos += MIN(consumed, l->rx_len - l->rx_pos);
                        if (r == -EBADMSG) {
                                loader_reopen_frame(l);
                                continue;
                        }
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                *ret_frame = l->decoder.frame;
                                *ret_len = l->decoder.len;
                                return 0;
                        }
                        if (consumed == 0)
                                break;   /* defensive: never spin */
                }
                l->rx_pos = l->rx_len = 0;

                n = transport_read(l->transport, l->rx, sizeof(l->rx), deadline);
                if (n < 0)
                        return n;
                l->rx_len = (size_t) n;
        }
}

/* Decodes a response with the running loader's status length. A stub answering
 * while we still believe we talk to the ROM sends 2 status bytes: accept that for
 * frames too short to carry 4. */
int loader_decode(EspLoader *l, const uint8_t *frame, size_t n, EspResponse *ret) {
        int r;

        r = esp_response_decode(frame, n, l->status_len, ret);
        if (r == -EBADMSG && l->status_len == ESP_ROM_STATUS_LEN)
                r = esp_response_decode(frame, n, ESP_STUB_STATUS_LEN, ret);
        return r;
}

/* Wire time of n bytes at the current baud, doubled for USB scheduling slack. */
static usec_t loader_wire_time(EspLoader *l, size_t n) {
        uint32_t baud = l->transport->baud ? l->transport->baud : 115200;

        return (usec_t) n * 10 * USEC_PER_SEC / baud * 2 + 100 * USEC_PER_MSEC;
}

static int loader_send(EspLoader *l, uint8_t op, const void *payload, size_t n, uint32_t checksum) {
        int len, wire_len, r;

        if (n > LOADER_MAX_PAYLOAD)
                return -EMSGSIZE;

        len = esp_request_encode(op, payload, n, checksum, l->request,
                                 ESP_REQUEST_HEADER_SIZE + LOADER_MAX_PAYLOAD);
        if (len < 0)
                return len;
        wire_len = slip_encode(l->request, (size_t) len, l->wire, l->wire_cap);
        if (wire_len < 0)
                return wire_len;

        r = transport_write(l->transport, l->wire, (size_t) wire_len,
                            deadline_in(loader_wire_time(l, (size_t) wire_len)));
        if (r < 0)
                return r;
        l->stats.commands++;
        return 0;
}

/* Reads and drops whatever arrives until the line has been quiet for `quiet`
 * (at most `max`), then flushes: the ROM may repeat an error reply. */
static int loader_drain_input(EspLoader *l, usec_t quiet, usec_t max) {
        usec_t end = deadline_in(max);

        for (;;) {
                usec_t deadline = MIN(deadline_in(quiet), end);
                int r;

                r = transport_read(l->transport, l->rx, sizeof(l->rx), deadline);
                if (r == -ETIMEDOUT)
                        break;
                if (r < 0)
                        return r;
                if (now_usec() >= end)
                        break;
        }
        return loader_flush_input(l);
}

/* Waits for the reply to `op`. Replies to other opcodes are stray (the ROM's
 * repeated SYNC answers, late replies) and skipped; but a failed reply with
 * error 0x05 under another opcode is how the ROM rejects a command it does not
 * know: it echoes the previous opcode. */
static int loader_wait_response(EspLoader *l, uint8_t op, usec_t deadline, EspResponse *ret) {
        for (;;) {
                const uint8_t *frame;
                EspResponse resp;
                size_t n;
                int r;

                r = loader_read_frame(l, deadline, &frame, &n);
                if (r < 0)
                        return r;

                r = loader_decode(l, frame, n, &resp);
                if (r < 0) {
                        log_debug("Skipping a %zu byte frame that is not a response.", n);
                        loader_reopen_frame(l);
                        continue;
                }

                if (esp_response_is_unsupported(&resp, op)) {
                        l->last_error = resp.error;
                        log_debug("Command %s (0x%02x) is not supported by this loader.",
                                  strna(esp_opcode_to_string(op)), op);
                        /* The ROM may repeat that answer: let it drain (esptool
                         * waits 0.2 s, then flushes). */
                        if (resp.op != op) {
                                r = loader_drain_input(l, 50 * USEC_PER_MSEC, 200 * USEC_PER_MSEC);
                                if (r < 0)
                                        return r;
                        }
                        return -EOPNOTSUPP;
                }

                if (resp.op != op) {
                        log_debug("Skipping stray reply to 0x%02x while waiting for 0x%02x.",
                                  resp.op, op);
                        continue;
                }

                if (resp.status != 0) {
                        l->last_error = resp.error;
                        /* The chip's inflater choked: -EILSEQ, so that the flash
                         * layer tells it from a refusal without our last_error. */
                        r = resp.error == ESP_ERROR_DEFLATE || resp.error == ESP_ERROR_INFLATE ?
                                -EILSEQ : esp_error_to_errno(resp.error);
                        log_debug("Command %s (0x%02x) failed: %s (0x%02x)",
                                  strna(esp_opcode_to_string(op)), op,
                                  esp_error_to_string(resp.error), resp.error);
                        return r < 0 ? r : -EPROTO;
                }

                l->last_error = 0;
                *ret = resp;
                return 0;
        }
}

int esp_loader_command(EspLoader *l, uint8_t op, const void *payload, size_t n, uint32_t checksum,
                       usec_t timeout, EspResponse *ret) {
        EspResponse resp;
        int r;

        if (!l || (n > 0 && !payload))
                return -EINVAL;

        r = loader_send(l, op, payload, n, checksum);
        if (r < 0)
                return r;

        if (l->meanwhile) {
                EspLoaderWorkFn work = l->meanwhile;

                l->meanwhile = NULL;
                work(l->meanwhile_userdata);
        }

        /* The deadline starts once the request has left: big blocks at low baud
         * take a while to send. */
        r = loader_wait_response(l, op, deadline_in(timeout), &resp);
        if (r < 0)
                return r;
        if (ret)
                *ret = resp;
        return 0;
}

bool loader_error_is_fatal(int r) {
        return r == -ENODEV || r == -ECANCELED || r == -EOPNOTSUPP || r == -ENOMEM ||
               r == -EINVAL || r == -EMSGSIZE;
}

/* For commands whose repetition is harmless: send again when the request
 * arrived mangled (the chip says so at once) and, if on_timeout, when no
 * answer came. */
int loader_command_retry_full(EspLoader *l, uint8_t op, const void *payload, size_t n,
                              usec_t timeout, bool on_timeout, EspResponse *ret) {
        bool timed_out = false, unsupported = false;
        int r = -ETIMEDOUT;

        for (unsigned i = 0; i < LOADER_IDEMPOTENT_ATTEMPTS; i++) {
                if (i > 0) {
                        l->stats.retries++;
                        log_debug("Retrying %s after: %s", strna(esp_opcode_to_string(op)),
                                  strerror(-r));
                        r = loader_flush_input(l);
                        if (r < 0)
                                return r;
                }
                r = esp_loader_command(l, op, payload, n, 0, timeout, ret);
                if (r >= 0) {
                        /* A late answer to the first attempt may still be on its way;
                         * it must not pass for the answer to the next command. (The
                         * response data lives in the decoder, which draining leaves alone.) */
                        if (timed_out) {
                                int k = loader_drain_input(l, 100 * USEC_PER_MSEC, 500 * USEC_PER_MSEC);
                                if (k < 0)
                                        return k;
                        }
                        return r;
                }
                /* A mangled opcode is answered like an unknown command: believe
                 * "unsupported" only when it is said twice. */
                if (r == -EOPNOTSUPP && !unsupported) {
                        unsupported = true;
                        continue;
                }
                if (loader_error_is_fatal(r))
                        return r;
                if (r == -ETIMEDOUT) {
                        if (!on_timeout)
                                return r;
                        timed_out = true;
                        continue;
                }
                /* A refusal is final, unless the request itself arrived mangled. */
                if (r == -EILSEQ ||
                    (r == -EPROTO && l->last_error != ESP_ERROR_INVALID_MESSAGE &&
                     l->last_error != ESP_ERROR_INVALID_CRC))
                        return r;
        }
        return r;
}

int loader_command_retry(EspLoader *l, uint8_t op, const void *payload, size_t n,
                         usec_t timeout, EspResponse *ret) {
        return loader_command_retry_full(l, op, payload, n, timeout, true, ret);
}

int esp_loader_read_reg(EspLoader *l, uint32_t addr, uint32_t *ret_value) {
        uint8_t payload[4];
        EspResponse resp;
        int r;

        assert(l && ret_value);
        r = loader_command_retry(l, ESP_OP_READ_REG, payload, esp_payload_read_reg(payload, addr),
                                 LOADER_DEFAULT_TIMEOUT, &resp);
        if (r < 0)
                return r;
        *ret_value = resp.value;
        return 0;
}

int esp_loader_write_reg(EspLoader *l, uint32_t addr, uint32_t value) {
        uint8_t payload[16];

        assert(l);
        return loader_command_retry(l, ESP_OP_WRITE_REG, payload,
                                    esp_payload_write_reg(payload, addr, value, UINT32_MAX, 0),
                                    LOADER_DEFAULT_TIMEOUT, NULL);
}

/* What became of a data block that went unanswered. */
typedef enum BlockFate {
        BLOCK_REFUSED,          /* the chip answered it with an error */
        BLOCK_LANDED,           /* the chip took it; only its reply was late or lost */
        BLOCK_UNKNOWN,          /* no answer at all: the request or its reply was lost */
} BlockFate;

/* Replies come in order, so a READ_REG sent now is answered after anything
 * still pending for the block (a stalled chip, a slow flash). Nothing is
 * flushed: a late reply is the evidence. -ETIMEDOUT if the probe got no answer
 * either. */
static int loader_probe_block(EspLoader *l, uint8_t op, usec_t timeout) {
        uint8_t payload[4];
        BlockFate fate = BLOCK_UNKNOWN;
        usec_t deadline;
        int r;

        r = loader_send(l, ESP_OP_READ_REG, payload, esp_payload_read_reg(payload, ESP_CHIP_MAGIC_REG),
                        0);
        if (r < 0)
                return r;

        deadline = deadline_in(timeout);
        for (;;) {
                const uint8_t *frame;
                EspResponse resp;
                size_t n;

                r = loader_read_frame(l, deadline, &frame, &n);
                if (r == -ETIMEDOUT && fate != BLOCK_UNKNOWN)
                        return fate;    /* the probe itself was lost, but the block's fate is known */
                if (r < 0)
                        return r;
                if (loader_decode(l, frame, n, &resp) < 0) {
                        loader_reopen_frame(l);
                        continue;
                }
                if (resp.op == op)
                        fate = resp.status == 0 ? BLOCK_LANDED : BLOCK_REFUSED;
                else if (resp.op == ESP_OP_READ_REG)
                        return fate;
        }
}

/* Sends a FLASH_DEFL_DATA / FLASH_DATA / MEM_DATA block and makes sure the chip
 * took it exactly once: probed when unanswered (the request, or only its reply,
 * may be lost or just late). resend_refused: a refused block is sent again (the
 * stub, which keeps no sequence number); else a refusal, or a loss whose fate
 * the probe cannot tell, ends the call so that the stream begins again (the ROM,
 * which advances its sequence number even for a block it drops). */
int loader_data_command(EspLoader *l, uint8_t op, uint32_t seq, const void *block,
                        size_t len, usec_t timeout, bool resend_refused) {
        unsigned refusals = 0, timeouts = 0;
        bool send = true, fate_unknown = false, only_invalid = true;
        int r;

        esp_payload_data_header(l->scratch, (uint32_t) len, seq);
        memcpy(l->scratch + ESP_DATA_HEADER_SIZE, block, len);

        for (;;) {
                if (send) {
                        r = esp_loader_command(l, op, l->scratch, ESP_DATA_HEADER_SIZE + len,
                                               esp_checksum(block, len), timeout, NULL);
                        if (r >= 0)
                                return 0;
                } else {
                        r = loader_probe_block(l, op, timeout);
                        if (r == BLOCK_LANDED)
                                return 0;
                        if (r >= 0 && !resend_refused) {
                                log_debug("Block %u of 0x%02x %s: the stream must begin again.", seq, op,
                                          r == BLOCK_REFUSED ? "was refused" : "is lost");
                                return r == BLOCK_REFUSED ? -EPROTO : -ETIMEDOUT;
                        }
                        if (r >= 0) {
                                fate_unknown = r == BLOCK_UNKNOWN;
                                only_invalid = true;
                                send = true;
                                continue;
                        }
                }
                if (loader_error_is_fatal(r) && r != -EOPNOTSUPP)
                        return r;

                l->stats.retries++;
                if (r == -ETIMEDOUT) {
                        if (++timeouts >= LOADER_BLOCK_TIMEOUTS)
                                return r;
                        log_debug("Block %u of 0x%02x unanswered, probing.", seq, op);
                        send = false;
                        continue;
                }

                /* The chip's inflater choked: what it holds is already wrong
                 * (two bit flips can cancel out in the XOR checksum), and no
                 * resend of this block can mend it. The whole write must start over. */
                if (r == -EILSEQ)
                        return r;

                /* Refused by the ROM: resending gets 0x05 for ever (the
                 * sequence number moved on); a mangled opcode even gets an
                 * "unsupported" echo. */
                if (!resend_refused) {
                        log_debug("Block %u of 0x%02x refused (%s): the stream must begin again.", seq, op,
                                  esp_error_to_string(l->last_error));
                        return -EPROTO;
                }

                /* Refused: a corrupted frame gets 0x05 or 0x07, a corrupted
                 * opcode even an "unsupported" echo. */
                only_invalid = only_invalid && r == -EPROTO &&
                               l->last_error == ESP_ERROR_INVALID_MESSAGE;
                if (++refusals < LOADER_BLOCK_REFUSALS) {
                        log_debug("Block %u of 0x%02x refused (%s), sending it again.", seq, op,
                                  strerror(-r));
                        continue;
                }
                /* Every resend after a silent loss refused as an invalid message:
                 * the sequence number was used up, so the first copy landed and
                 * only its reply was lost. The MD5 check proves or refutes it. */
                if (fate_unknown && only_invalid) {
                        log_debug("Block %u of 0x%02x assumed written: its resends are out of sequence.",
                                  seq, op);
                        return 0;
                }
                return r;
        }
}
