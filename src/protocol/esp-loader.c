/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A session with an ESP ROM loader or flasher stub: SLIP-framed commands with
 * deadlines, reset strategies, sync, chip detection, flash attach, baud change,
 * compressed writes, MD5 and stub upload. Talks only through the Transport ops;
 * behaviour follows esptool (loader.py, reset.py) and the reference traces. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "esp-loader.h"
#include "esp-status.h"
#include "log.h"
#include "macro.h"
#include "slip.h"

/* esptool's DEFAULT_TIMEOUT, SYNC_TIMEOUT, MEM_END_ROM_TIMEOUT */
#define LOADER_DEFAULT_TIMEOUT (3 * USEC_PER_SEC)
#define LOADER_SYNC_TIMEOUT (100 * USEC_PER_MSEC)
#define LOADER_MEM_END_ROM_TIMEOUT (200 * USEC_PER_MSEC)
/* Seconds per MB for size-dependent commands (esptool: ERASE_REGION_TIMEOUT_PER_MB,
 * ERASE_WRITE_TIMEOUT_PER_MB, MD5_TIMEOUT_PER_MB). */
#define LOADER_ERASE_SEC_PER_MB 40
#define LOADER_WRITE_SEC_PER_MB 40
#define LOADER_MD5_SEC_PER_MB 8
/* A data block is sent again when the chip refused it (a mangled frame: cheap,
 * it answers at once), and its fate is probed when no answer came (esptool's
 * WRITE_BLOCK_ATTEMPTS is 3 in all). */
#define LOADER_BLOCK_REFUSALS 16
#define LOADER_BLOCK_TIMEOUTS 3
/* Idempotent commands (register access, MD5, attach) are retried this often when
 * the reply was lost or mangled. */
#define LOADER_IDEMPOTENT_ATTEMPTS 3
/* Syncs per connect attempt, as esptool's _connect_attempt. */
#define LOADER_SYNCS_PER_ATTEMPT 5
/* The ROM answers SYNC eight times in all. */
#define LOADER_SYNC_EXTRA_REPLIES 7

/* ESP8266-style controllers keep the MISO bit length in USR1 (esptool). */
#define SPI_USR1_MISO_BITLEN_SHIFT 8
#define SPI_WAIT_DONE_POLLS 10

#define LOADER_MAX_FRAME (0x1000 + 64)
#define LOADER_MAX_PAYLOAD (ESP_DATA_HEADER_SIZE + ESP_STUB_FLASH_BLOCK_SIZE)
#define LOADER_DEFAULT_FLASH_SIZE (4u * 1024 * 1024)

struct EspLoader {
        Transport *transport;

        SlipDecoder decoder;
        uint8_t rx[4096];
        size_t rx_pos, rx_len;

        uint8_t *request;         /* unframed request, header + LOADER_MAX_PAYLOAD */
        uint8_t *scratch;         /* payload of data commands: 16-byte header + block */
        uint8_t *wire;            /* SLIP-encoded request */
        size_t wire_cap;

        const EspChipInfo *chip;
        bool stub;
        bool secure_download;
        bool usb_jtag;
        size_t status_len;

        uint32_t flash_size;
        uint32_t flash_id;

        bool dtr, rts;            /* modem lines as last set */

        usec_t prev_block_timeout; /* stub: a block is written while the next is sent */

        uint8_t last_error;
        EspLoaderStats stats;
};

static const char *const reset_strategy_table[_ESP_RESET_MAX] = {
        [ESP_RESET_CLASSIC] = "classic",
        [ESP_RESET_UNIX_TIGHT] = "unix-tight",
        [ESP_RESET_USB_JTAG] = "usb-jtag",
        [ESP_RESET_NONE] = "none",
};

const char *esp_reset_strategy_to_string(EspResetStrategy s) {
        if (s < 0 || s >= _ESP_RESET_MAX)
                return NULL;
        return reset_strategy_table[s];
}

EspResetStrategy esp_reset_strategy_from_string(const char *s) {
        if (!s)
                return _ESP_RESET_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(reset_strategy_table); i++)
                if (strcmp(s, reset_strategy_table[i]) == 0)
                        return (EspResetStrategy) i;
        return _ESP_RESET_INVALID;
}

int esp_loader_new(Transport *t, EspLoader **ret) {
        _cleanup_(esp_loader_freep) EspLoader *l = NULL;
        int r;

        if (!t || !ret)
                return -EINVAL;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->transport = t;
        l->status_len = ESP_ROM_STATUS_LEN;

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

uint32_t esp_loader_flash_block_size(EspLoader *l) {
        return l && l->stub ? ESP_STUB_FLASH_BLOCK_SIZE : ESP_ROM_FLASH_BLOCK_SIZE;
}

static const char *strna(const char *s) {
        return s ?: "n/a";
}

/* seconds_per_mb × size, at least the default timeout (esptool timeout_per_mb) */
static usec_t timeout_per_mb(unsigned seconds_per_mb, uint64_t size) {
        usec_t t = (usec_t) seconds_per_mb * size * USEC_PER_SEC / 1000000u;

        return MAX(t, LOADER_DEFAULT_TIMEOUT);
}

/* ---- framing ----------------------------------------------------------------- */

static void loader_discard_input_state(EspLoader *l) {
        l->rx_pos = l->rx_len = 0;
        slip_decoder_reset(&l->decoder);
}

static int loader_flush_input(EspLoader *l) {
        loader_discard_input_state(l);
        return transport_flush_input(l->transport);
}

/* A frame that turned out not to be a response most likely began at a stray
 * 0xC0 before boot text ("\xc0\xc0ets Jul 29…" after a reset), so its closing
 * 0xC0 was really the opening of the next frame. Reopen the decoder as if that
 * delimiter had started a frame: if it did not, the next 0xC0 only yields an
 * empty frame, which the decoder skips. */
static void loader_reopen_frame(EspLoader *l) {
        slip_decoder_reset(&l->decoder);
        l->decoder.in_frame = true;
}

/* Returns the next complete SLIP frame (valid until the next read). */
static int loader_read_frame(EspLoader *l, usec_t deadline, const uint8_t **ret_frame,
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
static int loader_decode(EspLoader *l, const uint8_t *frame, size_t n, EspResponse *ret) {
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
                        r = esp_error_to_errno(resp.error);
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

        /* The deadline starts once the request has left: big blocks at low baud
         * take a while to send. */
        r = loader_wait_response(l, op, deadline_in(timeout), &resp);
        if (r < 0)
                return r;
        if (ret)
                *ret = resp;
        return 0;
}

static bool error_is_fatal(int r) {
        return r == -ENODEV || r == -ECANCELED || r == -EOPNOTSUPP || r == -ENOMEM ||
               r == -EINVAL || r == -EMSGSIZE;
}

/* For commands whose repetition is harmless: send again when the request
 * arrived mangled (the chip says so at once) and, if on_timeout, when no
 * answer came. */
static int loader_command_retry_full(EspLoader *l, uint8_t op, const void *payload, size_t n,
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
                if (error_is_fatal(r))
                        return r;
                if (r == -ETIMEDOUT) {
                        if (!on_timeout)
                                return r;
                        timed_out = true;
                        continue;
                }
                /* A refusal is final, unless the request itself arrived mangled. */
                if (r == -EPROTO && l->last_error != ESP_ERROR_INVALID_MESSAGE &&
                    l->last_error != ESP_ERROR_INVALID_CRC)
                        return r;
        }
        return r;
}

static int loader_command_retry(EspLoader *l, uint8_t op, const void *payload, size_t n,
                                usec_t timeout, EspResponse *ret) {
        return loader_command_retry_full(l, op, payload, n, timeout, true, ret);
}

int esp_loader_read_reg(EspLoader *l, uint32_t addr, uint32_t *ret_value) {
        uint8_t payload[4];
        EspResponse resp;
        int r;

        if (!l || !ret_value)
                return -EINVAL;
        r = loader_command_retry(l, ESP_OP_READ_REG, payload, esp_payload_read_reg(payload, addr),
                                 LOADER_DEFAULT_TIMEOUT, &resp);
        if (r < 0)
                return r;
        *ret_value = resp.value;
        return 0;
}

int esp_loader_write_reg(EspLoader *l, uint32_t addr, uint32_t value) {
        uint8_t payload[16];

        if (!l)
                return -EINVAL;
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

/* Sends a FLASH_DEFL_DATA / MEM_DATA block and makes sure the chip took it
 * exactly once: sent again when refused (the frame arrived mangled), probed
 * when unanswered (the request, or only its reply, may be lost or just late). */
static int loader_data_command(EspLoader *l, uint8_t op, uint32_t seq, const void *block,
                               size_t len, usec_t timeout) {
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
                        if (r >= 0) {
                                fate_unknown = r == BLOCK_UNKNOWN;
                                only_invalid = true;
                                send = true;
                                continue;
                        }
                }
                if (error_is_fatal(r) && r != -EOPNOTSUPP)
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
                if (r == -EPROTO && (l->last_error == ESP_ERROR_DEFLATE ||
                                     l->last_error == ESP_ERROR_INFLATE))
                        return r;

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

/* ---- reset ------------------------------------------------------------------- */

static int loader_set_lines(EspLoader *l, bool dtr, bool rts) {
        int r;

        r = transport_set_signals(l->transport, dtr, rts);
        if (r < 0)
                return r;
        l->dtr = dtr;
        l->rts = rts;
        return 0;
}

/* One line at a time, as pyserial's setDTR()/setRTS() do. */
static int loader_set_dtr(EspLoader *l, bool v) {
        return loader_set_lines(l, v, l->rts);
}

static int loader_set_rts(EspLoader *l, bool v) {
        return loader_set_lines(l, l->dtr, v);
}

/* Each step is an int-returning call; stop at the first failure. */
#define STEP(expr)                              \
        do {                                    \
                int _r_ = (expr);               \
                if (_r_ < 0)                    \
                        return _r_;             \
        } while (false)

/* esptool ClassicReset: DTR drives IO0, RTS drives EN through the usual two
 * transistors (asserted = low); the lines change one after the other. */
static int reset_classic(EspLoader *l, usec_t delay) {
        STEP(loader_set_dtr(l, false));          /* IO0 high */
        STEP(loader_set_rts(l, true));           /* EN low: in reset */
        sleep_usec(100 * USEC_PER_MSEC);
        STEP(loader_set_dtr(l, true));           /* IO0 low */
        STEP(loader_set_rts(l, false));          /* EN high: out of reset */
        sleep_usec(delay);
        STEP(loader_set_dtr(l, false));          /* IO0 high, done */
        return 0;
}

/* esptool UnixTightReset: both lines in one TIOCMSET, so the circuit never
 * passes through the (1,1) state between steps. */
static int reset_unix_tight(EspLoader *l, usec_t delay) {
        STEP(loader_set_lines(l, false, false));
        STEP(loader_set_lines(l, true, true));
        STEP(loader_set_lines(l, false, true));  /* IO0 high, EN low: in reset */
        sleep_usec(100 * USEC_PER_MSEC);
        STEP(loader_set_lines(l, true, false));  /* IO0 low, EN high: out of reset */
        sleep_usec(delay);
        STEP(loader_set_lines(l, false, false)); /* IO0 high, done */
        return 0;
}

/* esptool USBJTAGSerialReset: the USB-Serial-JTAG peripheral interprets the
 * lines itself; going through (1,1) rather than (0,0) matters. */
static int reset_usb_jtag(EspLoader *l) {
        STEP(loader_set_rts(l, false));
        STEP(loader_set_dtr(l, false));          /* idle */
        sleep_usec(100 * USEC_PER_MSEC);
        STEP(loader_set_dtr(l, true));           /* IO0 low */
        STEP(loader_set_rts(l, false));
        sleep_usec(100 * USEC_PER_MSEC);
        STEP(loader_set_rts(l, true));           /* reset, via (1,1) */
        STEP(loader_set_dtr(l, false));
        STEP(loader_set_rts(l, true));
        sleep_usec(100 * USEC_PER_MSEC);
        STEP(loader_set_dtr(l, false));
        STEP(loader_set_rts(l, false));          /* out of reset */
        return 0;
}

#define RESET_DELAY (50 * USEC_PER_MSEC)                 /* esptool DEFAULT_RESET_DELAY */
#define RESET_EXTRA_DELAY (RESET_DELAY + 500 * USEC_PER_MSEC)

/* Attempt i of a strategy: esptool alternates the normal and the extra-long
 * boot-pin delay for the bridge resets. */
static int loader_reset_variant(EspLoader *l, EspResetStrategy s, unsigned attempt) {
        usec_t delay = attempt % 2 == 0 ? RESET_DELAY : RESET_EXTRA_DELAY;

        switch (s) {
        case ESP_RESET_CLASSIC:
                return reset_classic(l, delay);
        case ESP_RESET_UNIX_TIGHT:
                return reset_unix_tight(l, delay);
        case ESP_RESET_USB_JTAG:
                return reset_usb_jtag(l);
        case ESP_RESET_NONE:
                return 0;
        default:
                return -EINVAL;
        }
}

/* ---- sync and detection ------------------------------------------------------ */

/* One SYNC: first reply within SYNC_TIMEOUT, then swallow the ROM's repeats so
 * they do not linger in front of the next command. */
static int loader_sync_once(EspLoader *l, bool *ret_stub) {
        uint8_t payload[ESP_SYNC_PAYLOAD_SIZE];
        EspResponse resp;
        bool stub;
        int r;

        r = loader_flush_input(l);
        if (r < 0)
                return r;
        r = esp_loader_command(l, ESP_OP_SYNC, payload, esp_payload_sync(payload), 0,
                               LOADER_SYNC_TIMEOUT, &resp);
        if (r < 0)
                return r;

        /* ROMs send a non-zero value, the flasher stub 0 (esptool sync_stub_detected). */
        stub = resp.value == 0;
        for (unsigned i = 0; i < LOADER_SYNC_EXTRA_REPLIES; i++) {
                const uint8_t *frame;
                size_t n;

                r = loader_read_frame(l, deadline_in(LOADER_SYNC_TIMEOUT / 2), &frame, &n);
                if (r == -ETIMEDOUT)
                        break;
                if (r < 0)
                        return r;
                if (loader_decode(l, frame, n, &resp) >= 0 && resp.op == ESP_OP_SYNC)
                        stub = stub && resp.value == 0;
                else
                        loader_reopen_frame(l);
        }

        if (ret_stub)
                *ret_stub = stub;
        return 0;
}

/* Reads what the chip printed after reset, for a diagnosis if sync fails. */
static void loader_collect_boot_log(EspLoader *l, bool *ret_seen, bool *ret_download) {
        char log[1024];
        size_t len = 0;
        usec_t deadline = deadline_in(20 * USEC_PER_MSEC);

        while (len < sizeof(log) - 1) {
                int n = transport_read(l->transport, log + len, sizeof(log) - 1 - len, deadline);
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        log[len] = 0;
        /* NULs in boot text would hide the rest from strstr */
        for (size_t i = 0; i < len; i++)
                if (log[i] == 0)
                        log[i] = ' ';

        *ret_seen = strstr(log, "boot:") != NULL;
        *ret_download = strstr(log, "waiting for download") || strstr(log, "wait uart0 download") ||
                        strstr(log, "DOWNLOAD");
}

static int loader_connect_attempt(EspLoader *l, EspResetStrategy s, unsigned attempt,
                                  bool *ret_stub) {
        bool boot_seen = false, download = false;
        int r = 0;

        if (s != ESP_RESET_NONE) {
                r = loader_flush_input(l);
                if (r < 0)
                        return r;
                r = loader_reset_variant(l, s, attempt);
                if (r == -ENOTTY || r == -EINVAL || r == -EOPNOTSUPP)
                        /* as esptool: a port without modem lines just cannot reset */
                        log_warning_errno(r, "Chip was not reset, the port cannot set DTR/RTS: %m");
                else if (r < 0)
                        return r;
                loader_collect_boot_log(l, &boot_seen, &download);
        }

        for (unsigned i = 0; i < LOADER_SYNCS_PER_ATTEMPT; i++) {
                if (i > 0)
                        l->stats.retries++;
                r = loader_sync_once(l, ret_stub);
                if (r >= 0)
                        return 0;
                if (error_is_fatal(r))
                        return r;
                sleep_usec(50 * USEC_PER_MSEC);
        }

        if (boot_seen && !download)
                log_debug("The chip booted, but not into download mode.");
        else if (download)
                log_debug("The chip is in download mode but does not answer SYNC.");
        return r;
}

static int loader_detect_by_magic(EspLoader *l) {
        uint32_t magic;
        int r;

        r = esp_loader_read_reg(l, ESP_CHIP_MAGIC_REG, &magic);
        if (r == -EOPNOTSUPP) {
                /* Only an ESP32-S2 in Secure Download Mode refuses both
                 * GET_SECURITY_INFO's chip id and READ_REG (esptool). */
                l->secure_download = true;
                l->chip = esp_chip_get(ESP_CHIP_ESP32S2);
                return l->chip ? 0 : -EOPNOTSUPP;
        }
        if (r < 0)
                return log_debug_errno(r, "Failed to read the chip magic register: %m");

        l->chip = esp_chip_from_magic(magic);
        if (!l->chip)
                return log_debug_errno(EOPNOTSUPP, "Unknown chip magic value 0x%08x.", magic);
        return 0;
}

static int loader_detect(EspLoader *l) {
        EspSecurityInfo si;
        EspResponse resp;
        int r;

        l->chip = NULL;
        l->secure_download = false;

        r = esp_loader_command(l, ESP_OP_GET_SECURITY_INFO, NULL, 0, 0, LOADER_DEFAULT_TIMEOUT,
                               &resp);
        if (r >= 0)
                r = esp_security_info_parse(&resp, &si);
        if (r >= 0) {
                l->secure_download = si.flags & ESP_SECURITY_FLAG_SECURE_DOWNLOAD_ENABLE;
                if (si.has_chip_id) {
                        l->chip = esp_chip_from_security_id(si.chip_id);
                        if (!l->chip)
                                return log_debug_errno(EOPNOTSUPP, "Unknown chip id %u.", si.chip_id);
                        return 0;
                }
                /* ESP32-S2: security info without a chip id */
        } else if (r == -ENODEV || r == -ECANCELED)
                return r;
        else
                log_debug_errno(r, "GET_SECURITY_INFO unavailable (%m), reading the chip magic.");

        return loader_detect_by_magic(l);
}

/* esptool disable_watchdogs(): over USB-Serial-JTAG nothing resets the RTC and
 * super watchdogs while the ROM waits, and they would reset the chip mid-write. */
static int loader_disable_watchdogs(EspLoader *l) {
        const EspChipInfo *c = l->chip;
        uint32_t v;

        if (c->rtc_wdt_wprotect == 0)
                return 0;
        STEP(esp_loader_write_reg(l, c->rtc_wdt_wprotect, c->rtc_wdt_wkey));
        STEP(esp_loader_write_reg(l, c->rtc_wdt_config0, 0));
        STEP(esp_loader_write_reg(l, c->rtc_wdt_wprotect, 0));

        if (c->swd_wprotect == 0)
                return 0;
        STEP(esp_loader_write_reg(l, c->swd_wprotect, c->swd_wkey));
        STEP(esp_loader_read_reg(l, c->swd_conf, &v));
        STEP(esp_loader_write_reg(l, c->swd_conf, v | c->swd_auto_feed_en));
        STEP(esp_loader_write_reg(l, c->swd_wprotect, 0));
        return 0;
}

static int loader_detect_usb_jtag(EspLoader *l) {
        const EspChipInfo *c = l->chip;
        uint32_t v;
        int r;

        l->usb_jtag = false;
        if (!c->has_usb_serial_jtag || c->uartdev_buf_no == 0 || l->secure_download)
                return 0;

        r = esp_loader_read_reg(l, c->uartdev_buf_no, &v);
        if (r == -ENODEV || r == -ECANCELED)
                return r;
        if (r < 0) {
                log_debug_errno(r, "Cannot read UARTDEV_BUF_NO, assuming a UART console: %m");
                return 0;
        }
        l->usb_jtag = (v & 0xff) == c->uartdev_buf_no_usb_jtag;
        return 0;
}

int esp_loader_connect(EspLoader *l, EspResetStrategy reset, unsigned attempts) {
        unsigned variants;
        bool stub = false;
        int r = -ETIMEDOUT;

        if (!l || reset < 0 || reset >= _ESP_RESET_MAX || attempts == 0)
                return -EINVAL;

        l->chip = NULL;
        l->stub = false;
        l->status_len = ESP_ROM_STATUS_LEN;
        l->usb_jtag = false;
        l->flash_size = l->flash_id = 0;

        variants = reset == ESP_RESET_CLASSIC || reset == ESP_RESET_UNIX_TIGHT ? 2 : 1;
        for (unsigned i = 0; i < attempts; i++) {
                if (i > 0)
                        l->stats.retries++;
                r = loader_connect_attempt(l, reset, i % variants, &stub);
                if (r >= 0 || error_is_fatal(r))
                        break;
                log_debug_errno(r, "Connect attempt %u/%u failed: %m", i + 1, attempts);
        }
        if (r < 0)
                return log_debug_errno(r, "Failed to connect to the chip: %m");

        if (stub) {
                /* A stub left running by an earlier session: speak its dialect. */
                log_debug("Flasher stub already running.");
                l->stub = true;
                l->status_len = ESP_STUB_STATUS_LEN;
        }

        r = loader_detect(l);
        if (r < 0)
                return r;

        r = loader_detect_usb_jtag(l);
        if (r < 0)
                return r;
        if (l->usb_jtag && !l->stub) {
                r = loader_disable_watchdogs(l);
                if (r < 0)
                        return log_debug_errno(r, "Failed to disable the watchdogs: %m");
        }

        log_debug("Connected to %s%s%s%s.", l->chip->description, l->stub ? " (stub)" : "",
                  l->secure_download ? ", Secure Download Mode" : "",
                  l->usb_jtag ? ", over USB-Serial-JTAG" : "");
        return 0;
}

/* ---- flash attach ------------------------------------------------------------ */

/* Runs a read-only SPI flash command through the SPI controller's user-command
 * registers, as esptool run_spiflash_command() does (reference trace
 * esp32-rom-flash-id). */
static int loader_spiflash_read_command(EspLoader *l, uint8_t command, unsigned read_bits,
                                        uint32_t *ret_value) {
        const EspChipInfo *c = l->chip;
        uint32_t base = c->spi_reg_base;
        uint32_t reg_cmd = base, reg_usr = base + c->spi_usr_offs, reg_usr1 = base + c->spi_usr1_offs,
                 reg_usr2 = base + c->spi_usr2_offs, reg_w0 = base + c->spi_w0_offs;
        uint32_t old_usr, old_usr2, v;
        int r;

        if (read_bits == 0 || read_bits > 32)
                return -EINVAL;

        STEP(esp_loader_read_reg(l, reg_usr, &old_usr));
        STEP(esp_loader_read_reg(l, reg_usr2, &old_usr2));

        if (c->spi_miso_dlen_offs != 0)
                STEP(esp_loader_write_reg(l, base + c->spi_miso_dlen_offs, read_bits - 1));
        else
                STEP(esp_loader_write_reg(l, reg_usr1, (read_bits - 1) << SPI_USR1_MISO_BITLEN_SHIFT));

        STEP(esp_loader_write_reg(l, reg_usr, ESP_SPI_USR_COMMAND | ESP_SPI_USR_MISO));
        STEP(esp_loader_write_reg(l, reg_usr2, (7u << ESP_SPI_USR2_COMMAND_LEN_SHIFT) | command));
        STEP(esp_loader_write_reg(l, reg_w0, 0));   /* clear before reading back */
        STEP(esp_loader_write_reg(l, reg_cmd, ESP_SPI_CMD_USR));

        r = -ETIMEDOUT;
        for (unsigned i = 0; i < SPI_WAIT_DONE_POLLS; i++) {
                STEP(esp_loader_read_reg(l, reg_cmd, &v));
                if (!(v & ESP_SPI_CMD_USR)) {
                        r = 0;
                        break;
                }
        }
        if (r < 0)
                return log_debug_errno(EIO, "SPI flash command 0x%02x did not complete.", command);

        STEP(esp_loader_read_reg(l, reg_w0, &v));

        /* restore what the ROM had set up */
        STEP(esp_loader_write_reg(l, reg_usr, old_usr));
        STEP(esp_loader_write_reg(l, reg_usr2, old_usr2));

        *ret_value = v;
        return 0;
}

int esp_loader_attach_flash(EspLoader *l, uint32_t size_override) {
        uint8_t payload[24];
        uint32_t id = 0, size;
        int r;

        if (!l)
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;

        r = loader_command_retry(l, ESP_OP_SPI_ATTACH, payload,
                                 esp_payload_spi_attach(payload, 0, !l->stub),
                                 LOADER_DEFAULT_TIMEOUT, NULL);
        if (r < 0)
                return log_debug_errno(r, "SPI_ATTACH failed: %m");

        if (!l->secure_download) {
                r = loader_spiflash_read_command(l, ESP_SPI_FLASH_RDID, 24, &id);
                if (r < 0)
                        return log_debug_errno(r, "Failed to read the flash id: %m");
                id &= 0xffffff;
        }

        size = size_override;
        if (size == 0 && id != 0)
                size = esp_flash_size_from_jedec(id);
        if (size == 0) {
                /* as esptool: an unrecognised flash chip is assumed to be 4 MB */
                log_warning("Could not detect the flash size (id 0x%06x), assuming 4 MB.", id);
                size = LOADER_DEFAULT_FLASH_SIZE;
        }

        r = loader_command_retry(l, ESP_OP_SPI_SET_PARAMS, payload,
                                 esp_payload_spi_set_params(payload, size), LOADER_DEFAULT_TIMEOUT,
                                 NULL);
        if (r < 0)
                return log_debug_errno(r, "SPI_SET_PARAMS failed: %m");

        l->flash_id = id;
        l->flash_size = size;
        return 0;
}

/* ---- baud rate ----------------------------------------------------------------- */

static int loader_sync_check(EspLoader *l) {
        int r = -ETIMEDOUT;

        for (unsigned i = 0; i < 3; i++) {
                r = loader_sync_once(l, NULL);
                if (r >= 0 || error_is_fatal(r))
                        return r;
                l->stats.retries++;
        }
        return r;
}

int esp_loader_change_baud(EspLoader *l, uint32_t baud) {
        uint8_t payload[8];
        uint32_t old;
        int r, k;

        if (!l || baud == 0)
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;

        old = l->transport->baud;
        if (baud == old)
                return 0;

        /* The ROM takes 0 as the old rate, a stub the current one (esptool). */
        /* Sent again only if refused: unanswered, it may have switched the chip. */
        r = loader_command_retry_full(l, ESP_OP_CHANGE_BAUDRATE, payload,
                                      esp_payload_change_baudrate(payload, baud, l->stub ? old : 0),
                                      LOADER_DEFAULT_TIMEOUT, false, NULL);
        if (r < 0)
                return log_debug_errno(r, "CHANGE_BAUDRATE to %u failed: %m", baud);

        r = transport_set_baud(l->transport, baud);
        if (r < 0)
                goto fail;

        /* Garbage may arrive while both sides switch (esptool waits 50 ms). */
        sleep_usec(50 * USEC_PER_MSEC);
        r = loader_sync_check(l);
        if (r < 0)
                goto fail;

        log_debug("Baud rate changed from %u to %u.", old, baud);
        return 0;

fail:
        log_debug_errno(r, "Link check at %u baud failed (%m), going back to %u.", baud, old);
        k = transport_set_baud(l->transport, old);
        if (k < 0)
                return k;
        sleep_usec(50 * USEC_PER_MSEC);
        if (loader_sync_check(l) < 0)
                /* The chip is at the new rate and we cannot reach it at either. */
                log_debug("No answer at %u baud either.", old);
        return r;
}

/* ---- stub ------------------------------------------------------------------------ */

static int loader_upload_segment(EspLoader *l, uint32_t addr, const uint8_t *data, size_t len) {
        uint8_t begin[20];
        uint32_t blocks;

        if (len == 0)
                return 0;
        if (len > UINT32_MAX)
                return -EFBIG;

        blocks = (uint32_t) DIV_ROUND_UP(len, ESP_ROM_MEM_BLOCK_SIZE);
        STEP(loader_command_retry(l, ESP_OP_MEM_BEGIN, begin,
                                  esp_payload_begin(begin, (uint32_t) len, blocks,
                                                    ESP_ROM_MEM_BLOCK_SIZE, addr, false, false),
                                  LOADER_DEFAULT_TIMEOUT, NULL));

        for (uint32_t seq = 0; seq < blocks; seq++) {
                size_t off = (size_t) seq * ESP_ROM_MEM_BLOCK_SIZE;
                size_t n = MIN((size_t) ESP_ROM_MEM_BLOCK_SIZE, len - off);

                STEP(loader_data_command(l, ESP_OP_MEM_DATA, seq, data + off, n,
                                         LOADER_DEFAULT_TIMEOUT));
        }
        return 0;
}

int esp_loader_run_stub(EspLoader *l, const EspStubImage *stub) {
        uint8_t payload[8];
        usec_t deadline;
        int r;

        if (!l || !stub || (!stub->text && stub->text_len > 0) || (!stub->data && stub->data_len > 0))
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;
        if (l->stub)
                return 0;

        STEP(loader_upload_segment(l, stub->text_start, stub->text, stub->text_len));
        STEP(loader_upload_segment(l, stub->data_start, stub->data, stub->data_len));

        /* The ROM may jump to the stub before its reply has left the UART: a
         * missing MEM_END reply is not an error (esptool mem_finish). */
        r = esp_loader_command(l, ESP_OP_MEM_END, payload,
                               esp_payload_mem_end(payload, stub->entry == 0, stub->entry), 0,
                               LOADER_MEM_END_ROM_TIMEOUT, NULL);
        if (r == -ENODEV || r == -ECANCELED)
                return r;
        if (r < 0)
                log_debug_errno(r, "MEM_END: %m (ignored)");

        deadline = deadline_in(LOADER_DEFAULT_TIMEOUT);
        for (;;) {
                const uint8_t *frame;
                size_t n;

                r = loader_read_frame(l, deadline, &frame, &n);
                if (r < 0)
                        return log_debug_errno(r, "The flasher stub did not greet: %m");
                if (n == 4 && memcmp(frame, "OHAI", 4) == 0)
                        break;
                /* a late MEM_END reply */
        }

        l->stub = true;
        l->status_len = ESP_STUB_STATUS_LEN;
        log_debug("Flasher stub running.");
        return 0;
}

/* ---- compressed flash writes ------------------------------------------------------ */

int esp_loader_flash_defl_begin(EspLoader *l, uint32_t offset, uint32_t uncompressed_size,
                                uint32_t compressed_size, uint32_t block_size) {
        uint8_t payload[20];
        uint32_t blocks, size;
        usec_t timeout;
        bool with_flag;
        int r;

        if (!l || block_size == 0)
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;

        blocks = (uint32_t) DIV_ROUND_UP((uint64_t) compressed_size, block_size);
        if (l->stub) {
                /* the stub takes the byte count and erases as it goes */
                size = uncompressed_size;
                timeout = LOADER_DEFAULT_TIMEOUT;
        } else {
                /* the ROM erases the whole range now, rounded up to whole blocks
                 * (esptool flash_defl_begin) */
                uint64_t rounded = ALIGN_TO((uint64_t) uncompressed_size, block_size);
                if (rounded > UINT32_MAX)
                        return -EFBIG;
                size = (uint32_t) rounded;
                timeout = timeout_per_mb(LOADER_ERASE_SEC_PER_MB, size);
        }
        /* ESP32's ROM takes the 16-byte form; every stub and newer ROM 20 bytes. */
        with_flag = l->stub || l->chip->rom_begin_has_encrypt_flag;

        /* Sending it again only restarts the write (and the ROM's erase). */
        l->stats.flash_begins++;
        r = loader_command_retry(l, ESP_OP_FLASH_DEFL_BEGIN, payload,
                                 esp_payload_begin(payload, size, blocks, block_size, offset,
                                                   with_flag, false),
                                 timeout, NULL);
        if (r < 0)
                return log_debug_errno(r, "FLASH_DEFL_BEGIN at 0x%x failed: %m", offset);

        l->prev_block_timeout = LOADER_DEFAULT_TIMEOUT;
        return 0;
}

int esp_loader_flash_defl_data(EspLoader *l, uint32_t seq, const void *block, size_t len,
                               uint32_t uncompressed_block_size) {
        usec_t block_timeout, timeout;
        int r;

        if (!l || !block || len == 0 || len > ESP_STUB_FLASH_BLOCK_SIZE)
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;

        block_timeout = timeout_per_mb(LOADER_WRITE_SEC_PER_MB, uncompressed_block_size);
        /* The ROM writes a block before it answers; a stub answers on receipt
         * and writes while the next block arrives (esptool write_flash). */
        timeout = l->stub ? l->prev_block_timeout : block_timeout;

        r = loader_data_command(l, ESP_OP_FLASH_DEFL_DATA, seq, block, len, timeout);
        if (r < 0)
                return log_debug_errno(r, "FLASH_DEFL_DATA block %u failed: %m", seq);

        l->prev_block_timeout = block_timeout;
        return 0;
}

int esp_loader_flash_defl_end(EspLoader *l, bool stay_in_loader) {
        uint8_t payload[4];

        if (!l)
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;

        /* The ROM leaves the loader on FLASH_DEFL_END: esptool never sends it to
         * a ROM it wants to keep talking to. */
        if (stay_in_loader && !l->stub)
                return 0;

        /* A stub answers only once the last block is in flash (esptool follows
         * the last block with a dummy command for that): give it that block's time. */
        return loader_command_retry_full(l, ESP_OP_FLASH_DEFL_END, payload,
                                         esp_payload_flash_end(payload, stay_in_loader),
                                         l->stub ? l->prev_block_timeout : LOADER_DEFAULT_TIMEOUT,
                                         false, NULL);
}

int esp_loader_flash_md5(EspLoader *l, uint32_t addr, uint32_t size, uint8_t ret_digest[16]) {
        uint8_t payload[16], digest[16];
        EspResponse resp;
        int r;

        if (!l || !ret_digest)
                return -EINVAL;
        if (!l->chip)
                return -ENOTCONN;

        r = loader_command_retry(l, ESP_OP_SPI_FLASH_MD5, payload,
                                 esp_payload_spi_flash_md5(payload, addr, size),
                                 timeout_per_mb(LOADER_MD5_SEC_PER_MB, size), &resp);
        if (r < 0)
                return log_debug_errno(r, "SPI_FLASH_MD5 of 0x%x+0x%x failed: %m", addr, size);

        r = esp_md5_reply_parse(&resp, digest);
        if (r < 0)
                return log_debug_errno(r, "Malformed SPI_FLASH_MD5 reply: %m");
        memcpy(ret_digest, digest, sizeof(digest));
        return 0;
}

/* ---- leaving -------------------------------------------------------------------- */

int esp_loader_hard_reset(EspLoader *l) {
        usec_t hold;

        if (!l)
                return -EINVAL;

        /* esptool HardReset: IO0 released (DTR off), EN pulsed low through RTS.
         * The USB-Serial-JTAG peripheral needs longer to act on line changes. */
        hold = l->usb_jtag ? 200 * USEC_PER_MSEC : 100 * USEC_PER_MSEC;
        STEP(loader_set_lines(l, false, true));
        sleep_usec(hold);
        STEP(loader_set_lines(l, false, false));
        if (l->usb_jtag)
                sleep_usec(200 * USEC_PER_MSEC);

        /* Whatever answers next is the application, not this loader. */
        l->stub = false;
        l->status_len = ESP_ROM_STATUS_LEN;
        loader_discard_input_state(l);
        return 0;
}
